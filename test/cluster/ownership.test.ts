/**
 * Ownership and leases on a real NATS JetStream server (issue 14): claims, handovers, dead
 * owners, and a node that lost its lease. Leases are short (300 ms) so an expiry takes a third
 * of a second of real time: the server's TTL cannot be simulated.
 */
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, type LocalNats } from '../../scripts/localServers/nats.js';
import { openClusterBuckets, type ClusterBuckets } from '../../src/cloud/cluster/buckets.js';
import { NodeLease } from '../../src/cloud/cluster/nodeLease.js';
import { ownerKey, Ownership, userOfKey } from '../../src/cloud/cluster/ownership.js';
import { waitFor } from '../support/net.js';

const LEASE_MS = 300;
let nats: LocalNats;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  nats = await startNats();
}, 20_000);
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await nats?.stop();
});

/** A node: its own connection, lease and view of the owners bucket. */
async function node(nodeId: string): Promise<{ nc: NatsConnection; buckets: ClusterBuckets; lease: NodeLease; ownership: Ownership; lost: string[] }> {
  const nc = await connect({ servers: nats.url });
  connections.push(nc);
  const buckets = await openClusterBuckets(nc, LEASE_MS);
  const lost: string[] = [];
  const record = { nodeId, incarnation: randomUUID() };
  const lease = new NodeLease({ kv: buckets.nodes, record, leaseMs: LEASE_MS, onLost: (reason) => lost.push(reason) });
  await lease.start();
  return { nc, buckets, lease, lost, ownership: new Ownership({ owners: buckets.owners, nodes: buckets.nodes, self: record }) };
}

