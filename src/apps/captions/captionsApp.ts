/**
 * Live Captions: the wearer's speech as a text wall of the last few lines. Like Notify it has no
 * cleanup code: the transcription handler and the throttle's timer are the session's and are
 * released with it.
 */
import { AppServer, type AppServerConfig } from '../../sdk/appServer.js';
import type { AppSession } from '../../sdk/appSession.js';
import { TetherError } from '../../protocol/errors.js';
import { DEFAULT_CAPTION_LINES, EMPTY_CAPTIONS, applyTranscription, renderCaptions, type Captions } from './captionFormatter.js';
import { DisplayThrottle } from './displayThrottle.js';

/** Default shortest time between two caption displays, in ms. */
const DEFAULT_CAPTION_THROTTLE_MS = 200;

/** Configuration of a {@link CaptionsApp}: an app server's, plus the caption settings. */
export interface CaptionsAppConfig extends AppServerConfig {
  /** Shortest time between two displays, in ms (default 200); the latest text is always shown. */
  throttleMs?: number;
  /** Lines kept on screen (default 3). */
  maxLines?: number;
}

/**
 * The Live Captions app server: each session subscribes to transcription (`en-US`) and shows the
 * last lines as a text wall, at most once per `throttleMs`.
 */
export class CaptionsApp extends AppServer {
  private readonly throttleMs: number;
  private readonly maxLines: number;

  /** @throws TetherError `INVALID_CONFIG` when a setting is invalid. */
  constructor(config: CaptionsAppConfig) {
    super(config);
    this.throttleMs = config.throttleMs ?? DEFAULT_CAPTION_THROTTLE_MS;
    this.maxLines = config.maxLines ?? DEFAULT_CAPTION_LINES;
    if (typeof this.throttleMs !== 'number' || !Number.isFinite(this.throttleMs) || this.throttleMs < 0) {
      throw new TetherError('INVALID_CONFIG', `throttleMs must be a number of milliseconds ≥ 0, got ${String(this.throttleMs)}`);
    }
    if (!Number.isInteger(this.maxLines) || this.maxLines < 1) {
      throw new TetherError('INVALID_CONFIG', `maxLines must be an integer ≥ 1, got ${String(this.maxLines)}`);
    }
  }

  protected override async onSession(session: AppSession, sessionId: string, userId: string): Promise<void> {
    const log = this.logger.child({ sessionId, userId });
    const maxLines = this.maxLines;
    let captions: Captions = EMPTY_CAPTIONS;
    const throttle = new DisplayThrottle({
      intervalMs: this.throttleMs,
      schedule: (fn, ms) => session.setTimeout(fn, ms),
    });
    // One display function, not a closure per result: the throttle shows whatever `captions`
    // holds when it runs, so a delayed display is always the latest text.
    const display = (): void => session.layouts.showTextWall(renderCaptions(captions));

    session.events.onTranscription((result) => {
      const before = renderCaptions(captions);
      captions = applyTranscription(captions, result, maxLines);
      // A final that repeats its last interim changes nothing on screen: no frame for it.
      if (renderCaptions(captions) !== before) throttle.request(display);
    });
    session.events.onError((error) => log.warn({ err: error.message }, 'session error'));
  }
}

/**
 * Builds a Live Captions app server from `{ packageName, apiKey, logger? }` (and optionally the
 * caption settings); nothing listens until `listen()` or `start()` is called.
 */
export function createCaptionsApp(options: CaptionsAppConfig): CaptionsApp {
  return new CaptionsApp(options);
}
