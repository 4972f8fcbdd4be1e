/**
 * `userSession`: the cloud side of one user (ARCHITECTURE.md, "userSession"). It holds the
 * glasses socket (by generation) through a `socketLink`, which watches its liveness; keeps the
 * session through a grace period once the link ends, disposes it afterwards, and reconciles
 * the user's desired apps with the `appSession` children it spawns.
 * The runtime creates one per user as a root actor with `systemId` `userSession:<userId>` once
 * the first glasses socket has authenticated, and listens to its emitted events.
 */
import { assign, emit, enqueueActions, setup } from 'xstate';
import { appSessionMachine, type AppSessionInput, type AppSessionOutput, type AppStandingEvent } from './appSession.js';
import { CloseCode, CloseReason } from './policy/closePolicy.js';
import type { SessionConfig } from './policy/sessionConfig.js';
import {
  appChildId,
  appSessionSystemId,
  GLASSES_LINK_ID,
  packageOfAppChild,
  retiringLinkId,
} from './sessionIds.js';
import { socketLinkMachine, type SocketLinkInput, type SocketLinkOutput } from './socketLink.js';

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
  /** True while the session waits for its app (server unreachable, app dropped, released): shown as reconnecting. */
  reconnecting?: boolean;
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

/** A retiring link finished closing its socket. */
export interface RetiringLinkDoneEvent {
  type: `xstate.done.actor.retiringLink.${string}`;
  output: SocketLinkOutput;
  actorId: string;
}

/**
 * Events the machine accepts. `glasses.connected` comes from the runtime after a glasses socket
 * authenticated (with a new `gen`); the glasses link's end arrives as its done event;
 * `app.startRequested` / `app.stopRequested` are the user's `start_app` / `stop_app`;
 * `session.restored` is sent once after the actor was created from a persisted snapshot;
 * `appServer.restarted` comes from the runtime's restart recovery when the server of
 * `packageName` registered with a new boot id (seed 02 §3.4), `appServer.reachable` when the
 * host of its webhook answers again after being unreachable; `app.standing` from an app session
 * child that starts or stops waiting for its app.
 */
export type UserSessionEvent =
  | { type: 'glasses.connected'; gen: number; runningApps?: readonly string[] }
  | RetiringLinkDoneEvent
  | { type: 'app.startRequested'; packageName: string }
  | { type: 'app.stopRequested'; packageName: string }
  | { type: 'appServer.restarted'; packageName: string; correlationId?: string }
  | { type: 'appServer.reachable'; packageName: string; correlationId?: string }
  | AppStandingEvent
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
      /** The part of `runningApps` whose session is waiting for its app: shown as reconnecting. */
      reconnectingApps: string[];
      error?: AppFailure;
    }
  | ({ type: 'glasses.reconnected'; userId: string; gen: number } & Reconnection)
  | {
      /** The session ended: persist `desiredApps`, drop the registry entry (if it is still this actor). */
      type: 'session.disposed';
      userId: string;
      desiredApps: string[];
    };

/** Input of the link of glasses socket `gen`: adopted, or retiring with 4003 "replaced". */
function glassesLinkInput(context: UserSessionContext, gen: number, role: SocketLinkInput['role']): SocketLinkInput {
  const { heartbeatIntervalMs, heartbeatTimeoutMs } = context.config;
  return {
    kind: 'glasses',
    gen,
    role,
    ...(role === 'retiring' ? { closeCode: CloseCode.REPLACED, closeReason: CloseReason.REPLACED } : {}),
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
  };
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
    // An app session written before these fields existed: nothing refused, nothing pending or confirmed.
    if (isRecord(context) && 'webhookAttempts' in context && !('refusedGen' in context)) {
      Object.assign(context, { refusedGen: 0, webhookPending: false, confirmed: false });
    }
    if (isRecord(children)) {
      // A session_request in flight died with the process that made it; restoring its promise
      // would send it again. A restored session that needs one calls afresh (`session.restored`).
      if ('sessionWebhook' in children && isRecord(context) && 'webhookPending' in context) {
        delete children.sessionWebhook;
        context.webhookPending = false;
      }
      for (const child of Object.values(children)) if (isRecord(child)) visit(child.snapshot);
    }
  };
  visit(persisted);
  return persisted;
}

