/**
 * Crash-safe persistence of user sessions (ARCHITECTURE.md, principle 13): what a restarted
 * process needs is in the store as it changes, so a SIGKILL loses nothing a client cannot resend,
 * and a SIGTERM only flushes what the current tick has not written yet.
 *
 * **Write-through.** Each user session actor, and each of its app sessions, is watched with
 * `actor.subscribe`. XState v5 tells a parent's observers only about the parent's own
 * transitions (a child's snapshot reaches its parent only with `syncSnapshot`, which the machines
 * do not use), so app sessions are subscribed to one by one as they appear among the user
 * session's children. Socket links are not watched: their heartbeat re-enters a state every
 * interval without changing anything persisted, and what matters about them (that they ended) is
 * a transition of their parent. A change marks the user dirty; the dirty users of one tick are
 * written when it ends (`setImmediate`), in one transaction, each as its persisted snapshot at that
 * moment (without retiring links, `persistableSnapshot`), so the N transitions a reconnect makes
 * cost one row write. A session that ends (disposed, or crashed) has its row deleted the same way;
 * a session stopped by the shutdown keeps it, and a restored session's row stays and is
 * rewritten as it changes, so a crash right after a restart loses nothing either.
 *
 * **Delivery positions.** `seq` advances with every data frame and the data plane never writes
 * the store, so what is written is not the counter but a reservation (hi-lo): a mark
 * {@link SEQ_RESERVATION} numbers ahead (`ReplayBuffer.reserve`). When the counter gets within
 * half a block of the mark, the buffer says so once and its user is written again with a new mark,
 * so a session streaming 20 frames/s is written about every 25 s, not 20 times a second. A process
 * restored after a crash continues each session's numbering at its mark: past every number the
 * dead process can have handed out (it renewed half a block early), so no `seq` is used twice and
 * the Tether SDK never drops a new frame as a duplicate; a client behind the mark is told of the
 * gap (`resume_gap`, whose `lost` then counts the reserved numbers that were never used too: an
 * upper bound, by less than one block). The alternatives were worse: writing the counter per frame
 * puts the store on the data plane; writing it only on lifecycle changes reuses numbers after a
 * crash. A clean shutdown writes the exact positions instead, so a SIGTERM restart reports no gap.
 */
import {
  appSessionId,
  forEachAppSession,
  listedAppPackages,
  persistableSnapshot,
  type UserSessionRef,
  type UserSessionSnapshot,
} from '../../machines/sessionApi.js';
import type { Logger } from '../logger.js';
import type { Store } from './store.js';

/**
 * Sequence numbers reserved per write of a session's delivery position (see the module comment).
 * Larger means fewer writes of a streaming session (one per half block) and a larger overstatement
 * of `resume_gap.lost` after a crash; 1,024 is about the replay window's size (1,000 frames by
 * default), the most a client could be replayed anyway.
 */
export const SEQ_RESERVATION = 1024;

/** Where each app session's delivery position (`seq`) lives: the cloud's `DeliveryLog`. */
export interface DeliveryPositions {
  /** The exact position of `sessionId` with the frames its buffer keeps, for a handover to another node. */
  exportHandover(sessionId: string): { nextSeq: number } | undefined;
  /** The exact position of `sessionId`, for a clean shutdown; undefined without one. */
  exportState(sessionId: string): { nextSeq: number } | undefined;
  /** A position `block` numbers ahead of the counter, for write-through; undefined without one. */
  reserveState(sessionId: string, block: number): { nextSeq: number } | undefined;
  /** Continues `sessionId`'s numbering from a persisted position (restore). */
  importState(sessionId: string, state: never): void;
  /** Tells `listener` when a session's reservation must be renewed. */
  watchReservations(listener: (sessionId: string) => void): void;
}

