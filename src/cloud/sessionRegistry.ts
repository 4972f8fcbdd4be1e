/**
 * The registry of user sessions: one `userSession` root actor per user (ARCHITECTURE.md,
 * principle 9), created with the cloud's I/O actors provided, its inspection observer and its
 * logger. It turns the machines' emitted events into effects — persisting the desired apps,
 * telling the glasses which apps run — and drops an entry only if it is still the actor that
 * ended, so a late disposal never removes its successor. Every session is written through to
 * the store as it changes by `sessionPersistence.ts`.
 */
import { createActor, type Actor, type InspectionEvent, type Observer, type Snapshot } from 'xstate';
import { appSessionMachine } from '../../machines/appSession.js';
import type { SessionConfig } from '../../machines/policy/sessionConfig.js';
import {
  appSocketGenOf,
  glassesGenOf,
  highestGenIn,
  isCurrentGlassesGen,
  liveAppSession,
  reviveSessionSnapshot,
  userIdOfAppSession,
  userSessionSystemId,
  type AppSessionRef,
} from '../../machines/sessionApi.js';
import type { appWebhookPort } from '../../machines/sessionPorts.js';
import type { socketLinkMachine } from '../../machines/socketLink.js';
import { userSessionMachine, type AppFailure, type UserSessionEmitted } from '../../machines/userSession.js';
import type { Logger } from '../logger.js';
import { CloseCode, CloseReason } from '../protocol/closeCodes.js';
import { closeSocket } from '../util/closeSocket.js';
import type { SocketEntry, SocketTable } from './link/socketTable.js';
import { writeFrame } from './link/writePath.js';
import type { CloudMetrics } from './metrics.js';
import { SessionPersistence, type DeliveryPositions, type PersistenceFence, type PersistenceStats, type StoredSession } from './sessionPersistence.js';
import type { Store } from './store.js';

/** A running `userSession` actor. */
export type UserSessionActor = Actor<typeof userSessionMachine>;

/** What the registry needs from the rest of the cloud. */
export interface SessionRegistryOptions {
  config: SessionConfig;
  store: Store;
  sockets: SocketTable;
  metrics: CloudMetrics;
  logger: Logger;
  /** The I/O actors of both machines, provided by the runtime. */
  actors: {
    /** The `socketLink` machine with its `ws` I/O provided (`link/socketAdapter.ts`). */
    socketLink: typeof socketLinkMachine;
    /** One webhook call, `session_request` or `stop_request` (its input says which). */
    appWebhook: typeof appWebhookPort;
  };
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Where each app session's delivery position (`seq`) lives, so a restart continues it. */
  resumeState?: DeliveryPositions;
  /** Whether sessions are written through as they change (default); see `sessionPersistence.ts`. */
  writeThrough?: boolean;
  /**
   * On a node of a cluster: the epochs of the sessions it owns, whether it may act for one, and
   * what to tell it when a session ends here or its row was refused.
   */
  cluster?: RegistryCluster;
  now?: () => number;
  random?: () => number;
}

/**
 * What the registry needs of a cluster node (`cluster/clusterNode.ts`): a session's ownership is
 * freed once the row of the ended session is deleted (`PersistenceFence.released`).
 */
export type RegistryCluster = PersistenceFence;

/** The body of `app_state_change`: the running apps, and those among them being waited for. */
interface AppState {
  runningApps: string[];
  reconnectingApps: string[];
}

/**
 * Stored sessions brought back per turn of the event loop after a start: about 10 ms of work,
 * so a restore of thousands never stalls the sockets arriving meanwhile.
 */
const RESTORES_PER_TURN = 16;

