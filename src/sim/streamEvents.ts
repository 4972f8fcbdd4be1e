/**
 * What simulated glasses can stream besides speech: a plausible sample of every glasses stream
 * event (`GLASSES_STREAM_EVENT_TYPES`, the events of `@mentra/sdk` 2.1.29's glasses-to-cloud
 * types), with fields a test or the CLI may override, and synthetic audio — 16 kHz 16-bit mono
 * PCM cut into frames, as MentraOS phones send it in binary WebSocket frames.
 */
import { GLASSES_STREAM_EVENT_TYPES, type GlassesStreamEventType, type GlassesToCloudOf } from '../protocol/glassesToCloud.js';

/** Fields of a stream event of type `K`, without `type`. */
export type StreamEventFields<K extends GlassesStreamEventType> = Omit<GlassesToCloudOf<K>, 'type'>;

/** A sample of each stream event; times are taken when it is built. */
const SAMPLES: { [K in GlassesStreamEventType]: () => StreamEventFields<K> } = {
  button_press: () => ({ buttonId: 'main', pressType: 'short' }),
  head_position: () => ({ position: 'up' }),
  phone_notification: () => ({ notificationId: 'n-1', app: 'Messages', title: 'Ada', content: 'Lunch at noon?', priority: 'normal' }),
  local_transcription: () => ({ text: 'hello from the simulated glasses', isFinal: true }),
  glasses_battery_update: () => ({ level: 80, charging: false }),
  phone_battery_update: () => ({ level: 55, charging: true }),
  location_update: () => ({ lat: 52.52, lng: 13.405, accuracy: 12 }),
  VAD: () => ({ status: true }),
  touch_event: () => ({ device_model: 'Simulated Glasses', gesture_name: 'single_tap', timestamp: new Date().toISOString() }),
  glasses_connection_state: () => ({ modelName: 'Simulated Glasses', status: 'CONNECTED', wifi: { connected: true, ssid: 'sim-net' } }),
  vps_coordinates: () => ({ deviceModel: 'Simulated Glasses', requestId: 'vps-1', x: 1, y: 2, z: 0.5, qx: 0, qy: 0, qz: 0, qw: 1, confidence: 0.9 }),
  calendar_event: () => {
    const start = new Date();
    const end = new Date(start.getTime() + 30 * 60_000);
    return { eventId: 'cal-1', title: 'Stand-up', dtStart: start.toISOString(), dtEnd: end.toISOString(), timezone: 'UTC', timeStamp: start.toISOString() };
  },
  phone_notification_dismissed: () => ({ notificationId: 'n-1', app: 'Messages', title: 'Ada', content: 'Lunch at noon?', notificationKey: 'key-n-1' }),
};

/** Whether `type` names a glasses stream event. */
export function isStreamEventType(type: string): type is GlassesStreamEventType {
  return (GLASSES_STREAM_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * A stream event of `type`: the sample's fields with `fields` laid over them. The result is
 * not validated here; the cloud refuses what its schema does not accept (`INVALID_FIELDS`).
 */
export function streamEvent<K extends GlassesStreamEventType>(type: K, fields: Partial<StreamEventFields<K>> = {}): GlassesToCloudOf<K> {
  return { ...SAMPLES[type](), ...fields, type } as GlassesToCloudOf<K>;
}

/** Audio format of {@link pcmFrames}. */
export interface PcmOptions {
  /** Samples per second (default 16 000). */
  sampleRate?: number;
  /** Length of one frame, in ms (default 100: 3200 bytes at 16 kHz). */
  frameMs?: number;
  /** Pitch of the sine tone, in Hz (default 440). */
  frequencyHz?: number;
}

/** Bytes per sample of the PCM the phones send (16-bit little-endian, mono). */
const BYTES_PER_SAMPLE = 2;

/**
 * `count` consecutive frames of a sine tone as 16-bit little-endian mono PCM — what a test
 * streams and then compares byte for byte. Consecutive frames continue the wave, so they also
 * sound right when played.
 */
export function pcmFrames(count: number, options: PcmOptions = {}): Buffer[] {
  const sampleRate = options.sampleRate ?? 16_000;
  const samplesPerFrame = Math.round((sampleRate * (options.frameMs ?? 100)) / 1000);
  const step = (2 * Math.PI * (options.frequencyHz ?? 440)) / sampleRate;
  const frames: Buffer[] = [];
  for (let f = 0; f < count; f++) {
    const frame = Buffer.alloc(samplesPerFrame * BYTES_PER_SAMPLE);
    for (let i = 0; i < samplesPerFrame; i++) {
      frame.writeInt16LE(Math.round(Math.sin((f * samplesPerFrame + i) * step) * 12_000), i * BYTES_PER_SAMPLE);
    }
    frames.push(frame);
  }
  return frames;
}

/** Cuts raw PCM (`pcm`) into frames of `frameBytes` bytes; the last one may be shorter. */
export function splitFrames(pcm: Buffer, frameBytes: number): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < pcm.length; at += frameBytes) frames.push(pcm.subarray(at, at + frameBytes));
  return frames;
}