/** What the store keeps of one user session (the JSON of its row). */
interface PersistedSession {
  version: 1;
  /** XState's persisted snapshot of the `userSession` actor and its app sessions. */
  snapshot: unknown;
  /** Delivery position of each app session, by session id. */
  delivery: Record<string, unknown>;
}

/** A session a previous process left in the store, decoded. */
export interface StoredSession {
  userId: string;
  /** XState's persisted snapshot, as stored (functions not yet re-attached). */
  snapshot: unknown;
  /** Delivery position of each app session, by session id. */
  delivery: Record<string, unknown>;
}

/**
 * A cluster node's say over its sessions' rows (ARCHITECTURE.md "Many nodes"): the epoch each
 * write carries, whether the node may write a user now, and what to do with the users the store
 * refused (another node owns them).
 */
export interface PersistenceFence {
  /** The epoch `userId`'s session is held under here; undefined when this node does not own it. */
  epochOf(userId: string): number | undefined;
  /** Whether this node may write `userId`'s row now (it owns the session and its lease holds). */
  mayActFor(userId: string): boolean;
  /** The store refused these users' writes: a newer epoch is recorded. */
  lost(userIds: readonly string[]): void;
  /**
   * The row of `userId`'s session, which ended, is deleted (under its epoch): the session may be
   * freed now. Not before: a node taking it would restore the row the ended session left.
   */
  released(userId: string): void;
}

/**
 * What a write holds of delivery positions: a reservation ahead of the counter (while running),
 * the exact position (a clean shutdown), or the exact position with the frames kept (a session
 * handed to another node of a cluster, which replays them).
 */
export type PositionMode = 'reserved' | 'exact' | 'handover';

/** Options of a {@link SessionPersistence}. */
export interface SessionPersistenceOptions {
  store: Store;
  logger: Logger;
  delivery?: DeliveryPositions;
  /** On a node of a cluster: epochs, and no write for a session the node may not act for. */
  fence?: PersistenceFence;
  /**
   * `false`: nothing is written while the cloud runs; every session is saved by {@link finish} at
   * shutdown and deleted once restored (the behaviour before issue 11, which a crash loses). Only
   * for measuring what write-through costs (`bench/persistence.ts`). Default `true`.
   */
  writeThrough?: boolean;
}

/** Counters since start, for the benchmark and tests. */
export interface PersistenceStats {
  /** Transactions written (one per tick with changes, plus the shutdown flush). */
  batches: number;
  /** Rows saved. */
  saved: number;
  /** Rows deleted (sessions that ended). */
  removed: number;
}

/** Keeps the store's copy of every user session up to date. */
export class SessionPersistence {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly delivery: DeliveryPositions | undefined;
  private readonly fence: PersistenceFence | undefined;
  private readonly writeThrough: boolean;
  /** The session of each user whose row this process keeps (it is live). */
  private readonly live = new Map<string, UserSessionRef>();
  /** Users to write at the end of the tick: saved if still live, else their row is deleted. */
  private readonly dirty = new Set<string>();
  /** The user of each app session written (a reservation renewal names only the app session). */
  private readonly userOfSession = new Map<string, string>();
  /** The app session ids last written for each user, to forget positions that are gone. */
  private readonly sessionIdsOf = new Map<string, readonly string[]>();
  private flushTimer: NodeJS.Immediate | undefined;
  /**
   * Write-through batches handed to the store and not settled yet. While one is, changes wait
   * and go together in the next batch, when it settles: against a store across the network
   * (PostgreSQL) a busy node writes fewer, larger batches instead of one per tick.
   */
  private inFlight = 0;
  /** The batches written so far, in order: the shutdown waits for the last. */
  private writes: Promise<void> = Promise.resolve();
  private finished = false;
  /** Whether the last write failed (logged once per failing streak). */
  private failing = false;
  private readonly counters: PersistenceStats = { batches: 0, saved: 0, removed: 0 };

