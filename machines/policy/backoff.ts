/** Inputs of the reconnect backoff, all in milliseconds. */
export interface BackoffConfig {
  /** Delay before the first retry, before jitter. */
  baseDelayMs: number;
  /** Cap on the delay before jitter; jitter still spreads clients above it. */
  maxDelayMs: number;
}

/** Growth factor per attempt; seed 01 chose 1.5 to keep early retries quick. */
export const BACKOFF_FACTOR = 1.5;

/** Jitter adds up to this fraction of the delay, drawn per socket and per attempt. */
export const JITTER_FRACTION = 0.5;

/**
 * Delay in ms before retry number `attempt` (0 for the first retry):
 * `d·(1 + 0.5·random())` with `d = min(maxDelayMs, baseDelayMs·1.5^attempt)`.
 * Jitter proportional to the delay keeps a fleet dropped at once from returning at once,
 * even after the cap. `random` must return a number in [0, 1).
 */
export function backoffDelay(attempt: number, config: BackoffConfig, random: () => number): number {
  const capped = Math.min(config.maxDelayMs, config.baseDelayMs * BACKOFF_FACTOR ** attempt);
  return Math.round(capped * (1 + JITTER_FRACTION * random()));
}
