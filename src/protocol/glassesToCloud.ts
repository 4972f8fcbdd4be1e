/**
 * Messages the glasses (through the phone app) send to the cloud on `/glasses-ws`. Type strings
 * and field names follow `@mentra/sdk` 2.1.29 (`GlassesToCloudMessageType`, `glasses-to-cloud.d.ts`),
 * except `heartbeat` and `connection_init.runningApps`, which are Tether's.
 */
import { z } from 'zod';
import { DEFAULT_TRANSCRIBE_LANGUAGE } from './limits.js';
import { defineMessage } from './message.js';
import { packageNameSchema } from './packageName.js';
import type { WireShape } from './message.js';

/** Type strings of glasses → cloud messages. */
export const GlassesToCloudMessageType = {
  CONNECTION_INIT: 'connection_init',
  START_APP: 'start_app',
  STOP_APP: 'stop_app',
  BUTTON_PRESS: 'button_press',
  HEAD_POSITION: 'head_position',
  PHONE_NOTIFICATION: 'phone_notification',
  LOCAL_TRANSCRIPTION: 'local_transcription',
  GLASSES_BATTERY_UPDATE: 'glasses_battery_update',
  PHONE_BATTERY_UPDATE: 'phone_battery_update',
  LOCATION_UPDATE: 'location_update',
  // Upper case in the SDK's enum, and so on the wire.
  VAD: 'VAD',
  HEARTBEAT: 'heartbeat',
  // Tether's: MentraOS changes app settings over REST from the phone; the SDK has no message for it.
  UPDATE_APP_SETTING: 'update_app_setting',
  PHOTO_RESPONSE: 'photo_response',
  AUDIO_PLAY_RESPONSE: 'audio_play_response',
  RGB_LED_CONTROL_RESPONSE: 'rgb_led_control_response',
  TOUCH_EVENT: 'touch_event',
  GLASSES_CONNECTION_STATE: 'glasses_connection_state',
  VPS_COORDINATES: 'vps_coordinates',
  CALENDAR_EVENT: 'calendar_event',
  PHONE_NOTIFICATION_DISMISSED: 'phone_notification_dismissed',
} as const;

const T = GlassesToCloudMessageType;

const batteryShape = {
  level: z.number(),
  charging: z.boolean(),
  timeRemaining: z.number().optional(),
};

/** `connection_init`: first frame on a glasses socket. */
export const connectionInitSchema = defineMessage(T.CONNECTION_INIT, {
  coreToken: z.string().optional(),
  userId: z.string().optional(),
  // The apps the phone believes are running; the desired set for reconciliation (seed 05 option 4).
  // Names are checked one by one after authentication (`appControl.ts`): one stale or bad name
  // is reported and skipped instead of refusing the whole connection.
  runningApps: z.array(z.string()).optional(),
});

/** `start_app`: the user asked to start an app. */
export const startAppSchema = defineMessage(T.START_APP, { packageName: packageNameSchema });

/** `stop_app`: the user asked to stop an app. */
export const stopAppSchema = defineMessage(T.STOP_APP, { packageName: packageNameSchema });

/** `button_press` stream event. */
export const buttonPressSchema = defineMessage(T.BUTTON_PRESS, {
  buttonId: z.string(),
  pressType: z.enum(['short', 'long']),
});

/** `head_position` stream event. */
export const headPositionSchema = defineMessage(T.HEAD_POSITION, { position: z.enum(['up', 'down']) });

/** `phone_notification` stream event. */
export const phoneNotificationSchema = defineMessage(T.PHONE_NOTIFICATION, {
  notificationId: z.string().optional(),
  app: z.string(),
  title: z.string(),
  content: z.string(),
  priority: z.enum(['low', 'normal', 'high']).optional(),
});

/** `local_transcription` stream event: speech transcribed on the phone. Times are in ms. */
export const localTranscriptionSchema = defineMessage(T.LOCAL_TRANSCRIPTION, {
  text: z.string(),
  isFinal: z.boolean(),
  transcribeLanguage: z.string().optional(),
  startTime: z.number().optional(),
  endTime: z.number().optional(),
});

/** `glasses_battery_update` stream event; `level` in percent. */
export const glassesBatteryUpdateSchema = defineMessage(T.GLASSES_BATTERY_UPDATE, batteryShape);

/** `phone_battery_update` stream event; `level` in percent. */
export const phoneBatteryUpdateSchema = defineMessage(T.PHONE_BATTERY_UPDATE, batteryShape);