  constructor(options: SessionPersistenceOptions) {
    this.store = options.store;
    this.log = options.logger.child({ actor: 'sessionPersistence' });
    this.delivery = options.delivery;
    this.fence = options.fence;
    this.writeThrough = options.writeThrough ?? true;
    if (this.writeThrough) {
      this.delivery?.watchReservations((sessionId) => {
        const userId = this.userOfSession.get(sessionId);
        if (userId !== undefined) this.markDirty(userId);
      });
    }
  }

  /** Counters since start. */
  get stats(): Readonly<PersistenceStats> {
    return { ...this.counters };
  }

  /**
   * The sessions a previous process left, decoded (cloud start). A row that cannot be read is
   * logged and deleted. With write-through the rows stay (they are rewritten as the restored
   * sessions change); without it they are deleted once loaded, so they are never restored twice.
   */
  async load(): Promise<StoredSession[]> {
    const sessions: StoredSession[] = [];
    const unreadable: string[] = [];
    for (const record of await this.store.loadSessionSnapshots()) {
      try {
        sessions.push(this.decode(record));
      } catch (error) {
        this.log.error({ userId: record.userId, err: messageOf(error) }, 'could not read a persisted session; deleted');
        unreadable.push(record.userId);
      }
    }
    if (!this.writeThrough) await this.store.clearSessionSnapshots();
    else if (unreadable.length > 0) await this.store.writeSessionSnapshots({ save: [], remove: unreadable });
    return sessions;
  }

  /** Deletes `userId`'s row with the next batch (a stored session that could not be restored). */
  discard(userId: string): void {
    this.live.delete(userId);
    if (this.writeThrough) this.markDirty(userId);
  }

  /**
   * Stops watching `userId`'s session without writing anything more for it: another node owns
   * it now, and its row is that node's.
   */
  untrack(userId: string): void {
    this.live.delete(userId);
    this.dirty.delete(userId);
    for (const sessionId of this.sessionIdsOf.get(userId) ?? []) this.userOfSession.delete(sessionId);
    this.sessionIdsOf.delete(userId);
  }

  /** Decodes one stored row (a session claimed from the store by a node of a cluster). */
  decode(record: { userId: string; json: string }): StoredSession {
    const persisted = JSON.parse(record.json) as Partial<PersistedSession>;
    if (persisted.version !== 1 || typeof persisted.delivery !== 'object' || persisted.delivery === null) {
      throw new Error(`unknown record version ${String(persisted.version)}`);
    }
    return { userId: record.userId, snapshot: persisted.snapshot, delivery: persisted.delivery };
  }

  /** Deletes every stored session (a cloud told not to restore them starts afresh). */
  async clearStore(): Promise<void> {
    await this.store.clearSessionSnapshots();
  }

  /**
   * Watches the user session `actor` of `userId` (just created, or restored) and writes it with
   * the current tick's batch. Call before `actor.start()`, so no transition goes unseen.
   */
  track(userId: string, actor: UserSessionRef): void {
    if (this.finished) return;
    this.live.set(userId, actor);
    if (!this.writeThrough) return;
    const changed = () => this.markDirty(userId);
    const watched = new WeakSet<object>();
    const watchApps = (snapshot: UserSessionSnapshot) =>
      forEachAppSession(snapshot, (app) => {
        if (watched.has(app)) return;
        watched.add(app);
        // An error handler on every subscription: without one XState would report an app
        // session's crash as unhandled, which its parent already handles.
        app.subscribe({ next: changed, error: changed });
      });
    actor.subscribe({
      next: (snapshot) => {
        if (snapshot.status === 'active') {
          watchApps(snapshot);
          changed();
        } else if (snapshot.status === 'done') this.ended(userId, actor);
      },
      error: () => this.ended(userId, actor),
    });
    watchApps(actor.getSnapshot());
    changed();
  }

