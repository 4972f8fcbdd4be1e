/**
 * Which node owns each user's session (ARCHITECTURE.md "Many nodes"): a JetStream KV bucket maps
 * each user to `{ nodeId, incarnation }`. Taking a free user is a create, taking a dead owner's
 * user or handing one over is a compare-and-set on the revision, and the revision of the write
 * that made a node the owner is the session's **epoch**: the stream's sequence, so it only
 * grows, and every store write of the session carries it (`Store.claimSession`).
 *
 * Whether an owner is alive is its node's lease (`nodeLease.ts`): the owners bucket has no TTL,
 * and no entry is ever rewritten to stay alive, so a node renews one key however many sessions
 * it holds. An entry naming an incarnation whose lease is gone is free to take.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import { isWrongRevision, type NodeRecord } from './nodeLease.js';

/** Who owns a user, as the bucket says. */
export interface OwnerRecord {
  readonly nodeId: string;
  readonly incarnation: string;
}

/** What {@link Ownership.claim} found. */
export type ClaimOutcome =
  /** This node owns the session under `epoch`; `from` is the dead owner it was taken from, if any. */
  | { readonly kind: 'owned'; readonly epoch: number; readonly from?: OwnerRecord }
  /** A live node owns it; `revision` is the entry's, for a handover. */
  | { readonly kind: 'elsewhere'; readonly owner: OwnerRecord & { url?: string | undefined }; readonly revision: number };

/** Options of an {@link Ownership}. */
export interface OwnershipOptions {
  /** The owners bucket (no TTL). */
  readonly owners: KV;
  /** The nodes bucket (TTL = lease), read to tell a live owner from a dead one. */
  readonly nodes: KV;
  /** This node's incarnation. */
  readonly self: OwnerRecord;
}

/** Attempts of a claim racing other nodes before it gives up (each lost race means another node moved first). */
const CLAIM_ATTEMPTS = 5;

/** Keys are user ids, which may hold characters a subject may not: base64url keeps them apart and legal. */
export function ownerKey(userId: string): string {
  return Buffer.from(userId, 'utf8').toString('base64url') || '_';
}

/** The user a key of the owners bucket stands for. */
export function userOfKey(key: string): string {
  return key === '_' ? '' : Buffer.from(key, 'base64url').toString('utf8');
}

/** The owners bucket, read and written by one node. */
export class Ownership {
  constructor(private readonly options: OwnershipOptions) {}

  /** This node's incarnation. */
  get self(): OwnerRecord {
    return this.options.self;
  }

  /**
   * Makes this node the owner of `userId` if the user is free or its owner is dead; says who
   * owns it otherwise. Never takes a session from a live node (that is a handover, which the
   * owner performs: {@link transfer}).
   */
  async claim(userId: string): Promise<ClaimOutcome> {
    const key = ownerKey(userId);
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const entry = await this.options.owners.get(key);
      const current = ownerOf(entry);
      try {
        if (!entry || !current) {
          const epoch = await this.options.owners.create(key, this.encode(this.self));
          return { kind: 'owned', epoch };
        }
        if (sameIncarnation(current, this.self)) return { kind: 'owned', epoch: entry.revision };
        const alive = await this.liveNode(current);
        if (alive) return { kind: 'elsewhere', owner: { ...current, url: alive.url }, revision: entry.revision };
        const epoch = await this.options.owners.update(key, this.encode(this.self), entry.revision);
        return { kind: 'owned', epoch, from: current };
      } catch (error) {
        // Another node wrote the entry between our read and our write: read again.
        if (!isWrongRevision(error)) throw error;
      }
    }
    throw new Error(`ownership of ${userId} kept changing over ${CLAIM_ATTEMPTS} attempts`);
  }

  /**
   * The owner hands `userId` to `to`: a compare-and-set from the revision it holds. Resolves with
   * the new owner's epoch; rejects (wrong revision) if the entry moved meanwhile.
   */
  transfer(userId: string, heldRevision: number, to: OwnerRecord): Promise<number> {
    return this.options.owners.update(ownerKey(userId), this.encode(to), heldRevision);
  }

  /**
   * Takes `userId` back under this node's current incarnation, from `previous` (an earlier
   * incarnation of this node that lost its lease), if nobody took it meanwhile: resolves with the
   * new epoch, or undefined when another node owns it now.
   */
  async reclaim(userId: string, previous: OwnerRecord): Promise<number | undefined> {
    const key = ownerKey(userId);
    const entry = await this.options.owners.get(key);
    const current = ownerOf(entry);
    if (!entry || !current || !sameIncarnation(current, previous)) return undefined;
    try {
      return await this.options.owners.update(key, this.encode(this.self), entry.revision);
    } catch (error) {
      if (isWrongRevision(error)) return undefined;
      throw error;
    }
  }

  /** Frees `userId` (its session ended) if this node still holds it at `epoch`; false otherwise. */
  async release(userId: string, epoch: number): Promise<boolean> {
    try {
      await this.options.owners.delete(ownerKey(userId), { previousSeq: epoch });
      return true;
    } catch (error) {
      if (isWrongRevision(error)) return false;
      throw error;
    }
  }

  /** Who owns `userId` now, with the entry's revision; undefined when nobody does. */
  async ownerOf(userId: string): Promise<(OwnerRecord & { revision: number }) | undefined> {
    const entry = await this.options.owners.get(ownerKey(userId));
    const current = ownerOf(entry);
    return entry && current ? { ...current, revision: entry.revision } : undefined;
  }

  /** The node record of `owner` if that incarnation's lease is alive. */
  async liveNode(owner: OwnerRecord): Promise<NodeRecord | undefined> {
    const entry = await this.options.nodes.get(owner.nodeId);
    if (!entry || entry.operation !== 'PUT') return undefined;
    const node = parse<NodeRecord>(entry);
    return node && node.incarnation === owner.incarnation ? node : undefined;
  }

  private encode(owner: OwnerRecord): string {
    return JSON.stringify({ nodeId: owner.nodeId, incarnation: owner.incarnation });
  }
}

function ownerOf(entry: KvEntry | null): OwnerRecord | undefined {
  if (!entry || entry.operation !== 'PUT') return undefined;
  const owner = parse<OwnerRecord>(entry);
  return owner && typeof owner.nodeId === 'string' && typeof owner.incarnation === 'string' ? owner : undefined;
}

function sameIncarnation(a: OwnerRecord, b: OwnerRecord): boolean {
  return a.nodeId === b.nodeId && a.incarnation === b.incarnation;
}

function parse<T>(entry: KvEntry): T | undefined {
  try {
    return entry.json<T>();
  } catch {
    return undefined;
  }
}