/** `location_update` stream event; `lat`/`lng` in degrees, `accuracy` in metres. */
export const locationUpdateSchema = defineMessage(T.LOCATION_UPDATE, {
  lat: z.number(),
  lng: z.number(),
  accuracy: z.number().optional(),
  correlationId: z.string().optional(),
});

/** `VAD` stream event (voice activity). Some phone builds send the flag as a string. */
export const vadSchema = defineMessage(T.VAD, { status: z.union([z.boolean(), z.enum(['true', 'false'])]) });

/** `heartbeat`: app-level ping from clients that cannot send WebSocket pings; answered with `heartbeat_ack`. */
export const glassesHeartbeatSchema = defineMessage(T.HEARTBEAT, {});

/**
 * `update_app_setting` (Tether): the user changed one of an app's settings; the cloud checks it
 * against the app's definition, stores it and pushes `settings_update` to the running app.
 */
export const updateAppSettingSchema = defineMessage(T.UPDATE_APP_SETTING, {
  packageName: packageNameSchema,
  key: z.string().min(1).max(100),
  value: z.json(),
});

/**
 * `photo_response`: how a `photo_request` ended when the glasses did not upload a photo
 * (`success: false` with `error.code`, e.g. `CAMERA_BUSY`); a success is the upload itself.
 */
export const photoResponseSchema = defineMessage(T.PHOTO_RESPONSE, {
  requestId: z.string(),
  success: z.boolean(),
  photoUrl: z.string().optional(),
  savedToGallery: z.boolean().optional(),
  error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
});

/** `audio_play_response`: how an `audio_play_request` ended; `duration` in ms. */
export const audioPlayResponseSchema = defineMessage(T.AUDIO_PLAY_RESPONSE, {
  requestId: z.string(),
  success: z.boolean(),
  error: z.string().optional(),
  duration: z.number().optional(),
});

/** `rgb_led_control_response`: how an `rgb_led_control` ended. */
export const rgbLedControlResponseSchema = defineMessage(T.RGB_LED_CONTROL_RESPONSE, {
  requestId: z.string(),
  success: z.boolean(),
  error: z.string().optional(),
});

/**
 * `touch_event` stream event: a gesture on the glasses' touch pad. The phone sends `timestamp`
 * too (a `Date` in the SDK's types, a string or number on the wire); it travels unchanged.
 */
export const touchEventSchema = defineMessage(T.TOUCH_EVENT, {
  device_model: z.string(),
  gesture_name: z.string().min(1),
});

/** `glasses_connection_state` stream event: the glasses' link to the phone (and Wi-Fi) changed. */
export const glassesConnectionStateSchema = defineMessage(T.GLASSES_CONNECTION_STATE, {
  modelName: z.string(),
  status: z.string(),
  wifi: z.looseObject({ connected: z.boolean(), ssid: z.string().nullable().optional() }).optional(),
});

/** `vps_coordinates` stream event: a visual positioning fix; position in metres, orientation as a quaternion. */
export const vpsCoordinatesSchema = defineMessage(T.VPS_COORDINATES, {
  deviceModel: z.string(),
  requestId: z.string(),
  x: z.number(),
  y: z.number(),
  z: z.number(),
  qx: z.number(),
  qy: z.number(),
  qz: z.number(),
  qw: z.number(),
  confidence: z.number(),
});

/** `calendar_event` stream event: an event from the phone's calendar; dates as the phone formats them. */
export const calendarEventSchema = defineMessage(T.CALENDAR_EVENT, {
  eventId: z.string(),
  title: z.string(),
  dtStart: z.string(),
  dtEnd: z.string(),
  timezone: z.string(),
  timeStamp: z.string(),
});

/** `phone_notification_dismissed` stream event: the user dismissed a phone notification. */
export const phoneNotificationDismissedSchema = defineMessage(T.PHONE_NOTIFICATION_DISMISSED, {
  notificationId: z.string(),
  app: z.string(),
  title: z.string(),
  content: z.string(),
  notificationKey: z.string(),
});

/** Any glasses → cloud message, discriminated by `type`. */
export const glassesToCloudMessageSchema = z.discriminatedUnion('type', [
  connectionInitSchema,
  startAppSchema,
  stopAppSchema,
  buttonPressSchema,
  headPositionSchema,
  phoneNotificationSchema,
  localTranscriptionSchema,
  glassesBatteryUpdateSchema,
  phoneBatteryUpdateSchema,
  locationUpdateSchema,
  vadSchema,
  glassesHeartbeatSchema,
  updateAppSettingSchema,
  photoResponseSchema,
  audioPlayResponseSchema,
  rgbLedControlResponseSchema,
  touchEventSchema,
  glassesConnectionStateSchema,
  vpsCoordinatesSchema,
  calendarEventSchema,
  phoneNotificationDismissedSchema,
]);

