/**
 * `/api/tts` (issue 12 §1). `@mentra/sdk`'s `audio.speak(text)` makes no HTTP call itself: it
 * sends `audio_play_request` with `audioUrl = https://<cloud>/api/tts?text=…` for the glasses to
 * fetch and play. This cloud has no speech synthesis, so the endpoint answers at once with the
 * coded error `TTS_UNAVAILABLE` (501) rather than a 404 or a hang; whoever relays an
 * `audio_play_request` can use {@link isCloudTtsUrl} to answer the app's promise at once
 * (`audio_play_response { success: false, error }`) instead of waiting for the glasses.
 */
import { Router } from 'express';
import type { Logger } from '../logger.js';
import { refuse } from './httpRefusal.js';

/** Path of the text-to-speech endpoint the SDK builds its URLs with. */
const TTS_PATH = '/api/tts';

/** The router of {@link TTS_PATH}: every method answers `TTS_UNAVAILABLE`. */
export function createTtsRouter(deps: { logger: Logger }): Router {
  const router = Router();
  router.all(TTS_PATH, (req, res) => refuse(deps.logger, req, res, 'TTS_UNAVAILABLE', 'This cloud does not synthesise speech'));
  return router;
}

/**
 * Whether `audioUrl` is this cloud's own `/api/tts` (the URL `audio.speak` builds from the app's
 * WebSocket URL): same host and port as `appUrl`, path {@link TTS_PATH}.
 *
 * @param appUrl - the app WebSocket URL the cloud hands out (`ws[s]://host:port/app-ws`)
 */
export function isCloudTtsUrl(audioUrl: string, appUrl: string): boolean {
  if (!URL.canParse(audioUrl) || !URL.canParse(appUrl)) return false;
  const audio = new URL(audioUrl);
  return audio.host === new URL(appUrl).host && audio.pathname === TTS_PATH;
}
