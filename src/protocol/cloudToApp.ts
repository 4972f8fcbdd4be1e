/**
 * Messages the cloud sends to apps. Type strings and field names follow `@mentra/sdk` 2.1.29
 * (`CloudToAppMessageType`, `cloud-to-app.d.ts`), plus `heartbeat_ack`, `resumed`, `seq` and the
 * two Tether extension messages, which go only to clients that asked for them.
 */
import { z } from 'zod';
import { defineMessage } from './message.js';
import type { WireShape } from './message.js';

/** Type strings of cloud → app messages. */
export const CloudToAppMessageType = {
  CONNECTION_ACK: 'tpa_connection_ack',
  CONNECTION_ERROR: 'tpa_connection_error',
  DATA_STREAM: 'data_stream',
  APP_STOPPED: 'app_stopped',
  SETTINGS_UPDATE: 'settings_update',
  HEARTBEAT_ACK: 'heartbeat_ack',
  USER_RECONNECTED: 'user_reconnected',
  RESUME_GAP: 'resume_gap',
  MENTRAOS_SETTINGS_UPDATE: 'augmentos_settings_update',
  AUDIO_PLAY_RESPONSE: 'audio_play_response',
  RGB_LED_CONTROL_RESPONSE: 'rgb_led_control_response',
  RTMP_STREAM_STATUS: 'rtmp_stream_status',
  MANAGED_STREAM_STATUS: 'managed_stream_status',
  STREAM_STATUS_CHECK_RESPONSE: 'stream_status_check_response',
  DASHBOARD_MODE_CHANGED: 'dashboard_mode_changed',
  APP_MESSAGE_RECEIVED: 'app_message_received',
  APP_USER_JOINED: 'app_user_joined',
  APP_USER_LEFT: 'app_user_left',
  APP_ROOM_UPDATED: 'app_room_updated',
  APP_DIRECT_MESSAGE_RESPONSE: 'app_direct_message_response',
} as const;

const T = CloudToAppMessageType;

/**
 * Protocol extensions a client can list in `tpa_connection_init.extensions`. `@mentra/sdk`
 * raises an error event on any unknown message type, so the cloud sends an extension message
 * only to a client that listed its extension.
 */
export const TetherExtension = {
  USER_RECONNECTED: 'user_reconnected',
  RESUME: 'resume',
} as const;

/** A protocol extension name. */
export type TetherExtensionName = (typeof TetherExtension)[keyof typeof TetherExtension];

const extensionOfType: ReadonlyMap<string, TetherExtensionName> = new Map([
  [T.USER_RECONNECTED, TetherExtension.USER_RECONNECTED],
  [T.RESUME_GAP, TetherExtension.RESUME],
]);

/**
 * The extension a client must have listed to receive a message of `type`, or `undefined` for a
 * standard message every client understands.
 */
export function requiredExtension(type: string): TetherExtensionName | undefined {
  return extensionOfType.get(type);
}

/**
 * `tpa_connection_ack`: the app is authenticated. `{ type }` alone is enough for `@mentra/sdk`;
 * `settings`, `mentraosSettings` and `capabilities` give it feature parity. `resumed` (Tether)
 * says the cloud kept the session and is replaying from the client's `lastSeq`.
 */
export const tpaConnectionAckSchema = defineMessage(T.CONNECTION_ACK, {
  sessionId: z.string().optional(),
  settings: z.array(z.unknown()).optional(),
  mentraosSettings: z.record(z.string(), z.unknown()).optional(),
  // The SDK stores whatever arrives and treats null as "unknown device".
  capabilities: z.record(z.string(), z.unknown()).nullable().optional(),
  resumed: z.boolean().optional(),
});

/**
 * `tpa_connection_error`: sent instead of the ack; the cloud then closes the socket (1008 for an
 * auth code) because `@mentra/sdk` never does. `code` is an `ErrorCode`, typed as a string so a
 * client can read codes from a newer cloud.
 */