/** The user sessions of one cloud. */
export class SessionRegistry {
  private readonly sessions = new Map<string, UserSessionActor>();
  /**
   * Sessions left by the previous process and not brought back yet, by user. Each comes back on
   * first use (its glasses or an app reconnecting, a lookup) and the rest a few per turn, so the
   * cloud answers as soon as it listens instead of after restoring every session.
   */
  private readonly unrestored = new Map<string, StoredSession>();
  private restoreTurn: NodeJS.Immediate | undefined;
  private readonly machine;
  private readonly options: SessionRegistryOptions;
  /** The latest plain app state of each user not yet written to its glasses (see {@link scheduleAppState}). */
  private readonly pendingAppStates = new Map<UserSessionActor, AppState>();
  private appStateFlush: NodeJS.Immediate | undefined;
  private readonly persistence: SessionPersistence;

  constructor(options: SessionRegistryOptions) {
    this.options = options;
    const { actors } = options;
    this.persistence = new SessionPersistence({
      store: options.store,
      logger: options.logger,
      ...(options.resumeState ? { delivery: options.resumeState } : {}),
      ...(options.writeThrough === undefined ? {} : { writeThrough: options.writeThrough }),
      ...(options.cluster ? { fence: options.cluster } : {}),
    });
    this.machine = userSessionMachine.provide({
      actors: {
        socketLink: actors.socketLink,
        appSession: appSessionMachine.provide({
          actors: { socketLink: actors.socketLink, appWebhook: actors.appWebhook },
        }),
      },
    });
  }

  /** The live session of `userId`, if any. */
  get(userId: string): UserSessionActor | undefined {
    return this.live(userId);
  }

  /** Sessions, counting those still being restored. */
  get size(): number {
    return this.sessions.size + this.unrestored.size;
  }

  /** Stored sessions of the previous process not brought back yet (0 once a start's restore is done). */
  get restoring(): number {
    return this.unrestored.size;
  }

  /** Every session; brings back first those not restored yet, so none is missed. */
  values(): IterableIterator<UserSessionActor> {
    this.restoreRemaining();
    return this.sessions.values();
  }

  /**
   * A glasses socket of `userId` authenticated with generation `gen`: hand it to the user's
   * session, creating one (with the stored desired apps) if the user has none.
   */
  glassesConnected(userId: string, gen: number, apps: { runningApps?: readonly string[]; storedApps: readonly string[] }): UserSessionActor {
    const { runningApps, storedApps } = apps;
    const existing = this.live(userId);
    if (existing && existing.getSnapshot().status === 'active') {
      existing.send(runningApps ? { type: 'glasses.connected', gen, runningApps } : { type: 'glasses.connected', gen });
      return existing;
    }
    return this.create(userId, { gen, storedApps, ...(runningApps ? { runningApps } : {}) });
  }

  /**
   * The apps `userId` last wanted running, as stored: what a session created for them starts
   * with. Read before {@link glassesConnected}, which must not wait for the store.
   */
  storedRunningApps(userId: string): Promise<string[]> {
    return this.options.store.getRunningApps(userId);
  }

  /**
   * A node of a cluster claimed `userId`'s session from the store (its previous owner died, or
   * handed it over): brings it back from the row as a restart does, before its socket is handed
   * to it. A row that cannot be read is logged, and the user starts afresh.
   */
  restoreClaimed(userId: string, record: { json: string } | undefined): void {
    if (!record || this.live(userId)) return;
    let stored: StoredSession;
    try {
      stored = this.persistence.decode({ userId, json: record.json });
    } catch (error) {
      this.options.logger.error({ userId, err: (error as Error).message }, 'could not read a claimed session; starting afresh');
      return;
    }
    for (const [sessionId, state] of Object.entries(stored.delivery)) this.options.resumeState?.importState(sessionId, state as never);
    this.options.sockets.advancePast(highestGenIn(stored.snapshot));
    this.restoreOne(stored);
  }

