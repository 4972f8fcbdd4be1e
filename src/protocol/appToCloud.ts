/**
 * Messages apps send to the cloud on `/app-ws`. Type strings and field names follow `@mentra/sdk`
 * 2.1.29 (`AppToCloudMessageType`, `app-to-cloud.d.ts`, `layouts.d.ts`); `heartbeat` and the
 * `extensions` / `lastSeq` fields of `tpa_connection_init` are Tether's.
 */
import { z } from 'zod';
import { layoutSchema, viewSchema } from './layouts.js';
import { defineMessage } from './message.js';
import type { WireShape } from './message.js';

/** Type strings of app → cloud messages; the names mirror the SDK's enum. */
export const AppToCloudMessageType = {
  CONNECTION_INIT: 'tpa_connection_init',
  SUBSCRIPTION_UPDATE: 'subscription_update',
  DISPLAY_REQUEST: 'display_event',
  HEARTBEAT: 'heartbeat',
  OWNERSHIP_RELEASE: 'ownership_release',
  DASHBOARD_CONTENT_UPDATE: 'dashboard_content_update',
  AUDIO_PLAY_REQUEST: 'audio_play_request',
  AUDIO_STOP_REQUEST: 'audio_stop_request',
  PHOTO_REQUEST: 'photo_request',
  LOCATION_POLL_REQUEST: 'location_poll_request',
  RGB_LED_CONTROL: 'rgb_led_control',
  REQUEST_WIFI_SETUP: 'request_wifi_setup',
  RTMP_STREAM_REQUEST: 'rtmp_stream_request',
  RTMP_STREAM_STOP: 'rtmp_stream_stop',
  MANAGED_STREAM_REQUEST: 'managed_stream_request',
  MANAGED_STREAM_STOP: 'managed_stream_stop',
  STREAM_STATUS_CHECK: 'stream_status_check',
  DASHBOARD_MODE_CHANGE: 'dashboard_mode_change',
  DASHBOARD_SYSTEM_UPDATE: 'dashboard_system_update',
  APP_BROADCAST_MESSAGE: 'app_broadcast_message',
  APP_DIRECT_MESSAGE: 'app_direct_message',
  APP_USER_DISCOVERY: 'app_user_discovery',
  APP_ROOM_JOIN: 'app_room_join',
  APP_ROOM_LEAVE: 'app_room_leave',
} as const;

const T = AppToCloudMessageType;

/** `tpa_connection_init`: first frame on an app socket; the only place an app authenticates. */
export const tpaConnectionInitSchema = defineMessage(T.CONNECTION_INIT, {
  sessionId: z.string().min(1),
  packageName: z.string().min(1),
  // Checked by the cloud against its store, not here: an empty key is an auth failure, not a format one.
  apiKey: z.string(),
  // Tether SDK only: protocol extensions it understands (e.g. `user_reconnected`, `resume`).
  extensions: z.array(z.string()).optional(),
  // Tether SDK only: last `data_stream.seq` it handled, so the cloud replays what came after.
  lastSeq: z.number().int().nonnegative().optional(),
});

/**
 * One `subscriptions` entry: a stream name, or `{ stream, rate }` (`LocationStreamRequest`).
 * `@mentra/sdk` 2.1.29 only sends strings, but its types allow the object form.
 */
export const subscriptionEntrySchema = z.union(
  [z.string(), z.looseObject({ stream: z.string(), rate: z.string().optional() })],
  { error: 'expected a stream name or { stream, rate? }' },
);

/**
 * `subscription_update`: the app's complete current subscription list (a replacement, not a
 * delta). The first one after each fresh ack is `[]`, which means "nothing yet", not "stop".
 */
export const subscriptionUpdateSchema = defineMessage(T.SUBSCRIPTION_UPDATE, {
  packageName: z.string().optional(),
  sessionId: z.string().optional(),
  subscriptions: z.array(subscriptionEntrySchema),
});

/**
 * `display_event`: show a layout. `sessionId` is `""` from every `layouts.*` call of the SDK, so
 * the cloud attributes the event to the socket's session and never reads this field.
 * `durationMs` in ms.
 */
