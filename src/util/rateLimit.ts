/**
 * Per-key rate limits on `rate-limiter-flexible`'s {@link RateLimiterMemory}: a fixed window
 * per key that opens at the key's first event. Each key's record is dropped by a timer when its
 * window ends, so idle keys cost nothing and nothing sweeps; those timers are `unref`'d, so a
 * limiter never holds the event loop open. It reads `Date.now()`: tests move time by stubbing it.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * A limiter allowing `limit` events per key per window.
 *
 * @param limit most events allowed per key inside one window (count)
 * @param windowMs window length in ms; a whole number of seconds (the library counts in seconds)
 */
export function createRateLimiter(limit: number, windowMs: number): RateLimiterMemory {
  return new RateLimiterMemory({ points: limit, duration: windowMs / 1000, keyPrefix: '' });
}

/**
 * Records one event for `key`. Resolves with `undefined` when it is within the limit, else with
 * the time in ms until the key's window ends and events are allowed again. A refused event
 * counts too, so hammering does not earn an earlier answer.
 */
export async function hit(limiter: RateLimiterMemory, key: string): Promise<number | undefined> {
  try {
    await limiter.consume(key);
    return undefined;
  } catch (refused) {
    // The library rejects with its result when over the limit, with an Error when it failed.
    if (refused instanceof RateLimiterRes) return refused.msBeforeNext;
    throw refused;
  }
}

/** `Retry-After` for a wait of `ms`: whole seconds, rounded up, at least 1. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
