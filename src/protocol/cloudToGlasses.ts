/**
 * Messages the cloud sends to the glasses. Type strings and field names follow `@mentra/sdk`
 * 2.1.29 (`CloudToGlassesMessageType`, `cloud-to-glasses.d.ts`); `heartbeat_ack`, the
 * `app_state_change` fields and `connection_ack.userId` are Tether's.
 */
import { z } from 'zod';
import { layoutSchema, viewSchema } from './layouts.js';
import { defineMessage } from './message.js';
import type { WireShape } from './message.js';

/** Type strings of cloud → glasses messages. */
export const CloudToGlassesMessageType = {
  CONNECTION_ACK: 'connection_ack',
  CONNECTION_ERROR: 'connection_error',
  DISPLAY_EVENT: 'display_event',
  APP_STATE_CHANGE: 'app_state_change',
  HEARTBEAT_ACK: 'heartbeat_ack',
  PHOTO_REQUEST: 'photo_request',
  AUDIO_PLAY_REQUEST: 'audio_play_request',
  AUDIO_STOP_REQUEST: 'audio_stop_request',
  RGB_LED_CONTROL: 'rgb_led_control',
  REQUEST_SINGLE_LOCATION: 'request_single_location',
  DASHBOARD_MODE_CHANGE: 'dashboard_mode_change',
  SHOW_WIFI_SETUP: 'show_wifi_setup',
} as const;

const T = CloudToGlassesMessageType;

/** `connection_ack`: the glasses' `connection_init` was accepted. */
export const connectionAckSchema = defineMessage(T.CONNECTION_ACK, {
  sessionId: z.string(),
  userId: z.string().optional(),
});

/**
 * `connection_error`: the glasses' connection was refused (an auth code, then close 4001) or
 * something failed on the socket. `code` is an `ErrorCode`; typed as a string so a client can
 * read codes from a newer cloud.
 */
export const connectionErrorSchema = defineMessage(T.CONNECTION_ERROR, {
  code: z.string(),
  message: z.string(),
});

/** `display_event`: show a layout. `durationMs` in ms; absent means until replaced. */
export const glassesDisplayEventSchema = defineMessage(T.DISPLAY_EVENT, {
  packageName: z.string().optional(),
  view: viewSchema.optional(),
  layout: layoutSchema,
  durationMs: z.number().optional(),
});

/** Why an app failed, as shown on the glasses. */
export const appErrorSchema = z.looseObject({
  code: z.string(),
  message: z.string(),
  packageName: z.string(),
});

/**
 * `app_state_change`: the set of running apps changed, possibly because one failed, or an app
 * started or stopped being waited for (`reconnectingApps`: its server is unreachable, it
 * dropped, or it released its session for a clean shutdown; it stays in `runningApps`).
 */
export const appStateChangeSchema = defineMessage(T.APP_STATE_CHANGE, {
  runningApps: z.array(z.string()),
  reconnectingApps: z.array(z.string()).optional(),
  error: appErrorSchema.optional(),
});

/** `heartbeat_ack`: answer to the glasses' `heartbeat`. */
export const glassesHeartbeatAckSchema = defineMessage(T.HEARTBEAT_ACK, {});

/**
 * `photo_request`: take a photo for app `appId`. The glasses upload it, multipart as
 * `@mentra/sdk`'s `/photo-upload` takes it, to `webhookUrl` with `Authorization: Bearer
 * <authToken>` (the cloud's upload endpoint, or the app's `customWebhookUrl`), or answer
 * `photo_response` with an error.
 */
export const glassesPhotoRequestSchema = defineMessage(T.PHOTO_REQUEST, {
  requestId: z.string(),
  appId: z.string(),
  saveToGallery: z.boolean().optional(),
  size: z.string().optional(),
  compress: z.string().optional(),
  webhookUrl: z.string().optional(),
  authToken: z.string().optional(),
});

/** `audio_play_request`: play `audioUrl` (volume 0..1); answered with `audio_play_response` (`duration` in ms). */
export const glassesAudioPlayRequestSchema = defineMessage(T.AUDIO_PLAY_REQUEST, {
  requestId: z.string(),
  appId: z.string(),
  audioUrl: z.string(),
  volume: z.number().optional(),
  stopOtherAudio: z.boolean().optional(),
  trackId: z.number().optional(),
});

/** `audio_stop_request`: stop app `appId`'s audio (one track, or all). */
export const glassesAudioStopRequestSchema = defineMessage(T.AUDIO_STOP_REQUEST, {
  appId: z.string(),
  trackId: z.number().optional(),
});

/** `rgb_led_control`: drive the LED (times in ms); answered with `rgb_led_control_response`. */
export const glassesRgbLedControlSchema = defineMessage(T.RGB_LED_CONTROL, {
  requestId: z.string(),
  appId: z.string(),
  action: z.enum(['on', 'off']),
  color: z.string().optional(),
  ontime: z.number().optional(),
  offtime: z.number().optional(),
  count: z.number().optional(),
});

/** `request_single_location`: one location fix, answered by a `location_update` with this `correlationId`. */
export const requestSingleLocationSchema = defineMessage(T.REQUEST_SINGLE_LOCATION, {
  accuracy: z.string(),
  correlationId: z.string(),
});

/** `dashboard_mode_change`: the system dashboard switched the dashboard's mode. */
export const glassesDashboardModeChangeSchema = defineMessage(T.DASHBOARD_MODE_CHANGE, { mode: z.string() });

/** `show_wifi_setup`: an app asked the phone to show the glasses' Wi-Fi setup. */
export const showWifiSetupSchema = defineMessage(T.SHOW_WIFI_SETUP, {
  reason: z.string().optional(),
  appPackageName: z.string().optional(),
});

/** Any cloud → glasses message, discriminated by `type`. */
export const cloudToGlassesMessageSchema = z.discriminatedUnion('type', [
  connectionAckSchema,
  connectionErrorSchema,
  glassesDisplayEventSchema,
  appStateChangeSchema,
  glassesHeartbeatAckSchema,
  glassesPhotoRequestSchema,
  glassesAudioPlayRequestSchema,
  glassesAudioStopRequestSchema,
  glassesRgbLedControlSchema,
  requestSingleLocationSchema,
  glassesDashboardModeChangeSchema,
  showWifiSetupSchema,
]);

/** A cloud → glasses message. */
export type CloudToGlassesMessage = WireShape<z.output<typeof cloudToGlassesMessageSchema>>;

/** A cloud → glasses message of one `type`. */
export type CloudToGlassesOf<K extends CloudToGlassesMessage['type']> = Extract<CloudToGlassesMessage, { type: K }>;
