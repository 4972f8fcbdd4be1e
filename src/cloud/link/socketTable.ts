/**
 * Every authenticated socket of the cloud, by generation. The gateways add a socket once it
 * has authenticated; the links that the session machines invoke find it here by `gen` (the
 * machines only ever hold the number). Generations come from one counter that only grows
 * and starts at the wall clock, so a generation restored from a persisted snapshot is always
 * older than any socket of this process.
 */
import type { WebSocket } from 'ws';
import type { AnyActorRef } from 'xstate';

/** What the cloud knows about one authenticated socket. */
export interface SocketEntry {
  gen: number;
  kind: 'glasses' | 'app';
  ws: WebSocket;
  userId: string;
  /** App sockets only. */
  packageName?: string;
  sessionId?: string;
  /** Tether protocol extensions the client listed in its init (app sockets). */
  extensions: ReadonlySet<string>;
  /** App sockets only: the `lastSeq` of the init (Tether SDK), where the replay resumes after. */
  lastSeq?: number;
  /**
   * App sockets only: the app's settings with the user's values, read from the store while the
   * socket authenticated, for its `tpa_connection_ack` (which the socket's link writes at once).
   */
  ackSettings?: readonly object[];
  /** The reason of the app's `ownership_release`, once sent: its next close is no plain failure. */
  ownershipRelease: string | null;
  /**
   * Glasses sockets: wall time (ms) of the latest frame, written by the gateway on the data
   * path (a plain write, no event); restart recovery serves the most recently active users first.
   */
  lastActivityAt?: number;
  /**
   * Monotonic time (`performance.now()`, ms) of the latest inbound frame or pong: the liveness
   * signal. A plain write on the hot path; the socket's link reads it on each heartbeat tick
   * (`machines/socketLink.ts`).
   */
  heardAt: number;
  /** The `socketLink` actor holding the socket now, if any; its close is reported there. */
  link: AnyActorRef | undefined;
  /**
   * Monotonic time (ms) the socket's unsent bytes went over the high-water mark; undefined
   * while it takes writes (`backpressure.ts`).
   */
  congestedSince?: number;
  /** Glasses sockets: the latest display per app and view held while congested, in arrival order. */
  heldDisplays?: Map<string, object>;
}

/** The table of live sockets; one per cloud. */
export class SocketTable {
  private readonly entries = new Map<number, SocketEntry>();
  private lastGen = Date.now();
  /** The highest generation a restored snapshot named ({@link advancePast}). */
  private restoredPast = 0;

  /** A generation larger than every one handed out before, in this process or a restored one. */
  nextGen(): number {
    this.lastGen += 1;
    return this.lastGen;
  }

  /**
   * Makes every later generation larger than `gen`. The counter may run ahead of the wall clock
   * (a reconnect storm hands out thousands per ms), so a restored snapshot can name generations
   * above this process's start time; without this, returning sockets would look older than the
   * ones the snapshot remembers and be refused as replaced.
   */
  advancePast(gen: number): void {
    if (!Number.isFinite(gen)) return;
    if (gen > this.lastGen) this.lastGen = gen;
    if (gen > this.restoredPast) this.restoredPast = gen;
  }

  /**
   * Whether `gen`, handed out earlier, is not above what a session restored since then names: a
   * socket accepted before another node's session was claimed here would look older than that
   * session's own sockets (generations of different nodes do not compare).
   */
  predatesRestore(gen: number): boolean {
    return gen <= this.restoredPast;
  }

  add(entry: SocketEntry): void {
    this.entries.set(entry.gen, entry);
  }

  get(gen: number): SocketEntry | undefined {
    return this.entries.get(gen);
  }

  /** Removes `gen` only if it still holds `entry`, so a late cleanup never drops a successor. */
  remove(entry: SocketEntry): void {
    if (this.entries.get(entry.gen) === entry) this.entries.delete(entry.gen);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Open sockets by kind, and how many of them a session holds beyond its one: a glasses socket
   * per user and an app socket per (user, app) are adopted (held by a link) at a time; a second
   * open one is a bug the metrics make visible. Walks the table: for scrape time only.
   */
  census(): { open: Record<SocketEntry['kind'], number>; duplicates: Record<SocketEntry['kind'], number> } {
    const open = { glasses: 0, app: 0 };
    const duplicates = { glasses: 0, app: 0 };
    const held = new Set<string>();
    for (const entry of this.entries.values()) {
      if (entry.ws.readyState !== entry.ws.OPEN) continue;
      open[entry.kind] += 1;
      if (!entry.link) continue;
      const key = entry.kind === 'glasses' ? `g ${entry.userId}` : `a ${entry.userId} ${entry.packageName ?? ''}`;
      if (held.has(key)) duplicates[entry.kind] += 1;
      else held.add(key);
    }
    return { open, duplicates };
  }

  values(): IterableIterator<SocketEntry> {
    return this.entries.values();
  }
}