function normalizeApps(apps: readonly string[]): string[] {
  return [...new Set(apps)].sort();
}

/**
 * `sorted` (as {@link normalizeApps} leaves it) with `pkg` added in its place: one pass, no
 * re-sort. `<` compares UTF-16 code units, the order of `Array.prototype.sort`.
 */
function withApp(sorted: readonly string[], pkg: string): string[] {
  const at = sorted.findIndex((p) => p >= pkg);
  if (at === -1) return [...sorted, pkg];
  if (sorted[at] === pkg) return [...sorted];
  return [...sorted.slice(0, at), pkg, ...sorted.slice(at)];
}

function runningOf(apps: Readonly<Record<string, AppEntry>>): string[] {
  const running: string[] = [];
  for (const [pkg, entry] of Object.entries(apps)) if (!entry.stopping) running.push(pkg);
  return running.sort();
}

function reconnectingOf(apps: Readonly<Record<string, AppEntry>>): string[] {
  const waiting: string[] = [];
  for (const [pkg, entry] of Object.entries(apps)) if (!entry.stopping && entry.reconnecting === true) waiting.push(pkg);
  return waiting.sort();
}

/** The `apps.changed` event for `next`. */
function appsChanged(context: UserSessionContext, desiredApps: string[], next: Readonly<Record<string, AppEntry>>) {
  return {
    type: 'apps.changed' as const,
    userId: context.userId,
    desiredApps,
    runningApps: runningOf(next),
    reconnectingApps: reconnectingOf(next),
  };
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
      return withApp(context.desiredApps, event.packageName);
    case 'app.stopRequested':
      return context.desiredApps.filter((pkg) => pkg !== event.packageName);
    default:
      return [...context.desiredApps];
  }
}

/**
 * Which children to spawn and stop so that the live set follows `desired` (for `only`, if
 * given). Linear in the number of apps: membership is asked of a Set, never of the list.
 */
