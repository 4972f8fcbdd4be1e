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

/** Any cloud → glasses message, discriminated by `type`. */
export const cloudToGlassesMessageSchema = z.discriminatedUnion('type', [
  connectionAckSchema,
  connectionErrorSchema,
  glassesDisplayEventSchema,
  appStateChangeSchema,
  glassesHeartbeatAckSchema,
]);

/** A cloud → glasses message. */
export type CloudToGlassesMessage = WireShape<z.output<typeof cloudToGlassesMessageSchema>>;

/** A cloud → glasses message of one `type`. */
export type CloudToGlassesOf<K extends CloudToGlassesMessage['type']> = Extract<CloudToGlassesMessage, { type: K }>;
