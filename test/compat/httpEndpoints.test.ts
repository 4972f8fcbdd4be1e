/**
 * Issue 12 §1, done-when: the HTTP endpoints an unmodified `@mentra/sdk` 2.1.29 app calls —
 * simple storage, settings (fetch, ack values, `settings_update` on a change from the glasses),
 * the permission check over HTTPS — work end to end against the cloud; storage data and setting
 * values survive a cloud restart on the same SQLite file; another app's or user's data is
 * refused; bad bodies get coded 400s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { afterEach, expect, it, vi } from 'vitest';
import type { CloudSettings } from '../../src/cloud/config.js';
import type { NewAppRequest } from '../../src/cloud/httpApi.js';
import { isCloudTtsUrl } from '../../src/cloud/tts.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { serveMentraApp, type ServedMentraApp } from '../support/mentraApp.js';
import { waitFor } from '../support/net.js';
import { selfSignedCertificate, trustSelfSignedCertificates } from '../support/tls.js';

const PKG = 'com.example.keeper';
const OTHER = 'com.example.other';

type Harness = Awaited<ReturnType<typeof startTestCloud>>;
type SettingsChange = Record<string, { oldValue: unknown; newValue: unknown }>;

/** A stock app that keeps its sessions and records settings changes and SDK errors. */
class KeeperApp extends MentraAppServer {
  readonly live = new Map<string, MentraAppSession>();
  readonly changes: SettingsChange[] = [];
  readonly errors: string[] = [];
  onSessionStart: (session: MentraAppSession) => void = () => {};

  protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
    this.live.set(sessionId, session);
    session.events.onError((error) => this.errors.push(error.message));
    session.settings.onChange((changes) => this.changes.push(changes));
    this.onSessionStart(session);
  }

  protected override async onStop(sessionId: string, userId: string, reason: string): Promise<void> {
    this.live.delete(sessionId);
    await super.onStop(sessionId, userId, reason);
  }
}

