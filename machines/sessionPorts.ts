/**
 * Contracts of the I/O actors that the cloud-side session machines (`userSession`,
 * `appSession`) spawn and invoke. The machines only know these shapes; `src/cloud` provides the
 * real implementations with `machine.provide({ actors })`, tests provide scripted ones. The
 * placeholders throw `ACTOR_NOT_PROVIDED`, so a machine run without its I/O fails loudly.
 *
 * Sockets. The runtime owns every raw `ws`, authenticates it, gives it a generation `gen` from
 * one counter that only grows (seed it above any restored generation, e.g. with `Date.now()`),
 * and tells the session actor `glasses.connected { gen }` / `app.connected { gen }`. If the
 * machine adopts (or refuses) it, it spawns one socket actor with `input.gen`; that actor finds
 * the `ws` by `gen` and is the only way the machine talks to it. The adapter translates and
 * decides nothing:
 * - on start: attach listeners. If no open `ws` has this `gen` (for instance after a restore
 *   from a persisted snapshot), report `*.closed { gen, code: 1006, reason: '' }` at once.
 * - commands, in the order received: `socket.accept` (send the handshake ack: `connection_ack`
 *   or `tpa_connection_ack` with settings), `socket.ping` (a ws ping), `socket.send` (write the
 *   message as JSON), `socket.close` (close with that code and reason), `socket.terminate`
 *   (destroy it: the peer sees 1006).
 * - facts sent back: `*.alive { gen }` at most once per `socket.ping`, on the first pong or
 *   inbound frame after it (liveness is one event per heartbeat, never one per message);
 *   `*.closed { gen, code, reason }` when the socket closes.
 * - on stop: detach listeners; if the `ws` is still OPEN (no close was commanded) terminate it,
 *   but never cut a close handshake already under way (a CLOSING socket is left alone).
 *
 * Webhooks. `appWebhook` is invoked once per HTTP call and resolves or rejects; the machine
 * enforces `webhookTimeoutMs` itself (leaving the state stops the actor and aborts `signal`).
 */
import { fromCallback, fromPromise } from 'xstate';
import { actorNotProvided, type WireMessage } from './ports.js';

/** Commands a session machine gives one of its sockets (see the module comment). */
export type SessionSocketCommand =
  | { type: 'socket.accept' }
  | { type: 'socket.ping' }
  | { type: 'socket.send'; message: WireMessage }
  | { type: 'socket.close'; code: number; reason: string }
  | { type: 'socket.terminate'; reason: string };

/** Input of the glasses socket actor. */
export interface GlassesSocketInput {
  userId: string;
  /** Generation the runtime gave this socket in `glasses.connected`. */
  gen: number;
}

/** Facts the glasses socket actor sends back to `userSession`. */
export type GlassesSocketFact =
  | { type: 'glasses.alive'; gen: number }
  | { type: 'glasses.closed'; gen: number; code: number; reason: string };

/**
 * Placeholder for one glasses WebSocket (`/glasses-ws`), spawned by `userSession` as
 * `glassesSocket`. Accepts {@link SessionSocketCommand}, sends back {@link GlassesSocketFact}.
 */
export const glassesSocketPort = fromCallback<SessionSocketCommand, GlassesSocketInput>(() =>
  actorNotProvided('glassesSocket'),
);

/** Input of the app socket actor (cloud side of one app's `/app-ws` connection). */
export interface AppSessionSocketInput {
  userId: string;
  packageName: string;
  /** `${userId}-${packageName}`. */
  sessionId: string;
  /** Generation the runtime gave this socket in `app.connected`. */
  gen: number;
}

/**
 * Facts the app socket actor sends back to `appSession`. `ownershipReleased` is true when the
 * app sent `ownership_release` on this socket before it closed: `@mentra/sdk` then closes with
 * 1005 because a newer socket replaces it, which is not a failure (MENTRA-SDK-WIRE §1.5).
 * `subscriptions.updated` carries the full list of a `subscription_update`, each entry reduced
 * to its stream name; `[]` is legal (the SDK's first update is always empty) and never means stop.
 */
export type AppSessionSocketFact =
  | { type: 'app.alive'; gen: number }
  | { type: 'app.closed'; gen: number; code: number; reason: string; ownershipReleased?: boolean }
  | { type: 'subscriptions.updated'; gen: number; subscriptions: readonly string[] };

/**
 * Placeholder for one app WebSocket, spawned by `appSession` as `appSocket`. Accepts
 * {@link SessionSocketCommand}, sends back {@link AppSessionSocketFact}.
 */
export const appSessionSocketPort = fromCallback<SessionSocketCommand, AppSessionSocketInput>(() =>
  actorNotProvided('appSocket'),
);

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
