/**
 * Sessions moving between two live nodes (issue 14): glasses that reconnect to another node get
 * their session handed over (written with its replay buffers, freed, restored there), and a node
 * that drains hands every session on. The apps come back through the balancer (the owner hint
 * first) and resume: each frame once, in order, no second webhook, no gap.
 */
import { describe, expect, it } from 'vitest';
import { startBalancer } from '../../scripts/localServers/balancer.js';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import type { AppSession } from '../../src/sdk/index.js';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { useClusterServers } from '../support/clusterServers.js';
import { waitFor } from '../support/net.js';
import { userSessionSystemId } from '../../machines/sessionApi.js';

const LEASE_MS = 1000;
const servers = useClusterServers();

/** An app that records every transcript and every gap it was told of. */
class CountingApp extends RecordingApp {
  readonly gaps: number[] = [];
  protected override async onSession(session: AppSession, sessionId: string, userId: string) {
    await super.onSession(session, sessionId, userId);
    session.events.onResumeGap((gap) => this.gaps.push(gap.lost));
  }
}

async function cluster(database: string, forwardInspector = false) {
  const balancer = await startBalancer([]);
  const dbPath = await servers.postgres.createDatabase(database);
  const settings = { dbPath, natsUrl: servers.nats.url, leaseMs: LEASE_MS, gracePeriodMs: 10_000, appReconnectWindowMs: 10_000, publicUrl: `ws://127.0.0.1:${balancer.port}` };
  const a = await startTestCloud({ settings: { ...settings, nodeId: 'node-a' } });
  const forward = forwardInspector ? { inspectorForwardUrl: `ws://127.0.0.1:${a.cloud.port}` } : {};
  const b = await startTestCloud({ settings: { ...settings, nodeId: 'node-b', ...forward } });
  balancer.backends = [
    { nodeId: 'node-a', port: a.cloud.port },
    { nodeId: 'node-b', port: b.cloud.port },
  ];
  const { server } = await a.serveApp('com.example.echo', (apiKey) => new CountingApp({ packageName: 'com.example.echo', apiKey, session: { reconnectDelayMs: 50 } }));
  // Transcripts reach the app once its subscription has: waited for, or the first ones would race it.
  const subscribed = (cloud: typeof a.cloud, userId: string) =>
    waitFor(() => (cloud.sessions.appSession(userId, `${userId}-com.example.echo`)?.getSnapshot().context as { subscriptions?: string[] } | undefined)?.subscriptions?.length, {
      timeoutMs: 5000,
      message: 'the app never subscribed',
    });
  const glassesAt = async (port: number, userId: string) =>
    new SimulatedGlasses({ url: `ws://127.0.0.1:${port}/glasses-ws`, token: await a.cloud.createGlassesToken(userId), runningApps: ['com.example.echo'] });
  return { balancer, a, b, app: server as CountingApp, glassesAt, subscribed };
}

const said = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

