/**
 * `appConnection`: the client side of one app <-> cloud WebSocket, run by the SDK inside every
 * app session (ARCHITECTURE.md, "appConnection"). It owns the lifecycle — handshake, heartbeat,
 * backoff, close-code policy, the outbox — and nothing else: data frames go straight to the
 * socket while the machine is tagged `canSend`.
 */
import { and, assign, emit, enqueueActions, sendTo, setup, spawnChild, stopChild } from 'xstate';
import { backoffDelay } from './policy/backoff.js';
import { classifyClose, CloseCode, CloseReason, isAuthErrorCode } from './policy/closePolicy.js';
import { appSocketPort, type AppSocketFact, type WireMessage } from './ports.js';

/** Settings of one connection; every duration is in milliseconds. */
export interface AppConnectionConfig {
  /** WebSocket URL of the cloud's app endpoint, used verbatim. */
  url: string;
  packageName: string;
  apiKey: string;
  /** When false, the first abnormal close ends the session. */
  autoReconnect: boolean;
  /** Retries allowed after a drop before the session closes for good. */
  maxReconnectAttempts: number;
  /** Delay before the first retry, before jitter. */
  reconnectDelayMs: number;
  /** Cap on the retry delay, before jitter. */
  maxReconnectDelayMs: number;
  /** How often the client pings the cloud while open. */
  heartbeatIntervalMs: number;
  /** Silence after which the socket is declared dead (no pong, no frame). */
  heartbeatTimeoutMs: number;
  /** How long one attempt may take from dialling to the ack. */
  connectTimeoutMs: number;
  /** How long a connection must stay open before the attempt counter resets. */
  stableMs: number;
  /** Most messages kept while not open; the oldest are dropped past it. */
  outboxLimit: number;
  /** Tether protocol extensions announced in `tpa_connection_init`. */
  extensions: readonly string[];
}

/** What the machine is created with: configuration and its only source of randomness. */
export interface AppConnectionInput {
  config: AppConnectionConfig;
  /** Returns a number in [0, 1); seeded in tests. */
  random: () => number;
  /** Opaque value handed to every socket actor (see `AppSocketInput.socketContext`). */
  socketContext?: unknown;
}

/** A message waiting in the outbox; entries with the same `coalesceKey` replace each other. */
export interface OutboxEntry {
  message: WireMessage;
  coalesceKey?: string;
}

/** Why and how the connection ended; the payload of `disconnected`. */
export interface ConnectionEnding {
  message: string;
  code: number;
  reason: string;
  wasClean: boolean;
  /** True when retrying cannot help: credentials refused, or attempts exhausted. */
  permanent: boolean;
  /** Stable error code when the ending is a failure (`INVALID_API_KEY`, `RECONNECT_EXHAUSTED`…). */
  errorCode?: string;
}

/** What the machine remembers; read it through `actor.getSnapshot().context`. */
export interface AppConnectionContext {
  config: AppConnectionConfig;
  random: () => number;
  socketContext: unknown;
  sessionId: string | null;
  /** Generation of the current socket; 0 before the first one. */
  gen: number;
  /** Whether socket `gen` is still ours; false once released, so its late facts are dropped. */
  socketLive: boolean;
  /** Retries made since the connection was last stable. */
  attempt: number;
  /** Delay of the retry being waited for; drawn once so the emitted figure is the real one. */
  retryDelayMs: number;
  subscriptions: readonly string[];
  outbox: readonly OutboxEntry[];
  everOpened: boolean;
  /** The last abnormal close or failed attempt, reported when the session ends. */
  lastFailure: Omit<ConnectionEnding, 'permanent'> | null;
  ending: ConnectionEnding | null;
  /** The last `tpa_connection_ack`, whose settings the SDK exposes. */
  ack: WireMessage | null;
}

/** Events the machine accepts: requests from the SDK and facts from the socket. */
export type AppConnectionEvent =
  | { type: 'connect.requested'; sessionId: string }
  | { type: 'disconnect.requested'; reason?: string }
  | { type: 'subscriptions.changed'; subscriptions: readonly string[] }
  | { type: 'send.requested'; message: WireMessage; coalesceKey?: string }
  | AppSocketFact;

/** The machine's output, turned into the SDK's public events. */
export type AppConnectionEmitted =
  | { type: 'connected'; ack: WireMessage }
  | { type: 'reconnected'; ack: WireMessage }
  | { type: 'reconnecting'; attempt: number; maxAttempts: number; delayMs: number }
  | ({ type: 'disconnected' } & ConnectionEnding)
  | { type: 'error'; code: string; message: string };

type CloseFact = Extract<AppSocketFact, { type: 'socket.closed' }>;

function describeClose(code: number, reason: string): string {
  return reason ? `Connection closed (${code}: ${reason})` : `Connection closed (${code})`;
}