export const appDisplayEventSchema = defineMessage(T.DISPLAY_REQUEST, {
  packageName: z.string(),
  sessionId: z.string().optional(),
  view: viewSchema.optional(),
  layout: layoutSchema,
  durationMs: z.number().optional(),
  forceDisplay: z.boolean().optional(),
});

/** `heartbeat`: app-level ping from the Tether SDK; answered with `heartbeat_ack`. */
export const appHeartbeatSchema = defineMessage(T.HEARTBEAT, {});

/**
 * `ownership_release`: the SDK is about to drop this socket for a new one (duplicate webhook,
 * shutdown). The 1005 close that follows is expected, not a failure. `reason` is
 * `switching_clouds`, `clean_shutdown` or `user_logout` in 2.1.29; any string is accepted.
 */
export const ownershipReleaseSchema = defineMessage(T.OWNERSHIP_RELEASE, {
  packageName: z.string(),
  sessionId: z.string(),
  reason: z.string(),
});

// Ids a cloud keeps while a request is pending, or uses as a room name: bounded, so what one
// app can make the cloud hold stays small.
const requestIdSchema = z.string().min(1).max(256);
const optionalIds = { packageName: z.string().optional(), sessionId: z.string().optional() };

/**
 * `dashboard_content_update`: `dashboard.content.write*`; shown on the glasses' dashboard view.
 * Its `sessionId` is `"<sessionId>-<packageName>"`: the socket says whose it is.
 */
export const dashboardContentUpdateSchema = defineMessage(T.DASHBOARD_CONTENT_UPDATE, {
  ...optionalIds,
  content: z.string(),
  modes: z.array(z.string()).optional(),
});

/**
 * `audio_play_request`: `audio.playAudio` / `speak`. With `stopOtherAudio: false` the SDK
 * resolves at once and waits for no answer. `volume` 0..1.
 */
export const audioPlayRequestSchema = defineMessage(T.AUDIO_PLAY_REQUEST, {
  ...optionalIds,
  requestId: requestIdSchema,
  audioUrl: z.string().min(1),
  volume: z.number().optional(),
  stopOtherAudio: z.boolean().optional(),
  trackId: z.number().optional(),
});

/** `audio_stop_request`: `audio.stopAudio`; no answer. */
export const audioStopRequestSchema = defineMessage(T.AUDIO_STOP_REQUEST, {
  ...optionalIds,
  trackId: z.number().optional(),
});

/**
 * `photo_request`: `camera.requestPhoto`. The SDK waits for a POST to its `/photo-upload`
 * (MENTRA-SDK-WIRE.md §7.4), except with `customWebhookUrl`, where it resolves at once.
 */
export const photoRequestSchema = defineMessage(T.PHOTO_REQUEST, {
  ...optionalIds,
  requestId: requestIdSchema,
  saveToGallery: z.boolean().optional(),
  size: z.string().optional(),
  compress: z.string().optional(),
  customWebhookUrl: z.string().optional(),
  authToken: z.string().optional(),
});

/** `location_poll_request`: `location.getLatestLocation`; answered by a `location_update` with the same `correlationId`. */
export const locationPollRequestSchema = defineMessage(T.LOCATION_POLL_REQUEST, {
  ...optionalIds,
  accuracy: z.string().optional(),
  correlationId: requestIdSchema,
});

/** `rgb_led_control`: `led.turnOn` / `turnOff` / `blink` / `solid`; fire and forget in the SDK. Times in ms. */
export const rgbLedControlSchema = defineMessage(T.RGB_LED_CONTROL, {
  ...optionalIds,
  requestId: requestIdSchema,
  action: z.enum(['on', 'off']),
  color: z.string().optional(),
  ontime: z.number().optional(),
  offtime: z.number().optional(),
  count: z.number().optional(),
});

/** `request_wifi_setup`: `session.requestWifiSetup`; shown on the phone. */
export const requestWifiSetupSchema = defineMessage(T.REQUEST_WIFI_SETUP, { ...optionalIds, reason: z.string().optional() });

/** `dashboard_mode_change`: the system dashboard app switches the dashboard's mode. */
export const dashboardModeChangeSchema = defineMessage(T.DASHBOARD_MODE_CHANGE, { ...optionalIds, mode: z.string() });

