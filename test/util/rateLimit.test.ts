import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRateLimiter, hit, retryAfterSeconds } from '../../src/util/rateLimit.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('rate limit', () => {
  it('allows `limit` events per key per window and answers the wait until the window ends', async () => {
    let now = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const limiter = createRateLimiter(2, 60_000);
    expect(await hit(limiter, 'a')).toBeUndefined();
    now += 10_000;
    expect(await hit(limiter, 'a')).toBeUndefined();
    expect(await hit(limiter, 'b')).toBeUndefined();
    now += 5000;
    expect(await hit(limiter, 'a')).toBe(45_000);
    now += 45_000;
    expect(await hit(limiter, 'a')).toBeUndefined();
  });

  it('keeps no timer that holds the process open, however many keys', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const limiter = createRateLimiter(1, 60_000);
    for (let i = 0; i < 2000; i++) await hit(limiter, `key-${i}`);
    expect(timers()).toBe(before);
  });

  it('rounds Retry-After up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(0)).toBe('1');
    expect(retryAfterSeconds(1)).toBe('1');
    expect(retryAfterSeconds(1000)).toBe('1');
    expect(retryAfterSeconds(1001)).toBe('2');
    expect(retryAfterSeconds(59_999)).toBe('60');
  });
});
