import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { frameText } from '../../src/protocol/parse.js';
import { activeResourceCounts, resourcesAbove, sleep, waitFor } from './net.js';
import { startScriptedCloud } from './scriptedCloud.js';
import type { ScriptedCloud, ScriptedCloudOptions } from './scriptedCloud.js';

interface TestClient {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  opened: Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
}

const clouds: ScriptedCloud[] = [];
const clients: TestClient[] = [];

async function cloudWith(options?: ScriptedCloudOptions): Promise<ScriptedCloud> {
  const cloud = await startScriptedCloud(options);
  clouds.push(cloud);
  return cloud;
}

/** A plain `ws` client, as `@mentra/sdk` opens it. */
function connect(url: string): TestClient {
  const ws = new WebSocket(url);
  const messages: Record<string, unknown>[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(frameText(data)) as Record<string, unknown>));
  ws.on('error', () => {});
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  opened.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  const client = { ws, messages, opened, closed };
  clients.push(client);
  return client;
}

function init(client: TestClient, fields: Record<string, unknown> = {}): void {
  client.ws.send(
    JSON.stringify({
      type: 'tpa_connection_init',
      sessionId: 'user-1-com.example.app',
      packageName: 'com.example.app',
      apiKey: 'key-1',
      timestamp: new Date().toISOString(),
      ...fields,
    }),
  );
}

async function connected(url: string, fields?: Record<string, unknown>): Promise<TestClient> {
  const client = connect(url);
  await client.opened;
  init(client, fields);
  return client;
}

function messageOf(client: TestClient, type: string): Promise<Record<string, unknown>> {
  return waitFor(() => client.messages.find((m) => m['type'] === type), {
    message: `client got no ${type}`,
  });
}

/** Resolves true when a pong comes back within `ms`, false otherwise. */
function pongWithin(client: TestClient, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onPong = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.ws.off('pong', onPong);
      resolve(false);
    }, ms);
    client.ws.once('pong', onPong);
    client.ws.ping('probe');
  });
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await Promise.all(clouds.splice(0).map((cloud) => cloud.stop()));
});

