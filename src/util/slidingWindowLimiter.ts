/**
 * Counts events per key over a sliding window, with no timers: old entries are dropped when a
 * key is next touched, and idle keys are swept on the way, so the limiter never holds the event
 * loop open and never grows without bound.
 */
export class SlidingWindowLimiter {
  private readonly hits = new Map<string, number[]>();

  /**
   * @param limit most events allowed per key inside the window
   * @param windowMs window length in ms
   * @param now clock in ms; injectable for tests
   */
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one event for `key`; false when it is over the limit (the event still counts). */
  hit(key: string): boolean {
    const now = this.now();
    const since = now - this.windowMs;
    if (this.hits.size > 1024) this.sweep(since);
    const recent = (this.hits.get(key) ?? []).filter((t) => t > since);
    recent.push(now);
    this.hits.set(key, recent);
    return recent.length <= this.limit;
  }

  /**
   * Time in ms until one more event for `key` would be allowed again: 0 when it would be now.
   * Meant for a `Retry-After` answer after {@link hit} returned false.
   */
  retryAfterMs(key: string): number {
    const now = this.now();
    const recent = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
    // The next event is allowed once all but `limit - 1` of the recent ones have left the window.
    const blocking = recent[recent.length - this.limit];
    return blocking === undefined ? 0 : Math.max(0, blocking + this.windowMs - now);
  }

  private sweep(since: number): void {
    for (const [key, times] of this.hits) {
      if (times.every((t) => t <= since)) this.hits.delete(key);
    }
  }
}
