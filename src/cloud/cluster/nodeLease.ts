/**
 * A node's lease on its sessions (ARCHITECTURE.md "Many nodes"): one key per node in a JetStream
 * KV bucket whose TTL is the lease, holding the node's incarnation (a random id per process
 * start). The node renews it with a compare-and-set on the revision it last wrote; peers take a
 * node's sessions once its key is gone or names another incarnation.
 *
 * **Self-fencing.** The lease is held per node, not per session, so renewals cost one write per
 * node per interval whatever the number of sessions. A renewal sent at `t` (monotonic clock) and
 * acknowledged keeps the key alive on the server until at least `t + ttl` (the server wrote it
 * after `t`), so the node counts itself live until `t + ttl - margin` and not a moment longer:
 * {@link NodeLease.live} is computed from the clock at each call, so a process paused past its
 * lease (SIGSTOP, a long GC, a frozen VM) finds itself fenced on its first instruction after it
 * resumes, before any timer of its own could tell it, and before it can learn what it lost.
 *
 * A renewal whose compare-and-set fails means the key expired (or was replaced): the lease is
 * lost for good and this incarnation never acts again; the node starts a new one.
 */
import type { KV } from '@nats-io/kv';

/** What a node's key holds. */
export interface NodeRecord {
  readonly nodeId: string;
  /** Random per process start: a restarted node is another incarnation, and its old claims are dead. */
  readonly incarnation: string;
  /** Where peers reach this node directly (its HTTP base URL), for owner hints. */
  readonly url?: string | undefined;
}

/** Options of a {@link NodeLease}. */
export interface NodeLeaseOptions {
  /** The nodes bucket; its TTL must be {@link leaseMs}. */
  readonly kv: KV;
  readonly record: NodeRecord;
  /** The bucket's TTL, in ms. */
  readonly leaseMs: number;
  /** Monotonic clock in ms; `performance.now` unless a test injects one. */
  readonly now?: () => number;
  /** Called once when the lease is lost or has run out (fenced): the incarnation is over. */
  readonly onLost?: (reason: 'expired' | 'replaced' | 'stopped') => void;
}

/** How often a live lease is renewed, as a fraction of the lease: two renewals may fail before it runs out. */
const RENEWALS_PER_LEASE = 3;

/**
 * Kept off the end of the lease: the server's clock may run a little fast against ours, and
 * its expiry job runs late, never early. 10% of the lease, at least 50 ms.
 */
function fenceMarginMs(leaseMs: number): number {
  return Math.max(50, leaseMs / 10);
}

/** One incarnation's lease; {@link start} it, then ask {@link live} before every side effect. */
export class NodeLease {
  private readonly now: () => number;
  private revision = 0;
  /** Monotonic time until which this node may act. */
  private validUntil = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private ended: 'expired' | 'replaced' | 'stopped' | undefined;
  private renewing = false;

  constructor(private readonly options: NodeLeaseOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** The incarnation this lease is for. */
  get record(): NodeRecord {
    return this.options.record;
  }

  /** Whether this node may act on its sessions now: its lease is known to hold at this instant. */
  get live(): boolean {
    if (this.ended) return false;
    if (this.now() < this.validUntil) return true;
    if (this.validUntil !== Number.NEGATIVE_INFINITY) this.end('expired');
    return false;
  }

  /** Why the lease ended, if it did. */
  get endedBy(): 'expired' | 'replaced' | 'stopped' | undefined {
    return this.ended;
  }

  /**
   * Writes the node's key (replacing an earlier incarnation's: this process is the node now)
   * and starts renewing it.
   */
  async start(): Promise<void> {
    const sentAt = this.now();
    this.revision = await this.options.kv.put(this.options.record.nodeId, JSON.stringify(this.options.record));
    this.validUntil = sentAt + this.options.leaseMs - fenceMarginMs(this.options.leaseMs);
    this.schedule();
  }

  /** Renews now (the timer does it every lease / 3). Resolves with whether the lease holds afterwards. */
  async renew(): Promise<boolean> {
    // Checked first: a lease that ran out (a pause) ends here, before anything is sent.
    if (!this.live || this.renewing) return this.live;
    this.renewing = true;
    const sentAt = this.now();
    try {
      this.revision = await this.options.kv.update(this.options.record.nodeId, JSON.stringify(this.options.record), this.revision);
      // A renewal acknowledged after the lease ran out does not revive it: peers may have acted.
      if (this.live) this.validUntil = sentAt + this.options.leaseMs - fenceMarginMs(this.options.leaseMs);
    } catch (error) {
      // The key is not at our revision: it expired (the server removed it) or another process
      // wrote it. Anything else (a timeout, a reconnect) is retried until the lease runs out.
      if (isWrongRevision(error)) this.end('replaced');
    } finally {
      this.renewing = false;
    }
    return this.live;
  }

  /** Gives the lease up (a drained node, at exit): peers may take its sessions at once. */
  async stop(): Promise<void> {
    const wasLive = this.live;
    this.end('stopped');
    if (wasLive) await this.options.kv.delete(this.options.record.nodeId, { previousSeq: this.revision }).catch(() => undefined);
  }

  private schedule(): void {
    const interval = this.options.leaseMs / RENEWALS_PER_LEASE;
    this.timer = setTimeout(() => {
      void this.renew().then(() => {
        if (!this.ended) this.schedule();
      });
    }, interval);
    // The lease never keeps a process alive by itself.
    this.timer.unref();
  }

  private end(reason: 'expired' | 'replaced' | 'stopped'): void {
    if (this.ended) return;
    this.ended = reason;
    clearTimeout(this.timer);
    this.options.onLost?.(reason);
  }
}

/** JetStream's answer to a compare-and-set against another revision ("wrong last sequence", 10071). */
export function isWrongRevision(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === 10071 || (typeof e?.message === 'string' && e.message.includes('wrong last sequence'));
}
