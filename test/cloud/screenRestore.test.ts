/**
 * Issue 11 §3, screen restore: glasses that come back — a reconnect in grace, a network switch,
 * a restarted cloud — are shown each running app's current screen right after their ack, with a
 * real cloud, real sockets and SQLite, Tether SDK apps and an unmodified `@mentra/sdk` app.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { AppServer, type AppSession } from '../../src/sdk/index.js';
import type { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { serveMentraApp } from '../support/mentraApp.js';
import { sleep, waitFor } from '../support/net.js';

const ALPHA = 'com.example.alpha';
const BETA = 'com.example.beta';
const RESTORE_BOUND_MS = 1_000;

/** A Tether SDK app whose sessions the test draws with. */
class DrawingApp extends AppServer {
  readonly sessions = new Map<string, AppSession>();
  protected override async onSession(session: AppSession, _sessionId: string, userId: string): Promise<void> {
    this.sessions.set(userId, session);
  }
}

type Harness = Awaited<ReturnType<typeof startTestCloud>>;
const harnesses: Harness[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0).reverse()) await h.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function cloudWithApps(settings: Parameters<typeof startTestCloud>[0] = {}) {
  const h = await startTestCloud(settings);
  harnesses.push(h);
  const apps: Record<string, DrawingApp> = {};
  for (const packageName of [ALPHA, BETA]) {
    const { server } = await h.serveApp(packageName, (apiKey) => new DrawingApp({ packageName, apiKey, session: { reconnectDelayMs: 200 } }));
    apps[packageName] = server as DrawingApp;
  }
  return { h, alpha: apps[ALPHA]!, beta: apps[BETA]! };
}

async function sessionOf(app: DrawingApp, userId: string): Promise<AppSession> {
  await waitFor(() => app.sessions.get(userId)?.isConnectionHealthy(), { timeoutMs: 4000 });
  return app.sessions.get(userId)!;
}

/** What a display frame shows, as `package/view:content`. */
function shown(message: { packageName?: string | undefined; view?: string | undefined; layout: Record<string, unknown> }): string {
  const { layoutType, ...content } = message.layout;
  const text = Object.values(content).join('|');
  return `${(message.packageName ?? '').slice(12)}/${message.view ?? 'main'}:${String(layoutType)}:${text}`;
}

/** The frames the glasses got on socket `gen`, from its ack on, and how long after the ack each came. */
function framesOn(glasses: SimulatedGlasses, gen: number) {
  const frames = glasses.received.filter((f) => f.gen === gen);
  const ack = frames.find((f) => f.message.type === 'connection_ack');
  if (!ack) throw new Error(`no ack on socket ${gen}`);
  return {
    types: frames.map((f) => f.message.type),
    displays: frames.flatMap((f) => (f.message.type === 'display_event' ? [{ shown: shown(f.message), afterAckMs: f.receivedAt - ack.receivedAt, durationMs: f.message.durationMs }] : [])),
  };
}

async function displaysOn(glasses: SimulatedGlasses, gen: number, count: number) {
  await waitFor(() => glasses.displays.filter((d) => d.gen === gen).length >= count, { timeoutMs: 3000, message: `fewer than ${count} displays on socket ${gen}` });
  // Nothing more is coming: the restore is one pass.
  await sleep(100);
  return framesOn(glasses, gen);
}