describe('ownership on JetStream KV', () => {
  it('keys any user id, and gives it back', () => {
    for (const userId of ['alice', 'bob@example.com', 'a.b c/d', '', 'ü*>']) {
      expect(ownerKey(userId)).toMatch(/^[-\w=]+$/);
      expect(userOfKey(ownerKey(userId))).toBe(userId);
    }
  });

  it('takes a free user with a create, says who owns it to others, and hands it over with a compare-and-set', async () => {
    const a = await node('a1');
    const b = await node('b1');
    const first = await a.ownership.claim('ann');
    expect(first.kind).toBe('owned');
    // Asking again changes nothing: same owner, same epoch.
    expect(await a.ownership.claim('ann')).toEqual(first);
    const seen = await b.ownership.claim('ann');
    expect(seen).toMatchObject({ kind: 'elsewhere', owner: { nodeId: 'a1' } });
    if (first.kind !== 'owned' || seen.kind !== 'elsewhere') throw new Error('unreachable');
    const epoch = await a.ownership.transfer('ann', seen.revision, b.ownership.self);
    expect(epoch).toBeGreaterThan(first.epoch);
    expect(await b.ownership.claim('ann')).toEqual({ kind: 'owned', epoch });
    // The old owner's stale revision can move it nowhere any more.
    await expect(a.ownership.transfer('ann', seen.revision, a.ownership.self)).rejects.toThrow(/wrong last sequence/);
    expect(await a.ownership.release('ann', first.epoch)).toBe(false);
    expect(await b.ownership.release('ann', epoch)).toBe(true);
    expect(await a.ownership.ownerOf('ann')).toBeUndefined();
    await a.lease.stop();
    await b.lease.stop();
  });

  it('lets exactly one of three nodes racing for each of 30 free users own it', async () => {
    const nodes = await Promise.all([node('r1'), node('r2'), node('r3')]);
    const users = Array.from({ length: 30 }, (_, i) => `racer${i}`);
    const outcomes = await Promise.all(users.flatMap((user) => nodes.map((n) => n.ownership.claim(user).then((o) => ({ user, node: n.ownership.self.nodeId, o })))));
    for (const user of users) {
      const owned = outcomes.filter((x) => x.user === user && x.o.kind === 'owned');
      expect(owned, user).toHaveLength(1);
      const others = outcomes.filter((x) => x.user === user && x.o.kind === 'elsewhere');
      for (const other of others) expect(other.o.kind === 'elsewhere' && other.o.owner.nodeId).toBe(owned[0]!.node);
    }
    await Promise.all(nodes.map((n) => n.lease.stop()));
  });

  it('frees a dead node’s users once its lease expires: a peer takes them under a newer epoch', async () => {
    const a = await node('d1');
    const b = await node('d2');
    const claimed = await a.ownership.claim('dan');
    if (claimed.kind !== 'owned') throw new Error('not owned');
    // A is cut off from NATS: its renewals stop reaching the server.
    await a.nc.close();
    expect((await b.ownership.claim('dan')).kind).toBe('elsewhere');
    const taken = await waitFor(async () => {
      const outcome = await b.ownership.claim('dan');
      return outcome.kind === 'owned' ? outcome : undefined;
    }, { timeoutMs: 3000, intervalMs: 50, message: 'the dead owner’s lease never expired' });
    expect(taken.epoch).toBeGreaterThan(claimed.epoch);
    expect(taken.from).toEqual({ nodeId: 'd1', incarnation: a.ownership.self.incarnation });
    // By then A, on its own clock, had already stopped counting itself live.
    expect(a.lease.live).toBe(false);
    expect(a.lost).toEqual(['expired']);
    await b.lease.stop();
  });

  it('lets a fenced node take back, under a new incarnation, only the users nobody took meanwhile', async () => {
    const old = await node('f1');
    const peer = await node('f2');
    for (const user of ['kept', 'taken']) expect((await old.ownership.claim(user)).kind).toBe('owned');
    await old.nc.close();
    await waitFor(async () => (await peer.ownership.claim('taken')).kind === 'owned', { timeoutMs: 3000, intervalMs: 50 });
    const again = await node('f1');
    expect(await again.ownership.reclaim('taken', old.ownership.self)).toBeUndefined();
    const epoch = await again.ownership.reclaim('kept', old.ownership.self);
    expect(epoch).toBeGreaterThan(0);
    expect(await peer.ownership.claim('kept')).toMatchObject({ kind: 'elsewhere', owner: { nodeId: 'f1', incarnation: again.ownership.self.incarnation } });
    await again.lease.stop();
    await peer.lease.stop();
  });
});

describe('node lease, on a simulated clock', () => {
  it('stops counting itself live at the end of the lease less the margin, before the server expires it, and never revives', async () => {
    const nc = await connect({ servers: nats.url });
    connections.push(nc);
    const { nodes } = await openClusterBuckets(nc, LEASE_MS);
    let clock = 1_000;
    const lost: string[] = [];
    const lease = new NodeLease({ kv: nodes, record: { nodeId: 'clock', incarnation: 'i1' }, leaseMs: LEASE_MS, now: () => clock, onLost: (r) => lost.push(r) });
    await lease.start();
    expect(lease.live).toBe(true);
    clock += LEASE_MS - 50 - 1; // margin: max(50, 30) ms
    expect(lease.live).toBe(true);
    clock += 1;
    expect(lease.live).toBe(false);
    // A renewal that succeeds on the server after the lease ran out locally does not make it live again.
    expect(await lease.renew()).toBe(false);
    expect(lost).toEqual(['expired']);
    await lease.stop();
    expect(lost).toEqual(['expired']);
  });

  it('renews on its own while the node runs: live across several leases', async () => {
    const n = await node('steady');
    await new Promise((resolve) => setTimeout(resolve, LEASE_MS * 3));
    expect(n.lease.live).toBe(true);
    expect(n.lost).toEqual([]);
    await n.lease.stop();
    expect(n.lease.live).toBe(false);
    // Given up: peers see the key deleted at once, without waiting for the TTL.
    expect((await n.buckets.nodes.get('steady'))?.operation).toBe('DEL');
  });
});
