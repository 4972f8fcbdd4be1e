/**
 * `appSession`: the cloud side of one app for one user (ARCHITECTURE.md, "appSession"). It
 * starts the app by webhook, adopts the app's socket whenever it arrives and holds it through a
 * `socketLink` (which watches its liveness), brings a dropped app back (first by waiting for the SDK, then by webhook), and
 * stops it with the close code and reason that make `@mentra/sdk` call `onStop`.
 * Spawned by `userSession` with `systemId` `appSession:<sessionId>`; data frames never pass
 * through it: the router writes to the app socket while the snapshot has the `canSend` tag.
 */
import { and, assertEvent, assign, enqueueActions, not, sendTo, setup } from 'xstate';
import { backoffDelay } from './policy/backoff.js';
import { classifyClose, CloseCode, CloseReason } from './policy/closePolicy.js';
import type { SessionConfig } from './policy/sessionConfig.js';
import { APP_LINK_ID, appSessionId, retiringLinkId } from './sessionIds.js';
import { appWebhookPort, type AppWebhookInput, type StopRequestReason } from './sessionPorts.js';
import { socketLinkMachine, type SocketLinkInput, type SocketLinkOutput } from './socketLink.js';

/** Why an app session is being stopped: the user's `stop_app`, or the end of the user session. */
export type AppStopReason = 'user_disabled' | 'session_ended';

/** A coded error the runtime shows on the glasses (`app_state_change.error`). */
export interface AppSessionError {
  /** `WEBHOOK_TIMEOUT`, `APP_CONNECT_TIMEOUT`, or the `code` the webhook client rejected with. */
  code: string;
  category: 'connection' | 'auth' | 'internal';
  message: string;
  /** True when retrying cannot help; the app then leaves the user's desired set. */
  permanent: boolean;
}

/** `ownership_release` reasons of `@mentra/sdk` 2.1 with a meaning of their own here (ARCHITECTURE.md, "Stock apps"). */
export const OwnershipRelease = {
  /** Its socket is being replaced by a newer one: not a failure (any unknown reason is read so). */
  SWITCHING_CLOUDS: 'switching_clouds',
  /** The app's server is going down on purpose: keep the app, ask again later. */
  CLEAN_SHUTDOWN: 'clean_shutdown',
  /** The user left this app: stop it for that user. */
  USER_LOGOUT: 'user_logout',
} as const;

/** How an app session ended, the machine's output (the parent's `xstate.done.actor.*`). */
export interface AppSessionOutput {
  packageName: string;
  sessionId: string;
  /**
   * `stopped`: a stop was requested; `ended`: the app closed its socket normally by itself;
   * `loggedOut`: the app released its session with `user_logout` (it leaves the desired set);
   * `failed`: it could not be started or brought back within `appPatienceMs` (`error` says why).
   */
  outcome: 'stopped' | 'ended' | 'loggedOut' | 'failed';
  error: AppSessionError | null;
}

/** What the machine is created with. */
export interface AppSessionInput {
  userId: string;
  packageName: string;
  config: SessionConfig;
  /** Wall clock in ms since the epoch; only read to keep the resurrection deadline across a restore. */
  now: () => number;
  /** Returns a number in [0, 1); webhook backoff jitter. Seeded in tests. */
  random: () => number;
  /** Subscriptions to start from (normally none: the app sends its own after the ack). */
  subscriptions?: readonly string[];
  /** Set when the session is started by a restart recovery: names its webhooks in logs. */
  correlationId?: string;
}

