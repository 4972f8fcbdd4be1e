/**
 * Keeps the store's copy of the screen memory in step (ARCHITECTURE.md, principle 13: written
 * through, batched per tick), so a cloud killed with SIGKILL restarts with every screen drawn
 * before its last tick. Changes are coalesced per (session, view): an app that redraws 50 times
 * in one turn of the event loop costs one row, and one turn costs one transaction of at most one
 * row per screen that changed.
 */
import type { Logger } from '../logger.js';
import type { Screen, ScreenSink } from './screenMemory.js';
import type { ScreenKey, ScreenRecord, Store } from './store.js';

/** Writes screen changes to the store once per tick; one per cloud. */
export class ScreenWriter implements ScreenSink {
  /** Latest change per key since the last flush: the screen to write, or the key to delete. */
  private readonly pending = new Map<string, Screen | ScreenKey>();
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    private readonly store: Pick<Store, 'saveScreens'>,
    private readonly logger: Logger,
  ) {}

  put(screen: Screen): void {
    this.change(screen.sessionId, screen.view, screen);
  }

  remove(sessionId: string, view: string): void {
    this.change(sessionId, view, { sessionId, view });
  }

  /** Writes what is pending now, in one transaction. A failure is logged; the data plane never sees it. */
  flush(): void {
    clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.pending.size === 0) return;
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
    try {
      this.store.saveScreens(puts, removals);
    } catch (error) {
      this.logger.error({ err: error instanceof Error ? error.message : String(error), screens: puts.length }, 'could not save screens');
    }
  }

  /** Flushes and stops writing (shutdown): later changes — every actor stopping — stay in memory. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private change(sessionId: string, view: string, change: Screen | ScreenKey): void {
    if (this.closed) return;
    const key = `${sessionId}\u0000${view}`;
    this.pending.delete(key);
    this.pending.set(key, change);
    this.scheduled ??= setImmediate(() => this.flush());
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
