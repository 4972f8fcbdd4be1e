/**
 * The two JetStream KV buckets of a cluster: `tether_nodes` (one key per node, TTL = the lease)
 * and `tether_owners` (one key per user with a session, no TTL). Every node opens them at start;
 * the first creates them.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

/** Names of the buckets (one cluster per NATS account). */
const NODES_BUCKET = 'tether_nodes';
export const OWNERS_BUCKET = 'tether_owners';

/** The opened buckets. */
export interface ClusterBuckets {
  readonly nodes: KV;
  readonly owners: KV;
}

/**
 * Opens (creating when missing) the buckets. The nodes bucket's TTL is the lease: every node of
 * a cluster must be started with the same `leaseMs`, and a bucket made with another one is
 * refused rather than silently used with the wrong lease.
 */
export async function openClusterBuckets(nc: NatsConnection, leaseMs: number): Promise<ClusterBuckets> {
  const kvm = new Kvm(nc);
  // Memory storage for node leases: they mean nothing after the NATS server restarts.
  const nodes = await kvm.create(NODES_BUCKET, { ttl: leaseMs, history: 1, storage: 'memory' });
  const ttl = (await nodes.status()).ttl;
  if (ttl !== leaseMs) {
    throw new Error(`the ${NODES_BUCKET} bucket has a TTL of ${ttl} ms; this node's lease is ${leaseMs} ms (TETHER_LEASE_MS must be the same on every node)`);
  }
  // File storage for ownership: the epochs must keep growing across a NATS restart.
  const owners = await kvm.create(OWNERS_BUCKET, { history: 1, storage: 'file' });
  return { nodes, owners };
}
