/**
 * The simulated glasses' side of apps' requests (issue 12 §6): takes the photo, plays the audio,
 * drives the LED, reports a location fix — or fails, or stays silent, as told per kind, so a
 * test or the demo can show each outcome an app can see. A photo is uploaded as the cloud's
 * `photo_request` says (its `webhookUrl`, `Authorization: Bearer <authToken>`, the multipart
 * fields of `@mentra/sdk`'s `/photo-upload`); everything else is answered on the socket.
 */
import type { CloudToGlassesOf } from '../protocol/cloudToGlasses.js';
import type { ReceivedFrame, SimulatedGlasses } from './glassesClient.js';

/** What the glasses do with one kind of request: answer it, fail it, or never answer. */
export type ResponderMode = 'answer' | 'fail' | 'ignore';

/** Options of {@link RequestResponder}; every mode defaults to `answer`. */
export interface RequestResponderOptions {
  photo?: ResponderMode;
  audio?: ResponderMode;
  led?: ResponderMode;
  /** A location poll has no failure answer: `fail` is the same as `ignore`. */
  location?: ResponderMode;
  /** The photo's bytes (default: a tiny JPEG); sent as `image/jpeg`. */
  photoBytes?: Uint8Array;
  /** The fix reported (default 52.52, 13.405, 5 m); degrees and metres. */
  fix?: { lat: number; lng: number; accuracy?: number };
  /** Playback length reported, in ms (default 1000). */
  audioDurationMs?: number;
}

/** What the responder did, one entry per request it saw. */
export interface ResponderAction {
  readonly type: 'photo_request' | 'audio_play_request' | 'audio_stop_request' | 'rgb_led_control' | 'request_single_location';
  readonly mode: ResponderMode;
  /** Photos answered: the status of the upload (0 when it failed to connect). */
  readonly uploadStatus?: number;
}

// SOI, an empty APP0 segment and EOI: enough bytes to be recognisably a JPEG.
const TINY_JPEG = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xd9]);

/** Answers the requests that reach one pair of simulated glasses. */
export class RequestResponder {
  /** Everything it did, in order. */
  readonly actions: ResponderAction[] = [];
  private readonly uploads = new Set<Promise<void>>();
  private readonly detach: () => void;

  constructor(
    private readonly glasses: SimulatedGlasses,
    private readonly options: RequestResponderOptions = {},
  ) {
    const listener = (frame: ReceivedFrame) => this.onFrame(frame);
    glasses.on('message', listener);
    this.detach = () => glasses.off('message', listener);
  }

  /** Stops answering and waits for uploads in flight. */
  async stop(): Promise<void> {
    this.detach();
    await Promise.all([...this.uploads]);
  }

  /** Resolves once every upload started so far has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.uploads]);
  }

  private onFrame({ message }: ReceivedFrame): void {
    switch (message.type) {
      case 'photo_request':
        return this.photo(message);
      case 'audio_play_request': {
        const mode = this.options.audio ?? 'answer';
        this.actions.push({ type: message.type, mode });
        if (mode === 'ignore') return;
        this.glasses.send(
          mode === 'answer'
            ? { type: 'audio_play_response', requestId: message.requestId, success: true, duration: this.options.audioDurationMs ?? 1000 }
            : { type: 'audio_play_response', requestId: message.requestId, success: false, error: 'PLAYBACK_FAILED' },
        );
        return;
      }
      case 'audio_stop_request':
        this.actions.push({ type: message.type, mode: 'answer' });
        return;
      case 'rgb_led_control': {
        const mode = this.options.led ?? 'answer';
        this.actions.push({ type: message.type, mode });
        if (mode === 'ignore') return;
        this.glasses.send({ type: 'rgb_led_control_response', requestId: message.requestId, success: mode === 'answer', ...(mode === 'fail' ? { error: 'LED_UNAVAILABLE' } : {}) });
        return;
      }
      case 'request_single_location': {
        const mode = this.options.location ?? 'answer';
        this.actions.push({ type: message.type, mode });
        if (mode !== 'answer') return;
        const fix = this.options.fix ?? { lat: 52.52, lng: 13.405, accuracy: 5 };
        this.glasses.send({ type: 'location_update', ...fix, correlationId: message.correlationId });
        return;
      }
    }
  }

  private photo(message: CloudToGlassesOf<'photo_request'>): void {
    const mode = this.options.photo ?? 'answer';
    if (mode === 'ignore') return void this.actions.push({ type: message.type, mode });
    if (mode === 'fail') {
      this.actions.push({ type: message.type, mode });
      this.glasses.send({ type: 'photo_response', requestId: message.requestId, success: false, error: { code: 'CAMERA_BUSY', message: 'camera busy' } });
      return;
    }
    const upload = this.upload(message).then((uploadStatus) => {
      this.actions.push({ type: message.type, mode, uploadStatus });
    });
    this.uploads.add(upload);
    void upload.finally(() => this.uploads.delete(upload));
  }

  private async upload(message: CloudToGlassesOf<'photo_request'>): Promise<number> {
    if (!message.webhookUrl) return 0;
    const form = new FormData();
    form.set('requestId', message.requestId);
    form.set('type', 'photo_response');
    form.set('success', 'true');
    form.set('photo', new Blob([this.options.photoBytes ?? TINY_JPEG], { type: 'image/jpeg' }), 'photo.jpg');
    try {
      const response = await fetch(message.webhookUrl, {
        method: 'POST',
        body: form,
        headers: message.authToken ? { authorization: `Bearer ${message.authToken}` } : {},
      });
      await response.body?.cancel();
      return response.status;
    } catch {
      return 0;
    }
  }
}