export const tpaConnectionErrorSchema = defineMessage(T.CONNECTION_ERROR, {
  code: z.string(),
  message: z.string(),
});

/**
 * `data_stream`: one stream event for a subscribed app. `streamType` must equal the subscribed
 * string exactly (`transcription:en-US`), or `@mentra/sdk` drops it. `seq` (Tether) numbers the
 * frames of one app session for replay; older clients ignore it.
 */
export const dataStreamSchema = defineMessage(T.DATA_STREAM, {
  sessionId: z.string().optional(),
  streamType: z.string(),
  data: z.unknown(),
  seq: z.number().int().nonnegative().optional(),
});

/**
 * `app_stopped`: informational only in `@mentra/sdk` 2.1 (it neither closes nor stops); the
 * cloud stops an app by closing with 1000 "App stopped".
 */
export const appStoppedSchema = defineMessage(T.APP_STOPPED, {
  reason: z.enum(['user_disabled', 'system_stop', 'error']),
  message: z.string().optional(),
});

/**
 * `settings_update`: the app's settings changed; `settings` replaces them. Note that 2.1 also
 * wipes its MentraOS settings on this message (MENTRA-SDK-WIRE.md §3.2).
 */
export const settingsUpdateSchema = defineMessage(T.SETTINGS_UPDATE, {
  packageName: z.string().optional(),
  settings: z.array(z.unknown()),
});

/** `heartbeat_ack`: answer to the app's `heartbeat`. */
export const appHeartbeatAckSchema = defineMessage(T.HEARTBEAT_ACK, {});

/** `user_reconnected` (extension `user_reconnected`): the user's glasses came back after `disconnectedMs` ms. */
export const userReconnectedSchema = defineMessage(T.USER_RECONNECTED, {
  userId: z.string(),
  disconnectedMs: z.number().nonnegative(),
  /** At least the restart threshold away: the cloud counted it as a long reconnect. */
  long: z.boolean().optional(),
});

/**
 * `resume_gap` (extension `resume`): the replay buffer no longer held everything after the
 * client's `lastSeq`; `lost` frames (`fromSeq`..`toSeq`, inclusive, when known) are gone.
 */
export const resumeGapSchema = defineMessage(T.RESUME_GAP, {
  lost: z.number().int().nonnegative(),
  fromSeq: z.number().int().nonnegative().optional(),
  toSeq: z.number().int().nonnegative().optional(),
});

/**
 * `augmentos_settings_update`: the MentraOS system settings (`metricSystemEnabled`…); sent after
 * each `settings_update` to undo `@mentra/sdk` 2.1's reading of that one as MentraOS settings.
 */
export const mentraosSettingsUpdateSchema = defineMessage(T.MENTRAOS_SETTINGS_UPDATE, {
  settings: z.record(z.string(), z.unknown()),
});

/**
 * `audio_play_response`: resolves the SDK's `playAudio` promise with `{ success, error, duration }`
 * (it never rejects on it); `duration` in ms.
 */
export const appAudioPlayResponseSchema = defineMessage(T.AUDIO_PLAY_RESPONSE, {
  requestId: z.string(),
  success: z.boolean(),
  error: z.string().optional(),
  duration: z.number().optional(),
});

/** `rgb_led_control_response`: the glasses' answer to an LED request (2.1.29 logs it at debug). */
export const appRgbLedControlResponseSchema = defineMessage(T.RGB_LED_CONTROL_RESPONSE, {
  requestId: z.string(),
  success: z.boolean(),
  error: z.string().optional(),
});

/** `rtmp_stream_status`: `status: "error"` ends the SDK's stream state and reaches `onStreamStatus`. */
export const rtmpStreamStatusSchema = defineMessage(T.RTMP_STREAM_STATUS, {
  status: z.string(),
  streamId: z.string().optional(),
  errorDetails: z.string().optional(),
});

