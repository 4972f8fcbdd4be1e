/**
 * The inspector on a real cloud: its actors appear in the hub, the page feed on `/inspector/ws`
 * shows them changing (hello, batches, select → detail and records, export), an SDK app server
 * streams its `appConnection` actors in through `/inspector/ingest`, the export is served over
 * HTTP, and nothing secret reaches the page.
 */
import { createActor } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestInspector, type IngestInspector } from '../../inspector/ingestClient.js';
import type { Trace } from '../../inspector/protocol.js';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';
import type { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { FeedClient, SECRETS, secretMachine } from './support.js';

const PKG = 'com.example.inspected';
const USER = 'inspected@example.com';

let h: Awaited<ReturnType<typeof startTestCloud>>;
let ingest: IngestInspector;
let apiKey: string;
let glasses: SimulatedGlasses;
let glassesToken: string;
let page: FeedClient;

beforeAll(async () => {
  h = await startTestCloud();
  const ws = h.cloud.url.replace('http', 'ws');
  ingest = createIngestInspector({ url: `${ws}/inspector/ingest`, source: PKG });
  const served = await h.serveApp(PKG, (key) => new RecordingApp({ packageName: PKG, apiKey: key, inspect: ingest.inspect }));
  apiKey = served.apiKey;
  page = new FeedClient(`${ws}/inspector/ws`);
  await page.open();
  glasses = await h.glassesFor(USER, [PKG]);
  glassesToken = await h.cloud.createGlassesToken(USER);
  await glasses.connect();
  await waitFor(() => h.cloud.sessions.appSession(USER, `${USER}-${PKG}`)?.getSnapshot().matches('running'), { timeoutMs: 5000 });
});

afterAll(async () => {
  await page?.close();
  await h?.close();
  await ingest?.close();
});

describe('inspector on a running cloud', () => {
  it('has every session actor in the hub, with user and package', () => {
    const hub = h.cloud.inspector!;
    const user = hub.list().find((s) => s.systemId === `userSession:${USER}`);
    const app = hub.list().find((s) => s.systemId === `appSession:${USER}-${PKG}`);
    expect(user).toMatchObject({ source: 'cloud', machineId: 'userSession', userId: USER, status: 'active', value: 'connected' });
    expect(app).toMatchObject({ source: 'cloud', machineId: 'appSession', userId: USER, packageName: PKG, parentId: user?.id });
    expect(JSON.stringify(app?.value)).toContain('running');
  });

  it('streams the SDK app server’s appConnection actors through the ingest endpoint', async () => {
    const isOpen = (value: unknown) => typeof value === 'object' && value !== null && 'open' in value;
    const remote = await waitFor(() => h.cloud.inspector!.list().find((s) => s.source === PKG && isOpen(s.value)), { timeoutMs: 3000 });
    expect(remote).toMatchObject({ machineId: 'appConnection', packageName: PKG, userId: USER, status: 'active' });
    expect(remote.id.startsWith(`${PKG}/`)).toBe(true);
    const update = await page.next('actors', (m) => m.upserts.some((u) => u.id === remote.id));
    expect(update.upserts.find((u) => u.id === remote.id)?.source).toBe(PKG);
  });

  it('shows the user session passing through grace and back on the page feed', async () => {
    await page.next('hello');
    const userId = h.cloud.inspector!.list().find((a) => a.systemId === `userSession:${USER}`)?.id;
    expect(userId).toBeDefined();
    page.send({ type: 'select', id: userId });
    const detail = await page.next('detail', (m) => m.id === userId);
    expect(detail.definition?.id).toBe('userSession');
    expect(detail.snapshot).toMatchObject({ value: 'connected', status: 'active', tags: ['canSend'] });

    const from = page.messages.length;
    glasses.forceQuit();
    await page.next('actors', (m) => m.upserts.some((u) => u.id === userId && u.value === 'grace'), { from, timeoutMs: 5000 });
    await glasses.connect();
    await page.next('actors', (m) => m.upserts.some((u) => u.id === userId && JSON.stringify(u.value).includes('connected')), { from });
    const records = await page.next('records', (m) => m.id === userId && m.records.some((r) => r.kind === 'transition' && r.from === 'grace'), { from });
    expect(records.snapshot.value).toEqual('connected');
    const transitions = page.messages
      .slice(from)
      .flatMap((m) => (m.type === 'records' && m.id === userId ? m.records : []))
      .filter((r) => r.kind === 'transition')
      .map((r) => r.to);
    expect(transitions).toEqual(['grace', 'connected']);
  });

  it('exports one user’s trace over the feed and over HTTP', async () => {
    page.send({ type: 'export', userId: USER });
    const { trace } = await page.next('export');
    const kinds = trace.actors.map((a) => `${a.summary.source}:${a.summary.machineId}`).sort();
    expect(kinds).toEqual(expect.arrayContaining(['cloud:appSession', 'cloud:userSession', `${PKG}:appConnection`]));
    expect(trace.actors.every((a) => a.snapshots.length > 0 && a.records.length > 0)).toBe(true);

    const res = await fetch(`${h.cloud.url}/inspector/export?userId=${encodeURIComponent(USER)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="tether-trace-user-/);
    const overHttp = (await res.json()) as Trace;
    expect(overHttp.version).toBe(1);
    expect(overHttp.actors.length).toBe(trace.actors.length);
    const userActor = trace.actors.find((a) => a.summary.machineId === 'userSession')!;
    const one = (await (await fetch(`${h.cloud.url}/inspector/export?actor=${userActor.summary.id}`)).json()) as Trace;
    expect(one.actors[0]?.summary.id).toBe(userActor.summary.id);
    expect((await fetch(`${h.cloud.url}/inspector/export`)).status).toBe(400);
  });

  it('serves the page and its layout library from this process', async () => {
    const redirect = await fetch(`${h.cloud.url}/inspector?x=1`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/inspector/?x=1');
    const index = await fetch(`${h.cloud.url}/inspector/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    const elk = await fetch(`${h.cloud.url}/inspector/vendor/elk.bundled.js`);
    expect(elk.status).toBe(200);
    expect((await fetch(`${h.cloud.url}/inspector/no-such-file.js`)).status).toBe(404);
  });

  it('never lets a secret reach the page', async () => {
    // An actor holding secrets in its context and events, on the cloud's own hub.
    const actor = createActor(secretMachine, { input: { userId: USER }, inspect: h.cloud.inspector!.inspect }).start();
    actor.send({ type: 'start' });
    actor.send({ type: 'next', authorization: `Bearer ${SECRETS.token}` });
    page.send({ type: 'select', id: actor.sessionId });
    await page.next('detail', (m) => m.id === actor.sessionId);
    page.send({ type: 'export', userId: USER });
    const from = page.messages.length;
    await page.next('export', () => true, { from: from - 1 });
    actor.send({ type: 'finish' });
    await page.next('records', (m) => m.id === actor.sessionId && m.snapshot.status === 'done');

    const everything = page.raw.join('\n');
    for (const secret of [...Object.values(SECRETS), apiKey, glassesToken]) expect(everything).not.toContain(secret);
    expect(everything).toContain('[redacted]');
  });
});