function planApps(apps: Readonly<Record<string, AppEntry>>, desired: readonly string[], only?: string) {
  const wanted = new Set(desired);
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
    if ((only === undefined || pkg === only) && !entry.stopping && !wanted.has(pkg)) {
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
 * The user session statechart. States: `connected` (its glasses link invoked) → `grace` → `disposed`
 * (final). Tag: `canSend` while `connected` (the router may write to the glasses socket).
 */
export const userSessionMachine = setup({
  types: {
    context: {} as UserSessionContext,
    events: {} as UserSessionEvent,
    input: {} as UserSessionInput,
    emitted: {} as UserSessionEmitted,
  },
  actors: { socketLink: socketLinkMachine, appSession: appSessionMachine },
  guards: {
    isNewerGen: ({ context, event }) => event.type === 'glasses.connected' && event.gen > context.gen,
    isOlderGen: ({ context, event }) => event.type === 'glasses.connected' && event.gen < context.gen,
    isDesiredApp: ({ context, event }) =>
      (event.type === 'appServer.restarted' || event.type === 'appServer.reachable') &&
      context.desiredApps.includes(event.packageName),
  },
  delays: {
    // From a deadline, so an actor restored from a persisted snapshot waits only what is left.
    gracePeriod: ({ context }) => Math.max(0, (context.graceDeadline ?? context.now()) - context.now()),
  },
  actions: {
    recordGen: assign({ gen: ({ context, event }) => (event.type === 'glasses.connected' ? event.gen : context.gen) }),
    /**
     * A socket the session will not keep gets a retiring link, which closes it 4003 and lives
     * until it has closed: the socket adopted so far when a newer one replaces it, or a socket
     * older than the adopted one (superseded before it got here).
     */
    retireGlassesSocket: enqueueActions(({ context, event, enqueue }) => {
      const gen = event.type === 'glasses.connected' && event.gen < context.gen ? event.gen : context.gen;
      enqueue.spawnChild('socketLink', { id: retiringLinkId(gen), input: glassesLinkInput(context, gen, 'retiring') });
    }),
    releaseRetiredLink: enqueueActions(({ event, enqueue }) => {
      if ('actorId' in event) enqueue.stopChild(event.actorId);
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
        enqueue.emit(appsChanged(context, desired, next));
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
      const pkg = packageOfAppChild(ended.actorId);
      if (pkg === undefined || !context.apps[pkg]) return;
      const permanent =
        'output' in ended && ended.output.outcome === 'failed' && ended.output.error?.permanent === true;
      // A `user_logout` release is the user's intent, like `stop_app`.
      const loggedOut = 'output' in ended && ended.output.outcome === 'loggedOut';
      const desired = permanent || loggedOut ? context.desiredApps.filter((p) => p !== pkg) : [...context.desiredApps];
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
        const change = appsChanged(context, desired, next);
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
      if (event.type !== 'appServer.restarted' && event.type !== 'appServer.reachable') return;
      const pkg = event.packageName;
      const entry = context.apps[pkg];
      const correlation = event.correlationId ? { correlationId: event.correlationId } : {};
      if (entry) {
        if (!entry.stopping) enqueue.sendTo(appChildId(pkg), { type: event.type, ...correlation });
        return;
      }
      enqueue.spawnChild('appSession', appSessionSpawn(context, pkg, event.correlationId));
      const next: Record<string, AppEntry> = { ...context.apps, [pkg]: { stopping: false } };
      enqueue.assign({ apps: next });
      enqueue.emit(appsChanged(context, [...context.desiredApps], next));
    }),
    /** An app session started or stopped waiting for its app: the glasses show it as reconnecting or not. */
    recordStanding: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'app.standing') return;
      const entry = context.apps[event.packageName];
      if (!entry || entry.stopping || (entry.reconnecting === true) === event.reconnecting) return;
      const next: Record<string, AppEntry> = { ...context.apps, [event.packageName]: { ...entry, reconnecting: event.reconnecting } };
      enqueue.assign({ apps: next });
      enqueue.emit(appsChanged(context, [...context.desiredApps], next));
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
    // connection_init.runningApps win over the stored set (seed 05, option 4).
    desiredApps: normalizeApps(input.runningApps ?? input.persistedApps),
    apps: {},
    disconnectedAt: null,
    graceDeadline: null,
    lastReconnection: null,
  }),
  entry: { type: 'reconcileApps', params: { notifyReconnected: false } },
  initial: 'connected',
  on: {
    'glasses.connected': {
      guard: 'isOlderGen',
      actions: 'retireGlassesSocket',
      description: 'A socket older than the adopted one was superseded before it got here: close it 4003.',
    },
    'xstate.done.actor.retiringLink.*': {
      actions: 'releaseRetiredLink',
      description: 'A retiring link finished closing its socket: release it.',
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
    'appServer.reachable': {
      guard: 'isDesiredApp',
      actions: 'recoverApp',
      description:
        "The host of the app's webhook answers again after being unreachable: sessions waiting for it call at " +
        'once, a desired app whose start gave up is started again.',
    },
    'app.standing': {
      actions: 'recordStanding',
      description: 'An app session started or stopped waiting for its app: show it as reconnecting, or not.',
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
        'The glasses socket of generation `gen` is open, held by its link, which pings it every ' +
        'heartbeatInterval and ends it after heartbeatTimeout of silence (force-quit, airplane mode: no ' +
        'close frame ever comes).',
      tags: ['canSend'],
      invoke: {
        id: GLASSES_LINK_ID,
        src: 'socketLink',
        input: ({ context }) => glassesLinkInput(context, context.gen, 'adopted'),
        onDone: {
          target: 'grace',
          actions: 'recordDisconnect',
          description:
            'The glasses socket closed (any code) or missed its heartbeat (seed 05 root causes #1, #3): ' +
            'start grace.',
        },
      },
      on: {
        'glasses.connected': {
          guard: 'isNewerGen',
          target: 'connected',
          reenter: true,
          actions: ['retireGlassesSocket', 'recordGen', { type: 'reconcileApps', params: { notifyReconnected: false } }],
          description:
            'A newer socket (network switch, rapid reconnect) replaces the open one, which is closed 4003; ' +
            'running apps are kept, never restarted. The old socket’s late close ends only its retiring ' +
            'link (seed 05 #2).',
        },
        'session.restored': {
          target: 'grace',
          actions: ['recordDisconnect', 'forwardRestored'],
          description: 'Restored from a persisted snapshot: the socket belonged to the previous process. Start grace.',
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
