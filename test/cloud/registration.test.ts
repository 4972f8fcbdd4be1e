/**
 * App-server registration (seed 02 §3.1, issue 5): `POST /api/tpa/register` and its alias —
 * coded refusals (401 wrong key / unknown package, 400 bad body, 429 past 10 a minute), the
 * stored history with its restart flag, the webhook moving to the newest server, and the
 * Tether SDK's `AppServer` registering by itself.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { hashApiKey } from '../../src/cloud/apiKeys.js';
import type { RecoveryPlan } from '../../src/cloud/recovery.js';
import {
  REGISTRATIONS_PER_WINDOW,
  REGISTRATION_WINDOW_MS,
  RegistrationService,
  type RegistrationOutcome,
} from '../../src/cloud/registration.js';
import { createSqliteStore, type Store } from '../../src/cloud/store.js';
import { AppServer } from '../../src/sdk/index.js';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';

const PKG = 'com.example.registered';
const KEY = 'tk_registration-test-key';
const silent = pino({ level: 'silent' });

/** A registration body; `over` replaces fields, `undefined` removes one. */
function body(over: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    packageName: PKG,
    apiKey: KEY,
    serverUrl: 'http://127.0.0.1:7010',
    version: '1.2.3',
    capabilities: ['display'],
    bootId: 'boot-0001',
  };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

function refusedWith(outcome: RegistrationOutcome): { status: number; code: string } | undefined {
  return outcome.ok ? undefined : { status: outcome.status, code: outcome.code };
}