/** What the machine remembers; the data plane reads `subscriptions` from here. */
export interface AppSessionContext {
  userId: string;
  packageName: string;
  /** `${userId}-${packageName}`, as the real protocol has it. */
  sessionId: string;
  config: SessionConfig;
  now: () => number;
  random: () => number;
  /** Generation of the newest socket adopted (or refused while stopping); 0 before the first. */
  gen: number;
  /** Generation of the newest socket refused as an orphan's (see `confirmed`); newer ones only are adopted. */
  refusedGen: number;
  /** Protocol extensions the current socket listed in `tpa_connection_init`. */
  extensions: readonly string[];
  /** The app's current stream subscriptions; kept across reconnects, `[]` is legal. */
  subscriptions: readonly string[];
  /** Whether a session_request of ours is being answered (it may outlive the `starting` state). */
  webhookPending: boolean;
  /**
   * Whether the held socket is known to be the app's own: no session_request was pending when it
   * was adopted, or the pending one has since answered 200. `@mentra/sdk` answers 500 for a session
   * whose connect it gave up on, and a socket adopted before that answer may be such an orphan's.
   */
  confirmed: boolean;
  /** Webhook calls made since the current start began (the backoff's exponent). */
  webhookAttempts: number;
  /**
   * Wall time (ms) after which a failing start gives up: set by the first failure of a start,
   * cleared when the app connects or its server is back. A deadline, so it survives a restore.
   */
  patienceDeadline: number | null;
  /** Wall time (ms) until which a session released with `clean_shutdown` waits before asking again. */
  releaseDeadline: number | null;
  /** The backoff delay being waited before the next webhook call, drawn once per wait. */
  retryDelayMs: number;
  /** Wall time (ms) at which a dropped app stops being waited for and the webhook is re-sent. */
  resurrectionDeadline: number | null;
  /** The latest failed start attempt. */
  lastError: AppSessionError | null;
  stopReason: AppStopReason | null;
  outcome: AppSessionOutput['outcome'];
  /**
   * Correlation id of the restart recovery driving the current start
   * (`recovery:<registrationId>:<sessionId>`), handed to its webhooks; null otherwise.
   */
  correlationId: string | null;
}

/** A retiring link finished closing its socket. */
export interface AppRetiringLinkDoneEvent {
  type: `xstate.done.actor.retiringLink.${string}`;
  output: SocketLinkOutput;
  actorId: string;
}

/**
 * Events the machine accepts. `app.connected` comes from the runtime once it has checked the
 * app's `tpa_connection_init` (valid key, this session id); `subscriptions.updated` from the
 * runtime when that socket sends `subscription_update` (the full list, each entry reduced to its
 * stream name; `[]` is legal and never means stop); the link's end arrives as its done event;
 * `app.stopRequested`, `user.reconnected` and `session.restored` come from
 * the parent `userSession`; `appServer.restarted` from the runtime when the app's server
 * registers again, `appServer.reachable` when the host of its webhook answers again after it
 * could not be reached (the runtime's circuit breaker).
 */
export type AppSessionEvent =
  | {
      type: 'app.connected';
      gen: number;
      extensions?: readonly string[];
      /**
       * Set for a stock-SDK socket arriving while a confirmed stock socket is held: whether the
       * held one answered a ping just now (the runtime probes it before telling the session).
       */
      heldAlive?: boolean;
    }
  | { type: 'subscriptions.updated'; gen: number; subscriptions: readonly string[] }
  | AppRetiringLinkDoneEvent
  | { type: 'appServer.restarted'; correlationId?: string }
  | { type: 'appServer.reachable'; correlationId?: string }
  | { type: 'app.stopRequested'; reason: AppStopReason }
  | { type: 'user.reconnected'; disconnectedMs: number; long: boolean }
  | { type: 'session.restored' };

const USER_RECONNECTED_EXTENSION = 'user_reconnected';

/**
 * What an app session tells its parent `userSession` when it starts or stops waiting for its
 * app (the glasses show such an app as reconnecting).
 */
export interface AppStandingEvent {
  type: 'app.standing';
  packageName: string;
  reconnecting: boolean;
}

function closeReasonFor(reason: AppStopReason | null): string {
  return reason === 'session_ended' ? CloseReason.USER_SESSION_ENDED : CloseReason.APP_STOPPED;
}