  /**
   * Stops `userId`'s session here without touching its row, and closes its sockets with 1012
   * (come back: through the balancer, to the node that owns it now). A node of a cluster does
   * this for the sessions it lost.
   */
  evict(userId: string): void {
    this.unrestored.delete(userId);
    const actor = this.sessions.get(userId);
    this.persistence.untrack(userId);
    if (!actor) return;
    this.sessions.delete(userId);
    const sockets = [...this.options.sockets.values()].filter((entry) => entry.userId === userId);
    actor.stop();
    for (const entry of sockets) void closeSocket(entry.ws, CloseCode.SERVICE_RESTART, CloseReason.SERVER_RESTART);
  }

  /** The app session actor for `sessionId` of `userId`, if it is live. */
  appSession(userId: string, sessionId: string): AppSessionRef | undefined {
    const user = this.live(userId);
    return user ? liveAppSession(user, sessionId) : undefined;
  }

  /**
   * The live app session `sessionId` claims to be, if it is a session of `packageName` this
   * cloud runs (an app's init names both; a session id of another package finds nothing).
   */
  findAppSession(sessionId: string, packageName: string): { userId: string; app: AppSessionRef } | undefined {
    const userId = userIdOfAppSession(sessionId, packageName);
    const app = userId === undefined ? undefined : this.appSession(userId, sessionId);
    return userId !== undefined && app ? { userId, app } : undefined;
  }

  /** The live app session an authenticated app socket belongs to. */
  appSessionOfSocket(socket: SocketEntry): AppSessionRef | undefined {
    return socket.sessionId === undefined ? undefined : this.appSession(socket.userId, socket.sessionId);
  }

  /** Whether `socket` is the open socket its app session adopted (only that one may draw). */
  isAdoptedAppSocket(socket: SocketEntry): boolean {
    const app = this.appSessionOfSocket(socket)?.getSnapshot();
    return app !== undefined && appSocketGenOf(app) === socket.gen;
  }

  /** Whether `gen` is the glasses socket the user's session currently holds. */
  isCurrentGlasses(userId: string, gen: number): boolean {
    const user = this.live(userId)?.getSnapshot();
    return user !== undefined && isCurrentGlassesGen(user, gen);
  }

  /** The open glasses socket of `userId`'s session, if it holds one. */
  glassesSocketOf(userId: string): SocketEntry | undefined {
    const user = this.live(userId)?.getSnapshot();
    const gen = user ? glassesGenOf(user) : undefined;
    return gen === undefined ? undefined : this.options.sockets.get(gen);
  }

  /** Stops every session at once (shutdown); their sockets are closed by the caller. */
  stopAll(): void {
    // Those not restored yet keep their rows as they are.
    this.stopRestoring();
    // Stopped sessions keep their rows: persistence stops watching first.
    this.persistence.detach();
    for (const actor of this.sessions.values()) actor.stop();
    this.sessions.clear();
    clearImmediate(this.appStateFlush);
    this.appStateFlush = undefined;
    this.pendingAppStates.clear();
  }

  /**
   * Shutdown: flushes what the store does not hold yet (the current tick's changes, exact delivery
   * positions) and stops writing, so the sessions keep their rows for the next process. The
   * sockets are not touched: call this before closing them. The rows are handed to the store
   * before this returns; it resolves, once they are written, with how many sessions the store
   * holds.
   */
  persistAll(mode: 'exact' | 'handover' = 'exact'): Promise<number> {
    // Without write-through, rows are deleted once loaded: what is not restored yet would be lost.
    if (this.options.writeThrough === false) this.restoreRemaining();
    else this.stopRestoring();
    return this.persistence.finish(mode);
  }

  /**
   * Hands `userId`'s session to another node of a cluster: written once more with its exact
   * positions and the frames its buffers keep, then stopped here with its sockets closed 1012 (the
   * glasses and apps come back to the node that takes it). Resolves false when there is no such
   * session here; rejects when its row could not be written (the session then stays stopped: the
   * caller does not release it, and it frees when this node's lease ends).
   */
  async handOver(userId: string): Promise<boolean> {
    const written = this.persistence.handOver(userId);
    if (!this.live(userId)) {
      await written;
      return false;
    }
    this.evict(userId);
    await written;
    return true;
  }