/** A glasses → cloud message. */
export type GlassesToCloudMessage = WireShape<z.output<typeof glassesToCloudMessageSchema>>;

/** A glasses → cloud message of one `type`. */
export type GlassesToCloudOf<K extends GlassesToCloudMessage['type']> = Extract<GlassesToCloudMessage, { type: K }>;

/** `connection_init` from the glasses. */
export type ConnectionInit = GlassesToCloudOf<'connection_init'>;

/** Glasses message types that are stream events: the cloud relays them to subscribed apps. */
export const GLASSES_STREAM_EVENT_TYPES = [
  T.BUTTON_PRESS,
  T.HEAD_POSITION,
  T.PHONE_NOTIFICATION,
  T.LOCAL_TRANSCRIPTION,
  T.GLASSES_BATTERY_UPDATE,
  T.PHONE_BATTERY_UPDATE,
  T.LOCATION_UPDATE,
  T.VAD,
  T.TOUCH_EVENT,
  T.GLASSES_CONNECTION_STATE,
  T.VPS_COORDINATES,
  T.CALENDAR_EVENT,
  T.PHONE_NOTIFICATION_DISMISSED,
] as const;

/** Type string of a glasses stream event. */
export type GlassesStreamEventType = (typeof GLASSES_STREAM_EVENT_TYPES)[number];

/** A glasses stream event. */
export type GlassesStreamEvent = GlassesToCloudOf<GlassesStreamEventType>;

const streamEventTypes: ReadonlySet<string> = new Set(GLASSES_STREAM_EVENT_TYPES);

/** Whether `message` is a stream event, i.e. something {@link toDataStream} accepts. */
export function isGlassesStreamEvent(message: GlassesToCloudMessage): message is GlassesStreamEvent {
  return streamEventTypes.has(message.type);
}

/**
 * Transcription as apps receive it in `data_stream.data` (`@mentra/sdk`'s `TranscriptionData`,
 * the fields Tether fills). `startTime` and `endTime` are in ms.
 */
export interface TranscriptionData {
  type: 'transcription';
  text: string;
  isFinal: boolean;
  startTime: number;
  endTime: number;
  transcribeLanguage: string;
}

/**
 * What the cloud puts into a `data_stream` for one glasses event. `alsoAs` is a second stream
 * name the same `data` goes to (its own `data_stream`, to the apps subscribed to that name).
 */
export type DataStreamPayload =
  | { streamType: `transcription:${string}`; data: TranscriptionData; alsoAs?: undefined }
  | { streamType: Exclude<GlassesStreamEventType, 'local_transcription'>; data: GlassesStreamEvent; alsoAs?: `touch_event:${string}` };

/**
 * The `streamType` and `data` of the `data_stream` that carries `event` to apps. `@mentra/sdk`
 * fires a handler only on an exact `streamType` match, and a transcription handler subscribes to
 * `transcription:<lang>`, so `local_transcription` is renamed; every other event keeps its type
 * and travels unchanged (extra fields such as `timestamp` included). A `touch_event` is also
 * delivered as `touch_event:<gesture_name>`, the name a gesture-specific handler subscribes to.
 */
export function toDataStream(event: GlassesStreamEvent): DataStreamPayload {
  if (event.type === T.LOCAL_TRANSCRIPTION) {
    const language = event.transcribeLanguage ?? DEFAULT_TRANSCRIBE_LANGUAGE;
    return {
      streamType: `transcription:${language}`,
      data: {
        type: 'transcription',
        text: event.text,
        isFinal: event.isFinal,
        // The SDK declares both times as required numbers; 0 means "unknown".
        startTime: event.startTime ?? 0,
        endTime: event.endTime ?? 0,
        transcribeLanguage: language,
      },
    };
  }
  if (event.type === T.TOUCH_EVENT) {
    // `onTouchEvent(handler)` subscribes to `touch_event`, `onTouchEvent('double_tap', handler)`
    // to `touch_event:double_tap`: a gesture reaches both kinds of subscriber.
    return { streamType: event.type, data: event, alsoAs: `touch_event:${event.gesture_name}` };
  }
  return { streamType: event.type, data: event };
}