function webhookReasonFor(reason: AppStopReason | null): StopRequestReason {
  return reason === 'session_ended' ? 'system_stop' : 'user_disabled';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** A webhook rejection turned into an {@link AppSessionError}; anything unshaped is transient. */
function webhookError(error: unknown): AppSessionError {
  const code = isRecord(error) && typeof error.code === 'string' ? error.code : 'WEBHOOK_FAILED';
  const message = isRecord(error) && typeof error.message === 'string' ? error.message : 'webhook call failed';
  const permanent = isRecord(error) && error.permanent === true;
  return { code, category: permanent ? 'auth' : 'connection', message, permanent };
}

/** Input of the link of app socket `gen`: adopted, or retiring with the given close. */
function appLinkInput(
  context: AppSessionContext,
  gen: number,
  close?: { code: number; reason: string },
): SocketLinkInput {
  const { heartbeatIntervalMs, heartbeatTimeoutMs } = context.config;
  return {
    kind: 'app',
    gen,
    role: close ? 'retiring' : 'adopted',
    ...(close ? { closeCode: close.code, closeReason: close.reason } : {}),
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
  };
}

/** Which socket a retirement closes: the one the event names, or the one the session holds. */
export interface RetireParams {
  of: 'event' | 'held';
  code: number;
  reason: string;
}

/**
 * The app session statechart. States: `starting` (`callingWebhook` → `backingOff` /
 * `awaitingConnection`) → `running` → `resurrecting` | `released` → `stopping` → `stopped` (final).
 * A start that fails keeps trying with capped backoff for `appPatienceMs` (principle 12) and tells
 * the parent it is reconnecting (`app.standing`).
 * Tags: `canSend` while `running` (an adopted, open socket); `buffering` while the session is
 * live (`starting`, `running`, `resurrecting`): the data plane numbers and keeps its frames for
 * replay, even with no socket to write them to; `webhookInFlight` while a `session_request` is
 * being answered.
 */
export const appSessionMachine = setup({
  types: {
    context: {} as AppSessionContext,
    events: {} as AppSessionEvent,
    input: {} as AppSessionInput,
    output: {} as AppSessionOutput,
  },
  actors: { socketLink: socketLinkMachine, appWebhook: appWebhookPort },
  guards: {
    isCurrentGen: ({ context, event }) => 'gen' in event && event.gen === context.gen,
    isNewerGen: ({ context, event }) =>
      event.type === 'app.connected' && event.gen > Math.max(context.gen, context.refusedGen),
    // Older than the held socket or than one refused as an orphan's: never adopted, always closed.
    isOlderGen: ({ context, event }) =>
      event.type === 'app.connected' && event.gen < Math.max(context.gen, context.refusedGen),
    isNormalClose: ({ event }) =>
      'output' in event &&
      event.output.cause === 'closed' &&
      classifyClose(event.output.code, event.output.reason) === 'normal',
    // `ownership_release` then a close means a newer socket takes over (MENTRA-SDK-WIRE §1.5).
    isOwnershipReleased: ({ event }) => 'output' in event && event.output.ownershipRelease !== null,
    isReleasedFor: ({ event }, params: { reason: string }) => 'output' in event && event.output.ownershipRelease === params.reason,
    isPermanentFailure: ({ event }) => 'error' in event && webhookError(event.error).permanent,
    // Before the first failure of a start there is no deadline yet: patience is whole.
    hasPatienceLeft: ({ context }) =>
      context.patienceDeadline === null ? context.config.appPatienceMs > 0 : context.now() < context.patienceDeadline,
    listensForUserReconnected: ({ context }) => context.extensions.includes(USER_RECONNECTED_EXTENSION),
    // A client that listed no extension in its init is `@mentra/sdk` (or speaks like it).
    isStockSocket: ({ event }) => event.type === 'app.connected' && (event.extensions ?? []).length === 0,
    holdsStockSocket: ({ context }) => context.extensions.length === 0,
    holdsConfirmedStockSocket: ({ context }) => context.extensions.length === 0 && context.confirmed,
    heldSocketAnswered: ({ event }) => event.type === 'app.connected' && event.heldAlive === true,
    // The app server itself answered that it could not start the session (`@mentra/sdk`: 500
    // "Failed to connect"), as opposed to a call that was lost or timed out on our side.
    isServerRefusal: ({ event }) =>
      'error' in event && isRecord(event.error) && typeof event.error.status === 'number' && event.error.status >= 500,
  },
  delays: {
    webhookTimeout: ({ context }) => context.config.webhookTimeoutMs,
    webhookRetry: ({ context }) => context.retryDelayMs,
    appConnectTimeout: ({ context }) => context.config.appConnectTimeoutMs,
    // From a deadline, so an actor restored from a persisted snapshot waits only what is left.
    resurrectionWindow: ({ context }) =>
      Math.max(0, (context.resurrectionDeadline ?? context.now()) - context.now()),
    releaseWait: ({ context }) => Math.max(0, (context.releaseDeadline ?? context.now()) - context.now()),
  },
  actions: {
    // Each start (the first, after a drop, after a restore) has its whole patience.
    resetWebhookAttempts: assign({ webhookAttempts: 0, lastError: null, patienceDeadline: null }),
    /**
     * The app server restarted while a session_request is in flight: that call is kept (a
     * second one for the same session makes `@mentra/sdk` drop its socket and run `onSession`
     * again), but it becomes the first attempt of a fresh round, so if it was addressed to the
     * dead server its failure is retried against the new one.
     */
    restartWebhookRound: assign({ webhookAttempts: 1, lastError: null, patienceDeadline: null }),
    /** The first failure of a start opens its patience window; later ones leave it as it is. */
    startPatience: assign({
      patienceDeadline: ({ context }) => context.patienceDeadline ?? context.now() + context.config.appPatienceMs,
    }),
    startReleaseWait: assign({
      releaseDeadline: ({ context }) => context.now() + context.config.appReleaseWaitMs,
      correlationId: null,
    }),
    /**
     * Tells the parent whether this app is being waited for. A session run on its own (tests, a
     * runtime without a user session) has no parent to tell.
     */
    reportStanding: enqueueActions(({ context, self, enqueue }, params: { reconnecting: boolean }) => {
      if (!self._parent) return;
      const standing: AppStandingEvent = { type: 'app.standing', packageName: context.packageName, reconnecting: params.reconnecting };
      enqueue.sendParent(standing);
    }),
    recordCorrelation: assign({
      correlationId: ({ context, event }) =>
        event.type === 'appServer.restarted' || event.type === 'appServer.reachable'
          ? (event.correlationId ?? null)
          : context.correlationId,
    }),
    countWebhookAttempt: assign({ webhookAttempts: ({ context }) => context.webhookAttempts + 1 }),
    /**
     * One session_request, spawned rather than invoked: for a stock-SDK app its answer still
     * matters once the socket is adopted (a 500 says the server gave up on that connect).
     */
    callSessionWebhook: enqueueActions(({ context, enqueue }) => {
      enqueue.stopChild('sessionWebhook');
      enqueue.spawnChild('appWebhook', {
        id: 'sessionWebhook',
        input: {
          type: 'session_request',
          userId: context.userId,
          packageName: context.packageName,
          sessionId: context.sessionId,
          attempt: context.webhookAttempts,
          ...(context.correlationId ? { correlationId: context.correlationId } : {}),
        } satisfies AppWebhookInput,
      });
      enqueue.assign({ webhookPending: true });
    }),
    /**
     * The session_request is over: it answered (its spawned actor is done and is removed, so
     * nothing else names it), or it can no longer change anything and is abandoned.
     */
    endSessionWebhook: enqueueActions(({ enqueue }) => {
      enqueue.stopChild('sessionWebhook');
      enqueue.assign({ webhookPending: false });
    }),
    confirmSocket: assign({ confirmed: true }),
    drawRetryDelay: assign({
      retryDelayMs: ({ context }) =>
        backoffDelay(Math.max(0, context.webhookAttempts - 1), context.config.webhookRetry, context.random),
    }),
    recordWebhookFailure: assign({
      lastError: ({ event }) => webhookError('error' in event ? event.error : undefined),
    }),
    recordWebhookTimeout: assign({
      lastError: ({ context }) => ({
        code: 'WEBHOOK_TIMEOUT',
        category: 'connection' as const,
        message: `the app's webhook did not answer within ${context.config.webhookTimeoutMs} ms`,
        permanent: false,
      }),
    }),
    recordConnectTimeout: assign({
      lastError: ({ context }) => ({
        code: 'APP_CONNECT_TIMEOUT',
        category: 'connection' as const,
        message: `the app accepted the session but did not connect within ${context.config.appConnectTimeoutMs} ms`,
        permanent: false,
      }),
    }),
    recordFailure: assign({ outcome: 'failed' as const }),
    recordEnded: assign({ outcome: 'ended' as const }),
    recordLoggedOut: assign({ outcome: 'loggedOut' as const }),
    recordStopRequest: assign({
      stopReason: ({ event, context }) => (event.type === 'app.stopRequested' ? event.reason : context.stopReason),
      outcome: 'stopped' as const,
    }),
    adoptSocket: assign(({ event, context }) => {
      assertEvent(event, 'app.connected');
      return {
        gen: event.gen,
        confirmed: !context.webhookPending,
        extensions: [...(event.extensions ?? [])],
        resurrectionDeadline: null,
        releaseDeadline: null,
        patienceDeadline: null,
        correlationId: null,
      };
    }),
    recordGen: assign({ gen: ({ event, context }) => (event.type === 'app.connected' ? event.gen : context.gen) }),
    recordRefusedGen: assign({
      refusedGen: ({ event, context }) => (event.type === 'app.connected' ? event.gen : context.refusedGen),
    }),
    /**
     * A socket the session will not keep gets a retiring link, which closes it and lives until it
     * has closed: the held socket when a newer one replaces it or the app is stopped, or a socket
     * that arrives older than the held one, or late while stopping.
     */
    retireSocket: enqueueActions(({ context, event, enqueue }, params: RetireParams) => {
      const gen = params.of === 'event' && event.type === 'app.connected' ? event.gen : context.gen;
      enqueue.spawnChild('socketLink', {
        id: retiringLinkId(gen),
        input: appLinkInput(context, gen, { code: params.code, reason: params.reason }),
      });
    }),
    releaseRetiredLink: enqueueActions(({ event, enqueue }) => {
      if ('actorId' in event) enqueue.stopChild(event.actorId);
    }),
    startResurrectionWindow: assign({
      resurrectionDeadline: ({ context }) => context.now() + context.config.appReconnectWindowMs,
      // A drop after a recovered start begins an ordinary resurrection, not part of that recovery.
      correlationId: null,
    }),
    recordSubscriptions: assign({
      subscriptions: ({ event, context }) =>
        event.type === 'subscriptions.updated' ? [...event.subscriptions] : context.subscriptions,
    }),
    sendUserReconnected: sendTo(APP_LINK_ID, ({ context, event }) => ({
      type: 'link.send' as const,
      message: {
        type: 'user_reconnected',
        userId: context.userId,
        disconnectedMs: event.type === 'user.reconnected' ? event.disconnectedMs : 0,
        // A long reconnect (>= restartThresholdMs) is reported as such (ARCHITECTURE.md).
        long: event.type === 'user.reconnected' && event.long,
      },
    })),
  },
}).createMachine({
  id: 'appSession',
  description: 'The cloud side of one app for one user: webhook start, running, resurrection, stop.',
  context: ({ input }) => ({
    userId: input.userId,
    packageName: input.packageName,
    sessionId: appSessionId(input.userId, input.packageName),
    config: input.config,
    now: input.now,
    random: input.random,
    gen: 0,
    refusedGen: 0,
    extensions: [],
    subscriptions: [...(input.subscriptions ?? [])],
    webhookPending: false,
    confirmed: false,
    webhookAttempts: 0,
    patienceDeadline: null,
    releaseDeadline: null,
    retryDelayMs: 0,
    resurrectionDeadline: null,
    lastError: null,
    stopReason: null,
    outcome: 'stopped',
    correlationId: input.correlationId ?? null,
  }),
  output: ({ context }) => ({
    packageName: context.packageName,
    sessionId: context.sessionId,
    outcome: context.outcome,
    error: context.outcome === 'failed' ? context.lastError : null,
  }),
  initial: 'starting',
  on: {
    'app.connected': {
      guard: 'isOlderGen',
      actions: { type: 'retireSocket', params: { of: 'event', code: CloseCode.REPLACED, reason: CloseReason.REPLACED } },
      description: 'A socket older than the adopted one was superseded before it got here: close it 4003.',
    },
    'xstate.done.actor.retiringLink.*': {
      actions: 'releaseRetiredLink',
      description: 'A retiring link finished closing its socket: release it.',
    },
  },
  states: {
    starting: {
      description:
        'POST session_request and accept the app whenever it connects, usually before the webhook answers. ' +
        'The webhook is retried with backoff, a bounded number of times, only while no socket has arrived.',
      tags: ['buffering'],
      entry: 'resetWebhookAttempts',
      initial: 'callingWebhook',
      on: {
        'app.connected': [
          {
            guard: and(['isNewerGen', 'isStockSocket']),
            target: 'running',
            actions: 'adoptSocket',
            description:
              'A stock SDK connected: ack it at once (its onSession, and so its webhook answer, waits for the ' +
              'ack), and keep listening for that answer: a 500 means the server gave up on this connect.',
          },
          {
            guard: 'isNewerGen',
            target: 'running',
            actions: ['endSessionWebhook', 'adoptSocket'],
            description: 'The app connected (valid key, this session id): ack it at once, whatever the webhook does.',
          },
        ],
        'app.stopRequested': {
          target: 'stopping',
          actions: ['endSessionWebhook', 'recordStopRequest'],
          description: 'Stopped before the app connected.',
        },
        'session.restored': {
          target: 'starting',
          reenter: true,
          description: 'Restored from a persisted snapshot, whose timers are gone: start over.',
        },
      },
      states: {
        callingWebhook: {
          description: 'One session_request in flight; webhookTimeout bounds it.',
          tags: ['webhookInFlight'],
          entry: ['countWebhookAttempt', 'callSessionWebhook'],
          after: {
            webhookTimeout: [
              {
                guard: 'hasPatienceLeft',
                target: 'backingOff',
                actions: ['endSessionWebhook', 'recordWebhookTimeout', 'startPatience'],
                description: 'No answer in time: abandon this call, back off, call again.',
              },
              {
                target: '#appSession.stopped',
                actions: ['endSessionWebhook', 'recordWebhookTimeout', 'recordFailure'],
                description: 'No answer in time and patience exhausted.',
              },
            ],
          },
          on: {
            'xstate.done.actor.sessionWebhook': {
              target: 'awaitingConnection',
              actions: 'endSessionWebhook',
              description: 'The app server accepted the session but its socket has not arrived yet.',
            },
            'xstate.error.actor.sessionWebhook': [
              {
                guard: 'isPermanentFailure',
                target: '#appSession.stopped',
                actions: ['endSessionWebhook', 'recordWebhookFailure', 'recordFailure'],
                description: 'Retrying cannot help (app deleted, key revoked).',
              },
              {
                guard: 'hasPatienceLeft',
                target: 'backingOff',
                actions: ['endSessionWebhook', 'recordWebhookFailure', 'startPatience'],
                description:
                  'Transient failure (server down, refused by its host’s open circuit, 5xx) within patience: back ' +
                  'off, then call again.',
              },
              {
                target: '#appSession.stopped',
                actions: ['endSessionWebhook', 'recordWebhookFailure', 'recordFailure'],
                description: 'Patience exhausted: fail with the last error (the app stays desired).',
              },
            ],
            'appServer.restarted': {
              actions: ['restartWebhookRound', 'recordCorrelation'],
              description:
                'The app server came back while a call is in flight: keep the call (never two session_requests ' +
                'at once), but count it as the first attempt of a fresh round.',
            },
          },
        },
        backingOff: {
          description:
            'A call failed: the app is shown as reconnecting. Waiting d·(1 + 0.5·random()), d = min(max, base·1.5ⁿ), ' +
            'before the next webhook call.',
          entry: ['drawRetryDelay', { type: 'reportStanding', params: { reconnecting: true } }],
          after: { webhookRetry: { target: 'callingWebhook', description: 'Call the webhook again.' } },
          on: {
            'app.connected': {
              guard: and(['isNewerGen', 'isStockSocket']),
              actions: [
                {
                  type: 'retireSocket',
                  params: { of: 'event', code: CloseCode.POLICY_VIOLATION, reason: CloseReason.ABANDONED_CONNECT },
                },
                'recordRefusedGen',
              ],
              description:
                'A stock-SDK socket arriving after its webhook failed belongs to a session its server gave up on: ' +
                '`@mentra/sdk` answers 500 when its connect times out but never closes that socket, and no ' +
                '`onSession` ever runs on it. Adopting it would show the app as running with nothing behind it; ' +
                'close it 1008 (no reconnect) and let the next webhook start a real one.',
            },
            'appServer.restarted': {
              target: 'callingWebhook',
              actions: ['resetWebhookAttempts', 'recordCorrelation'],
              description: 'The app server came back: call it now, with a fresh attempt count, instead of waiting.',
            },
            'appServer.reachable': {
              target: 'callingWebhook',
              actions: ['resetWebhookAttempts', 'recordCorrelation'],
              description:
                'The host of the webhook answers again (its circuit closed; waiting sessions are released in paced ' +
                'waves): call it now.',
            },
          },
        },
        awaitingConnection: {
          description: 'The webhook succeeded; waiting for the app to open its socket.',
          after: {
            appConnectTimeout: [
              {
                guard: 'hasPatienceLeft',
                target: 'backingOff',
                actions: ['recordConnectTimeout', 'startPatience'],
                description: 'The app never connected: call the webhook again after a backoff.',
              },
              {
                target: '#appSession.stopped',
                actions: ['recordConnectTimeout', 'recordFailure'],
                description: 'The app never connected and patience is exhausted.',
              },
            ],
          },
          on: {
            'appServer.restarted': {
              target: 'callingWebhook',
              description:
                'The server that accepted the session restarted before the app connected: call the new one, ' +
                'with a fresh attempt count.',
              actions: ['resetWebhookAttempts', 'recordCorrelation'],
            },
          },
        },
      },
    },
    running: {
      description:
        'The app socket is adopted and open, held by its link (pinged every heartbeatInterval, ended after ' +
        'heartbeatTimeout of silence): the router may write to it.',
      tags: ['canSend', 'buffering'],
      entry: { type: 'reportStanding', params: { reconnecting: false } },
      invoke: {
        id: APP_LINK_ID,
        src: 'socketLink',
        input: ({ context }) => appLinkInput(context, context.gen),
        onDone: [
          {
            guard: and(['isNormalClose', not('isOwnershipReleased')]),
            target: 'stopped',
            actions: 'recordEnded',
            description: 'The app closed its session normally by itself (1000/1001, "App stopped").',
          },
          {
            guard: { type: 'isReleasedFor', params: { reason: OwnershipRelease.USER_LOGOUT } },
            target: 'stopped',
            actions: 'recordLoggedOut',
            description: 'ownership_release "user_logout", then the close: the user left this app; stop it for them.',
          },
          {
            guard: { type: 'isReleasedFor', params: { reason: OwnershipRelease.CLEAN_SHUTDOWN } },
            target: 'released',
            actions: 'startReleaseWait',
            description:
              'ownership_release "clean_shutdown", then the close: the app server is going down on purpose. Keep ' +
              'the app, send no webhook now.',
          },
          {
            target: 'resurrecting',
            actions: 'startResurrectionWindow',
            description:
              'Abnormal close (1006, 1011, 1005 without ownership_release: the app process died), a dead ' +
              'heartbeat (half-open TCP, app host gone), or a replacement after ownership_release: wait for ' +
              'the app to come back.',
          },
        ],
      },
      on: {
        'xstate.done.actor.sessionWebhook': {
          actions: ['endSessionWebhook', 'confirmSocket'],
          description: 'The session_request pending at adoption answered 200: the held socket is the app’s own.',
        },
        'xstate.error.actor.sessionWebhook': [
          {
            guard: and(['holdsStockSocket', 'isServerRefusal']),
            target: '#appSession.starting.backingOff',
            actions: [
              'endSessionWebhook',
              {
                type: 'retireSocket',
                params: { of: 'held', code: CloseCode.POLICY_VIOLATION, reason: CloseReason.ABANDONED_CONNECT },
              },
              'recordWebhookFailure',
            ],
            description:
              'The stock server answered 500 for the session whose socket is held: its connect timed out on its ' +
              'side and it will never run onSession on that socket (an orphan). Close it 1008 and call again.',
          },
          {
            actions: 'endSessionWebhook',
            description: 'Lost or timed out on our side, or a Tether SDK app: the socket that came decides.',
          },
        ],
        'app.connected': [
          {
            guard: and(['isNewerGen', 'isStockSocket', 'holdsConfirmedStockSocket', 'heldSocketAnswered']),
            actions: [
              {
                type: 'retireSocket',
                params: { of: 'event', code: CloseCode.POLICY_VIOLATION, reason: CloseReason.ALREADY_CONNECTED },
              },
              'recordRefusedGen',
            ],
            description:
              'A second stock socket while the confirmed one is held and still answers pings comes from an ' +
              'orphan (a session object its server gave up on, reconnecting by itself): refuse it 1008. A held ' +
              'socket that did not answer is replaced (next transition): the SDK reconnected after losing it.',
          },
          {
            guard: 'isNewerGen',
            target: 'running',
            reenter: true,
            actions: [
              { type: 'retireSocket', params: { of: 'held', code: CloseCode.REPLACED, reason: CloseReason.REPLACED } },
              'adoptSocket',
            ],
            description:
              'A newer socket for this session replaces the current one, which is closed 4003 (1008 for a stock SDK).',
          },
        ],
        'subscriptions.updated': {
          guard: 'isCurrentGen',
          actions: 'recordSubscriptions',
          description: 'The full list replaces the previous one; [] is legal and never means stop.',
        },
        'user.reconnected': {
          guard: 'listensForUserReconnected',
          actions: 'sendUserReconnected',
          description: 'The user came back from grace; only clients that listed the extension are told.',
        },
        'app.stopRequested': {
          target: 'stopping',
          actions: [
            'recordStopRequest',
            // Always 1000: @mentra/sdk neither retries nor calls onStop on a non-1000 "App stopped".
            {
              type: 'retireSocket',
              params: ({ event }) => ({
                of: 'held' as const,
                code: CloseCode.NORMAL,
                reason: closeReasonFor(event.type === 'app.stopRequested' ? event.reason : null),
              }),
            },
          ],
          description: 'Close the socket 1000 "App stopped" (or "User session ended") and send stop_request.',
        },
        'session.restored': {
          target: 'resurrecting',
          actions: 'startResurrectionWindow',
          description:
            'Restored from a persisted snapshot: the socket belonged to the previous process. Wait for the app ' +
            'to come back.',
        },
      },
    },
    released: {
      description:
        'The app released its session with clean_shutdown: its server is going down on purpose. The app stays ' +
        'desired and is shown as reconnecting; no webhook until appReleaseWait (a deadline that survives a ' +
        'restore) has passed, its server registers again or its host answers again after being unreachable.',
      tags: ['buffering'],
      // A session_request still pending from the start the app left is of no use now.
      entry: ['endSessionWebhook', { type: 'reportStanding', params: { reconnecting: true } }],
      after: {
        releaseWait: {
          target: 'starting',
          description: 'Ask again by webhook; if the server is not back yet, patience applies.',
        },
      },
      on: {
        'app.connected': {
          guard: 'isNewerGen',
          target: 'running',
          actions: 'adoptSocket',
          description: 'The app came back by itself (a replacement server picked the session up): adopt it.',
        },
        'appServer.restarted': {
          target: 'starting',
          actions: 'recordCorrelation',
          description: 'A new server process registered: start the session on it now.',
        },
        'appServer.reachable': {
          target: 'starting',
          actions: 'recordCorrelation',
          description: 'The host answers again after it could not be reached: start the session now.',
        },
        'app.stopRequested': {
          target: 'stopping',
          actions: 'recordStopRequest',
          description: 'Stopped while the app was away.',
        },
        'session.restored': {
          target: 'released',
          reenter: true,
          description: 'Restored from a persisted snapshot: wait only what is left.',
        },
      },
    },
    resurrecting: {
      description:
        'The app dropped. Wait appReconnectWindow (a deadline that survives a restore) for its SDK to come ' +
        'back by itself, then re-send the webhook.',
      tags: ['buffering'],
      // A session_request still pending from the start the app left is of no use now.
      entry: ['endSessionWebhook', { type: 'reportStanding', params: { reconnecting: true } }],
      after: {
        resurrectionWindow: {
          target: 'starting',
          description: 'The app did not come back by itself: start it again by webhook (bounded attempts).',
        },
      },
      on: {
        'app.connected': {
          guard: 'isNewerGen',
          target: 'running',
          actions: 'adoptSocket',
          description: 'The SDK reconnected (or a replacement socket arrived): adopt it.',
        },
        'appServer.restarted': {
          target: 'starting',
          actions: 'recordCorrelation',
          description: 'The app server restarted and lost this session: start it by webhook now.',
        },
        'app.stopRequested': {
          target: 'stopping',
          actions: 'recordStopRequest',
          description: 'Stopped while the app was away.',
        },
        'session.restored': {
          target: 'resurrecting',
          reenter: true,
          description: 'Restored from a persisted snapshot: wait only what is left of the window.',
        },
      },
    },
    stopping: {
      description:
        'POST stop_request; the socket, if any, was closed 1000 with the stop reason. ' +
        "The app's own close (1000/1001, or 1005 after stop_request) is expected here.",
      entry: 'endSessionWebhook',
      invoke: {
        id: 'stopWebhook',
        src: 'appWebhook',
        input: ({ context }): AppWebhookInput => ({
          type: 'stop_request',
          userId: context.userId,
          packageName: context.packageName,
          sessionId: context.sessionId,
          attempt: 1,
          reason: webhookReasonFor(context.stopReason),
        }),
        onDone: { target: 'stopped', description: 'The app server acknowledged the stop.' },
        onError: { target: 'stopped', description: 'The stop_request failed; the session ends anyway.' },
      },
      after: {
        webhookTimeout: { target: 'stopped', description: 'No answer to stop_request in time; end anyway.' },
      },
      on: {
        'app.connected': {
          guard: 'isNewerGen',
          actions: [
            'recordGen',
            {
              type: 'retireSocket',
              params: ({ context }) => ({
                of: 'held' as const,
                code: CloseCode.NORMAL,
                reason: closeReasonFor(context.stopReason),
              }),
            },
          ],
          description: 'A late reconnect of a stopping app: close it 1000 with the stop reason, never adopt it.',
        },
        'session.restored': {
          target: 'stopping',
          reenter: true,
          description: 'Restored from a persisted snapshot: send stop_request again.',
        },
      },
    },
    stopped: {
      description: 'Ended; the output says whether it was stopped, ended by the app, or failed (with an error).',
      entry: 'endSessionWebhook',
      type: 'final',
    },
  },
});
