/**
 * Contracts of the I/O actors that the cloud-side session machines (`userSession`,
 * `appSession`) spawn and invoke. The machines only know these shapes; `src/cloud` provides the
 * real implementations with `machine.provide({ actors })`, tests provide scripted ones. The
 * placeholders throw `ACTOR_NOT_PROVIDED`, so a machine run without its I/O fails loudly.
 *
 * Sockets are not actors here: each socket a session holds gets a `socketLink` machine
 * (`socketLink.ts`), whose I/O actions the runtime provides. The runtime owns every raw `ws`,
 * authenticates it, gives it a generation `gen` from one counter that only grows (seed it above
 * any restored generation, e.g. with `Date.now()`), and tells the session actor
 * `glasses.connected { gen }` / `app.connected { gen }`.
 *
 * Webhooks. `appWebhook` is invoked once per HTTP call and resolves or rejects; the machine
 * enforces `webhookTimeoutMs` itself (leaving the state stops the actor and aborts `signal`).
 */
import { fromPromise } from 'xstate';
import { actorNotProvided } from './ports.js';

/** `reason` of a `stop_request`, as `@mentra/sdk` types it. */
export type StopRequestReason = 'user_disabled' | 'system_stop' | 'error';

/** One webhook call: `POST {webhookUrl}` with the `session_request` or `stop_request` body. */
export interface AppWebhookInput {
  type: 'session_request' | 'stop_request';
  userId: string;
  packageName: string;
  sessionId: string;
  /** 1 for the first call of a start or stop, then 2, 3… (for logs and the correlation id). */
  attempt: number;
  /** Only on `stop_request`. */
  reason?: StopRequestReason;
  /**
   * Set when the call belongs to a restart recovery (`recovery:<registrationId>:<sessionId>`):
   * the runtime names the call with it, so one id follows the workflow through the logs.
   */
  correlationId?: string;
}

/** A webhook that answered 2xx. */
export interface AppWebhookOutput {
  status: number;
}

/**
 * How a webhook call fails: reject with an object of this shape. `permanent: true` means
 * retrying cannot help (the app was deleted, its webhook URL refused, its key revoked); the
 * app then leaves the user's desired set. Anything else is transient.
 */
export interface AppWebhookFailure {
  code: string;
  message: string;
  permanent?: boolean;
  /** HTTP status, when the app answered. */
  status?: number;
}

/**
 * Placeholder for the webhook client, invoked by `appSession` as `sessionWebhook` (the
 * `session_request`) and `stopWebhook` (the `stop_request`). Resolve with
 * {@link AppWebhookOutput} on 2xx, reject with {@link AppWebhookFailure} otherwise. Let a
 * `stop_request` finish even when `signal` aborts: a user session's disposal ends its app
 * sessions while their `stop_request` is still in flight, and the app should still get it.
 */
export const appWebhookPort = fromPromise<AppWebhookOutput, AppWebhookInput>(async () =>
  actorNotProvided('appWebhook'),
);
