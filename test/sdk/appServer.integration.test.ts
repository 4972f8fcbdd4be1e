import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppServer, AppSession, TpaServer, TpaSession } from '../../src/sdk/index.js';
import { startScriptedCloud, type ScriptedCloud } from '../support/scriptedCloud.js';
import { activeResourceCounts, resourcesAbove, waitFor } from '../support/net.js';

class RecordingServer extends AppServer {
  readonly started: Array<{ session: AppSession; sessionId: string; userId: string }> = [];
  readonly stops: Array<{ sessionId: string; reason: string }> = [];
  failOnSession = false;
  protected override async onSession(session: AppSession, sessionId: string, userId: string) {
    if (this.failOnSession) throw new Error('app bug');
    session.events.onButtonPress(() => {});
    session.setInterval(() => {}, 1000);
    this.started.push({ session, sessionId, userId });
  }
  protected override async onStop(sessionId: string, _userId: string, reason: string) {
    this.stops.push({ sessionId, reason });
  }
}

let cloud: ScriptedCloud | undefined;
let server: RecordingServer | undefined;
let baseUrl = '';

async function setup(options: Parameters<typeof startScriptedCloud>[0] = {}) {
  cloud = await startScriptedCloud(options);
  server = new RecordingServer({ packageName: 'com.example.test', apiKey: 'key-1', session: { connectTimeoutMs: 1000 } });
  const port = await server.listen(0, '127.0.0.1');
  baseUrl = `http://127.0.0.1:${port}`;
}

function webhook(body: object) {
  return fetch(`${baseUrl}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const request = (sessionId = 'u1-com.example.test') => ({
  type: 'session_request',
  sessionId,
  userId: 'u1',
  timestamp: new Date().toISOString(),
  mentraOSWebsocketUrl: cloud!.url,
});

afterEach(async () => {
  await server?.stop();
  await cloud?.stop();
  server = undefined;
  cloud = undefined;
  vi.restoreAllMocks();
});

describe('AppServer webhook', () => {
  it('opens a session on session_request and answers 200 after onSession', async () => {
    await setup();
    const res = await webhook(request());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'success' });
    expect(server!.started).toHaveLength(1);
    expect(server!.started[0]).toMatchObject({ sessionId: 'u1-com.example.test', userId: 'u1' });
    expect(cloud!.open).toHaveLength(1);
    const health = await (await fetch(`${baseUrl}/health`)).json();
    expect(health).toEqual({ status: 'healthy', app: 'com.example.test', activeSessions: 1 });
  });

  it('answers "already active" to a duplicate for a healthy session and keeps one socket', async () => {
    await setup();
    await webhook(request());
    const res = await webhook(request());
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'success', message: 'Session already active' });
    expect(cloud!.connections).toHaveLength(1);
    expect(server!.started).toHaveLength(1);
  });

  it('answers 429 with Retry-After to the 4th connecting request for one session within a minute, and accepts again after it', async () => {
    // The limiter reads Date.now(): move it a minute on when the test says so.
    const realNow = Date.now;
    let skippedMs = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skippedMs);
    // Refused by the cloud: each request makes a new connection attempt.
    await setup({ apiKeys: { 'com.example.test': 'another-key' } });
    const responses: Response[] = [];
    for (let i = 0; i < 4; i++) responses.push(await webhook(request()));
    expect(responses.map((r) => r.status)).toEqual([500, 500, 500, 429]);
    expect(await responses[3]!.json()).toMatchObject({ status: 'error', code: 'RATE_LIMITED' });
    expect(Number(responses[3]!.headers.get('retry-after'))).toBeGreaterThan(55);
    expect(Number(responses[3]!.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect((await webhook(request('u2-com.example.test'))).status).toBe(500);
    skippedMs = 60_001;
    expect((await webhook(request())).status).toBe(500);
  });

  it('answers duplicates for a live session without counting them against the limit', async () => {
    await setup();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await webhook(request())).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(server!.started).toHaveLength(1);
  });

  it('replaces an unhealthy session instead of reusing it', async () => {
    await setup({ ack: true });
    await webhook(request());
    cloud!.blackholeAll();
    cloud!.terminateAll();
    await waitFor(() => server!.getSession('u1-com.example.test')?.state === 'reconnecting');
    const res = await webhook(request());
    expect(res.status).toBe(200);
    expect(server!.started).toHaveLength(2);
    expect(server!.started[0]!.session.state).toBe('closed');
  });

  it('answers 500 when the connection is refused and leaves nothing behind', async () => {
    await setup({ apiKeys: { 'com.example.test': 'another-key' } });
    // fetch keeps its HTTP connection alive: open it before taking the baseline.
    await fetch(`${baseUrl}/health`);
    const baseline = activeResourceCounts();
    const res = await webhook(request());
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ status: 'error', code: 'INVALID_API_KEY', message: 'Failed to connect' });
    expect(server!.activeSessionIds()).toEqual([]);
    await waitFor(() => cloud!.open.length === 0);
    await waitFor(() => resourcesAbove(baseline).length === 0, { message: `leaked: ${resourcesAbove(baseline).join(', ')}` });
  });

  it('answers 500 when onSession throws and closes the session', async () => {
    await setup();
    server!.failOnSession = true;
    const res = await webhook(request());
    expect(res.status).toBe(500);
    expect(server!.activeSessionIds()).toEqual([]);
    await waitFor(() => cloud!.open.length === 0);
  });

  it('handles stop_request: onStop runs and the socket closes', async () => {
    await setup();
    await webhook(request());
    const res = await webhook({ type: 'stop_request', sessionId: 'u1-com.example.test', userId: 'u1', reason: 'user_disabled' });
    expect(res.status).toBe(200);
    await waitFor(() => cloud!.open.length === 0);
    const closed = await cloud!.connections[0]!.closed;
    expect(closed.code).toBe(1000);
    expect(server!.stops).toEqual([{ sessionId: 'u1-com.example.test', reason: 'user_disabled' }]);
    expect(server!.started[0]!.session.trackedResources).toBe(0);
  });

  it('calls onStop when the cloud ends the session', async () => {
    await setup();
    await webhook(request());
    cloud!.closeAll(1000, 'User session ended');
    await waitFor(() => server!.stops.length === 1);
    expect(server!.activeSessionIds()).toEqual([]);
  });

  it('rejects unknown webhook types and malformed bodies with coded 400s', async () => {
    await setup();
    const unknown = await webhook({ type: 'nonsense' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ code: 'BAD_REQUEST' });
    const broken = await fetch(`${baseUrl}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ code: 'INVALID_JSON' });
  });

  it('stop() ends every session, releases their resources and returns to the resource baseline', async () => {
    cloud = await startScriptedCloud();
    const baseline = activeResourceCounts();
    server = new RecordingServer({ packageName: 'com.example.test', apiKey: 'key-1' });
    baseUrl = `http://127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
    await webhook(request('u1-com.example.test'));
    await webhook(request('u2-com.example.test'));
    await server.stop();
    expect(server.started.every((s) => s.session.state === 'closed' && s.session.trackedResources === 0)).toBe(true);
    await waitFor(() => cloud!.open.length === 0);
    await waitFor(() => resourcesAbove(baseline).length === 0, { message: `leaked: ${resourcesAbove(baseline).join(', ')}` });
  });

  it('exports the seeds\' names as aliases', () => {
    expect(TpaServer).toBe(AppServer);
    expect(TpaSession).toBe(AppSession);
  });
});
