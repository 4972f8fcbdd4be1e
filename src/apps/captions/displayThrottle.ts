/**
 * Limits how often something is shown, without a clock: the first request shows at once and
 * opens a window of `intervalMs`; requests inside the window are merged and the last one is
 * shown when the window closes (which opens the next window). So at most one show per window,
 * and the latest request is always shown. The scheduler is injected: session timers in the app,
 * fake timers in tests. Its timer is never cancelled: a session timer dies with the session.
 */

/** Options of a {@link DisplayThrottle}. */
export interface DisplayThrottleOptions {
  /** Shortest time between two shows, in ms. */
  intervalMs: number;
  /** Runs `fn` once after `ms` milliseconds (in the app: `session.setTimeout`). */
  schedule: (fn: () => void, ms: number) => unknown;
}

/** Leading-and-trailing throttle of a display; see the module comment. */
export class DisplayThrottle {
  private readonly intervalMs: number;
  private readonly schedule: (fn: () => void, ms: number) => unknown;
  private windowOpen = false;
  private pending: (() => void) | undefined;

  /** @param options - see {@link DisplayThrottleOptions}. */
  constructor(options: DisplayThrottleOptions) {
    this.intervalMs = options.intervalMs;
    this.schedule = options.schedule;
  }

  /** Runs `show` now, or when the current window closes; a later request replaces it. */
  request(show: () => void): void {
    if (this.windowOpen) {
      this.pending = show;
      return;
    }
    this.open();
    show();
  }

  private open(): void {
    this.windowOpen = true;
    this.schedule(() => this.close(), this.intervalMs);
  }

  private close(): void {
    this.windowOpen = false;
    const show = this.pending;
    this.pending = undefined;
    if (show) {
      this.open();
      show();
    }
  }
}