describe('scriptedCloud', () => {
  it('acks an init and records subscription updates', async () => {
    const cloud = await cloudWith();
    expect(cloud.url).toBe(`ws://127.0.0.1:${cloud.port}/app-ws`);
    const client = await connected(cloud.url);

    const conn = await cloud.waitForConnection(1);
    expect(conn.index).toBe(0);
    expect(conn.sessionId).toBe('user-1-com.example.app');
    expect(conn.packageName).toBe('com.example.app');
    expect(conn.requestUrl).toBe('/app-ws');
    expect(await messageOf(client, 'tpa_connection_ack')).toEqual({
      type: 'tpa_connection_ack',
      sessionId: 'user-1-com.example.app',
      settings: [],
      mentraosSettings: {},
      capabilities: null,
    });

    const subscriptions = ['transcription:en-US', { stream: 'location_stream', rate: 'high' }];
    client.ws.send(JSON.stringify({ type: 'subscription_update', subscriptions: [] }));
    client.ws.send(JSON.stringify({ type: 'subscription_update', subscriptions }));
    await cloud.waitForFrame(
      (f) => f.type === 'subscription_update' && Array.isArray(f.message?.['subscriptions']) &&
        (f.message['subscriptions'] as unknown[]).length === 2,
    );
    expect(conn.subscriptions).toEqual(subscriptions);
    expect(cloud.frames({ type: 'subscription_update' }).map((f) => f.connectionIndex)).toEqual([0, 0]);
    expect(cloud.frames().map((f) => f.type)).toEqual([
      'tpa_connection_init',
      'subscription_update',
      'subscription_update',
    ]);
    expect(cloud.open).toEqual([conn]);
  });

  it('sends the ack after ackDelayMs', async () => {
    const cloud = await cloudWith({ ackDelayMs: 150 });
    const client = await connected(cloud.url);
    const sentAt = performance.now();
    await messageOf(client, 'tpa_connection_ack');
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(140);
  });

  it('does not ack while acks are off', async () => {
    const cloud = await cloudWith({ ack: false });
    const silent = await connected(cloud.url);
    await expect(cloud.waitForConnection(1, 200)).rejects.toThrow(/not acked/);
    expect(silent.messages).toEqual([]);
    expect(cloud.connections[0]?.acked).toBe(false);

    cloud.setAck(true);
    const acked = await connected(cloud.url);
    expect((await cloud.waitForConnection(2)).acked).toBe(true);
    await messageOf(acked, 'tpa_connection_ack');
  });

  it('answers a wrong key or an unknown package with tpa_connection_error, then 1008', async () => {
    const cloud = await cloudWith({ apiKeys: { 'com.example.app': 'key-1' } });

    const wrongKey = await connected(cloud.url, { apiKey: 'nope' });
    expect(await wrongKey.closed).toEqual({ code: 1008, reason: 'Invalid API key' });
    expect(wrongKey.messages).toMatchObject([{ type: 'tpa_connection_error', code: 'INVALID_API_KEY' }]);

    const unknown = await connected(cloud.url, { packageName: 'com.example.other' });
    expect((await unknown.closed).code).toBe(1008);
    expect(unknown.messages).toMatchObject([{ type: 'tpa_connection_error', code: 'UNKNOWN_PACKAGE' }]);

    await connected(cloud.url);
    expect((await cloud.waitForConnection(3)).acked).toBe(true);
    expect(cloud.connections.map((c) => c.acked)).toEqual([false, false, true]);
  });

  it('refuses every key while refuseKeys is on', async () => {
    const cloud = await cloudWith();
    cloud.refuseKeys(true);
    const refused = await connected(cloud.url);
    expect((await refused.closed).code).toBe(1008);
    expect(refused.messages).toMatchObject([{ type: 'tpa_connection_error', code: 'INVALID_API_KEY' }]);

    cloud.refuseKeys(false);
    await connected(cloud.url);
    await cloud.waitForConnection(2);
  });

  it('terminateAll drops TCP so the client sees 1006', async () => {
    const cloud = await cloudWith();
    const client = await connected(cloud.url);
    const conn = await cloud.waitForConnection(1);
    cloud.terminateAll();
    expect((await client.closed).code).toBe(1006);
    expect((await conn.closed).code).toBe(1006);
    expect(cloud.open).toEqual([]);
  });

  it('closeAll sends the given code and reason', async () => {
    const cloud = await cloudWith();
    const client = await connected(cloud.url);
    await cloud.waitForConnection(1);
    expect(() => cloud.closeAll(1006)).toThrow(RangeError);
    cloud.closeAll(1012, 'restart');
    expect(await client.closed).toEqual({ code: 1012, reason: 'restart' });
  });

  it('broadcast reaches every open connection', async () => {
    const cloud = await cloudWith();
    const a = await connected(cloud.url);
    const b = await connected(cloud.url);
    await cloud.waitForConnection(2);
    cloud.broadcast({ type: 'app_stopped', reason: 'user_disabled' });
    await messageOf(a, 'app_stopped');
    await messageOf(b, 'app_stopped');
  });

  it('blackholeAll stops pongs and replies while the socket stays open', async () => {
    const cloud = await cloudWith();
    const client = await connected(cloud.url);
    await cloud.waitForConnection(1);
    expect(await pongWithin(client, 1000)).toBe(true);

    cloud.blackholeAll();
    expect(await pongWithin(client, 200)).toBe(false);
    init(client);
    cloud.broadcast({ type: 'app_stopped' });
    await sleep(50);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect(cloud.frames({ type: 'tpa_connection_init' })).toHaveLength(1);
    expect(client.messages.map((m) => m['type'])).toEqual(['tpa_connection_ack']);
    expect(cloud.open).toHaveLength(1);

    const fresh = await connected(cloud.url);
    await cloud.waitForConnection(2);
    expect(await pongWithin(fresh, 1000)).toBe(true);
  });

  it('restart closes with 1012, refuses connections while down, and listens on the same port', async () => {
    const cloud = await cloudWith();
    const port = cloud.port;
    const before = await connected(cloud.url);
    await cloud.waitForConnection(1);

    const restarted = cloud.restart({ downMs: 300 });
    expect((await before.closed).code).toBe(1012);
    const whileDown = connect(cloud.url);
    await expect(whileDown.opened).rejects.toThrow(/ECONNREFUSED/);
    await restarted;

    expect(cloud.port).toBe(port);
    const after = await connected(cloud.url);
    const conn = await cloud.waitForConnection(2);
    expect(conn.index).toBe(1);
    await messageOf(after, 'tpa_connection_ack');

    // A second restart right away rebinds the port just as well.
    await cloud.restart();
    expect((await after.closed).code).toBe(1012);
    await connected(cloud.url);
    await cloud.waitForConnection(3);
  });

  it('stop during a restart ends the restart without listening again', async () => {
    const cloud = await cloudWith();
    const restarted = cloud.restart({ downMs: 5000 });
    await sleep(20);
    const startedAt = performance.now();
    await cloud.stop();
    await restarted;
    expect(performance.now() - startedAt).toBeLessThan(1000);
    await expect(connect(cloud.url).opened).rejects.toThrow(/ECONNREFUSED/);
    await expect(cloud.restart()).rejects.toThrow(/stopped/);
  });

  it('rejects upgrades on another path', async () => {
    const cloud = await cloudWith();
    await expect(connect(cloud.url.replace('/app-ws', '/glasses-ws')).opened).rejects.toThrow(/404/);
    expect(cloud.connections).toEqual([]);
  });

  it('stop closes with 1001, leaves no active handles and is idempotent', async () => {
    await sleep(20);
    const baseline = activeResourceCounts();

    const cloud = await startScriptedCloud({ ackDelayMs: 10_000 });
    const client = await connected(cloud.url);
    await cloud.waitForFrame((f) => f.type === 'tpa_connection_init');
    // A pending ack timer and a pending wait must not outlive stop().
    const pending = cloud.waitForConnection(1, 10_000);
    pending.catch(() => {});

    await Promise.all([cloud.stop(), cloud.stop()]);
    await cloud.stop();
    expect(await client.closed).toEqual({ code: 1001, reason: 'cloud stopping' });
    await expect(pending).rejects.toThrow(/stopped/);

    let leaked: string[] = [];
    const settled = await waitFor(
      () => {
        leaked = resourcesAbove(baseline);
        return leaked.length === 0;
      },
      { timeoutMs: 2000, intervalMs: 20 },
    ).catch(() => false);
    expect(settled, `still active: ${leaked.join(', ')}`).toBe(true);
  });
});
