/**
 * Per-host circuit breakers for `session_request` webhooks (ARCHITECTURE.md, principle 12 and
 * "Stock apps"). While an app server is down, every session of every user of it would otherwise
 * call it on its own backoff: 1,000 users make 1,000 doomed connection attempts per retry round
 * and, when it comes back, 1,000 `session_request`s in the same second. With a circuit per
 * host, the first unreachable answer opens it; while open, calls are refused at once without
 * touching the network, except one *probe* at a time, spaced by a capped, jittered backoff. The
 * first probe that reaches the server closes the circuit, and `onClosed` lets the runtime release
 * the host's waiting sessions in paced waves (restart recovery's dispatcher).
 *
 * Written here rather than taken from a library (opossum): what is needed is a breaker *per key*
 * with nothing kept for healthy hosts, probe spacing that backs off with per-probe jitter, and a
 * strict single probe in flight; opossum is one breaker per wrapped function with rolling-window
 * statistics (a timer per breaker) and a fixed reset timeout.
 */
import { backoffDelay, type BackoffConfig } from '../../machines/policy/backoff.js';
import type { Logger } from '../logger.js';

/** Whether a call may go out; `probe` marks the one call that tests an open circuit. */
export type CircuitAdmission = { send: true; probe: boolean } | { send: false; retryInMs: number };

/**
 * How a call that went out ended, as far as the circuit cares: it got an answer, it could not
 * reach the server, or it proves neither (refused by the outbound policy, aborted).
 */
export type CallReach = 'reachable' | 'unreachable' | 'inconclusive';

/** Options of {@link WebhookCircuits}. */
export interface WebhookCircuitsOptions {
  /** Spacing of probes while a host stays down: `d·(1 + 0.5·random())`, `d = min(max, base·1.5ⁿ)`. */
  probe: BackoffConfig;
  /** Called once when a host's circuit closes again (a call reached it). */
  onClosed: (host: string, downForMs: number) => void;
  logger: Logger;
  /** Monotonic clock in ms (default `performance.now`). */
  now?: () => number;
  random?: () => number;
}

interface OpenCircuit {
  openedAt: number;
  /** Probes that failed since it opened; the backoff's exponent. */
  failedProbes: number;
  nextProbeAt: number;
  probing: boolean;
}

/** The circuits of one cloud, keyed by webhook host (`host:port`). Only hosts that are down take memory. */
export class WebhookCircuits {
  private readonly open = new Map<string, OpenCircuit>();
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: WebhookCircuitsOptions) {
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
  }

  /** Hosts whose circuit is open now. */
  get openHosts(): number {
    return this.open.size;
  }

  /** Whether a call to `host` may go out now. */
  admit(host: string): CircuitAdmission {
    const circuit = this.open.get(host);
    if (!circuit) return { send: true, probe: false };
    const now = this.now();
    if (circuit.probing || now < circuit.nextProbeAt) {
      return { send: false, retryInMs: Math.max(0, circuit.nextProbeAt - now) };
    }
    circuit.probing = true;
    return { send: true, probe: true };
  }

  /** Reports how an admitted call ended. */
  settle(host: string, admission: { probe: boolean }, reach: CallReach): void {
    const circuit = this.open.get(host);
    const now = this.now();
    if (reach === 'inconclusive') {
      if (circuit && admission.probe) circuit.probing = false;
      return;
    }
    if (reach === 'reachable') {
      // Any call that got an answer — the probe, or one sent before the circuit opened — proves it up.
      if (!circuit) return;
      this.open.delete(host);
      const downForMs = Math.round(now - circuit.openedAt);
      this.options.logger.info({ host, downForMs, failedProbes: circuit.failedProbes }, 'app server reachable again: circuit closed');
      this.options.onClosed(host, downForMs);
      return;
    }
    if (!circuit) {
      this.open.set(host, { openedAt: now, failedProbes: 0, nextProbeAt: now + this.delay(0), probing: false });
      this.options.logger.warn({ host }, 'app server unreachable: circuit open, one probe at a time');
      return;
    }
    // Calls that were already in flight when it opened change nothing; only the probe moves it.
    if (!admission.probe) return;
    circuit.failedProbes += 1;
    circuit.probing = false;
    circuit.nextProbeAt = now + this.delay(circuit.failedProbes);
  }

  /** Forgets every circuit (shutdown). */
  clear(): void {
    this.open.clear();
  }

  private delay(failedProbes: number): number {
    return backoffDelay(failedProbes, this.options.probe, this.random);
  }
}

/**
 * Whether a failed webhook says its server is down (connection refused or reset, no answer in
 * time, or a gateway in front of it answering 502/503/504), as opposed to a server that
 * answered and refused (4xx, 500 from a failing `onSession`).
 */
export function reachOf(failure: { reason: string; status?: number }): CallReach {
  switch (failure.reason) {
    case 'network':
    case 'timeout':
      return 'unreachable';
    case 'http_status':
      return failure.status === 502 || failure.status === 503 || failure.status === 504 ? 'unreachable' : 'reachable';
    default:
      return 'inconclusive';
  }
}

/** The circuit key of a webhook URL: its `host:port`; undefined when it does not parse (the client refuses it). */
export function circuitKeyOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