  /**
   * Writes the dirty sessions now, in one transaction (the end of a tick; the shutdown), and
   * resolves when this batch and every earlier one are written. With `exact` (or `handover`), delivery positions
   * are written as they are rather than reserved ahead. The batch is encoded now and the store
   * applies batches in the order they were handed to it, so a slow store never writes an older
   * state over a newer one. A failed write is logged and its sessions are dirty again: they go,
   * as they are then, with the next batch.
   */
  flush(mode: PositionMode = 'reserved'): Promise<void> {
    clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    if (this.dirty.size === 0) return this.writes;
    const save: Array<{ userId: string; json: string }> = [];
    const remove: string[] = [];
    const epochs = this.fence ? new Map<string, number>() : undefined;
    for (const userId of this.dirty) {
      if (this.fence) {
        // Fenced (the lease ran out, or the session moved): nothing is written for it, and it
        // stays dirty in case the node takes it back.
        const epoch = this.fence.epochOf(userId);
        if (epoch === undefined || !this.fence.mayActFor(userId)) continue;
        epochs!.set(userId, epoch);
      }
      const actor = this.live.get(userId);
      if (!actor) {
        remove.push(userId);
        continue;
      }
      // Stopped from outside (the shutdown stops every session): its row stays as it was.
      if (actor.getSnapshot().status !== 'active') continue;
      try {
        save.push({ userId, json: this.encode(userId, actor, mode) });
      } catch (error) {
        this.log.error({ userId, err: messageOf(error) }, 'could not serialise a user session; not persisted');
      }
    }
    const users = epochs ? [...epochs.keys()] : [...this.dirty];
    for (const userId of users) this.dirty.delete(userId);
    if (epochs && save.length === 0 && remove.length === 0) return this.writes;
    this.inFlight++;
    const written = this.store.writeSessionSnapshots({ save, remove, ...(epochs ? { epochs } : {}) }).finally(() => {
      if (--this.inFlight === 0 && this.dirty.size > 0) this.scheduleFlush();
    });
    const settled = written.then(
      ({ refused }) => {
        if (refused.length > 0) this.fence?.lost(refused);
        if (this.fence) for (const userId of remove) if (!refused.includes(userId)) this.fence.released(userId);
        if (this.failing) this.log.info({ sessions: users.length }, 'sessions written to the store again');
        this.failing = false;
        this.counters.batches += 1;
        this.counters.saved += save.length;
        this.counters.removed += remove.length;
      },
      (error: unknown) => {
        if (!this.failing) this.log.error({ err: messageOf(error), code: codeOf(error), sessions: users.length }, 'could not write sessions to the store; retrying with the next change');
        this.failing = true;
        if (this.finished) return;
        for (const userId of users) this.dirty.add(userId);
      },
    );
    this.writes = this.writes.then(() => settled);
    return this.writes;
  }

  /**
   * Shutdown (SIGTERM): writes what is pending, and the sessions whose rows hold reserved delivery
   * positions again with the exact ones (without write-through: every session), then
   * stops watching, so the sessions stopped next keep their rows. Resolves, once everything is
   * written, with how many live sessions the store then holds for the next process. The batch is
   * encoded and handed to the store before this returns: the sessions may be stopped right after.
   * Idempotent.
   */
  async finish(mode: Exclude<PositionMode, 'reserved'> = 'exact'): Promise<number> {
    if (this.finished) return 0;
    for (const [userId, actor] of this.live) {
      if (actor.getSnapshot().status !== 'active') continue;
      if (!this.writeThrough || this.hasPositions(userId)) this.dirty.add(userId);
    }
    const written = this.flush(mode);
    const kept = [...this.live.values()].filter((actor) => actor.getSnapshot().status === 'active').length;
    this.detach();
    await written;
    return kept;
  }