function failureOf(event: AppConnectionEvent): Omit<ConnectionEnding, 'permanent'> {
  switch (event.type) {
    case 'socket.closed':
      return { message: describeClose(event.code, event.reason), code: event.code, reason: event.reason, wasClean: event.wasClean };
    case 'connectionError.received':
      return { message: event.message, code: CloseCode.POLICY_VIOLATION, reason: event.message, wasClean: false, errorCode: event.code };
    default:
      return { message: 'Connection failed', code: CloseCode.ABNORMAL, reason: '', wasClean: false, errorCode: 'CONNECTION_FAILED' };
  }
}

const TIMEOUT_FAILURE: Omit<ConnectionEnding, 'permanent'> = {
  message: 'No acknowledgement before the connect timeout',
  code: CloseCode.ABNORMAL,
  reason: 'connect timeout',
  wasClean: false,
  errorCode: 'CONNECT_TIMEOUT',
};

const HEARTBEAT_FAILURE: Omit<ConnectionEnding, 'permanent'> = {
  message: 'No pong or frame before the heartbeat timeout; socket terminated',
  code: CloseCode.ABNORMAL,
  reason: CloseReason.HEARTBEAT_TIMEOUT,
  wasClean: false,
  errorCode: 'HEARTBEAT_TIMEOUT',
};

/**
 * The app connection statechart. States: `idle` → `connecting` (`opening` → `authenticating`)
 * → `open` → `reconnecting` → `closed` (final). Tags: `canSend` while `open` (the SDK writes
 * data frames directly), `queueing` otherwise (the SDK sends `send.requested`).
 */
