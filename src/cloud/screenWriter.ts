/**
 * Keeps the store's copy of the screen memory in step (ARCHITECTURE.md, principle 13: written
 * through, batched), so a cloud killed with SIGKILL restarts with the screens its apps drew.
 * Changes are coalesced per (session, view) and written in one transaction: the first change
 * after a quiet spell goes out on the next tick, later ones at most once per
 * {@link SCREEN_WRITE_INTERVAL_MS}. So the cost is bounded by the number of screens, not by how
 * fast apps redraw — a captions app redrawing ten times a second costs one row a second, not ten
 * (6 µs a row measured; docs/PERFORMANCE.md) — and a SIGKILL loses at most the redraws of the last
 * interval, never a screen that stood still.
 */
import type { Logger } from '../logger.js';
import type { Screen, ScreenSink } from './screenMemory.js';
import type { ScreenKey, ScreenRecord, Store } from './store.js';

/** Shortest time between two writes of the screen table, in ms. */
export const SCREEN_WRITE_INTERVAL_MS = 1_000;

/** Options of a {@link ScreenWriter}. */
export interface ScreenWriterOptions {
  store: Pick<Store, 'saveScreens'>;
  logger: Logger;
  /** Shortest time between two writes, in ms; {@link SCREEN_WRITE_INTERVAL_MS} by default. */
  minIntervalMs?: number;
  /** Monotonic clock in ms; `performance.now` unless a test injects one. */
  now?: () => number;
}

/** Writes screen changes to the store in batches; one per cloud. */
export class ScreenWriter implements ScreenSink {
  /** Latest change per key since the last flush: the screen to write, or the key to delete. */
  private readonly pending = new Map<string, Screen | ScreenKey>();
  private readonly store: Pick<Store, 'saveScreens'>;
  private readonly logger: Logger;
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  /** The batches written so far, in order (the store keeps the order of its calls). */
  private writes: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: ScreenWriterOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.minIntervalMs = options.minIntervalMs ?? SCREEN_WRITE_INTERVAL_MS;
    this.now = options.now ?? (() => performance.now());
  }

  put(screen: Screen): void {
    this.change(screen.sessionId, screen.view, screen);
  }

  remove(sessionId: string, view: string): void {
    this.change(sessionId, view, { sessionId, view });
  }

  /**
   * Writes what is pending now, in one transaction, and resolves when it and every earlier batch
   * are written. A failure is logged; the data plane never sees it.
   */
  flush(): Promise<void> {
    clearImmediate(this.immediate);
    clearTimeout(this.timer);
    this.immediate = undefined;
    this.timer = undefined;
    if (this.pending.size === 0) return this.writes;
    this.lastWriteAt = this.now();
    const puts: ScreenRecord[] = [];
    const removals: ScreenKey[] = [];
    for (const change of this.pending.values()) {
      if ('frame' in change) {
        const json = serialize(change);
        if (json !== undefined) puts.push(recordOf(change, json));
        else removals.push({ sessionId: change.sessionId, view: change.view });
      } else removals.push(change);
    }
    this.pending.clear();
    const written = this.store.saveScreens(puts, removals).catch((error: unknown) => {
      this.logger.error({ err: error instanceof Error ? error.message : String(error), screens: puts.length }, 'could not save screens');
    });
    this.writes = this.writes.then(() => written);
    return this.writes;
  }

  /**
   * Flushes and stops writing (shutdown): later changes — every actor stopping — stay in memory.
   * Resolves when everything is written. Idempotent.
   */
  close(): Promise<void> {
    const written = this.flush();
    this.closed = true;
    return written;
  }

  private change(sessionId: string, view: string, change: Screen | ScreenKey): void {
    if (this.closed) return;
    const key = `${sessionId}\u0000${view}`;
    this.pending.delete(key);
    this.pending.set(key, change);
    if (this.immediate || this.timer) return;
    const wait = this.lastWriteAt + this.minIntervalMs - this.now();
    if (wait <= 0) this.immediate = setImmediate(() => void this.flush());
    // Unreferenced: pending screens never keep a process alive (shutdown flushes them).
    else this.timer = setTimeout(() => void this.flush(), wait).unref();
  }
}

function recordOf(screen: Screen, json: string): ScreenRecord {
  return {
    sessionId: screen.sessionId,
    view: screen.view,
    userId: screen.userId,
    json,
    seq: screen.seq,
    shownAt: screen.shownAt,
    expiresAt: screen.expiresAt,
  };
}

/** The frame as JSON; undefined if it cannot be serialised (then it is not kept across a restart). */
function serialize(screen: Screen): string | undefined {
  try {
    return JSON.stringify(screen.frame);
  } catch {
    return undefined;
  }
}