  /** Shutdown without persistence: every stored session is deleted and nothing more is written. */
  discardPersisted(): Promise<void> {
    this.stopRestoring();
    return this.persistence.discardAll();
  }

  /** Writes and deletions so far (see `sessionPersistence.ts`). */
  get persistenceStats(): Readonly<PersistenceStats> {
    return this.persistence.stats;
  }

  /**
   * Brings back the sessions a previous process left in the store (cloud start), whether it shut
   * down or crashed. Their sockets are gone, so each session finds its glasses socket closed and
   * enters `grace`, and each app session that was running enters `resurrecting`: glasses and
   * apps that reconnect in time continue without a webhook. The rows stay and are rewritten as the
   * restored sessions change; with `fresh`, they are deleted instead and nothing is restored.
   * Returns how many sessions come back: each on first use, the rest {@link RESTORES_PER_TURN}
   * per turn of the event loop from now on.
   */
  async restoreAll({ fresh = false }: { fresh?: boolean } = {}): Promise<number> {
    if (fresh) {
      await this.persistence.clearStore();
      return 0;
    }
    for (const stored of await this.persistence.load()) {
      // Before any socket is accepted or any app asks to resume: generations and numbering
      // continue past what the previous process used, whether the session is back yet or not.
      for (const [sessionId, state] of Object.entries(stored.delivery)) {
        this.options.resumeState?.importState(sessionId, state as never);
      }
      this.options.sockets.advancePast(highestGenIn(stored.snapshot));
      this.unrestored.set(stored.userId, stored);
    }
    const count = this.unrestored.size;
    this.scheduleRestoreTurn();
    return count;
  }

  /** The session of `userId`, restoring it first if it is still waiting to be. */
  private live(userId: string): UserSessionActor | undefined {
    // Lookups run per data frame (the audio relay, the router): once the restore is done, one lookup.
    if (this.unrestored.size > 0) {
      const stored = this.unrestored.get(userId);
      if (stored) this.restoreOne(stored);
    }
    return this.sessions.get(userId);
  }

  private restoreOne(stored: StoredSession): void {
    this.unrestored.delete(stored.userId);
    try {
      const snapshot = reviveSessionSnapshot(stored.snapshot, { now: this.now, random: this.random });
      const actor = this.create(stored.userId, { snapshot });
      actor.send({ type: 'session.restored' });
    } catch (error) {
      this.options.logger.error({ userId: stored.userId, err: (error as Error).message }, 'could not restore a persisted session');
      this.persistence.discard(stored.userId);
    }
  }

  private restoreRemaining(): void {
    for (const stored of [...this.unrestored.values()]) this.restoreOne(stored);
    this.stopRestoring();
  }

  private scheduleRestoreTurn(): void {
    if (this.unrestored.size === 0 || this.restoreTurn) return;
    this.restoreTurn = setImmediate(() => {
      this.restoreTurn = undefined;
      let left = RESTORES_PER_TURN;
      for (const stored of this.unrestored.values()) {
        if (left-- === 0) break;
        this.restoreOne(stored);
      }
      this.scheduleRestoreTurn();
    });
  }

  private stopRestoring(): void {
    clearImmediate(this.restoreTurn);
    this.restoreTurn = undefined;
    this.unrestored.clear();
  }

  private get now(): () => number {
    return this.options.now ?? Date.now;
  }

  private get random(): () => number {
    return this.options.random ?? Math.random;
  }