/** `managed_stream_status`: `status: "error"` rejects a pending `startManagedStream` with `message`. */
export const managedStreamStatusSchema = defineMessage(T.MANAGED_STREAM_STATUS, {
  status: z.string(),
  message: z.string().optional(),
  streamId: z.string().optional(),
});

/** `stream_status_check_response`: resolves `checkExistingStream`. */
export const streamStatusCheckResponseSchema = defineMessage(T.STREAM_STATUS_CHECK_RESPONSE, {
  hasActiveStream: z.boolean(),
});

/** `dashboard_mode_changed`: the dashboard's mode; fires `dashboard.content.onModeChange`. */
export const dashboardModeChangedSchema = defineMessage(T.DASHBOARD_MODE_CHANGED, { mode: z.string() });

/** `app_message_received`: a broadcast or direct message from another session of the same app (`onAppMessage`). */
export const appMessageReceivedSchema = defineMessage(T.APP_MESSAGE_RECEIVED, {
  payload: z.unknown(),
  messageId: z.string(),
  senderUserId: z.string(),
  senderSessionId: z.string(),
  roomId: z.string().optional(),
});

/** `app_user_joined`: another session of the same app joined a room this one is in. */
export const appUserJoinedSchema = defineMessage(T.APP_USER_JOINED, {
  userId: z.string(),
  sessionId: z.string(),
  joinedAt: z.string(),
  roomId: z.string().optional(),
});

/** `app_user_left`: another session left a room this one is in (or ended). */
export const appUserLeftSchema = defineMessage(T.APP_USER_LEFT, {
  userId: z.string(),
  sessionId: z.string(),
  leftAt: z.string(),
  roomId: z.string().optional(),
});

/** `app_room_updated`: a room's membership changed. */
export const appRoomUpdatedSchema = defineMessage(T.APP_ROOM_UPDATED, {
  roomId: z.string(),
  updateType: z.enum(['user_joined', 'user_left', 'config_changed', 'room_closed']),
  roomData: z.looseObject({ memberCount: z.number().int().nonnegative(), maxUsers: z.number().optional(), isPrivate: z.boolean().optional() }),
});

/** `app_direct_message_response`: resolves `sendDirectMessage` with `success`; `error` is an `ErrorCode` when it failed. */
export const appDirectMessageResponseSchema = defineMessage(T.APP_DIRECT_MESSAGE_RESPONSE, {
  messageId: z.string(),
  success: z.boolean(),
  error: z.string().optional(),
  targetUserId: z.string(),
});

/** Any cloud → app message, discriminated by `type`. */
export const cloudToAppMessageSchema = z.discriminatedUnion('type', [
  tpaConnectionAckSchema,
  tpaConnectionErrorSchema,
  dataStreamSchema,
  appStoppedSchema,
  settingsUpdateSchema,
  appHeartbeatAckSchema,
  userReconnectedSchema,
  resumeGapSchema,
  mentraosSettingsUpdateSchema,
  appAudioPlayResponseSchema,
  appRgbLedControlResponseSchema,
  rtmpStreamStatusSchema,
  managedStreamStatusSchema,
  streamStatusCheckResponseSchema,
  dashboardModeChangedSchema,
  appMessageReceivedSchema,
  appUserJoinedSchema,
  appUserLeftSchema,
  appRoomUpdatedSchema,
  appDirectMessageResponseSchema,
]);

/** A cloud → app message. */
export type CloudToAppMessage = WireShape<z.output<typeof cloudToAppMessageSchema>>;

/** A cloud → app message of one `type`. */
export type CloudToAppOf<K extends CloudToAppMessage['type']> = Extract<CloudToAppMessage, { type: K }>;

/** `tpa_connection_ack` to an app. */
export type TpaConnectionAck = CloudToAppOf<'tpa_connection_ack'>;

/** `data_stream` to an app. */
export type DataStream = CloudToAppOf<'data_stream'>;
