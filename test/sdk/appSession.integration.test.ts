import { afterEach, describe, expect, it } from 'vitest';
import { AppSession, type AppSessionConfig } from '../../src/sdk/appSession.js';
import { startScriptedCloud, type ScriptedCloud } from '../support/scriptedCloud.js';
import { activeResourceCounts, resourcesAbove, waitFor } from '../support/net.js';
import { seededRandom } from '../support/seededRandom.js';

const fast = {
  reconnectDelayMs: 100,
  maxReconnectDelayMs: 1000,
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 300,
  connectTimeoutMs: 1000,
  stableMs: 200,
} satisfies Partial<AppSessionConfig>;

let cloud: ScriptedCloud | undefined;
const sessions: AppSession[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) s.disconnect();
  await cloud?.stop();
  cloud = undefined;
});

function session(overrides: Partial<AppSessionConfig> = {}): AppSession {
  const s = new AppSession({
    packageName: 'com.example.test',
    apiKey: 'key-1',
    mentraOSWebsocketUrl: cloud!.url,
    random: seededRandom(7),
    ...fast,
    ...overrides,
  });
  sessions.push(s);
  return s;
}

describe('AppSession over real sockets', () => {
  it('resolves connect on the ack and sends the subscriptions', async () => {
    cloud = await startScriptedCloud();
    const s = session();
    s.events.onButtonPress(() => {});
    await s.connect('user-com.example.test');
    expect(s.state).toMatchObject({ open: expect.anything() });
    expect(s.isConnectionHealthy()).toBe(true);
    const conn = await cloud.waitForConnection(1);
    await waitFor(() => conn.subscriptions.includes('button_press'));
    const init = cloud.frames({ type: 'tpa_connection_init' })[0]!.message;
    expect(init).toMatchObject({ sessionId: 'user-com.example.test', packageName: 'com.example.test', apiKey: 'key-1', extensions: ['user_reconnected', 'resume'] });
  });

  it('rejects connect with INVALID_API_KEY and never retries', async () => {
    cloud = await startScriptedCloud({ apiKeys: { 'com.example.test': 'right' } });
    const s = session();
    await expect(s.connect('s1')).rejects.toMatchObject({ code: 'INVALID_API_KEY' });
    expect(s.state).toBe('closed');
    await new Promise((r) => setTimeout(r, 300));
    expect(cloud.connections).toHaveLength(1);
  });

  it('reconnects after a terminate and re-sends its subscriptions', async () => {
    cloud = await startScriptedCloud();
    const s = session();
    s.events.onTranscription(() => {});
    const reconnected: unknown[] = [];
    s.events.onReconnected((x) => reconnected.push(x));
    await s.connect('s1');
    await cloud.waitForConnection(1);
    cloud.terminateAll();
    const second = await cloud.waitForConnection(2);
    await waitFor(() => second.subscriptions.includes('transcription:en-US'));
    await waitFor(() => reconnected.length === 1);
    expect(second.frames.map((f) => f.type)).toEqual(['tpa_connection_init', 'subscription_update']);
  });

  it('detects a black-holed cloud within heartbeatIntervalMs + heartbeatTimeoutMs and reconnects', async () => {
    cloud = await startScriptedCloud();
    const s = session();
    await s.connect('s1');
    await cloud.waitForConnection(1);
    const cutAt = performance.now();
    cloud.blackholeAll();
    let detectedAt = 0;
    s.events.onReconnecting(() => {
      detectedAt ||= performance.now();
    });
    await cloud.waitForConnection(2, 3000);
    const detectionMs = detectedAt - cutAt;
    expect(detectionMs).toBeGreaterThan(0);
    expect(detectionMs).toBeLessThanOrEqual(fast.heartbeatIntervalMs + fast.heartbeatTimeoutMs + 50);
  });

  it('is back within the first backoff delay after a cloud restart on the same port', async () => {
    cloud = await startScriptedCloud();
    const s = session();
    const delays: number[] = [];
    s.events.onReconnecting((info) => delays.push(info.delayMs));
    await s.connect('s1');
    await cloud.waitForConnection(1);
    const restartAt = performance.now();
    await cloud.restart();
    const second = await cloud.waitForConnection(2, 3000);
    const backMs = second.ackedAt! - restartAt;
    // seed 7: first delay = 100·(1 + 0.5·0.0117) = 101 ms.
    expect(delays).toEqual([101]);
    expect(backMs).toBeGreaterThanOrEqual(101);
    expect(backMs).toBeLessThan(101 + 100);
  });

  it('queues layouts while reconnecting and delivers the latest per view on return', async () => {
    cloud = await startScriptedCloud();
    const s = session({ reconnectDelayMs: 300 });
    await s.connect('s1');
    await cloud.waitForConnection(1);
    cloud.terminateAll();
    await waitFor(() => s.state === 'reconnecting');
    s.layouts.showTextWall('one');
    s.layouts.showTextWall('two');
    const second = await cloud.waitForConnection(2, 3000);
    await waitFor(() => second.frames.some((f) => f.type === 'display_event'));
    const displays = second.frames.filter((f) => f.type === 'display_event').map((f) => (f.message as { layout: { text: string } }).layout.text);
    expect(displays).toEqual(['two']);
  });
});

describe('AppSession releases everything when it ends', () => {
  async function exercise(end: (s: AppSession, cloud: ScriptedCloud) => void | Promise<void>) {
    cloud = await startScriptedCloud();
    const baseline = activeResourceCounts();
    const s = session();
    let cleaned = 0;
    s.events.onTranscription(() => {});
    s.events.onDisconnected(() => {});
    s.setTimeout(() => {}, 60_000);
    s.setInterval(() => {}, 1000);
    s.registerTimer(setTimeout(() => {}, 60_000));
    s.registerCleanup(() => cleaned++);
    await s.connect('s1');
    expect(s.trackedResources).toBeGreaterThan(0);
    await end(s, cloud);
    await waitFor(() => s.state === 'closed');
    expect(s.trackedResources).toBe(0);
    expect(cleaned).toBe(1);
    await waitFor(() => resourcesAbove(baseline).length === 0, { message: `leaked: ${resourcesAbove(baseline).join(', ')}` });
  }

  it('after disconnect()', () => exercise((s) => s.disconnect()));
  it('after a terminal close from the cloud', () => exercise((_s, c) => c.closeAll(1008, 'policy')));
  it('after "App stopped"', () => exercise((_s, c) => c.closeAll(1000, 'App stopped')));
});