  /**
   * Shutdown without persistence: deletes every stored session and stops watching. On a node of
   * a cluster only the rows of the sessions it owns, under their epochs: the store holds every
   * node's sessions.
   */
  async discardAll(): Promise<void> {
    if (this.finished) return;
    const fence = this.fence;
    const owned = fence ? [...this.live.keys()].filter((userId) => fence.mayActFor(userId)) : [];
    const epochs = fence ? new Map(owned.map((userId) => [userId, fence.epochOf(userId)!])) : undefined;
    this.detach();
    await this.writes;
    if (epochs) await this.store.writeSessionSnapshots({ save: [], remove: owned, epochs });
    else await this.store.clearSessionSnapshots();
  }

  /**
   * Stops watching without writing anything more: what is pending is dropped (call
   * {@link finish} first to keep it). Idempotent.
   */
  detach(): void {
    this.finished = true;
    clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    this.dirty.clear();
    this.live.clear();
    this.userOfSession.clear();
    this.sessionIdsOf.clear();
  }

  private markDirty(userId: string): void {
    if (this.finished) return;
    this.dirty.add(userId);
    if (this.inFlight === 0) this.scheduleFlush();
  }

  /** Writes the dirty sessions at the end of this tick (write-through). */
  private scheduleFlush(): void {
    if (this.writeThrough && !this.finished && !this.flushTimer) this.flushTimer = setImmediate(() => void this.flush());
  }

  /** The session of `userId` ended by itself: its row goes with the next batch. */
  private ended(userId: string, actor: UserSessionRef): void {
    if (this.live.get(userId) !== actor) return;
    this.live.delete(userId);
    for (const sessionId of this.sessionIdsOf.get(userId) ?? []) this.userOfSession.delete(sessionId);
    this.sessionIdsOf.delete(userId);
    this.markDirty(userId);
  }

  /**
   * Writes `userId`'s session once more, with its exact positions and the frames its buffers
   * keep, under its epoch, and stops watching it: it is handed to another node of a cluster,
   * which restores it from this row. Rejects when the store refused the row.
   */
  async handOver(userId: string): Promise<void> {
    const actor = this.live.get(userId);
    // Not watched any more (a drain wrote every session already): its row is in a batch handed
    // to the store; resolve once that is written, so the next owner reads it.
    if (!actor || actor.getSnapshot().status !== 'active') return this.writes;
    const epoch = this.fence?.epochOf(userId);
    const json = this.encode(userId, actor, 'handover');
    this.untrack(userId);
    const { refused } = await this.store.writeSessionSnapshots({
      save: [{ userId, json }],
      remove: [],
      ...(epoch !== undefined ? { epochs: new Map([[userId, epoch]]) } : {}),
    });
    if (refused.length > 0) throw new Error(`the store refused the handover of ${userId}: a newer epoch is recorded`);
  }

  private encode(userId: string, actor: UserSessionRef, mode: PositionMode): string {
    const delivery: Record<string, unknown> = {};
    const sessionIds = listedAppPackages(actor.getSnapshot()).map((pkg) => appSessionId(userId, pkg));
    for (const sessionId of sessionIds) {
      const state =
        mode === 'handover'
          ? this.delivery?.exportHandover(sessionId)
          : mode === 'exact'
            ? this.delivery?.exportState(sessionId)
            : this.delivery?.reserveState(sessionId, SEQ_RESERVATION);
      this.userOfSession.set(sessionId, userId);
      if (state !== undefined) delivery[sessionId] = state;
    }
    for (const old of this.sessionIdsOf.get(userId) ?? []) if (!sessionIds.includes(old)) this.userOfSession.delete(old);
    this.sessionIdsOf.set(userId, sessionIds);
    const record: PersistedSession = { version: 1, snapshot: persistableSnapshot(actor), delivery };
    return JSON.stringify(record);
  }

  /**
   * Whether some app session of `userId` has a delivery position: its row holds a reservation,
   * which a clean shutdown replaces with the exact position (no gap after a SIGTERM restart).
   */
  private hasPositions(userId: string): boolean {
    return (this.sessionIdsOf.get(userId) ?? []).some((sessionId) => this.delivery?.exportState(sessionId) !== undefined);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