describe('RegistrationService', () => {
  let store: Store;
  let clock: number;
  let service: RegistrationService;
  const plans: string[] = [];

  afterEach(() => {
    vi.restoreAllMocks();
  });

  beforeEach(async () => {
    store = createSqliteStore(':memory:');
    await store.createApp({ packageName: PKG, name: 'Registered', webhookUrl: 'http://old.example/webhook', apiKeyHash: hashApiKey(KEY) });
    clock = 1_000_000;
    plans.length = 0;
    service = new RegistrationService({
      store,
      logger: silent,
      now: () => clock,
      recovery: {
        liveSessionIds: () => ['u1-com.example.registered'],
        plan: (packageName, registrationId): RecoveryPlan => {
          plans.push(registrationId);
          return { packageName, registrationId, trigger: 'appServer.restarted', targets: [{ userId: 'u2', sessionId: `u2-${packageName}`, correlationId: `recovery:${registrationId}:u2-${packageName}` }] };
        },
        run: async () => ({ packageName: PKG, registrationId: '', planned: 0, counts: { recovered: 0, failed: 0, skipped: 0, abandoned: 0 }, durationMs: 0 }),
      },
    });
  });

  it('refuses a wrong key with 401 INVALID_API_KEY and an unknown package with 401 UNKNOWN_PACKAGE', async () => {
    expect(refusedWith(await service.register(body({ apiKey: 'tk_wrong' })))).toEqual({ status: 401, code: 'INVALID_API_KEY' });
    expect(refusedWith(await service.register(body({ packageName: 'com.example.nobody' })))).toEqual({ status: 401, code: 'UNKNOWN_PACKAGE' });
    expect(await store.listRegistrations(PKG)).toEqual([]);
  });

  it('refuses an invalid body with 400 INVALID_FIELDS', async () => {
    for (const bad of [
      undefined,
      'text',
      body({ bootId: 'x' }),
      body({ serverUrl: 'ftp://127.0.0.1' }),
      body({ serverUrl: 'http://127.0.0.1:7010/?token=1' }),
      body({ version: 3 }),
      body({ capabilities: 'display' }),
      body({ packageName: '../etc' }),
    ]) {
      expect(refusedWith(await service.register(bad)), JSON.stringify(bad)).toEqual({ status: 400, code: 'INVALID_FIELDS' });
    }
  });

  it('accepts 10 registrations of a package per minute and refuses the 11th with 429 RATE_LIMITED until the minute ends', async () => {
    // The limiter reads Date.now(), not the injected clock.
    vi.spyOn(Date, 'now').mockImplementation(() => clock);
    for (let i = 0; i < REGISTRATIONS_PER_WINDOW; i++) {
      clock += 1000;
      expect((await service.register(body())).ok, `registration ${i + 1}`).toBe(true);
    }
    clock += 1000;
    const eleventh = await service.register(body());
    expect(refusedWith(eleventh)).toEqual({ status: 429, code: 'RATE_LIMITED' });
    // The window opened at the first registration (+1 s) and ends a minute later; this is +11 s.
    expect(!eleventh.ok && eleventh.retryAfterMs).toBe(REGISTRATION_WINDOW_MS - 10_000);
    // A refused attempt counts too, and hammering earns no earlier answer.
    clock += 5000;
    const twelfth = await service.register(body());
    expect(!twelfth.ok && twelfth.retryAfterMs).toBe(REGISTRATION_WINDOW_MS - 15_000);
    // Wrong keys are refused before the limit and do not use it up.
    expect(refusedWith(await service.register(body({ apiKey: 'tk_wrong' })))).toEqual({ status: 401, code: 'INVALID_API_KEY' });
    // The window ends at +61 s.
    clock = 1_000_000 + 1000 + REGISTRATION_WINDOW_MS;
    expect((await service.register(body())).ok).toBe(true);
  });

  it('records each boot in the history, a refresh only once, and flags a new boot as a restart', async () => {
    const firstBoot = await service.register(body({ bootId: 'boot-0001' }));
    clock += 60_000;
    const refresh = await service.register(body({ bootId: 'boot-0001', version: '1.2.4' }));
    clock += 60_000;
    const restart = await service.register(body({ bootId: 'boot-0002' }));
    if (!firstBoot.ok || !refresh.ok || !restart.ok) throw new Error('a registration was refused');

    expect(firstBoot.body).toMatchObject({ success: true, restarted: false, activeSessions: ['u1-com.example.registered'] });
    expect(refresh.body.registrationId).toBe(firstBoot.body.registrationId);
    expect(refresh.body.restarted).toBe(false);
    expect(restart.body.restarted).toBe(true);
    expect(restart.body.registrationId).not.toBe(firstBoot.body.registrationId);
    // Only the restart plans a recovery; its targets count among the active sessions.
    expect(firstBoot.recovery).toBeNull();
    expect(refresh.recovery).toBeNull();
    expect(restart.recovery?.registrationId).toBe(restart.body.registrationId);
    expect(plans).toEqual([restart.body.registrationId]);
    expect(restart.body.activeSessions).toEqual(['u1-com.example.registered', 'u2-com.example.registered']);

    expect(await store.listRegistrations(PKG)).toMatchObject([
      { registrationId: restart.body.registrationId, bootId: 'boot-0002', registeredAt: 1_120_000 },
      { registrationId: firstBoot.body.registrationId, bootId: 'boot-0001', version: '1.2.4', registeredAt: 1_000_000, lastSeenAt: 1_060_000 },
    ]);
  });

  it('accepts a registration without a boot id (seed 02’s shape) and takes each one as a possible restart', async () => {
    const first = await service.register(body({ bootId: undefined }));
    clock += 60_000;
    const second = await service.register(body({ bootId: undefined }));
    if (!first.ok || !second.ok) throw new Error('a registration was refused');
    expect(first.body.restarted).toBe(true);
    expect(second.body.restarted).toBe(true);
    expect(second.body.registrationId).not.toBe(first.body.registrationId);
    // Both plan a recovery; it only ever touches sessions that lost their app.
    expect(plans).toEqual([first.body.registrationId, second.body.registrationId]);
    expect((await store.listRegistrations(PKG))[0]?.bootId).toMatch(/^unannounced:/);
  });

  it("points the app's webhook at the newest boot's serverUrl, and an older boot's refresh does not move it back", async () => {
    await service.register(body({ bootId: 'boot-0001', serverUrl: 'http://127.0.0.1:7010/' }));
    expect((await store.getApp(PKG))?.webhookUrl).toBe('http://127.0.0.1:7010/webhook');
    await service.register(body({ bootId: 'boot-0002', serverUrl: 'https://apps.example/notify' }));
    expect((await store.getApp(PKG))?.webhookUrl).toBe('https://apps.example/notify/webhook');
    // The old process is still draining and refreshes: the webhook stays with the newest.
    await service.register(body({ bootId: 'boot-0001', serverUrl: 'http://127.0.0.1:7010' }));
    expect((await store.getApp(PKG))?.webhookUrl).toBe('https://apps.example/notify/webhook');
  });
});