describe('screen restore after a reconnect in grace', () => {
  it("shows each running app's current screen in every view within 1 s of the ack, the latest one each", async () => {
    const { h, alpha, beta } = await cloudWithApps();
    const g = await h.glassesFor('ada', [ALPHA, BETA]);
    await g.connect();
    const a = await sessionOf(alpha, 'ada');
    const b = await sessionOf(beta, 'ada');
    a.layouts.showTextWall('alpha first');
    b.layouts.showReferenceCard('Beta', 'beta card');
    a.layouts.showDashboardCard('left', 'right');
    a.layouts.showTextWall('alpha latest');
    await waitFor(() => g.displays.length === 4, { timeoutMs: 2000 });
    const before = framesOn(g, g.gen).displays.map((d) => d.shown);

    await g.reconnect();
    expect(h.cloud.sessions.get('ada')?.getSnapshot().value).toBe('connected');
    const after = await displaysOn(g, g.gen, 3);

    // The latest display of each app and view, in the order the glasses were first shown them
    // (the two apps' sockets race each other to the cloud, so that order is the cloud's).
    expect(after.displays.map((d) => d.shown)).toEqual(before.filter((d) => d !== 'alpha/main:text_wall:alpha first'));
    expect(new Set(after.displays.map((d) => d.shown))).toEqual(
      new Set(['beta/main:reference_card:Beta|beta card', 'alpha/dashboard:dashboard_card:left|right', 'alpha/main:text_wall:alpha latest']),
    );
    for (const d of after.displays) expect(d.afterAckMs).toBeLessThan(RESTORE_BOUND_MS);
    expect(after.types[0]).toBe('connection_ack');
    console.log(`[screenRestore] reconnect in grace: screens ${after.displays.map((d) => d.afterAckMs).join(', ')} ms after the ack`);
    // The app sessions were kept (grace), not started again: nobody drew after the reconnect.
    expect(alpha.sessions.size).toBe(1);
  });

  it('shows what an app drew while the glasses were away', async () => {
    const { h, alpha } = await cloudWithApps();
    const g = await h.glassesFor('bea', [ALPHA]);
    await g.connect();
    const a = await sessionOf(alpha, 'bea');
    a.layouts.showTextWall('before the drop');
    await waitFor(() => g.displays.length === 1, { timeoutMs: 2000 });
    await g.close();
    await waitFor(() => h.cloud.sessions.get('bea')?.getSnapshot().value === 'grace', { timeoutMs: 2000 });
    a.layouts.showTextWall('drawn in grace');
    await sleep(50);
    await g.connect();
    const after = await displaysOn(g, g.gen, 1);
    expect(after.displays.map((d) => d.shown)).toEqual(['alpha/main:text_wall:drawn in grace']);
  });

  it('sends app_state_change before the screens when the reconnect changes the running apps', async () => {
    const { h, alpha, beta } = await cloudWithApps();
    const g = await h.glassesFor('cy', [ALPHA]);
    await g.connect();
    (await sessionOf(alpha, 'cy')).layouts.showTextWall('alpha');
    await waitFor(() => g.displays.length === 1, { timeoutMs: 2000 });
    await g.close();
    g.setRunningApps([ALPHA, BETA]);
    await g.connect();
    const after = await displaysOn(g, g.gen, 1);
    expect(after.types.slice(0, 3)).toEqual(['connection_ack', 'app_state_change', 'display_event']);
    await sessionOf(beta, 'cy');
  });

  it('leaves out a timed display whose time is up and gives a live one only what it has left', async () => {
    const { h, alpha, beta } = await cloudWithApps();
    const g = await h.glassesFor('dee', [ALPHA, BETA]);
    await g.connect();
    const a = await sessionOf(alpha, 'dee');
    const b = await sessionOf(beta, 'dee');
    a.layouts.showTextWall('short toast', { durationMs: 200 });
    b.layouts.showTextWall('long toast', { durationMs: 60_000 });
    await waitFor(() => g.displays.length === 2, { timeoutMs: 2000 });
    await sleep(300);
    await g.reconnect();
    const after = await displaysOn(g, g.gen, 1);
    expect(after.displays.map((d) => d.shown)).toEqual(['beta/main:text_wall:long toast']);
    expect(after.displays[0]!.durationMs).toBeGreaterThan(55_000);
    expect(after.displays[0]!.durationMs).toBeLessThanOrEqual(59_700);
  });

  it('does not show the screen of an app the user stopped', async () => {
    const { h, alpha, beta } = await cloudWithApps();
    const g = await h.glassesFor('eve', [ALPHA, BETA]);
    await g.connect();
    (await sessionOf(alpha, 'eve')).layouts.showTextWall('alpha stays');
    (await sessionOf(beta, 'eve')).layouts.showTextWall('beta goes');
    await waitFor(() => g.displays.length === 2, { timeoutMs: 2000 });
    g.stopApp(BETA);
    await waitFor(() => h.cloud.sessions.appSession('eve', `eve-${BETA}`) === undefined, { timeoutMs: 3000 });
    await g.reconnect();
    const after = await displaysOn(g, g.gen, 1);
    expect(after.displays.map((d) => d.shown)).toEqual(['alpha/main:text_wall:alpha stays']);
  });

  it('shows the screens on the new socket of a network switch', async () => {
    const { h, alpha } = await cloudWithApps();
    const g = await h.glassesFor('fay', [ALPHA]);
    await g.connect();
    (await sessionOf(alpha, 'fay')).layouts.showTextWall('across the switch');
    await waitFor(() => g.displays.length === 1, { timeoutMs: 2000 });
    const oldGen = g.gen;
    await g.networkSwitch();
    expect(g.gen).not.toBe(oldGen);
    const after = await displaysOn(g, g.gen, 1);
    expect(after.displays.map((d) => d.shown)).toEqual(['alpha/main:text_wall:across the switch']);
    expect(after.displays[0]!.afterAckMs).toBeLessThan(RESTORE_BOUND_MS);
  });

  it('starts a session disposed after grace with a blank screen', async () => {
    const { h, alpha } = await cloudWithApps({ settings: { gracePeriodMs: 300 } });
    const g = await h.glassesFor('gus', [ALPHA]);
    await g.connect();
    (await sessionOf(alpha, 'gus')).layouts.showTextWall('from the old session');
    await waitFor(() => g.displays.length === 1, { timeoutMs: 2000 });
    await g.close();
    await waitFor(() => h.cloud.sessions.get('gus') === undefined, { timeoutMs: 3000 });
    await g.connect();
    await sleep(300);
    expect(framesOn(g, g.gen).displays).toEqual([]);
  });
});

