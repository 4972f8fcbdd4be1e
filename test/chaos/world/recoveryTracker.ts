/**
 * The chaos suite's first invariant, checked as the run goes: a user whose glasses came back
 * within grace has every desired app running again within a bound. "Running" is what the app
 * servers say (their session's socket is connected), not what the cloud says. An app whose
 * server is down on purpose is waited for from the server's return instead.
 */

/** What the tracker needs to know of the world at a check. */
export interface RecoveryView {
  /** Whether `sessionId`'s app has a connected socket (from the latest census). */
  connected(sessionId: string): boolean;
  /** Whether the server of `packageName` is down on purpose now. */
  serverDown(packageName: string): boolean;
  /** When the server of `packageName` last came back (performance.now()), if it ever was down. */
  serverReturnedAt(packageName: string): number | undefined;
  /** When the cloud last came back from a restart (performance.now()), if it was restarted. */
  cloudReturnedAt(): number | undefined;
}

/** A recovery that took too long. */
export interface RecoveryViolation {
  readonly userId: string;
  readonly waitedMs: number;
  readonly missing: readonly string[];
  readonly cause: string;
}

interface Pending {
  userId: string;
  sessionIds: Array<[packageName: string, sessionId: string]>;
  since: number;
  cause: string;
}

/** Pending and finished recoveries of every user. */
export class RecoveryTracker {
  private readonly pending = new Map<string, Pending>();
  /** Recovery times, in ms, of every return within grace. */
  readonly times: number[] = [];
  readonly violations: RecoveryViolation[] = [];

  constructor(private readonly boundMs: number) {}

  /** The glasses of `userId` were acked again within grace after `cause`; its apps are now awaited. */
  returned(userId: string, apps: ReadonlyArray<[packageName: string, sessionId: string]>, cause: string): void {
    // A return while the previous one is still awaited keeps the earlier start: the user waits since then.
    const earlier = this.pending.get(userId);
    this.pending.set(userId, { userId, sessionIds: [...apps], since: earlier?.since ?? performance.now(), cause: earlier ? `${earlier.cause}+${cause}` : cause });
  }

  /** The glasses of `userId` went away for longer than grace: its session ended, there is nothing to await. */
  abandoned(userId: string): void {
    this.pending.delete(userId);
  }

  /** Settles every pending recovery the view shows as done, and records those past the bound. */
  check(view: RecoveryView, now = performance.now()): void {
    for (const [userId, entry] of this.pending) {
      const missing = entry.sessionIds.filter(([pkg, sessionId]) => !view.connected(sessionId) && !view.serverDown(pkg));
      if (missing.length === 0) {
        this.pending.delete(userId);
        this.times.push(now - entry.since);
        continue;
      }
      // The clock for each missing app starts at the latest of: the return, its server's return, the cloud's return.
      const start = Math.max(entry.since, view.cloudReturnedAt() ?? 0, ...missing.map(([pkg]) => view.serverReturnedAt(pkg) ?? 0));
      if (now - start > this.boundMs) {
        this.pending.delete(userId);
        this.violations.push({ userId, waitedMs: Math.round(now - entry.since), missing: missing.map(([pkg]) => pkg), cause: entry.cause });
      }
    }
  }

  /** Users still awaited. */
  get waiting(): number {
    return this.pending.size;
  }
}