describe('sessions handed between live nodes', () => {
  it('hands the session over to the node its glasses reconnect to; the app, relayed there, gets every frame once', async () => {
    const { balancer, a, b, app, glassesAt, subscribed } = await cluster('handover');
    const first = await glassesAt(a.cloud.port, 'fay');
    await first.connect();
    await waitFor(() => app.sessions[0]?.isConnectionHealthy(), { timeoutMs: 5000, message: 'the app never connected' });
    await subscribed(a.cloud, 'fay');
    for (const text of said(1, 5)) first.transcribe(text);
    await waitFor(() => app.transcripts.length === 5, { timeoutMs: 3000 });

    // A network switch that lands on the other node.
    const second = await glassesAt(b.cloud.port, 'fay');
    await second.connect();
    await first.destroy();
    expect(b.cloud.cluster?.owned.has('fay')).toBe(true);
    expect(a.cloud.sessions.get('fay')).toBeUndefined();
    expect(a.lines.some((line) => line.msg === 'session handed over')).toBe(true);
    // Said before the app is back: B keeps them for it and replays them when it resumes.
    for (const text of said(6, 10)) second.transcribe(text);
    await waitFor(() => b.cloud.sessions.appSession('fay', 'fay-com.example.echo')?.getSnapshot().hasTag('canSend'), { timeoutMs: 5000, message: 'the app never came back' });
    // The app's URL names A (the owner when the webhook went out): A relays it to B.
    expect(a.lines.some((line) => line.msg === 'app socket relayed to its session’s owner')).toBe(true);
    await waitFor(() => app.transcripts.length >= 10, { timeoutMs: 3000, message: `got ${app.transcripts.join(',')}` });
    expect(app.transcripts).toEqual(said(1, 10));
    expect(app.sessions).toHaveLength(1);
    expect(app.gaps).toEqual([]);
    await second.destroy();
    await a.close();
    await b.close();
    await balancer.close();
  }, 30_000);

  it('drains a node: every session written with its buffers and freed, taken where the glasses return, the app resumed', async () => {
    const { balancer, a, b, app, glassesAt, subscribed } = await cluster('drain');
    const first = await glassesAt(balancer.port, 'gus');
    // Through the balancer, round-robin: wherever it lands is the node drained.
    await first.connect();
    const owner = a.cloud.cluster?.owned.has('gus') ? a : b;
    const other = owner === a ? b : a;
    await waitFor(() => app.sessions[0]?.isConnectionHealthy(), { timeoutMs: 5000, message: 'the app never connected' });
    await subscribed(owner.cloud, 'gus');
    for (const text of said(1, 5)) first.transcribe(text);
    await waitFor(() => app.transcripts.length === 5, { timeoutMs: 3000 });

    await owner.cloud.close();
    balancer.backends = balancer.backends.filter((backend) => backend.port !== owner.cloud.port);
    expect(first.closeEvents.at(-1)?.code).toBe(1012);
    expect(owner.lines.some((line) => line.msg === 'drained: sessions written with their buffers, lease given up')).toBe(true);
    await first.connect();
    expect(other.cloud.cluster?.owned.has('gus')).toBe(true);
    for (const text of said(6, 10)) first.transcribe(text);
    await waitFor(() => other.cloud.sessions.appSession('gus', 'gus-com.example.echo')?.getSnapshot().hasTag('canSend'), { timeoutMs: 5000, message: 'the app never came back' });
    await waitFor(() => app.transcripts.length >= 10, { timeoutMs: 3000, message: `got ${app.transcripts.join(',')}` });
    expect(app.transcripts).toEqual(said(1, 10));
    expect(app.sessions).toHaveLength(1);
    expect(app.gaps).toEqual([]);
    await first.destroy();
    await a.close();
    await b.close();
    await balancer.close();
  }, 30_000);

  it('answers an app settings fetch on any node: the node without the session asks its owner', async () => {
    const { balancer, a, b, app, glassesAt } = await cluster('settings');
    const glasses = await glassesAt(a.cloud.port, 'ivy');
    await glasses.connect();
    await waitFor(() => app.sessions[0]?.isConnectionHealthy(), { timeoutMs: 5000, message: 'the app never connected' });
    const fetchSettings = (node: typeof a, sessionId: string) =>
      fetch(`${node.cloud.url}/appsettings/user/com.example.echo`, { headers: { authorization: `Bearer ${sessionId}` } });
    for (const node of [a, b]) {
      const answer = await fetchSettings(node, 'ivy-com.example.echo');
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ success: true });
    }
    // No node runs it: refused on both, whether the user has an owner (ivy's other app) or not.
    for (const node of [a, b]) {
      for (const sessionId of ['ivy-com.example.other', 'nobody-com.example.echo']) {
        const refused = await fetch(`${node.cloud.url}/appsettings/user/${sessionId.slice(sessionId.indexOf('-') + 1)}`, { headers: { authorization: `Bearer ${sessionId}` } });
        expect(await refused.json()).toMatchObject({ error: { code: 'SESSION_NOT_FOUND' } });
      }
    }
    await glasses.destroy();
    await a.close();
    await b.close();
    await balancer.close();
  }, 30_000);

  it('shows both nodes’ sessions in one inspector, each under the node that owns it, and a handover moves it', async () => {
    const { balancer, a, b, app, glassesAt } = await cluster('inspector', true);
    const hub = a.cloud.inspector!;
    const ownerShown = (userId: string) =>
      hub.list().find((actor) => actor.systemId === userSessionSystemId(userId) && actor.status === 'active')?.source;
    const jo = await glassesAt(b.cloud.port, 'jo');
    const kim = await glassesAt(a.cloud.port, 'kim');
    await jo.connect();
    await kim.connect();
    await waitFor(() => ownerShown('jo') === 'node:node-b' && ownerShown('kim') === 'node:node-a', {
      timeoutMs: 5000,
      message: `jo under ${ownerShown('jo')}, kim under ${ownerShown('kim')}`,
    });
    // Both apps up first, as a user's would be before they walk off with their glasses.
    await waitFor(() => app.sessions.length === 2 && app.sessions.every((session) => session.isConnectionHealthy()), { timeoutMs: 5000, message: 'the apps never connected' });
    // jo's glasses land on A: the session moves, and so does its line.
    const joAgain = await glassesAt(a.cloud.port, 'jo');
    await joAgain.connect();
    await jo.destroy();
    await waitFor(() => ownerShown('jo') === 'node:node-a', { timeoutMs: 5000, message: `jo under ${ownerShown('jo')}` });
    expect(hub.list().filter((actor) => actor.systemId === userSessionSystemId('jo') && actor.status === 'active')).toHaveLength(1);
    await joAgain.destroy();
    await kim.destroy();
    await a.close();
    await b.close();
    await balancer.close();
  }, 30_000);
});