describe('screen restore with an unmodified @mentra/sdk app', () => {
  /** Draws once, in onSession: that SDK never draws again on a reconnect by itself. */
  class MentraDrawingApp extends MentraAppServer {
    readonly live = new Map<string, MentraAppSession>();
    protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
      this.live.set(sessionId, session);
      session.layouts.showReferenceCard('Mentra', 'drawn once');
    }
  }

  it("shows the stock app's screen again after a reconnect in grace", async () => {
    const h = await startTestCloud();
    harnesses.push(h);
    await h.serveWebhook(ALPHA, (apiKey) => serveMentraApp(() => new MentraDrawingApp({ packageName: ALPHA, apiKey, port: 0 })));
    const g = await h.glassesFor('hal', [ALPHA]);
    await g.connect();
    await waitFor(() => g.displays.length === 1, { timeoutMs: 4000 });
    await g.reconnect();
    const after = await displaysOn(g, g.gen, 1);
    expect(after.displays.map((d) => d.shown)).toEqual(['alpha/main:reference_card:Mentra|drawn once']);
    expect(after.displays[0]!.afterAckMs).toBeLessThan(RESTORE_BOUND_MS);
  });
});

describe('screen restore after a cloud restart', () => {
  function dbFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tether-screens-'));
    dirs.push(dir);
    return join(dir, 'tether.db');
  }

  it('writes each screen to the store within a tick of drawing it, before any shutdown', async () => {
    const dbPath = dbFile();
    const { h, alpha } = await cloudWithApps({ settings: { dbPath } });
    const g = await h.glassesFor('ian', [ALPHA]);
    await g.connect();
    (await sessionOf(alpha, 'ian')).layouts.showTextWall('on disk');
    await waitFor(() => g.displays.length === 1, { timeoutMs: 2000 });
    await sleep(20);
    // What a SIGKILL now would leave: read by another connection while the cloud runs.
    const raw = new Database(dbPath, { readonly: true });
    const rows = raw.prepare<[], { session_id: string; frame: string }>('SELECT session_id, frame FROM screens').all();
    raw.close();
    expect(rows.map((r) => [r.session_id, (JSON.parse(r.frame) as { layout: { text: string } }).layout.text])).toEqual([[`ian-${ALPHA}`, 'on disk']]);
  });

  it('shows the screens drawn before the restart to glasses that return to the new process', async () => {
    const dbPath = dbFile();
    const timings = { dbPath, appReconnectWindowMs: 5000, gracePeriodMs: 5000 };
    const { h: first, alpha, beta } = await cloudWithApps({ settings: timings });
    const g = await first.glassesFor('joy', [ALPHA, BETA]);
    await g.connect();
    (await sessionOf(alpha, 'joy')).layouts.showTextWall('alpha before restart');
    // Two apps' sockets race: wait for the first screen so "oldest drawn first" has one answer.
    await waitFor(() => g.displays.length === 1, { timeoutMs: 2000 });
    (await sessionOf(beta, 'joy')).layouts.showDashboardCard('beta', 'dashboard');
    await waitFor(() => g.displays.length === 2, { timeoutMs: 2000 });
    const port = first.cloud.port;
    await first.cloud.close();

    const second = await startTestCloud({ settings: { ...timings, port } });
    harnesses.push(second);
    expect(second.cloud.restoredSessions).toBe(1);
    await g.connect();
    const after = await displaysOn(g, g.gen, 2);
    expect(after.displays.map((d) => d.shown)).toEqual(['alpha/main:text_wall:alpha before restart', 'beta/dashboard:dashboard_card:beta|dashboard']);
    for (const d of after.displays) expect(d.afterAckMs).toBeLessThan(RESTORE_BOUND_MS);
    console.log(`[screenRestore] after a restart: screens ${after.displays.map((d) => d.afterAckMs).join(', ')} ms after the ack`);
    // The apps come back to the new process by themselves; their sessions were never restarted.
    await waitFor(() => second.cloud.sessions.appSession('joy', `joy-${ALPHA}`)?.getSnapshot().hasTag('canSend'), { timeoutMs: 4000 });
    expect(alpha.sessions.size).toBe(1);
  });

  it('drops the stored screens of sessions that did not come back', async () => {
    const dbPath = dbFile();
    const { h: first, alpha } = await cloudWithApps({ settings: { dbPath } });
    const g = await first.glassesFor('kim', [ALPHA]);
    await g.connect();
    (await sessionOf(alpha, 'kim')).layouts.showTextWall('not for the next process');
    await waitFor(() => g.displays.length === 1, { timeoutMs: 2000 });
    const port = first.cloud.port;
    await first.cloud.close({ persist: false });
    const second = await startTestCloud({ settings: { dbPath, port } });
    harnesses.push(second);
    expect(second.cloud.restoredSessions).toBe(0);
    await sleep(20);
    expect(await second.cloud.store.loadScreens()).toEqual([]);
  });
});
