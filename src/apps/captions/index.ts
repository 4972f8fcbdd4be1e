/** Live Captions: the wearer's speech as a text wall of the last lines. */
export { CaptionsApp, createCaptionsApp, type CaptionsAppConfig } from './captionsApp.js';
