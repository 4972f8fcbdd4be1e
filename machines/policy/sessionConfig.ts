/**
 * Timing policy of the cloud-side session machines (`userSession`, `appSession`). The runtime's
 * configuration module owns names, environment variables and validation; these are the
 * defaults it starts from, and the one shape both machines read their delays from.
 */
import type { BackoffConfig } from './backoff.js';

/** Settings of a user session and its app sessions; every duration is in milliseconds. */
export interface SessionConfig {
  /** How long a user session outlives its glasses socket before it is disposed. */
  gracePeriodMs: number;
  /** How often the cloud pings a glasses or app socket. */
  heartbeatIntervalMs: number;
  /** Silence (no pong, no frame) after which a socket is declared dead and terminated. */
  heartbeatTimeoutMs: number;
  /** A reconnection after at least this long away is a long one (reported and logged). */
  restartThresholdMs: number;
  /** How long a dropped app may take to reconnect by itself before its webhook is re-sent. */
  appReconnectWindowMs: number;
  /**
   * How long one webhook call may take. Must be comfortably above the 5 s that `@mentra/sdk`
   * waits for the ack plus the app's own `onSession` time (MENTRA-SDK-WIRE §1.3).
   */
  webhookTimeoutMs: number;
  /**
   * How long a start keeps retrying an app whose server cannot be reached (or that accepted the
   * session and never connected), from its first failure: minutes, so a server that is
   * redeployed or evicted for a while is waited out (principle 12). `0` gives up at once.
   */
  appPatienceMs: number;
  /**
   * After an app released its session with `clean_shutdown` (its server is going down on
   * purpose), how long the cloud waits before it asks again by webhook; a registration of the
   * app's server, or its host answering again, ends the wait at once.
   */
  appReleaseWaitMs: number;
  /** Backoff between webhook calls: `d·(1 + 0.5·random())`, `d = min(max, base·1.5ⁿ)`. */
  webhookRetry: BackoffConfig;
  /** After a webhook answered success, how long the app may take to open its socket. */
  appConnectTimeoutMs: number;
}

/** Defaults: the figures of ARCHITECTURE.md and issue 3, the webhook timeout at its 10 s floor. */
export const defaultSessionConfig: Readonly<SessionConfig> = Object.freeze({
  gracePeriodMs: 60_000,
  heartbeatIntervalMs: 15_000,
  heartbeatTimeoutMs: 45_000,
  restartThresholdMs: 30_000,
  appReconnectWindowMs: 5000,
  webhookTimeoutMs: 10_000,
  appPatienceMs: 600_000,
  appReleaseWaitMs: 30_000,
  webhookRetry: Object.freeze({ baseDelayMs: 1000, maxDelayMs: 10_000 }),
  appConnectTimeoutMs: 10_000,
});