const definition: Pick<NewAppRequest, 'settings' | 'permissions'> = {
  settings: [
    { key: 'lang', type: 'select', label: 'Language', defaultValue: 'en', options: [{ label: 'English', value: 'en' }, { label: 'French', value: 'fr' }] },
    { key: 'volume', type: 'slider', label: 'Volume', min: 0, max: 10, defaultValue: 5 },
    { type: 'group', title: 'Display' },
  ],
  permissions: [{ type: 'CAMERA', description: 'photos' }],
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tether-http-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function cloudWith(settings: Partial<CloudSettings>): Promise<Harness> {
  const h = await startTestCloud({ settings });
  cleanups.push(() => h.close());
  return h;
}

/** Serves a stock app for `packageName` (registering it unless `apiKey` says it is already). */
async function serveKeeper(h: Harness, packageName: string, apiKey?: string): Promise<{ served: ServedMentraApp<KeeperApp>; apiKey: string }> {
  const key = apiKey ?? (await h.cloud.registerApp({ packageName, name: packageName, webhookUrl: 'http://127.0.0.1:1/webhook', ...definition })).apiKey;
  const served = await serveMentraApp(() => new KeeperApp({ packageName, apiKey: key, port: 0 }));
  cleanups.push(() => served.close());
  await h.cloud.store.setWebhookUrl(packageName, `http://127.0.0.1:${served.port}/webhook`);
  return { served, apiKey: key };
}

/** Connects `userId`'s glasses running `packageName` and resolves with the app's session. */
async function sessionOf(h: Harness, app: KeeperApp, userId: string, packageName = PKG) {
  const glasses = await h.glassesFor(userId, [packageName]);
  await glasses.connect();
  const sessionId = `${userId}-${packageName}`;
  const session = await waitFor(() => app.live.get(sessionId), { timeoutMs: 4000, message: 'onSession never ran' });
  return { glasses, session, sessionId };
}

function storage(h: Harness, userId: string, auth: string, init: RequestInit = {}, key?: string): Promise<Response> {
  const path = `/api/sdk/simple-storage/${encodeURIComponent(userId)}${key === undefined ? '' : `/${encodeURIComponent(key)}`}`;
  return fetch(`${h.cloud.url}${path}`, { ...init, headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' } });
}

async function codeOf(res: Response): Promise<unknown> {
  return ((await res.json()) as { error?: { code?: string } }).error?.code;
}

it('keeps simple storage per app and user across a cloud restart, and refuses other apps and users', async () => {
  const dbPath = join(tempDir(), 'tether.db');
  const first = await startTestCloud({ settings: { dbPath, simpleStorageMaxBytes: 2048, simpleStorageMaxValueBytes: 1024 } });
  cleanups.push(() => first.close());
  const { served, apiKey } = await serveKeeper(first, PKG);
  const { apiKey: otherKey } = await serveKeeper(first, OTHER);
  const { session } = await sessionOf(first, served.app, 'ann');

  // The SDK's own calls: first use GETs the namespace, set is flushed with PUT, delete is a DELETE.
  expect(await session.simpleStorage.get('greeting')).toBeUndefined();
  await session.simpleStorage.set('greeting', 'hello');
  await session.simpleStorage.setMultiple({ colour: 'blue', 'név': 'Ádám' });
  await session.simpleStorage.flush();
  expect(await (await storage(first, 'ann', `${PKG}:${apiKey}`)).json()).toEqual({
    success: true,
    data: { greeting: 'hello', colour: 'blue', 'név': 'Ádám' },
  });
  expect(await session.simpleStorage.delete('colour')).toBe(true);
  expect(await (await storage(first, 'ann', `${PKG}:${apiKey}`)).json()).toEqual({ success: true, data: { greeting: 'hello', 'név': 'Ádám' } });

  // Another app: its own key does not reach this app's namespace for a user it never ran for…
  expect(await codeOf(await storage(first, 'ann', `${OTHER}:${otherKey}`))).toBe('FORBIDDEN');
  // …nor does another app's key name this app; and this app never ran for bob.
  const wrongKey = await storage(first, 'ann', `${PKG}:${otherKey}`);
  expect([wrongKey.status, await codeOf(wrongKey)]).toEqual([401, 'INVALID_API_KEY']);
  const bob = await storage(first, 'bob', `${PKG}:${apiKey}`);
  expect([bob.status, await codeOf(bob)]).toEqual([403, 'FORBIDDEN']);
  expect(await codeOf(await storage(first, 'ann', 'garbage'))).toBe('UNAUTHORIZED');
  expect(await codeOf(await storage(first, 'ann', `com.example.nobody:${apiKey}`))).toBe('UNKNOWN_PACKAGE');
  // Once the other app runs for ann too, it has a namespace of its own: empty.
  await sessionOf(first, (await serveKeeper(first, OTHER, otherKey)).served.app, 'ann', OTHER);
  expect(await (await storage(first, 'ann', `${OTHER}:${otherKey}`)).json()).toEqual({ success: true, data: {} });

  // Bad bodies: coded 400s; oversize: 413, which the SDK turns into its quota error.
  const put = (body: string) => storage(first, 'ann', `${PKG}:${apiKey}`, { method: 'PUT', body });
  for (const body of ['{"data":{"k":1}}', '{}', '{"data":{"":"x"}}', '{"data":[]}']) {
    const res = await put(body);
    expect([res.status, await codeOf(res)], body).toEqual([400, 'INVALID_FIELDS']);
  }
  const notJson = await put('{"data":');
  expect([notJson.status, await codeOf(notJson)]).toEqual([400, 'INVALID_JSON']);
  const tooBig = await put(JSON.stringify({ data: { big: 'x'.repeat(1025) } }));
  expect([tooBig.status, await codeOf(tooBig)]).toEqual([413, 'MESSAGE_TOO_LARGE']);
  await session.simpleStorage.setMultiple({ a: 'x'.repeat(1020), b: 'y'.repeat(1020) });
  await expect(session.simpleStorage.flush()).rejects.toThrow('SimpleStorage total size exceeds 1MB limit');
  const overQuota = await put(JSON.stringify({ data: { c: 'z'.repeat(1020), d: 'w'.repeat(1020) } }));
  expect([overQuota.status, await codeOf(overQuota)]).toEqual([413, 'STORAGE_QUOTA_EXCEEDED']);
  expect(await (await storage(first, 'ann', `${PKG}:${apiKey}`)).json()).toEqual({ success: true, data: { greeting: 'hello', 'név': 'Ádám' } });

  // Restart on the same file: the namespace is there, and still ann's and this app's only.
  await first.close();
  const second = await cloudWith({ dbPath });
  expect(await (await storage(second, 'ann', `${PKG}:${apiKey}`)).json()).toEqual({ success: true, data: { greeting: 'hello', 'név': 'Ádám' } });
  expect(await codeOf(await storage(second, 'bob', `${PKG}:${apiKey}`))).toBe('FORBIDDEN');
  // Clearing is the SDK's DELETE of the whole namespace.
  expect(await (await storage(second, 'ann', `${PKG}:${apiKey}`, { method: 'DELETE' })).json()).toEqual({ success: true });
  expect(await (await storage(second, 'ann', `${PKG}:${apiKey}`)).json()).toEqual({ success: true, data: {} });
});

it('rate-limits simple storage per app and user with 429, which the SDK reports as its rate-limit error', async () => {
  const h = await cloudWith({ simpleStorageRequestsPerMinute: 3 });
  const { served, apiKey } = await serveKeeper(h, PKG);
  const { session } = await sessionOf(h, served.app, 'cleo');
  await session.simpleStorage.set('a', '1'); // GET: 1
  await session.simpleStorage.flush(); // PUT: 2
  await session.simpleStorage.set('b', '2');
  await session.simpleStorage.flush(); // PUT: 3
  await session.simpleStorage.set('c', '3');
  await expect(session.simpleStorage.flush()).rejects.toThrow('SimpleStorage rate limit exceeded.');
  const res = await storage(h, 'cleo', `${PKG}:${apiKey}`);
  expect([res.status, await codeOf(res), Number(res.headers.get('retry-after'))]).toEqual([429, 'RATE_LIMITED', expect.any(Number)]);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  // Refusals for strangers are not counted against the app.
  expect(await codeOf(await storage(h, 'cleo', `${PKG}:wrong`))).toBe('INVALID_API_KEY');
});

it('gives the app its settings with the user’s values, pushes a change from the glasses, and keeps it across a restart', async () => {
  const dbPath = join(tempDir(), 'tether.db');
  const first = await startTestCloud({ settings: { dbPath } });
  cleanups.push(() => first.close());
  const { served, apiKey } = await serveKeeper(first, PKG);
  const { glasses, session, sessionId } = await sessionOf(first, served.app, 'dora');

  // The ack carries the definitions with their defaults as values; fetch() reads the same.
  expect(session.settings.get('lang')).toBe('en');
  expect(session.settings.get('volume')).toBe(5);
  const fetched = await session.settings.fetch();
  expect(fetched.map((s) => [s.key, s.value])).toEqual([['lang', 'en'], ['volume', 5], [undefined, undefined]]);

  // A change from the glasses reaches settings.onChange, and the MentraOS settings stay as they were.
  const metricChanges: unknown[] = [];
  session.settings.onMentraosChange('metricSystemEnabled', (value) => metricChanges.push(value));
  glasses.send({ type: 'update_app_setting', packageName: PKG, key: 'lang', value: 'fr' });
  await waitFor(() => served.app.changes.some((c) => c['lang']?.newValue === 'fr'), { message: 'settings.onChange never fired' });
  expect(served.app.changes.at(-1)).toEqual({ lang: { oldValue: 'en', newValue: 'fr' } });
  expect(session.settings.get('lang')).toBe('fr');
  expect(session.settings.getMentraOS('0')).toBeUndefined();
  expect(metricChanges).toEqual([]);
  expect(served.app.errors).toEqual([]);
  expect((await session.settings.fetch()).find((s) => s.key === 'lang')?.value).toBe('fr');

  // Refused changes: coded connection_error frames, the socket stays open, nothing changes.
  const since = glasses.received.length;
  glasses.send({ type: 'update_app_setting', packageName: PKG, key: 'lang', value: 'de' });
  glasses.send({ type: 'update_app_setting', packageName: PKG, key: 'brightness', value: 3 });
  glasses.send({ type: 'update_app_setting', packageName: PKG, key: 'volume', value: 11 });
  glasses.send({ type: 'update_app_setting', packageName: 'com.example.nobody', key: 'lang', value: 'fr' });
  glasses.sendRaw(JSON.stringify({ type: 'update_app_setting', packageName: PKG, value: 1 }));
  const codes = () =>
    glasses.received
      .slice(since)
      .flatMap((frame) => (frame.message.type === 'connection_error' ? [frame.message.code] : []));
  await waitFor(() => codes().length === 5, { message: 'not every refusal was answered' });
  expect([...codes()].sort()).toEqual(['INVALID_FIELDS', 'INVALID_SETTING_VALUE', 'INVALID_SETTING_VALUE', 'UNKNOWN_PACKAGE', 'UNKNOWN_SETTING'].sort());
  expect(session.settings.get('lang')).toBe('fr');

  // Fetching needs the id of a session the cloud runs for that app.
  const fetchAs = (auth: string, packageName = PKG) =>
    fetch(`${first.cloud.url}/appsettings/user/${packageName}`, { headers: { authorization: `Bearer ${auth}` } });
  expect(await codeOf(await fetchAs('erin-com.example.keeper'))).toBe('SESSION_NOT_FOUND');
  expect(await codeOf(await fetchAs(sessionId, OTHER))).toBe('SESSION_NOT_FOUND');
  expect((await fetchAs('')).status).toBe(401);

  // Restart on the same file: a new session of the app is acked with the value the user chose.
  await first.close();
  const second = await cloudWith({ dbPath });
  const again = await serveKeeper(second, PKG, apiKey);
  const { session: later } = await sessionOf(second, again.served.app, 'dora');
  expect(later.settings.get('lang')).toBe('fr');
  expect(later.settings.get('volume')).toBe(5);
});

it('sets definitions and permissions through the admin API, refusing bad bodies with coded 400s', async () => {
  const h = await cloudWith({});
  const admin = (path: string, method: string, body: unknown, token = h.cloud.config.adminToken) =>
    fetch(`${h.cloud.url}${path}`, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  const created = await admin('/api/apps', 'POST', { packageName: PKG, name: 'Keeper', webhookUrl: 'http://127.0.0.1:1/webhook', permissions: [{ type: 'MICROPHONE' }] });
  expect(created.status).toBe(201);
  const permissionsOf = async () => (await fetch(`${h.cloud.url}/api/public/permissions/${PKG}`)).json();
  expect(await permissionsOf()).toEqual({ packageName: PKG, permissions: [{ type: 'MICROPHONE', description: '', _id: `${PKG}:MICROPHONE` }] });

  for (const body of [
    { settings: [{ key: 'x', type: 'dial' }] },
    { settings: [{ type: 'toggle', defaultValue: true }] },
    { settings: [{ key: 'x', type: 'select' }] },
    { settings: [{ key: 'x', type: 'toggle' }, { key: 'x', type: 'text' }] },
    { permissions: [{ type: 'TELEPATHY' }] },
    { settings: 'lang' },
  ]) {
    const res = await admin(`/api/apps/${PKG}/definition`, 'PUT', body);
    expect([res.status, await codeOf(res)], JSON.stringify(body)).toEqual([400, 'INVALID_FIELDS']);
  }
  const bad = await admin('/api/apps', 'POST', { packageName: OTHER, name: 'Other', webhookUrl: 'http://127.0.0.1:1/webhook', settings: [{ type: 'slider', key: 's' }] });
  expect([bad.status, await codeOf(bad)]).toEqual([400, 'INVALID_FIELDS']);
  expect(await codeOf(await admin(`/api/apps/${PKG}/definition`, 'PUT', { settings: [] }, 'not-the-admin-token'))).toBe('UNAUTHORIZED');
  expect(await codeOf(await admin(`/api/apps/com.example.nobody/definition`, 'PUT', { settings: [] }))).toBe('NOT_FOUND');
  expect(await codeOf(await fetch(`${h.cloud.url}/api/public/permissions/com.example.nobody`))).toBe('NOT_FOUND');

  // Replacing one part keeps the other.
  const set = await admin(`/api/apps/${PKG}/definition`, 'PUT', { settings: [{ key: 'on', type: 'toggle', defaultValue: true, label: 'On' }] });
  expect(await set.json()).toEqual({ success: true });
  expect(await permissionsOf()).toMatchObject({ permissions: [{ type: 'MICROPHONE' }] });

  // No speech synthesis here: a coded error at once, on every method.
  const tts = await fetch(`${h.cloud.url}/api/tts?text=hello`);
  expect([tts.status, await codeOf(tts)]).toEqual([501, 'TTS_UNAVAILABLE']);
  expect(isCloudTtsUrl(`https://127.0.0.1:${h.cloud.port}/api/tts?text=hi`, h.cloud.appUrl)).toBe(true);
  expect(isCloudTtsUrl('https://tts.example.com/api/tts?text=hi', h.cloud.appUrl)).toBe(false);
  expect(isCloudTtsUrl('not a url', h.cloud.appUrl)).toBe(false);
});

it('answers HTTPS and WSS on one port with TETHER_TLS_CERT, where the SDK’s permission check and a whole session work', async () => {
  const { tlsCert, tlsKey } = selfSignedCertificate(tempDir());
  // The SDK and the simulated glasses use Node's default trust store; this test's certificate is self-signed.
  cleanups.push(trustSelfSignedCertificates());
  const warnings: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void warnings.push(args.map(String).join(' ')));
  cleanups.push(() => log.mockRestore());

  const h = await cloudWith({ tlsCert, tlsKey });
  expect(h.cloud.url).toMatch(/^https:/);
  expect(h.cloud.appUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/app-ws$/);
  const { served, apiKey } = await serveKeeper(h, PKG);
  // Transcription needs MICROPHONE, which this app did not declare (it declared CAMERA): the SDK
  // fetches https://<cloud>/api/public/permissions/<pkg> and prints its warning.
  served.app.onSessionStart = (session) => void session.events.onTranscription(() => {});
  const { session } = await sessionOf(h, served.app, 'finn');
  await waitFor(() => warnings.some((line) => line.includes('microphone')), { timeoutMs: 4000, message: 'the SDK never checked its permissions' });

  // Storage and settings ride the same port over https (the SDK derives it from wss://).
  await session.simpleStorage.set('over', 'tls');
  await session.simpleStorage.flush();
  expect(await (await storage(h, 'finn', `${PKG}:${apiKey}`)).json()).toEqual({ success: true, data: { over: 'tls' } });
  expect((await session.settings.fetch()).map((s) => s.key)).toContain('lang');
  const permissions = await (await fetch(`${h.cloud.url}/api/public/permissions/${PKG}`)).json();
  expect(permissions).toEqual({ packageName: PKG, permissions: [{ type: 'CAMERA', description: 'photos', _id: `${PKG}:CAMERA` }] });
});

it('refuses to start with a TLS file it cannot read, naming the variable', async () => {
  const missing = join(tempDir(), 'missing.pem');
  await expect(startTestCloud({ settings: { tlsCert: missing, tlsKey: missing } })).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('TETHER_TLS_CERT') });
});
