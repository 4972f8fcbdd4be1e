/**
 * One cloud process as a node of a cluster (ARCHITECTURE.md "Many nodes"): its NATS connection,
 * its lease, and the sessions it owns with their epochs. The cloud asks it before it takes a
 * socket's session (`acquire`), before every side effect (`mayActFor`), and tells it when a
 * session ends (`released`).
 *
 * **Losing the lease.** When the lease runs out (the process was paused, or NATS was out of
 * reach for a lease), every session is fenced at once: `mayActFor` is false for all of them.
 * The node then starts a new incarnation and takes back, one compare-and-set each, the sessions
 * nobody took meanwhile, and records each new epoch in the store; those it could not take back
 * are handed to `onLost` (the cloud closes their sockets with 1012 and stops their actors).
 */
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../logger.js';
import type { SessionSnapshotRecord, Store } from '../store.js';
import { openClusterBuckets, type ClusterBuckets } from './buckets.js';
import { NodeLease, type NodeRecord } from './nodeLease.js';
import { Ownership, type OwnerRecord } from './ownership.js';

/** Options of {@link startClusterNode}. */
export interface ClusterNodeOptions {
  readonly natsUrl: string;
  readonly nodeId: string;
  readonly leaseMs: number;
  /** This node's HTTP base URL, which peers and balancers may route an owner hint to. */
  readonly url?: string;
  readonly store: Store;
  readonly logger: Logger;
  /** Sessions this node owned and could not take back after losing its lease. */
  readonly onLost?: (userIds: readonly string[]) => void;
}

/** How long a node waits for the owner of a session to hand it over, in ms. */
const HANDOVER_TIMEOUT_MS = 3000;

/** How long a node waits for a peer to answer a question about a session it owns, in ms. */
const PEER_QUERY_TIMEOUT_MS = 2000;

/** What {@link ClusterNode.acquire} did. */
export type Acquisition =
  /** This node already held the session. */
  | { readonly kind: 'held'; readonly epoch: number }
  /**
   * This node took the session (free, or from a dead owner); `snapshot` is what the store holds
   * of it (the previous owner's last write), to restore.
   */
  | { readonly kind: 'claimed'; readonly epoch: number; readonly snapshot: SessionSnapshotRecord | undefined }
  /** A live node owns it. */
  | { readonly kind: 'elsewhere'; readonly owner: OwnerRecord & { url?: string | undefined }; readonly revision: number };

/** Connects to NATS, opens the buckets and takes this node's lease. */
export async function startClusterNode(options: ClusterNodeOptions): Promise<ClusterNode> {
  const nc = await connect({ servers: options.natsUrl, name: `tether-${options.nodeId}`, maxReconnectAttempts: -1, reconnectTimeWait: Math.min(1000, options.leaseMs / 4) });
  try {
    const buckets = await openClusterBuckets(nc, options.leaseMs);
    const node = new ClusterNode(nc, buckets, options);
    await node.start();
    return node;
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }
}

/** This process's membership of the cluster. */
export class ClusterNode {
  private lease: NodeLease;
  private ownership: Ownership;
  /** Epoch of every session this node owns. */
  private readonly epochs = new Map<string, number>();
  /** Sessions being taken back after a lost lease: fenced until their new epoch is recorded. */
  private readonly suspended = new Set<string>();
  private closed = false;
  private releases: Subscription | undefined;
  private appSessionQueries: Subscription | undefined;
  /** Writes a session for a peer and stops it here (the cloud's registry). */
  private handOver: ((userId: string) => Promise<boolean>) | undefined;
  /** Whether this node runs an app session (the cloud's registry), for peers' HTTP requests. */
  private runsAppSession: ((sessionId: string, packageName: string) => boolean) | undefined;

  constructor(
    /** The NATS connection, for the node's subjects. */
    readonly nc: NatsConnection,
    private readonly buckets: ClusterBuckets,
    private readonly options: ClusterNodeOptions,
  ) {
    this.lease = this.newLease();
    this.ownership = this.ownershipOf(this.lease.record);
  }

  /** This node's name. */
  get nodeId(): string {
    return this.options.nodeId;
  }

  /** The current incarnation. */
  get incarnation(): string {
    return this.lease.record.incarnation;
  }

  /** Whether the lease holds now (computed from the clock at each call). */
  get live(): boolean {
    return this.lease.live;
  }

  /** Users whose sessions this node owns. */
  get owned(): ReadonlyMap<string, number> {
    return this.epochs;
  }

  /** @internal Takes the first lease. */
  async start(): Promise<void> {
    await this.lease.start();
    this.releases = this.nc.subscribe(`tether.node.${this.nodeId}.release`, {
      callback: (error, msg) => {
        if (!error) void this.onReleaseRequest(msg);
      },
    });
    this.appSessionQueries = this.nc.subscribe(`tether.node.${this.nodeId}.app-session`, {
      callback: (error, msg) => {
        if (!error) this.onAppSessionQuery(msg);
      },
    });
    this.options.logger.info({ nodeId: this.nodeId, incarnation: this.incarnation, leaseMs: this.options.leaseMs }, 'cluster node joined');
  }

