/** Live Captions: the wearer's speech as a text wall of the last lines. */
export { CaptionsApp, createCaptionsApp, DEFAULT_CAPTION_THROTTLE_MS, type CaptionsAppConfig } from './captionsApp.js';
export {
  applyTranscription,
  renderCaptions,
  DEFAULT_CAPTION_LINES,
  EMPTY_CAPTIONS,
  type CaptionInput,
  type Captions,
} from './captionFormatter.js';
export { DisplayThrottle, type DisplayThrottleOptions } from './displayThrottle.js';
