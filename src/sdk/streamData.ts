/**
 * Data of the glasses streams beyond transcription and buttons, as `@mentra/sdk` 2.1.29 types
 * them (`glasses-to-cloud.d.ts`, `AudioChunk` in `cloud-to-app.d.ts`): the cloud forwards each
 * event's fields unchanged, so a handler written for that SDK reads the same names here.
 */

/** Gestures `onTouchEvent(gesture, handler)` accepts (`@mentra/sdk`'s `createTouchEventStream`). */
export const TOUCH_GESTURES = [
  'single_tap',
  'double_tap',
  'triple_tap',
  'long_press',
  'forward_swipe',
  'backward_swipe',
  'up_swipe',
  'down_swipe',
] as const;

/** A gesture of {@link TOUCH_GESTURES}. */
export type TouchGesture = (typeof TOUCH_GESTURES)[number];

/** A gesture on the glasses' touch pad (stream `touch_event`, or `touch_event:<gesture>`). */
export interface TouchEvent {
  type?: 'touch_event';
  device_model: string;
  gesture_name: string;
  /** When the phone saw it, as the phone sent it (ISO string or ms). */
  timestamp?: unknown;
  [field: string]: unknown;
}

/** The user dismissed a phone notification (stream `phone_notification_dismissed`). */
export interface PhoneNotificationDismissed {
  type?: 'phone_notification_dismissed';
  notificationId: string;
  app: string;
  title: string;
  content: string;
  notificationKey: string;
  [field: string]: unknown;
}

/** Battery state of the phone (stream `phone_battery_update`). */
export interface PhoneBatteryUpdate {
  type?: 'phone_battery_update';
  /** Charge, in percent (0–100). */
  level: number;
  charging: boolean;
  /** Estimated time left, in minutes, when the phone reports it. */
  timeRemaining?: number;
  [field: string]: unknown;
}

/** Voice activity (stream `VAD`); some phones send the flag as the string `"true"`/`"false"`. */
export interface VoiceActivity {
  type?: 'VAD';
  status: boolean | 'true' | 'false';
  [field: string]: unknown;
}

/** A location fix (stream `location_update`); `lat`/`lng` in degrees, `accuracy` in metres. */
export interface LocationUpdate {
  type?: 'location_update';
  lat: number;
  lng: number;
  accuracy?: number;
  correlationId?: string;
  [field: string]: unknown;
}

/** An event from the phone's calendar (stream `calendar_event`); dates as the phone formats them. */
export interface CalendarEvent {
  type?: 'calendar_event';
  eventId: string;
  title: string;
  dtStart: string;
  dtEnd: string;
  timezone: string;
  timeStamp: string;
  [field: string]: unknown;
}

/** The glasses' connection to the phone changed (stream `glasses_connection_state`). */
export interface GlassesConnectionState {
  type?: 'glasses_connection_state';
  modelName: string;
  status: string;
  wifi?: { connected: boolean; ssid?: string | null };
  [field: string]: unknown;
}

/** A visual positioning fix (stream `vps_coordinates`): position in metres, orientation as a quaternion. */
export interface VpsCoordinates {
  type?: 'vps_coordinates';
  deviceModel: string;
  requestId: string;
  x: number;
  y: number;
  z: number;
  qx: number;
  qy: number;
  qz: number;
  qw: number;
  confidence: number;
  [field: string]: unknown;
}

/**
 * One binary frame of the glasses' audio (stream `audio_chunk`), shaped as `@mentra/sdk` hands
 * it over: the frame's bytes as an `ArrayBuffer` of their own, and when it arrived. The bytes
 * are what the glasses sent (16 kHz 16-bit mono PCM from MentraOS phones), untouched.
 */
export interface AudioChunk {
  type: 'audio_chunk';
  arrayBuffer: ArrayBuffer;
  timestamp: Date;
  /** Samples per second, when known (the cloud does not send it; MentraOS audio is 16 000). */
  sampleRate?: number;
}

/** The {@link AudioChunk} for one binary frame, its bytes copied out of `ws`'s buffer (which may be a slice of a larger one). */
export function audioChunkOf(frame: Buffer): AudioChunk {
  const arrayBuffer = new ArrayBuffer(frame.byteLength);
  new Uint8Array(arrayBuffer).set(frame);
  return { type: 'audio_chunk', arrayBuffer, timestamp: new Date() };
}
