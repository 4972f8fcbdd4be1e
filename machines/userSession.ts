/**
 * `userSession`: the cloud side of one user (ARCHITECTURE.md, "userSession"). It holds the
 * glasses socket (by generation), declares it dead on a missed heartbeat, keeps the session
 * through a grace period, disposes it afterwards, and reconciles the user's desired apps with
 * the `appSession` children it spawns (`systemId` `appSession:<sessionId>`).
 * The runtime creates one per user as a root actor with `systemId` `userSession:<userId>` once
 * the first glasses socket has authenticated, and listens to its emitted events.
 */
import { assign, emit, enqueueActions, sendTo, setup, stopChild } from 'xstate';
import { appSessionId, appSessionMachine, type AppSessionInput, type AppSessionOutput } from './appSession.js';
import { CloseCode, CloseReason } from './policy/closePolicy.js';
import type { SessionConfig } from './policy/sessionConfig.js';
import { glassesSocketPort, type GlassesSocketFact } from './sessionPorts.js';

/** What the machine is created with: the first glasses socket, the stored apps, configuration. */
export interface UserSessionInput {
  userId: string;
  /** Generation of the glasses socket whose authentication created this session. */
  gen: number;
  /** `connection_init.runningApps`, when the glasses declared them: they win over `persistedApps`. */
  runningApps?: readonly string[];
  /** The user's desired apps as last persisted (from `apps.changed` / `session.disposed`). */
  persistedApps: readonly string[];
  config: SessionConfig;
  /** Wall clock in ms since the epoch: grace deadline (survives a restore) and `disconnectedMs`. */
  now: () => number;
  /** Returns a number in [0, 1); handed to the app sessions for webhook backoff jitter. */
  random: () => number;
}

/** The user session's view of one app session child. */
export interface AppEntry {
  /** True once the session was asked to stop; it stays listed until it has ended. */
  stopping: boolean;
}

/** A reconnection from grace, as measured when it happened. */
export interface Reconnection {
  disconnectedMs: number;
  /** `disconnectedMs >= restartThresholdMs`: a long reconnect, reported and logged. */
  long: boolean;
}

/** What the machine remembers. */
export interface UserSessionContext {
  userId: string;
  config: SessionConfig;
  now: () => number;
  random: () => number;
  /** Generation of the newest glasses socket adopted (the open one while `connected`). */
  gen: number;
  /** Generations of refused sockets whose close is still awaited (their actors live until then). */
  refusedGens: readonly number[];
  /** The apps the user wants running, sorted; changed only by intent or a permanent failure. */
  desiredApps: readonly string[];
  /** Live app session children by package name (child id `appSession.<packageName>`). */
  apps: Readonly<Record<string, AppEntry>>;
  /** Wall time (ms) the glasses were lost; null while connected. */
  disconnectedAt: number | null;
  /** Wall time (ms) at which grace ends and the session is disposed. */
  graceDeadline: number | null;
  lastReconnection: Reconnection | null;
}

/** An app session child finished (its output says how). */
export interface AppSessionDoneEvent {
  type: `xstate.done.actor.appSession.${string}`;
  output: AppSessionOutput;
  actorId: string;
}

/** An app session child crashed (a bug, or an I/O actor that was not provided). */
export interface AppSessionErrorEvent {
  type: `xstate.error.actor.appSession.${string}`;
  error: unknown;
  actorId: string;
}

/**
 * Events the machine accepts. `glasses.connected` comes from the runtime after a glasses socket
 * authenticated (with a new `gen`); `glasses.alive` / `glasses.closed` from the `glassesSocket`
 * actor; `app.startRequested` / `app.stopRequested` are the user's `start_app` / `stop_app`;
 * `session.restored` is sent once after the actor was created from a persisted snapshot;
 * `appServer.restarted` comes from the runtime's restart recovery when the server of
 * `packageName` registered with a new boot id (seed 02 §3.4).
 */
