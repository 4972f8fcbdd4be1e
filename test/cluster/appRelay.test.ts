/**
 * App sockets that land on a node other than their session's owner (issue 14): relayed over NATS
 * to the owner, for both SDKs, with the owner's heartbeat, data both ways and the app's own
 * close; and closed with 1012 when the owner's lease goes.
 */
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { describe, expect, it } from 'vitest';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { serveMentraApp, type MentraAppWithLiveSessions } from '../support/mentraApp.js';
import { useClusterServers } from '../support/clusterServers.js';
import { waitFor } from '../support/net.js';

const LEASE_MS = 600;
const servers = useClusterServers();

/** Node B, then node A whose webhooks hand out B's app URL: every app lands on B, not on its session's owner A. */
async function twoNodes(database: string) {
  const dbPath = await servers.postgres.createDatabase(database);
  const common = { dbPath, natsUrl: servers.nats.url, leaseMs: LEASE_MS, gracePeriodMs: 5000, appReconnectWindowMs: 5000 };
  const b = await startTestCloud({ settings: { ...common, nodeId: 'node-b' } });
  const a = await startTestCloud({ settings: { ...common, nodeId: 'node-a', publicUrl: `ws://127.0.0.1:${b.cloud.port}` } });
  return { a, b };
}

class MentraEcho extends MentraAppServer implements MentraAppWithLiveSessions {
  readonly live = new Map<string, MentraAppSession>();
  readonly heard: string[] = [];
  protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
    this.live.set(sessionId, session);
    session.events.onTranscription((data) => {
      this.heard.push(data.text);
      session.layouts.showTextWall(`mentra: ${data.text}`);
    });
  }
}

describe('app sockets relayed to the owner of their session', () => {
  it('serves a Tether SDK app and a @mentra/sdk app through another node: acks, data both ways, heartbeats', async () => {
    const { a, b } = await twoNodes('relay');
    const { server } = await a.serveApp('com.example.echo', (apiKey) => new RecordingApp({ packageName: 'com.example.echo', apiKey, session: { reconnectDelayMs: 100 } }));
    const tether = server as RecordingApp;
    const { apiKey } = await a.cloud.registerApp({ packageName: 'com.example.mentra', name: 'mentra', webhookUrl: 'http://127.0.0.1:1/webhook' });
    const mentra = await serveMentraApp(() => new MentraEcho({ packageName: 'com.example.mentra', apiKey, port: 0 }));
    await a.cloud.store.setWebhookUrl('com.example.mentra', `http://127.0.0.1:${mentra.port}/webhook`);

    const g = await a.glassesFor('cy', ['com.example.echo', 'com.example.mentra']);
    await g.connect();
    await waitFor(() => tether.sessions[0]?.isConnectionHealthy() && mentra.app.live.size === 1, { timeoutMs: 5000, message: 'apps never connected' });
    // Both sockets are on B; their sessions, on A.
    expect(b.cloud.cluster?.owned.size).toBe(0);
    expect(a.cloud.sessions.appSession('cy', 'cy-com.example.echo')?.getSnapshot().value).toBe('running');
    expect(a.cloud.sessions.appSession('cy', 'cy-com.example.mentra')?.getSnapshot().value).toBe('running');
    expect(b.lines.filter((line) => line.msg === 'app socket relayed to its session’s owner')).toHaveLength(2);

    const subscribed = (pkg: string) => (a.cloud.sessions.appSession('cy', `cy-${pkg}`)?.getSnapshot().context as { subscriptions?: string[] } | undefined)?.subscriptions?.length;
    await waitFor(() => subscribed('com.example.echo') && subscribed('com.example.mentra'), { timeoutMs: 3000, message: 'the apps never subscribed' });
    g.transcribe('through the relay');
    await waitFor(() => tether.transcripts.includes('through the relay') && mentra.app.heard.includes('through the relay'), { timeoutMs: 3000 });
    await waitFor(() => g.displays.some((d) => JSON.stringify(d.message).includes('echo: through the relay')) && g.displays.some((d) => JSON.stringify(d.message).includes('mentra: through the relay')), {
      timeoutMs: 3000,
      message: 'the displays never came back through the relay',
    });
    // Several of A's heartbeat timeouts (300 ms) pass: the pings and pongs cross the relay.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(a.cloud.sessions.appSession('cy', 'cy-com.example.echo')?.getSnapshot().value).toBe('running');
    expect(tether.sessions).toHaveLength(1);
    expect(mentra.app.live.size).toBe(1);
    await mentra.close();
    await a.close();
    await b.close();
  }, 30_000);

  it('closes a relayed socket with 1012 when its owner’s lease is gone', async () => {
    const { a, b } = await twoNodes('relayowner');
    const { server } = await a.serveApp('com.example.echo', (apiKey) => new RecordingApp({ packageName: 'com.example.echo', apiKey, session: { reconnectDelayMs: 100 } }));
    const tether = server as RecordingApp;
    const g = await a.glassesFor('dee', ['com.example.echo']);
    await g.connect();
    await waitFor(() => tether.sessions[0]?.isConnectionHealthy(), { timeoutMs: 5000 });
    expect(b.cloud.sockets.size).toBe(0);
    // A leaves the cluster (its lease given up) without closing the relayed socket itself.
    await a.cloud.cluster!.close();
    await waitFor(() => b.lines.some((line) => line.msg === 'owner of relayed app sockets is gone: closed with 1012'), { timeoutMs: 3000 });
    await g.destroy();
    await a.close();
    await b.close();
  }, 30_000);
});