describe('POST /api/tpa/register on a running cloud', () => {
  let h: Awaited<ReturnType<typeof startTestCloud>>;
  let apiKey: string;
  let app: RecordingApp;
  let appPort: number;

  const post = (path: string, payload: unknown) =>
    fetch(`${h.cloud.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  const register = (payload: Record<string, unknown>) => post('/api/tpa/register', payload);

  beforeAll(async () => {
    h = await startTestCloud();
    const served = await h.serveApp(PKG, (key) => new RecordingApp({ packageName: PKG, apiKey: key }));
    ({ apiKey } = served);
    app = served.server as RecordingApp;
    appPort = served.port;
  });

  afterAll(async () => {
    await h?.close();
  });

  it('answers a wrong key with 401 and the code INVALID_API_KEY', async () => {
    const response = await register(body({ apiKey: 'tk_not-the-key', serverUrl: `http://127.0.0.1:${appPort}` }));
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ success: false, error: { code: 'INVALID_API_KEY', category: 'auth' } });
    expect(h.lines.find((l) => l.msg === 'app server registration refused')).toMatchObject({ code: 'INVALID_API_KEY', packageName: PKG });
  });

  it('answers an unknown package with 401 UNKNOWN_PACKAGE and a bad body with 400 INVALID_FIELDS, on the alias too', async () => {
    const unknown = await post('/api/app/register', body({ packageName: 'com.example.nobody' }));
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ error: { code: 'UNKNOWN_PACKAGE' } });
    const invalid = await post('/api/app/register', body({ apiKey, bootId: 'x' }));
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ success: false, error: { code: 'INVALID_FIELDS', category: 'format' } });
  });

  it('registers, lists the live sessions, and treats a new boot id as a restart that leaves running sessions alone', async () => {
    const glasses = await h.glassesFor('reg-user', [PKG]);
    await glasses.connect();
    await waitFor(() => h.cloud.sessions.appSession('reg-user', `reg-user-${PKG}`)?.getSnapshot().matches('running'));

    const serverUrl = `http://127.0.0.1:${appPort}`;
    const first = await register(body({ apiKey, serverUrl, bootId: 'first-boot' }));
    expect(first.status).toBe(200);
    const firstBody = (await first.json()) as { registrationId: string };
    expect(firstBody).toEqual({ success: true, registrationId: expect.any(String), activeSessions: [`reg-user-${PKG}`], restarted: false });

    const second = await register(body({ apiKey, serverUrl, bootId: 'second-boot' }));
    expect(await second.json()).toMatchObject({ success: true, activeSessions: [`reg-user-${PKG}`], restarted: true });
    expect((await h.cloud.store.listRegistrations(PKG)).map((r) => r.bootId)).toEqual(['second-boot', 'first-boot']);
    expect((await h.cloud.store.getApp(PKG))?.webhookUrl).toBe(`${serverUrl}/webhook`);
    await waitFor(() => h.lines.some((l) => l.msg === 'app server recovery finished'));
    // The session runs on an open socket: the recovery leaves it alone.
    expect(app.sessions).toHaveLength(1);
    expect(h.lines.find((l) => l.msg === 'app server recovery finished')).toMatchObject({ recovered: 0, skipped: 0 });
    await glasses.close();
  });

  it('answers the 11th registration of a package within a minute with 429 RATE_LIMITED and Retry-After', async () => {
    const pkg = 'com.example.ratelimited';
    const { apiKey: key } = await h.cloud.registerApp({ packageName: pkg, name: pkg, webhookUrl: 'http://127.0.0.1:1/webhook' });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const response = await register(body({ packageName: pkg, apiKey: key, bootId: `boot-${String(i).padStart(4, '0')}` }));
      statuses.push(response.status);
      if (i === 10) {
        expect(await response.json()).toMatchObject({ success: false, error: { code: 'RATE_LIMITED', category: 'system' } });
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(55);
      } else await response.body?.cancel();
    }
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
  });

  it("registers a Tether SDK AppServer by itself when it listens, moving the app's webhook to it", async () => {
    const pkg = 'com.example.selfregistering';
    const { apiKey: key } = await h.cloud.registerApp({ packageName: pkg, name: pkg, webhookUrl: 'http://127.0.0.1:1/webhook' });
    const server = new AppServer({ packageName: pkg, apiKey: key, cloudUrl: h.cloud.url, registrationRefreshMs: 100, version: '9.9.9' });
    try {
      const port = await server.listen(0, '127.0.0.1');
      await waitFor(() => (server.registrationStatus()?.registrations ?? 0) >= 3, { timeoutMs: 3000 });
      const history = await h.cloud.store.listRegistrations(pkg);
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({ serverUrl: `http://127.0.0.1:${port}`, version: '9.9.9', bootId: server.registrationStatus()?.bootId });
      expect(history[0]!.lastSeenAt).toBeGreaterThan(history[0]!.registeredAt);
      expect((await h.cloud.store.getApp(pkg))?.webhookUrl).toBe(`http://127.0.0.1:${port}/webhook`);
    } finally {
      await server.stop();
    }
  });
});