export const appConnectionMachine = setup({
  types: {
    context: {} as AppConnectionContext,
    events: {} as AppConnectionEvent,
    input: {} as AppConnectionInput,
    emitted: {} as AppConnectionEmitted,
  },
  actors: { appSocket: appSocketPort },
  guards: {
    isCurrentGen: ({ context, event }) => context.socketLive && 'gen' in event && event.gen === context.gen,
    isAuthError: ({ event }) => event.type === 'connectionError.received' && isAuthErrorCode(event.code),
    isNormalClose: ({ event }) => classifyClose((event as CloseFact).code, (event as CloseFact).reason) === 'normal',
    isTerminalClose: ({ event }) => classifyClose((event as CloseFact).code, (event as CloseFact).reason) === 'terminal',
    // A session that never reached `open` fails fast: the webhook caller retries, not us.
    canRetry: ({ context }) =>
      context.config.autoReconnect && context.everOpened && context.attempt < context.config.maxReconnectAttempts,
  },
  delays: {
    connectTimeout: ({ context }) => context.config.connectTimeoutMs,
    heartbeatInterval: ({ context }) => context.config.heartbeatIntervalMs,
    heartbeatTimeout: ({ context }) => context.config.heartbeatTimeoutMs,
    stableAfter: ({ context }) => context.config.stableMs,
    retryDelay: ({ context }) => context.retryDelayMs,
  },
  actions: {
    rememberSession: assign({
      sessionId: ({ event, context }) => (event.type === 'connect.requested' ? event.sessionId : context.sessionId),
    }),
    openSocket: enqueueActions(({ context, enqueue }) => {
      const gen = context.gen + 1;
      enqueue.assign({ gen, socketLive: true });
      enqueue(spawnChild('appSocket', { id: 'socket', input: { url: context.config.url, gen, socketContext: context.socketContext } }));
    }),
    releaseSocket: enqueueActions(({ enqueue }) => {
      enqueue(stopChild('socket'));
      enqueue.assign({ socketLive: false });
    }),
    reportError: emit(({ event }) => {
      const e = event as Extract<AppConnectionEvent, { type: 'connectionError.received' }>;
      return { type: 'error' as const, code: e.code, message: e.message };
    }),
    sendInit: sendTo('socket', ({ context }) => ({
      type: 'socket.send' as const,
      message: {
        type: 'tpa_connection_init',
        sessionId: context.sessionId,
        packageName: context.config.packageName,
        apiKey: context.config.apiKey,
        ...(context.config.extensions.length > 0 ? { extensions: [...context.config.extensions] } : {}),
      },
    })),
    storeAck: assign({ ack: ({ event, context }) => (event.type === 'ack.received' ? event.ack : context.ack) }),
    announceOpen: enqueueActions(({ context, enqueue }) => {
      const ack = context.ack ?? { type: 'tpa_connection_ack' };
      enqueue.emit(context.everOpened ? { type: 'reconnected', ack } : { type: 'connected', ack });
      enqueue.assign({ everOpened: true, lastFailure: null });
    }),
    sendSubscriptions: sendTo('socket', ({ context }) => ({
      type: 'socket.send' as const,
      message: {
        type: 'subscription_update',
        packageName: context.config.packageName,
        sessionId: context.sessionId,
        subscriptions: [...context.subscriptions],
      },
    })),
    recordSubscriptions: assign({
      subscriptions: ({ event, context }) =>
        event.type === 'subscriptions.changed' ? [...event.subscriptions] : context.subscriptions,
    }),
    flushOutbox: enqueueActions(({ context, enqueue }) => {
      for (const entry of context.outbox) {
        enqueue.sendTo('socket', { type: 'socket.send', message: entry.message });
      }
      enqueue.assign({ outbox: [] });
    }),
    enqueueMessage: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'send.requested') return;
      const { message, coalesceKey } = event;
      // Only the latest display per view matters once the socket is back.
      const kept = coalesceKey ? context.outbox.filter((e) => e.coalesceKey !== coalesceKey) : [...context.outbox];
      kept.push(coalesceKey ? { message, coalesceKey } : { message });
      const overflow = Math.max(0, kept.length - context.config.outboxLimit);
      if (overflow > 0) {
        const dropped = kept.splice(0, overflow);
        enqueue.emit({
          type: 'error',
          code: 'OUTBOX_OVERFLOW',
          message: `outbox full (${context.config.outboxLimit}); dropped ${dropped.length} oldest message(s) of type ${dropped.map((d) => d.message.type).join(', ')}`,
        });
      }
      enqueue.assign({ outbox: kept });
    }),
    pingSocket: sendTo('socket', { type: 'socket.ping' }),
    terminateSocket: sendTo('socket', { type: 'socket.terminate' }),
    closeSocketNormally: enqueueActions(({ context, event, enqueue }) => {
      if (!context.socketLive) return;
      const reason = (event.type === 'disconnect.requested' && event.reason) || 'App disconnected';
      enqueue.sendTo('socket', { type: 'socket.close', code: CloseCode.NORMAL, reason });
    }),
    recordFailure: assign({ lastFailure: ({ event }) => failureOf(event) }),
    recordTimeout: assign({ lastFailure: () => TIMEOUT_FAILURE }),
    recordHeartbeatFailure: assign({ lastFailure: () => HEARTBEAT_FAILURE }),
    scheduleRetry: enqueueActions(({ context, enqueue }) => {
      const delayMs = backoffDelay(
        context.attempt,
        { baseDelayMs: context.config.reconnectDelayMs, maxDelayMs: context.config.maxReconnectDelayMs },
        context.random,
      );
      const attempt = context.attempt + 1;
      enqueue.assign({ retryDelayMs: delayMs, attempt });
      enqueue.emit({ type: 'reconnecting', attempt, maxAttempts: context.config.maxReconnectAttempts, delayMs });
    }),
    resetAttempts: assign({ attempt: 0 }),
    endNormally: assign({
      ending: ({ event }) => {
        if (event.type === 'disconnect.requested') {
          const reason = event.reason ?? 'App disconnected';
          return { message: describeClose(CloseCode.NORMAL, reason), code: CloseCode.NORMAL, reason, wasClean: true, permanent: false };
        }
        return { ...failureOf(event), permanent: false };
      },
    }),
    endPermanently: assign({ ending: ({ event }) => ({ ...failureOf(event), permanent: true }) }),
    endAfterFailure: assign({
      // Reached when retrying is not allowed: a session that was never open failed to connect,
      // one that was open has used up its attempts.
      ending: ({ context, event }) => {
        const failure = event.type === 'socket.closed' || event.type === 'connectionError.received' ? failureOf(event) : (context.lastFailure ?? failureOf(event));
        if (!context.everOpened) return { ...failure, errorCode: failure.errorCode ?? 'CONNECTION_FAILED', permanent: false };
        const exhausted = context.config.autoReconnect;
        return {
          ...failure,
          message: exhausted ? `Maximum reconnection attempts (${context.config.maxReconnectAttempts}) exceeded` : failure.message,
          errorCode: exhausted ? 'RECONNECT_EXHAUSTED' : (failure.errorCode ?? 'CONNECTION_CLOSED'),
          permanent: true,
        };
      },
    }),
    announceEnding: emit(({ context }) => ({
      type: 'disconnected' as const,
      ...(context.ending ?? { message: 'Connection closed', code: CloseCode.NORMAL, reason: '', wasClean: true, permanent: false }),
    })),
  },
}).createMachine({
  id: 'appConnection',
  context: ({ input }) => ({
    config: input.config,
    random: input.random,
    socketContext: input.socketContext,
    sessionId: null,
    gen: 0,
    socketLive: false,
    attempt: 0,
    retryDelayMs: 0,
    subscriptions: [],
    outbox: [],
    everOpened: false,
    lastFailure: null,
    ending: null,
    ack: null,
  }),
  initial: 'idle',
  on: {
    'disconnect.requested': { target: '.closed', actions: ['closeSocketNormally', 'endNormally'] },
    'send.requested': { actions: 'enqueueMessage' },
    'subscriptions.changed': { actions: 'recordSubscriptions' },
    // Socket facts are handled here for `connecting` and `open` alike; in other states no
    // socket is live, so `isCurrentGen` drops whatever a released socket still reports.
    'socket.closed': [
      { guard: and(['isCurrentGen', 'isTerminalClose']), target: '.closed', actions: 'endPermanently' },
      { guard: and(['isCurrentGen', 'isNormalClose']), target: '.closed', actions: 'endNormally' },
      { guard: and(['isCurrentGen', 'canRetry']), target: '.reconnecting', actions: 'recordFailure' },
      { guard: 'isCurrentGen', target: '.closed', actions: 'endAfterFailure' },
    ],
    'connectionError.received': [
      { guard: and(['isCurrentGen', 'isAuthError']), target: '.closed', actions: 'endPermanently' },
      { guard: and(['isCurrentGen', 'canRetry']), target: '.reconnecting', actions: ['terminateSocket', 'recordFailure'] },
      { guard: 'isCurrentGen', target: '.closed', actions: 'endAfterFailure' },
    ],
  },
  states: {
    idle: {
      description: 'Created, waiting for connect(sessionId).',
      tags: ['queueing'],
      on: { 'connect.requested': { target: 'connecting', actions: 'rememberSession' } },
    },
    connecting: {
      description: 'One attempt: dial, send tpa_connection_init, wait for the ack. A timeout counts as a failed attempt.',
      tags: ['queueing'],
      entry: 'openSocket',
      initial: 'opening',
      states: {
        opening: {
          on: { 'socket.opened': { guard: 'isCurrentGen', target: 'authenticating', actions: 'sendInit' } },
        },
        authenticating: {
          on: { 'ack.received': { guard: 'isCurrentGen', target: '#appConnection.open', actions: 'storeAck' } },
        },
      },
      after: {
        connectTimeout: [
          { guard: 'canRetry', target: 'reconnecting', actions: ['terminateSocket', 'recordTimeout'] },
          { target: 'closed', actions: ['terminateSocket', 'recordTimeout', 'endAfterFailure'] },
        ],
      },
    },
    open: {
      description: 'Acknowledged. Subscriptions re-sent, outbox flushed; heartbeat and stability timers run.',
      tags: ['canSend'],
      entry: ['announceOpen', 'sendSubscriptions', 'flushOutbox'],
      type: 'parallel',
      states: {
        heartbeat: {
          initial: 'waiting',
          states: {
            waiting: {
              after: { heartbeatInterval: { target: 'waiting', reenter: true, actions: 'pingSocket' } },
            },
          },
        },
        liveness: {
          initial: 'watching',
          states: {
            watching: {
              on: { 'socket.alive': { guard: 'isCurrentGen', target: 'watching', reenter: true } },
              after: {
                heartbeatTimeout: [
                  {
                    guard: 'canRetry',
                    target: '#appConnection.reconnecting',
                    actions: ['terminateSocket', 'recordHeartbeatFailure'],
                    description: 'Zombie socket: terminate it and reconnect.',
                  },
                  { target: '#appConnection.closed', actions: ['terminateSocket', 'recordHeartbeatFailure', 'endAfterFailure'] },
                ],
              },
            },
          },
        },
        stability: {
          initial: 'settling',
          states: {
            settling: { after: { stableAfter: { target: 'stable', actions: 'resetAttempts' } } },
            stable: {},
          },
        },
      },
      on: {
        // The SDK writes directly while the socket is writable; a send reaches the machine in
        // `open` only when the socket is already closing, so it waits in the outbox for the
        // next `open` instead of being written into a socket that will drop it.
        'send.requested': { actions: 'enqueueMessage' },
        'subscriptions.changed': { actions: ['recordSubscriptions', 'sendSubscriptions'] },
        'connectionError.received': [
          { guard: and(['isCurrentGen', 'isAuthError']), target: 'closed', actions: 'endPermanently' },
          // After the ack a non-auth error concerns one message, not the connection.
          { guard: 'isCurrentGen', actions: 'reportError' },
        ],
      },
    },
    reconnecting: {
      description: 'Waiting the backoff delay d·(1 + 0.5·random()), d = min(max, base·1.5ⁿ), before the next attempt.',
      tags: ['queueing'],
      entry: ['releaseSocket', 'scheduleRetry'],
      after: { retryDelay: 'connecting' },
    },
    closed: {
      description: 'Ended: normal stop, terminal close, refused credentials or attempts exhausted.',
      type: 'final',
      entry: ['releaseSocket', 'announceEnding'],
    },
  },
});