  private create(
    userId: string,
    from: { gen: number; runningApps?: readonly string[]; storedApps: readonly string[] } | { snapshot: unknown },
  ): UserSessionActor {
    const { config, logger, inspect } = this.options;
    const log = logger.child({ actor: 'userSession', userId });
    const common = { systemId: userSessionSystemId(userId), ...(inspect ? { inspect } : {}) };
    const actor =
      'snapshot' in from
        ? // A restored actor takes its context from the snapshot; the input type does not apply.
          createActor(this.machine, { ...common, snapshot: from.snapshot as Snapshot<unknown> } as never)
        : createActor(this.machine, {
            ...common,
            input: {
              userId,
              gen: from.gen,
              ...(from.runningApps ? { runningApps: from.runningApps } : {}),
              persistedApps: from.storedApps,
              config,
              now: this.now,
              random: this.random,
            },
          });
    actor.on('*', (event) => this.onEmitted(actor, event, log));
    actor.subscribe({
      complete: () => this.forget(userId, actor),
      error: (error) => {
        log.error({ err: (error as Error).message }, 'user session crashed');
        this.forget(userId, actor);
      },
    });
    this.sessions.set(userId, actor);
    this.persistence.track(userId, actor);
    actor.start();
    return actor;
  }

  private onEmitted(actor: UserSessionActor, event: UserSessionEmitted, log: Logger): void {
    switch (event.type) {
      case 'apps.changed': {
        this.storeRunningApps(event.userId, event.desiredApps, log);
        if (event.error) {
          // A failure goes out at once, each one (the glasses show why an app stopped); it
          // carries the latest list, so a plain update pending for this user has nothing to add.
          this.pendingAppStates.delete(actor);
          this.writeAppState(actor, { runningApps: event.runningApps, reconnectingApps: event.reconnectingApps, error: event.error });
          log.warn({ packageName: event.error.packageName, code: event.error.code }, 'app session failed');
        } else {
          this.scheduleAppState(actor, { runningApps: event.runningApps, reconnectingApps: event.reconnectingApps });
        }
        break;
      }
      case 'glasses.reconnected':
        this.options.metrics.glassesReconnects.inc();
        log.info({ disconnectedMs: event.disconnectedMs, long: event.long, gen: event.gen }, 'glasses reconnected');
        break;
      case 'session.disposed':
        this.storeRunningApps(event.userId, event.desiredApps, log);
        log.info({ desiredApps: event.desiredApps }, 'user session disposed');
        break;
    }
  }

  /**
   * Writes the user's desired apps without waiting: the store keeps the order of its calls, so
   * the last change wins, and a failed write is logged (the session goes on either way).
   */
  private storeRunningApps(userId: string, desiredApps: readonly string[], log: Logger): void {
    // A node of a cluster writes only what it owns, while its lease holds.
    if (this.options.cluster && !this.options.cluster.mayActFor(userId)) return;
    this.options.store.setRunningApps(userId, desiredApps).catch((error: unknown) => {
      log.error({ err: error instanceof Error ? error.message : String(error) }, 'desired apps not stored');
    });
  }

  /**
   * Plain `app_state_change` updates are coalesced: at most one per user per tick, with the
   * latest list, so N changes in one turn of the event loop (a reconnect, a burst of intents)
   * cost one frame, not N frames of up to N names each (issue 10 §2).
   */
  private scheduleAppState(actor: UserSessionActor, state: AppState): void {
    this.pendingAppStates.set(actor, state);
    if (this.appStateFlush) return;
    this.appStateFlush = setImmediate(() => {
      this.appStateFlush = undefined;
      const pending = [...this.pendingAppStates];
      this.pendingAppStates.clear();
      for (const [user, state] of pending) this.writeAppState(user, state);
    });
  }

  /** Writes `app_state_change` to the glasses socket `actor` holds now, if it holds one. */
  private writeAppState(actor: UserSessionActor, state: AppState & { error?: AppFailure }): void {
    const gen = glassesGenOf(actor.getSnapshot());
    const glasses = gen === undefined ? undefined : this.options.sockets.get(gen);
    if (glasses) writeFrame(glasses.ws, { type: 'app_state_change', ...state });
  }

  private forget(userId: string, actor: UserSessionActor): void {
    if (this.sessions.get(userId) === actor) this.sessions.delete(userId);
  }
}
