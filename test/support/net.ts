/**
 * Small helpers for integration tests that run real sockets on 127.0.0.1.
 *
 * Every helper cleans up after itself: no timer or socket outlives the returned promise, so a
 * test can compare `process.getActiveResourcesInfo()` before and after.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many milliseconds (default 2000). */
  timeoutMs?: number;
  /** Milliseconds between two evaluations of the predicate (default 10). */
  intervalMs?: number;
  /** Message of the error thrown on timeout. */
  message?: string;
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @param ms - delay in milliseconds
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The values of `T` that are truthy. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

/**
 * Polls `predicate` until it returns a truthy value and resolves with that value; rejects when
 * `timeoutMs` passes first. The predicate runs once immediately, then every `intervalMs`.
 *
 * @param predicate - evaluated until truthy; may be async
 * @param options - `timeoutMs` (default 2000 ms) and `intervalMs` (default 10 ms)
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as Truthy<T>;
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new Error(options.message ?? `waitFor: condition not met within ${timeoutMs} ms`);
    }
    await sleep(Math.min(intervalMs, left));
  }
}

/**
 * Asks the OS for a TCP port that is free on `host` right now, then releases it.
 * Another process may take it before the caller binds it; prefer `port: 0` where possible.
 *
 * @param host - interface to probe (default 127.0.0.1)
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      const { port } = server.address() as AddressInfo;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * Counts `process.getActiveResourcesInfo()` by resource type (`TCPServerWrap`,
 * `TCPSocketWrap`, `Timeout`, …), for leak checks that compare a baseline with a later state.
 */
export function activeResourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/**
 * Lists the resource types whose count in `current` exceeds `baseline`, e.g.
 * `['TCPSocketWrap +1']`; empty when nothing leaked.
 *
 * @param baseline - counts taken earlier with {@link activeResourceCounts}
 * @param current - counts to compare (default: now)
 */
export function resourcesAbove(
  baseline: Record<string, number>,
  current: Record<string, number> = activeResourceCounts(),
): string[] {
  const extra: string[] = [];
  for (const [type, count] of Object.entries(current)) {
    const before = baseline[type] ?? 0;
    if (count > before) extra.push(`${type} +${count - before}`);
  }
  return extra;
}