export type UserSessionEvent =
  | { type: 'glasses.connected'; gen: number; runningApps?: readonly string[] }
  | GlassesSocketFact
  | { type: 'app.startRequested'; packageName: string }
  | { type: 'app.stopRequested'; packageName: string }
  | { type: 'appServer.restarted'; packageName: string; correlationId?: string }
  | { type: 'session.restored' }
  | AppSessionDoneEvent
  | AppSessionErrorEvent;

/** Why an app is not running, as `app_state_change.error` shows it. */
export interface AppFailure {
  packageName: string;
  code: string;
  message: string;
}

/** The machine's output to the runtime (`actor.on(type, handler)`). */
export type UserSessionEmitted =
  | {
      /** Persist `desiredApps`; send `app_state_change { runningApps, error }` to the glasses. */
      type: 'apps.changed';
      userId: string;
      desiredApps: string[];
      /** Apps with a live session not being stopped (starting, running or resurrecting). */
      runningApps: string[];
      error?: AppFailure;
    }
  | ({ type: 'glasses.reconnected'; userId: string; gen: number } & Reconnection)
  | {
      /** The session ended: persist `desiredApps`, drop the registry entry (if it is still this actor). */
      type: 'session.disposed';
      userId: string;
      desiredApps: string[];
    };

const APP_CHILD_PREFIX = 'appSession.';

/** Local id of the app session child of `packageName` (its `systemId` is `appSession:<sessionId>`). */
export function appChildId(packageName: string): string {
  return `${APP_CHILD_PREFIX}${packageName}`;
}

/** `systemId` of the app session of `packageName` for `userId`. */
export function appSessionSystemId(userId: string, packageName: string): string {
  return `appSession:${appSessionId(userId, packageName)}`;
}

function refusedSocketId(gen: number): string {
  return `refusedSocket.${gen}`;
}

/**
 * Re-attaches the wall clock and the random source to a persisted session snapshot that went
 * through JSON (functions do not survive it): the user session's context and those of its app
 * sessions. Mutates `persisted` and returns it. Restore with
 * `createActor(machine, { snapshot, ... })`, start it, then send `session.restored` so the
 * timers lost with the snapshot (grace, resurrection window, heartbeats) are armed again from
 * the deadlines kept in context.
 */
export function reviveSessionSnapshot<T>(persisted: T, fns: { now: () => number; random: () => number }): T {
  const visit = (snapshot: unknown): void => {
    if (!isRecord(snapshot)) return;
    const { context, children } = snapshot;
    if (isRecord(context) && 'config' in context && 'userId' in context) {
      context.now = fns.now;
      context.random = fns.random;
    }
    if (isRecord(children)) {
      for (const child of Object.values(children)) if (isRecord(child)) visit(child.snapshot);
    }
  };
  visit(persisted);
  return persisted;
}

function normalizeApps(apps: readonly string[]): string[] {
  return [...new Set(apps)].sort();
}