/** `app_broadcast_message`: `broadcastToAppUsers`; to every other session of the same app. */
export const appBroadcastMessageSchema = defineMessage(T.APP_BROADCAST_MESSAGE, {
  ...optionalIds,
  payload: z.unknown(),
  messageId: requestIdSchema,
  senderUserId: z.string().optional(),
  roomId: z.string().optional(),
});

/** `app_direct_message`: `sendDirectMessage`; answered with `app_direct_message_response`. */
export const appDirectMessageSchema = defineMessage(T.APP_DIRECT_MESSAGE, {
  ...optionalIds,
  targetUserId: z.string().min(1),
  payload: z.unknown(),
  messageId: requestIdSchema,
  senderUserId: z.string().optional(),
});

/** `app_room_join`: `joinAppRoom`. */
export const appRoomJoinSchema = defineMessage(T.APP_ROOM_JOIN, {
  ...optionalIds,
  roomId: requestIdSchema,
  roomConfig: z
    .looseObject({ maxUsers: z.number().int().positive().optional(), isPrivate: z.boolean().optional(), metadata: z.unknown().optional() })
    .optional(),
});

/** `app_room_leave`: `leaveAppRoom`. */
export const appRoomLeaveSchema = defineMessage(T.APP_ROOM_LEAVE, { ...optionalIds, roomId: requestIdSchema });

/**
 * Other types `@mentra/sdk` 2.1.29 declares, which this cloud does not implement; accepted with
 * only `type` checked, and answered so the SDK's promise fails at once (`unsupportedMessages.ts`).
 */
export const OTHER_SDK_APP_MESSAGE_TYPES = [
  T.RTMP_STREAM_REQUEST,
  T.RTMP_STREAM_STOP,
  T.MANAGED_STREAM_REQUEST,
  T.MANAGED_STREAM_STOP,
  T.STREAM_STATUS_CHECK,
  T.DASHBOARD_SYSTEM_UPDATE,
  T.APP_USER_DISCOVERY,
] as const;

/** Type string of a message this cloud accepts but does not implement. */
export type UnsupportedAppMessageType = (typeof OTHER_SDK_APP_MESSAGE_TYPES)[number];

const otherSdkMessageSchemas = OTHER_SDK_APP_MESSAGE_TYPES.map((type) => defineMessage(type, optionalIds));

/** Any app → cloud message, discriminated by `type`. */
export const appToCloudMessageSchema = z.discriminatedUnion('type', [
  tpaConnectionInitSchema,
  subscriptionUpdateSchema,
  appDisplayEventSchema,
  appHeartbeatSchema,
  ownershipReleaseSchema,
  dashboardContentUpdateSchema,
  audioPlayRequestSchema,
  audioStopRequestSchema,
  photoRequestSchema,
  locationPollRequestSchema,
  rgbLedControlSchema,
  requestWifiSetupSchema,
  dashboardModeChangeSchema,
  appBroadcastMessageSchema,
  appDirectMessageSchema,
  appRoomJoinSchema,
  appRoomLeaveSchema,
  ...otherSdkMessageSchemas,
]);

/** An app → cloud message. */
export type AppToCloudMessage = WireShape<z.output<typeof appToCloudMessageSchema>>;

/** An app → cloud message of one `type`. */
export type AppToCloudOf<K extends AppToCloudMessage['type']> = Extract<AppToCloudMessage, { type: K }>;

/** `tpa_connection_init` from an app. */
export type TpaConnectionInit = AppToCloudOf<'tpa_connection_init'>;

/** `subscription_update` from an app. */
export type SubscriptionUpdate = AppToCloudOf<'subscription_update'>;

/** `display_event` from an app. */
export type AppDisplayEvent = AppToCloudOf<'display_event'>;

/** One entry of `subscription_update.subscriptions`. */
export type SubscriptionEntry = z.output<typeof subscriptionEntrySchema>;

/**
 * The stream names of a subscription list, in first-seen order without duplicates: strings as
 * they are, objects by their `stream`. The `rate` of an object entry is dropped; `@mentra/sdk`
 * 2.1.29 loses it too (it only ever sends `location_update` as a plain string).
 */
export function normalizeSubscriptions(list: readonly SubscriptionEntry[]): string[] {
  const names = new Set<string>();
  for (const entry of list) names.add(typeof entry === 'string' ? entry : entry.stream);
  return [...names];
}
