/**
 * Two cloud nodes in one process on a real NATS JetStream and PostgreSQL (issue 14): who owns a
 * session, what a node does with a socket whose session another node holds, and what a node
 * that lost its lease stops doing. Node death and pauses of real processes are in
 * `cluster.process.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { OWNERS_BUCKET } from '../../src/cloud/cluster/buckets.js';
import { ownerKey } from '../../src/cloud/cluster/ownership.js';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { startFaultProxy } from '../support/faultProxy.js';
import { useClusterServers } from '../support/clusterServers.js';
import { waitFor } from '../support/net.js';

const LEASE_MS = 600;
const servers = useClusterServers();

async function nodes(database: string) {
  const dbPath = await servers.postgres.createDatabase(database);
  const node = (nodeId: string) =>
    startTestCloud({ settings: { dbPath, natsUrl: servers.nats.url, nodeId, leaseMs: LEASE_MS, gracePeriodMs: 3000, appReconnectWindowMs: 3000 } });
  return Promise.all([node('node-a'), node('node-b')]);
}

describe('two nodes on one NATS and one PostgreSQL', () => {
  it('owns a session where its glasses landed, hands it to the node they reach next, and frees it when the session ends', async () => {
    const [a, b] = await nodes('owning');
    const g = await a.glassesFor('ann');
    await g.connect();
    const epoch = a.cloud.cluster!.epochOf('ann')!;
    expect(epoch).toBeGreaterThan(0);
    const owners = await new Kvm(a.cloud.cluster!.nc).open(OWNERS_BUCKET);
    expect((await owners.get(ownerKey('ann')))?.json()).toMatchObject({ nodeId: 'node-a', incarnation: a.cloud.cluster!.incarnation });
    // The row carries the epoch: an older one can no longer write it.
    const stale = await b.cloud.store.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{}' }], remove: [], epochs: new Map([['ann', epoch - 1]]) });
    expect(stale.refused).toEqual(['ann']);

    // The same user's glasses reach B: A hands the session over and closes its socket with 1012.
    const moved = await b.glassesFor('ann');
    await moved.connect();
    expect(b.cloud.cluster?.epochOf('ann')).toBeGreaterThan(epoch);
    expect(a.cloud.cluster?.epochOf('ann')).toBeUndefined();
    expect(a.cloud.sessions.get('ann')).toBeUndefined();
    await waitFor(() => g.closeEvents.at(-1)?.code === 1012, { timeoutMs: 2000, message: 'A kept its glasses socket' });
    expect((await owners.get(ownerKey('ann')))?.json()).toMatchObject({ nodeId: 'node-b' });

    // The session ends on B (its glasses leave past the grace period): the user is free again.
    await moved.close();
    await waitFor(async () => (await owners.get(ownerKey('ann')))?.operation === 'DEL', { timeoutMs: 6000, message: 'ownership never released' });
    expect(b.cloud.cluster?.epochOf('ann')).toBeUndefined();
    expect(await b.cloud.store.loadSessionSnapshots()).toEqual([]);
    await a.close();
    await b.close();
  }, 20_000);

  it('fences a node cut off from NATS past its lease: silent from then on, its session taken where the glasses return, its sockets closed with 1012 once it is back', async () => {
    // A reaches NATS through a proxy the test can cut: a network partition of A alone.
    const proxy = await startFaultProxy(servers.nats.port);
    const dbPath = await servers.postgres.createDatabase('fencing');
    const settings = { dbPath, leaseMs: LEASE_MS, gracePeriodMs: 10_000, appReconnectWindowMs: 10_000 };
    const a = await startTestCloud({ settings: { ...settings, natsUrl: `nats://127.0.0.1:${proxy.port}`, nodeId: 'node-a' } });
    const b = await startTestCloud({ settings: { ...settings, natsUrl: servers.nats.url, nodeId: 'node-b' } });
    const { server } = await a.serveApp('com.example.echo', (apiKey) => new RecordingApp({ packageName: 'com.example.echo', apiKey, session: { reconnectDelayMs: 100 } }));
    const app = server as RecordingApp;
    const g = await a.glassesFor('ben', ['com.example.echo']);
    await g.connect();
    await waitFor(() => app.sessions[0]?.isConnectionHealthy(), { timeoutMs: 4000 });
    g.transcribe('before');
    await waitFor(() => app.transcripts.includes('before'), { timeoutMs: 3000 });
    const aEpoch = a.cloud.cluster!.epochOf('ben')!;
    const echoes = () => g.displays.length;

    const partition = proxy.cut(LEASE_MS * 4);
    // On its own clock A stops acting before the server lets its key go.
    await waitFor(() => !a.cloud.cluster!.mayActFor('ben'), { timeoutMs: LEASE_MS * 2, intervalMs: 10, message: 'A never fenced itself' });
    const shown = echoes();
    g.transcribe('while fenced');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(app.transcripts).not.toContain('while fenced');
    expect(echoes()).toBe(shown);

    // The glasses give up on A and come back through the balancer, to B, once A's lease expired.
    await g.close(1006);
    const moved = await b.glassesFor('ben', ['com.example.echo']);
    await waitFor(async () => moved.connect().then(() => true, () => false), { timeoutMs: 3000, intervalMs: 100, message: 'B never took the session' });
    expect(b.cloud.cluster!.epochOf('ben')).toBeGreaterThan(aEpoch);
    expect(b.cloud.sessions.get('ben')).toBeDefined();
    expect(await a.cloud.store.writeSessionSnapshots({ save: [{ userId: 'ben', json: '{}' }], remove: [], epochs: new Map([['ben', aEpoch]]) })).toEqual({ refused: ['ben'] });

    // A is back: a new incarnation, the lost session given up, its actor stopped and its app socket closed with 1012.
    await partition;
    await waitFor(() => a.lines.some((line) => line.msg === 'sessions taken back after the lost lease'), { timeoutMs: 5000, message: 'A never came back' });
    expect(a.cloud.sessions.get('ben')).toBeUndefined();
    expect(a.cloud.cluster!.epochOf('ben')).toBeUndefined();
    expect(a.lines.some((line) => line.msg === 'sessions lost to another node: their sockets closed with 1012')).toBe(true);
    await moved.destroy();
    await a.close();
    await b.close();
    await proxy.close();
  }, 30_000);
});