  /** The epoch `userId`'s session is held under here, if this node owns it. */
  epochOf(userId: string): number | undefined {
    return this.epochs.get(userId);
  }

  /**
   * Whether this node may act for `userId` now: write to its sockets, call its webhooks, write
   * its rows. False for a session it does not own, and for every session once the lease ran out.
   */
  mayActFor(userId: string): boolean {
    return this.epochs.has(userId) && !this.suspended.has(userId) && this.lease.live;
  }

  /**
   * Takes `userId`'s session for a socket that landed here: nothing to do if this node holds it;
   * claimed (and fenced in the store) if it is free or its owner is dead; otherwise who owns it.
   */
  async acquire(userId: string): Promise<Acquisition> {
    const held = this.epochs.get(userId);
    if (held !== undefined && this.mayActFor(userId)) return { kind: 'held', epoch: held };
    if (!this.lease.live) throw new Error('this node has no lease');
    let outcome = await this.ownership.claim(userId);
    // A live owner hands the session over: it writes the session with its buffers, stops it and
    // frees it; this node then takes it like a free one.
    if (outcome.kind === 'elsewhere' && (await this.requestRelease(userId, outcome.owner.nodeId))) outcome = await this.ownership.claim(userId);
    if (outcome.kind === 'elsewhere') return outcome;
    const claim = await this.options.store.claimSession(userId, outcome.epoch);
    if (!claim.accepted) throw new Error(`the store holds ${userId} under epoch ${claim.epoch}, newer than ${outcome.epoch}`);
    this.epochs.set(userId, outcome.epoch);
    if (outcome.from) this.options.logger.info({ userId, epoch: outcome.epoch, from: outcome.from.nodeId }, 'session taken from a dead node');
    return { kind: 'claimed', epoch: outcome.epoch, snapshot: claim.snapshot };
  }

  /**
   * `userId`'s session ended here: frees it in the owners bucket. Without a lease there is
   * nothing to free: the entry names an incarnation that is over, which any node may take.
   */
  released(userId: string): void {
    const epoch = this.epochs.get(userId);
    if (epoch === undefined) return;
    this.epochs.delete(userId);
    this.suspended.delete(userId);
    if (!this.lease.live) return;
    this.ownership.release(userId, epoch).catch((error: unknown) => {
      this.options.logger.warn({ userId, err: messageOf(error) }, 'ownership not released; it frees when this node’s lease ends');
    });
  }

  /** The live node that owns `userId`'s session (this one included), if any. */
  async liveOwnerOf(userId: string): Promise<OwnerRecord | undefined> {
    const owner = await this.ownership.ownerOf(userId);
    if (!owner) return undefined;
    if (owner.nodeId === this.nodeId && owner.incarnation === this.incarnation) return owner;
    return (await this.ownership.liveNode(owner)) ? { nodeId: owner.nodeId, incarnation: owner.incarnation } : undefined;
  }

  /** Whether `owner` (that incarnation of that node) holds its lease. */
  async isAlive(owner: OwnerRecord): Promise<boolean> {
    return (await this.ownership.liveNode(owner)) !== undefined;
  }

  /** The store refused a write of `userId` (a newer epoch is recorded): another node owns it. */
  lost(userIds: readonly string[]): void {
    for (const userId of userIds) this.epochs.delete(userId);
    if (userIds.length > 0) this.options.onLost?.(userIds);
  }

  /**
   * Serves peers' requests to hand over a session this node owns (glasses that reconnected to
   * them): `handOver` writes it for them and stops it here; then it is freed.
   */
  serveHandovers(handOver: (userId: string) => Promise<boolean>): void {
    this.handOver = handOver;
  }

  /** Answers peers asking whether this node runs an app session (an HTTP request that reached them). */
  serveAppSessionQueries(runs: (sessionId: string, packageName: string) => boolean): void {
    this.runsAppSession = runs;
  }

  /**
   * Whether the live owner of `userId`'s session, on another node, runs the app session
   * `sessionId` of `packageName`: false when nobody owns it, when this node does (its own
   * registry answers that), or when the owner does not answer in time.
   */
  async ownerRunsAppSession(userId: string, sessionId: string, packageName: string): Promise<boolean> {
    const owner = await this.liveOwnerOf(userId);
    if (!owner || owner.nodeId === this.nodeId) return false;
    try {
      const reply = await this.nc.request(`tether.node.${owner.nodeId}.app-session`, JSON.stringify({ sessionId, packageName }), { timeout: PEER_QUERY_TIMEOUT_MS });
      return reply.json<{ running?: boolean }>().running === true;
    } catch (error) {
      this.options.logger.warn({ userId, owner: owner.nodeId, err: messageOf(error) }, 'app session query not answered');
      return false;
    }
  }