function runningOf(apps: Readonly<Record<string, AppEntry>>): string[] {
  return Object.keys(apps)
    .filter((pkg) => !apps[pkg]?.stopping)
    .sort();
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The desired set after `event`: intents and the glasses' declaration change it, nothing else here. */
function desiredAfter(context: UserSessionContext, event: UserSessionEvent): string[] {
  switch (event.type) {
    case 'glasses.connected':
      return event.runningApps ? normalizeApps(event.runningApps) : [...context.desiredApps];
    case 'app.startRequested':
      return normalizeApps([...context.desiredApps, event.packageName]);
    case 'app.stopRequested':
      return context.desiredApps.filter((pkg) => pkg !== event.packageName);
    default:
      return [...context.desiredApps];
  }
}

/** Which children to spawn and stop so that the live set follows `desired` (for `only`, if given). */
function planApps(apps: Readonly<Record<string, AppEntry>>, desired: readonly string[], only?: string) {
  const next: Record<string, AppEntry> = { ...apps };
  const spawn: string[] = [];
  const stop: string[] = [];
  for (const pkg of desired) {
    if ((only === undefined || pkg === only) && !next[pkg]) {
      spawn.push(pkg);
      next[pkg] = { stopping: false };
    }
  }
  for (const [pkg, entry] of Object.entries(next)) {
    if ((only === undefined || pkg === only) && !entry.stopping && !desired.includes(pkg)) {
      stop.push(pkg);
      next[pkg] = { stopping: true };
    }
  }
  return { next, spawn, stop };
}

/** How `appSession` children are spawned: one per app, found by the runtime through `systemId`. */
function appSessionSpawn(context: UserSessionContext, packageName: string, correlationId?: string) {
  const input: AppSessionInput = {
    userId: context.userId,
    packageName,
    config: context.config,
    now: context.now,
    random: context.random,
    ...(correlationId ? { correlationId } : {}),
  };
  return { id: appChildId(packageName), systemId: appSessionSystemId(context.userId, packageName), input };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function failureOf(packageName: string, event: AppSessionDoneEvent | AppSessionErrorEvent): AppFailure | undefined {
  if ('output' in event) {
    const { error } = event.output;
    if (event.output.outcome !== 'failed' || !error) return undefined;
    return { packageName, code: error.code, message: error.message };
  }
  const message =
    isRecord(event.error) && typeof event.error.message === 'string' ? event.error.message : 'app session crashed';
  return { packageName, code: 'APP_SESSION_CRASHED', message };
}

/**
 * The user session statechart. States: `connected` (with `pinging`) → `grace` → `disposed`
 * (final). Tag: `canSend` while `connected` (the router may write to the glasses socket).
 */
export const userSessionMachine = setup({
  types: {
    context: {} as UserSessionContext,
    events: {} as UserSessionEvent,
    input: {} as UserSessionInput,
    emitted: {} as UserSessionEmitted,
  },
  actors: { glassesSocket: glassesSocketPort, appSession: appSessionMachine },
  guards: {
    isCurrentGen: ({ context, event }) => 'gen' in event && event.gen === context.gen,
    isNewerGen: ({ context, event }) => event.type === 'glasses.connected' && event.gen > context.gen,
    isOlderGen: ({ context, event }) => event.type === 'glasses.connected' && event.gen < context.gen,
    isRefusedGen: ({ context, event }) => event.type === 'glasses.closed' && context.refusedGens.includes(event.gen),
    isDesiredApp: ({ context, event }) =>
      event.type === 'appServer.restarted' && context.desiredApps.includes(event.packageName),
  },
  delays: {
    heartbeatInterval: ({ context }) => context.config.heartbeatIntervalMs,
    heartbeatTimeout: ({ context }) => context.config.heartbeatTimeoutMs,
    // From a deadline, so an actor restored from a persisted snapshot waits only what is left.
    gracePeriod: ({ context }) => Math.max(0, (context.graceDeadline ?? context.now()) - context.now()),
  },
  actions: {
    acceptGlassesSocket: enqueueActions(({ context, enqueue }) => {
      enqueue.spawnChild('glassesSocket', { id: 'glassesSocket', input: { userId: context.userId, gen: context.gen } });
      enqueue.sendTo('glassesSocket', { type: 'socket.accept' });
    }),
    recordGen: assign({ gen: ({ context, event }) => (event.type === 'glasses.connected' ? event.gen : context.gen) }),
    closeReplacedGlassesSocket: sendTo('glassesSocket', {
      type: 'socket.close',
      code: CloseCode.REPLACED,
      reason: CloseReason.REPLACED,
    }),
    releaseGlassesSocket: stopChild('glassesSocket'),
    /**
     * A socket older than the adopted one still gets an actor, so that closing it is a command
     * too; the actor lives until the socket reports its close.
     */
    refuseGlassesSocket: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'glasses.connected') return;
      const id = refusedSocketId(event.gen);
      enqueue.spawnChild('glassesSocket', { id, input: { userId: context.userId, gen: event.gen } });
      enqueue.sendTo(id, { type: 'socket.close', code: CloseCode.REPLACED, reason: CloseReason.REPLACED });
      enqueue.assign({ refusedGens: [...context.refusedGens, event.gen] });
    }),
    releaseRefusedSocket: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'glasses.closed') return;
      enqueue.stopChild(refusedSocketId(event.gen));
      enqueue.assign({ refusedGens: context.refusedGens.filter((g) => g !== event.gen) });
    }),
    pingGlassesSocket: sendTo('glassesSocket', { type: 'socket.ping' }),
    terminateGlassesSocket: sendTo('glassesSocket', {
      type: 'socket.terminate',
      reason: CloseReason.HEARTBEAT_TIMEOUT,
    }),
    recordDisconnect: assign(({ context }) => {
      const now = context.now();
      return { disconnectedAt: now, graceDeadline: now + context.config.gracePeriodMs };
    }),
    recordReconnect: assign(({ context }) => {
      const disconnectedMs = Math.max(0, context.now() - (context.disconnectedAt ?? context.now()));
      return {
        disconnectedAt: null,
        graceDeadline: null,
        lastReconnection: { disconnectedMs, long: disconnectedMs >= context.config.restartThresholdMs },
      };
    }),
    announceReconnect: emit(({ context }) => ({
      type: 'glasses.reconnected' as const,
      userId: context.userId,
      gen: context.gen,
      ...(context.lastReconnection ?? { disconnectedMs: 0, long: false }),
    })),
    /**
     * Makes the live app sessions follow the desired set: spawns desired apps that have no
     * session, asks sessions of undesired apps to stop, keeps the rest (no duplicate starts).
     * On a connection the glasses' `runningApps` replace the desired set; on an intent only the
     * named app is touched. With `notifyReconnected`, kept sessions hear `user.reconnected`.
     */
    reconcileApps: enqueueActions(({ context, event, enqueue }, params: { notifyReconnected: boolean }) => {
      const desired = desiredAfter(context, event);
      const only =
        event.type === 'app.startRequested' || event.type === 'app.stopRequested' ? event.packageName : undefined;
      const { next, spawn, stop } = planApps(context.apps, desired, only);
      for (const pkg of spawn) enqueue.spawnChild('appSession', appSessionSpawn(context, pkg));
      for (const pkg of stop) enqueue.sendTo(appChildId(pkg), { type: 'app.stopRequested', reason: 'user_disabled' });
      if (params.notifyReconnected && context.lastReconnection) {
        const { disconnectedMs, long } = context.lastReconnection;
        for (const [pkg, entry] of Object.entries(context.apps)) {
          if (!entry.stopping && next[pkg]?.stopping === false) {
            enqueue.sendTo(appChildId(pkg), { type: 'user.reconnected', disconnectedMs, long });
          }
        }
      }
      enqueue.assign({ desiredApps: desired, apps: next });
      const runningApps = runningOf(next);
      if (!sameList(desired, context.desiredApps) || !sameList(runningApps, runningOf(context.apps))) {
        enqueue.emit({ type: 'apps.changed', userId: context.userId, desiredApps: desired, runningApps });
      }
    }),
    /**
     * An app session ended. Its entry goes; a permanent failure removes the app from the
     * desired set, a transient one never does (it is started again on the next connection);
     * an app asked to stop and wanted again meanwhile is started afresh.
     */
    forgetApp: enqueueActions(({ context, event, enqueue }) => {
      if (!event.type.startsWith('xstate.done.actor.') && !event.type.startsWith('xstate.error.actor.')) return;
      const ended = event as AppSessionDoneEvent | AppSessionErrorEvent;
      const pkg = ended.actorId.slice(APP_CHILD_PREFIX.length);
      if (!context.apps[pkg]) return;
      const permanent =
        'output' in ended && ended.output.outcome === 'failed' && ended.output.error?.permanent === true;
      const desired = permanent ? context.desiredApps.filter((p) => p !== pkg) : [...context.desiredApps];
      const remaining: Record<string, AppEntry> = { ...context.apps };
      delete remaining[pkg];
      enqueue.stopChild(ended.actorId);
      const restart = 'output' in ended && ended.output.outcome === 'stopped' && desired.includes(pkg);
      const { next, spawn } = restart ? planApps(remaining, desired, pkg) : { next: remaining, spawn: [] };
      for (const p of spawn) enqueue.spawnChild('appSession', appSessionSpawn(context, p));
      enqueue.assign({ desiredApps: desired, apps: next });
      const error = failureOf(pkg, ended);
      const runningApps = runningOf(next);
      if (error || !sameList(desired, context.desiredApps) || !sameList(runningApps, runningOf(context.apps))) {
        const change = { type: 'apps.changed' as const, userId: context.userId, desiredApps: desired, runningApps };
        enqueue.emit(error ? { ...change, error } : change);
      }
    }),
    /**
     * The app's server restarted (seed 02 §3.4). A live session that is not being stopped hears
     * it (it restarts only if its socket is gone); a desired app with no session — its start
     * failed while the server was down, which keeps it desired — is started again. An app
     * being stopped is left alone: if it is still desired when it has stopped, `forgetApp`
     * starts it afresh.
     */
    recoverApp: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'appServer.restarted') return;
      const pkg = event.packageName;
      const entry = context.apps[pkg];
      const correlation = event.correlationId ? { correlationId: event.correlationId } : {};
      if (entry) {
        if (!entry.stopping) enqueue.sendTo(appChildId(pkg), { type: 'appServer.restarted', ...correlation });
        return;
      }
      enqueue.spawnChild('appSession', appSessionSpawn(context, pkg, event.correlationId));
      const next: Record<string, AppEntry> = { ...context.apps, [pkg]: { stopping: false } };
      enqueue.assign({ apps: next });
      enqueue.emit({
        type: 'apps.changed',
        userId: context.userId,
        desiredApps: [...context.desiredApps],
        runningApps: runningOf(next),
      });
    }),
    forwardRestored: enqueueActions(({ context, enqueue }) => {
      for (const pkg of Object.keys(context.apps)) enqueue.sendTo(appChildId(pkg), { type: 'session.restored' });
    }),
    stopAllApps: enqueueActions(({ context, enqueue }) => {
      for (const [pkg, entry] of Object.entries(context.apps)) {
        if (!entry.stopping) enqueue.sendTo(appChildId(pkg), { type: 'app.stopRequested', reason: 'session_ended' });
      }
    }),
    announceDisposal: emit(({ context }) => ({
      type: 'session.disposed' as const,
      userId: context.userId,
      desiredApps: [...context.desiredApps],
    })),
  },
}).createMachine({
  id: 'userSession',
  description: 'The cloud side of one user: glasses socket, heartbeat, grace, disposal, app reconciliation.',
  context: ({ input }) => ({
    userId: input.userId,
    config: input.config,
    now: input.now,
    random: input.random,
    gen: input.gen,
    refusedGens: [],
    // connection_init.runningApps win over the stored set (seed 05, option 4).
    desiredApps: normalizeApps(input.runningApps ?? input.persistedApps),
    apps: {},
    disconnectedAt: null,
    graceDeadline: null,
    lastReconnection: null,
  }),
  entry: ['acceptGlassesSocket', { type: 'reconcileApps', params: { notifyReconnected: false } }],
  initial: 'connected',
  on: {
    'glasses.connected': {
      guard: 'isOlderGen',
      actions: 'refuseGlassesSocket',
      description: 'A socket older than the adopted one was superseded before it got here: close it 4003.',
    },
    'glasses.closed': {
      guard: 'isRefusedGen',
      actions: 'releaseRefusedSocket',
      description: 'A refused socket finished closing: release its actor.',
    },
    'app.startRequested': {
      actions: { type: 'reconcileApps', params: { notifyReconnected: false } },
      description: "The user's start_app: add the app to the desired set and start it unless it has a session.",
    },
    'app.stopRequested': {
      actions: { type: 'reconcileApps', params: { notifyReconnected: false } },
      description: "The user's stop_app: remove the app from the desired set and stop its session.",
    },
    'appServer.restarted': {
      guard: 'isDesiredApp',
      actions: 'recoverApp',
      description:
        "The app's server restarted: bring its session back (a live one that lost its socket restarts, a " +
        'failed one is started again); running sessions are left alone.',
    },
    'xstate.done.actor.appSession.*': {
      actions: 'forgetApp',
      description: 'An app session ended (stopped, ended by the app, or failed).',
    },
    'xstate.error.actor.appSession.*': {
      actions: 'forgetApp',
      description: 'An app session crashed: forget it, report the error, keep the app desired.',
    },
  },
  states: {
    connected: {
      description:
        'The glasses socket of generation `gen` is open. Pinged every heartbeatInterval; no pong or message ' +
        'for heartbeatTimeout means it is dead (force-quit, airplane mode: no close frame ever comes).',
      tags: ['canSend'],
      initial: 'pinging',
      states: {
        pinging: {
          description: 'Pings the glasses socket every heartbeatInterval.',
          after: {
            heartbeatInterval: {
              target: 'pinging',
              reenter: true,
              actions: 'pingGlassesSocket',
              description: 'Ping the glasses socket.',
            },
          },
        },
      },
      after: {
        heartbeatTimeout: {
          target: 'grace',
          actions: ['terminateGlassesSocket', 'releaseGlassesSocket', 'recordDisconnect'],
          description: 'Dead heartbeat (seed 05 root causes #1, #3): terminate the socket and start grace.',
        },
      },
      on: {
        'glasses.alive': {
          guard: 'isCurrentGen',
          target: 'connected',
          reenter: true,
          description: 'A pong or message after a ping: restart the heartbeat timeout.',
        },
        'glasses.connected': {
          guard: 'isNewerGen',
          target: 'connected',
          reenter: true,
          actions: [
            'closeReplacedGlassesSocket',
            'releaseGlassesSocket',
            'recordGen',
            'acceptGlassesSocket',
            { type: 'reconcileApps', params: { notifyReconnected: false } },
          ],
          description:
            'A newer socket (network switch, rapid reconnect) replaces the open one, which is closed 4003; ' +
            'running apps are kept, never restarted.',
        },
        'glasses.closed': {
          guard: 'isCurrentGen',
          target: 'grace',
          actions: ['releaseGlassesSocket', 'recordDisconnect'],
          description: "The current socket closed (any code). An older socket's late close is ignored (seed 05 #2).",
        },
        'session.restored': {
          target: 'connected',
          reenter: true,
          actions: 'forwardRestored',
          description: 'Restored from a persisted snapshot: re-arm the heartbeat.',
        },
      },
    },
    grace: {
      description:
        'No glasses socket. Apps keep running; the session is disposed at graceDeadline (kept in context, so a ' +
        'restored actor waits only what is left).',
      after: {
        gracePeriod: { target: 'disposed', description: 'The glasses did not come back in time.' },
      },
      on: {
        'glasses.connected': {
          guard: 'isNewerGen',
          target: 'connected',
          actions: [
            'recordGen',
            'acceptGlassesSocket',
            'recordReconnect',
            'announceReconnect',
            { type: 'reconcileApps', params: { notifyReconnected: true } },
          ],
          description:
            'The glasses came back: reconcile the desired apps (start the missing ones, none twice) and tell ' +
            'the kept ones user_reconnected with disconnectedMs.',
        },
        'session.restored': {
          target: 'grace',
          reenter: true,
          actions: 'forwardRestored',
          description: 'Restored from a persisted snapshot: wait only what is left of the grace period.',
        },
      },
    },
    disposed: {
      description:
        'Ended: every app session is stopped ("User session ended"), the desired set is emitted for ' +
        'persistence, and the actor stops. The next connection creates a new session.',
      type: 'final',
      entry: ['stopAllApps', 'announceDisposal'],
    },
  },
});