  /**
   * Gives the lease up: every session this node owns is free at once (a drain, once the rows
   * are written). Nothing is sent for them afterwards.
   */
  async leave(): Promise<void> {
    this.releases?.unsubscribe();
    this.appSessionQueries?.unsubscribe();
    await this.lease.stop();
  }

  /** Leaves the cluster: gives the lease up (peers may take what is left at once) and closes NATS. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.leave();
    await this.nc.drain().catch(() => undefined);
  }

  /** Asks `owner` to hand `userId`'s session over; true once it did (the user is free now). */
  private async requestRelease(userId: string, owner: string): Promise<boolean> {
    try {
      const reply = await this.nc.request(`tether.node.${owner}.release`, JSON.stringify({ userId }), { timeout: HANDOVER_TIMEOUT_MS });
      return reply.json<{ ok?: boolean }>().ok === true;
    } catch (error) {
      this.options.logger.warn({ userId, owner, err: messageOf(error) }, 'handover not answered');
      return false;
    }
  }

  private onAppSessionQuery(msg: Msg): void {
    let query: { sessionId?: unknown; packageName?: unknown } = {};
    try {
      query = msg.json<typeof query>();
    } catch {
      // Answered as not running below.
    }
    const { sessionId, packageName } = query;
    const running = typeof sessionId === 'string' && typeof packageName === 'string' && this.runsAppSession?.(sessionId, packageName) === true;
    msg.respond(JSON.stringify({ running }));
  }

  private async onReleaseRequest(msg: Msg): Promise<void> {
    let userId: unknown;
    try {
      userId = msg.json<{ userId?: unknown }>().userId;
    } catch {
      userId = undefined;
    }
    const epoch = typeof userId === 'string' ? this.epochs.get(userId) : undefined;
    if (typeof userId !== 'string' || epoch === undefined || !this.mayActFor(userId) || !this.handOver) {
      msg.respond(JSON.stringify({ ok: false }));
      return;
    }
    this.suspended.add(userId);
    try {
      await this.handOver(userId);
    } catch (error) {
      // The session is stopped here either way; the next owner restores the last row written.
      this.options.logger.warn({ userId, err: messageOf(error) }, 'session handed over without its last state');
    }
    // Freed once the row is written: the next owner restores what this node wrote. Freed even
    // when it was not: a session nobody may take would lock its user out until this node dies.
    const ok = await this.ownership.release(userId, epoch).catch(() => false);
    this.epochs.delete(userId);
    this.suspended.delete(userId);
    if (ok) this.options.logger.info({ userId, epoch }, 'session handed over');
    msg.respond(JSON.stringify({ ok }));
  }

  private newLease(): NodeLease {
    const record: NodeRecord = { nodeId: this.options.nodeId, incarnation: randomUUID(), ...(this.options.url ? { url: this.options.url } : {}) };
    return new NodeLease({
      kv: this.buckets.nodes,
      record,
      leaseMs: this.options.leaseMs,
      onLost: (reason) => {
        if (reason !== 'stopped' && !this.closed) void this.recover(reason);
      },
    });
  }

  private ownershipOf(self: OwnerRecord): Ownership {
    return new Ownership({ owners: this.buckets.owners, nodes: this.buckets.nodes, self });
  }

  /** After a lost lease: a new incarnation, then each session taken back or given up. */
  private async recover(reason: 'expired' | 'replaced'): Promise<void> {
    const previous: OwnerRecord = this.lease.record;
    const users = [...this.epochs.keys()];
    for (const userId of users) this.suspended.add(userId);
    this.options.logger.warn({ nodeId: this.nodeId, reason, sessions: users.length }, 'lease lost: every session fenced; taking them back under a new incarnation');
    for (;;) {
      if (this.closed) return;
      this.lease = this.newLease();
      this.ownership = this.ownershipOf(this.lease.record);
      try {
        await this.lease.start();
        break;
      } catch (error) {
        this.options.logger.warn({ err: messageOf(error) }, 'no new lease yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.options.leaseMs / 3));
      }
    }
    const gone: string[] = [];
    for (const userId of users) {
      // Ended here meanwhile (its timers ran while fenced): nothing to take back.
      if (!this.epochs.has(userId)) continue;
      try {
        const epoch = await this.ownership.reclaim(userId, previous);
        const claim = epoch === undefined ? undefined : await this.options.store.claimSession(userId, epoch);
        if (epoch !== undefined && claim?.accepted) this.epochs.set(userId, epoch);
        else {
          this.epochs.delete(userId);
          gone.push(userId);
        }
      } catch (error) {
        this.options.logger.warn({ userId, err: messageOf(error) }, 'session not taken back');
        this.epochs.delete(userId);
        gone.push(userId);
      } finally {
        this.suspended.delete(userId);
      }
    }
    this.options.logger.info({ nodeId: this.nodeId, incarnation: this.incarnation, kept: users.length - gone.length, lost: gone.length }, 'sessions taken back after the lost lease');
    if (gone.length > 0) this.options.onLost?.(gone);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
