/**
 * Issue 11, "patient resurrection", black-box and in real time: unmodified `@mentra/sdk` app
 * servers, each a child process (`fixtures/appProcess.ts`), that never call the
 * registration API. With 20 users connected, one server is killed (SIGKILL) for 20 s and another
 * for 60 s, then each is started again on the same port. Every session must be running again
 * within 15 s of its server's return, with exactly one new `onSession` each, and no registration.
 * Meanwhile the glasses show those apps as reconnecting, never as failed.
 *
 * Alongside, a third stock app releases its sessions with `clean_shutdown`: no `session_request`
 * may follow within 10 s (default `appReleaseWaitMs`, 30 s).
 *
 * Real seconds on purpose: this is the suite of real outages (`npm run test:chaos`); the timing
 * logic itself is tested on a simulated clock in `test/machines/appSession.test.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standingOf } from '../../machines/sessionApi.js';
import type { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { serveMentraApp, type MentraAppWithLiveSessions, type ServedMentraApp } from '../support/mentraApp.js';
import { freePort, sleep, waitFor } from '../support/net.js';
import type { AppChildReport, AppProcessConfig } from './fixtures/appProcess.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/appProcess.ts', import.meta.url));
const USERS = 20;
const SHORT = 'com.example.outage.short';
const LONG = 'com.example.outage.long';
const RELEASING = 'com.example.outage.release';
const RETURN_BOUND_MS = 15_000;
const userIdFor = (i: number) => `outage-${i}`;
const sessionIdOf = (userId: string, pkg: string) => `${userId}-${pkg}`;

interface AppProcess {
  child: ChildProcess;
  port: number;
  /** `onSession` calls by session id. */
  starts: Map<string, number>;
  exited: Promise<void>;
}

async function startAppProcess(packageName: string, apiKey: string, port: number): Promise<AppProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, CHAOS_APP: JSON.stringify({ sdk: 'mentra', packageName, apiKey, port } satisfies AppProcessConfig) },
  });
  const starts = new Map<string, number>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${packageName}: the app process did not start within 15 s`)), 15_000);
    child.once('exit', (code, signal) => reject(new Error(`${packageName}: the app process exited (${code ?? signal})`)));
    child.on('message', (message: AppChildReport) => {
      if (message.type === 'session') starts.set(message.sessionId, (starts.get(message.sessionId) ?? 0) + 1);
      else if (message.type === 'listening') {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
  });
  return { child, port: listening, starts, exited };
}

async function kill(app: AppProcess | undefined): Promise<void> {
  if (!app || app.child.exitCode !== null || app.child.signalCode !== null) return;
  app.child.kill('SIGKILL');
  await app.exited;
}

/** A stock app kept in this process, so the test can make its sessions release ownership. */
class ReleasingApp extends MentraAppServer implements MentraAppWithLiveSessions {
  readonly live = new Map<string, MentraAppSession>();
  readonly starts = new Map<string, number>();

  protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
    this.live.set(sessionId, session);
    this.starts.set(sessionId, (this.starts.get(sessionId) ?? 0) + 1);
  }
}

let h: Awaited<ReturnType<typeof startTestCloud>>;
const keys = new Map<string, string>();
const processes: AppProcess[] = [];
let releasing: ServedMentraApp<ReleasingApp> | undefined;
const glasses: SimulatedGlasses[] = [];
const figures: Record<string, number> = {};

const appState = (userId: string, pkg: string) => h.cloud.sessions.appSession(userId, sessionIdOf(userId, pkg))?.getSnapshot();
const runningCount = (pkg: string) =>
  Array.from({ length: USERS }, (_, i) => appState(userIdFor(i), pkg)).filter((s) => s !== undefined && standingOf(s) === 'running').length;
const sessionRequests = (pkg: string) =>
  h.lines.filter((l) => l.msg === 'webhook answered' || l.msg === 'webhook failed').filter((l) => l.webhookType === 'session_request' && String(l.correlationId).includes(pkg));
const errorsShown = (pkg: string) =>
  glasses.flatMap((g) => g.received).filter((f) => f.message.type === 'app_state_change' && f.message.error?.packageName === pkg);
const shownReconnecting = (pkg: string) =>
  glasses.filter((g) => g.received.some((f) => f.message.type === 'app_state_change' && f.message.reconnectingApps?.includes(pkg))).length;

beforeAll(async () => {
  // Production retry timings (the harness's short ones are dropped with `session: {}`), short
  // heartbeats so a dead app socket is seen at once.
  h = await startTestCloud({
    session: {},
    settings: { webhookTimeoutMs: 10_000, appReconnectWindowMs: 5000, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, gracePeriodMs: 60_000 },
  });
  for (const pkg of [SHORT, LONG, RELEASING]) {
    keys.set(pkg, (await h.cloud.registerApp({ packageName: pkg, name: pkg, webhookUrl: 'http://127.0.0.1:1/webhook' })).apiKey);
  }
  for (const pkg of [SHORT, LONG]) {
    const app = await startAppProcess(pkg, keys.get(pkg)!, await freePort());
    processes.push(app);
    await h.cloud.store.setWebhookUrl(pkg, `http://127.0.0.1:${app.port}/webhook`);
  }
  releasing = await serveMentraApp(() => new ReleasingApp({ packageName: RELEASING, apiKey: keys.get(RELEASING)!, port: 0 }));
  await h.cloud.store.setWebhookUrl(RELEASING, `http://127.0.0.1:${releasing.port}/webhook`);
  for (let i = 0; i < USERS; i++) {
    const g = await h.glassesFor(userIdFor(i), [SHORT, LONG, RELEASING]);
    await g.connect();
    glasses.push(g);
  }
  for (const pkg of [SHORT, LONG, RELEASING]) {
    await waitFor(() => runningCount(pkg) === USERS, { timeoutMs: 20_000, message: `${pkg}: ${runningCount(pkg)} running` });
  }
  // The cloud runs a session once its socket is acked; the SDK's onSession comes right after.
  await waitFor(() => releasing!.app.live.size === USERS, { timeoutMs: 5000, message: `${releasing.app.live.size} onSession` });
  // …and its webhook answer after that: the first session_requests are all logged before the test counts.
  await waitFor(() => sessionRequests(RELEASING).length === USERS, { timeoutMs: 5000, message: `${sessionRequests(RELEASING).length} answered` });
}, 60_000);

afterAll(async () => {
  for (const app of processes) await kill(app);
  await releasing?.close();
  await h?.close();
  console.log(`stock app outage: ${JSON.stringify(figures)}`);
});

describe('issue 11: stock @mentra/sdk app servers that stay down', () => {
  it.concurrent(
    'brings every session back within 15 s of the server’s return after 20 s and 60 s down, one onSession each, with no registration',
    async () => {
      const [short, long] = processes as [AppProcess, AppProcess];
      const requestsBefore = { [SHORT]: sessionRequests(SHORT).length, [LONG]: sessionRequests(LONG).length };
      const killedAt = performance.now();
      await Promise.all([kill(short), kill(long)]);

      const comeBack = async (pkg: string, old: AppProcess, downMs: number) => {
        await sleep(Math.max(0, downMs - (performance.now() - killedAt)));
        // Still desired and waited for by every user, nothing shown as failed.
        expect(runningCount(pkg)).toBe(0);
        const live = Array.from({ length: USERS }, (_, i) => appState(userIdFor(i), pkg)).filter((s) => s?.status === 'active');
        expect(live).toHaveLength(USERS);
        const back = await startAppProcess(pkg, keys.get(pkg)!, old.port);
        processes.push(back);
        const returnedAt = performance.now();
        await waitFor(() => runningCount(pkg) === USERS && back.starts.size === USERS, {
          timeoutMs: RETURN_BOUND_MS + 5000,
          intervalMs: 50,
          message: `${pkg}: ${runningCount(pkg)} running, ${back.starts.size} onSession`,
        });
        const tookMs = Math.round(performance.now() - returnedAt);
        figures[`${pkg}.downMs`] = downMs;
        figures[`${pkg}.backInMs`] = tookMs;
        figures[`${pkg}.requestsWhileDown`] = sessionRequests(pkg).length - requestsBefore[pkg as keyof typeof requestsBefore];
        expect(tookMs).toBeLessThanOrEqual(RETURN_BOUND_MS);
        // One new onSession per session, none twice.
        const expected = Array.from({ length: USERS }, (_, i) => sessionIdOf(userIdFor(i), pkg)).sort();
        expect([...back.starts.keys()].sort()).toEqual(expected);
        expect([...back.starts.values()].every((n) => n === 1)).toBe(true);
      };
      await Promise.all([comeBack(SHORT, short, 20_000), comeBack(LONG, long, 60_000)]);

      for (const pkg of [SHORT, LONG]) {
        // Stock apps never register: the cloud found the servers by itself.
        expect(await h.cloud.store.listRegistrations(pkg)).toEqual([]);
        expect(errorsShown(pkg)).toEqual([]);
        expect(shownReconnecting(pkg)).toBe(USERS);
        for (let i = 0; i < USERS; i++) {
          expect(h.cloud.sessions.get(userIdFor(i))?.getSnapshot().context.desiredApps).toContain(pkg);
        }
      }
      // One probe at a time while down, not one call per session per retry.
      const openLogs = h.lines.filter((l) => l.msg === 'app server unreachable: circuit open, one probe at a time');
      expect(openLogs.length).toBeGreaterThanOrEqual(2);
      expect(figures[`${LONG}.requestsWhileDown`]).toBeLessThan(USERS * 4);
    },
    150_000,
  );

  it.concurrent(
    'sends no session_request within 10 s of a clean_shutdown release',
    async () => {
      const app = releasing!.app;
      const before = sessionRequests(RELEASING).length;
      const released = [...app.live.values()];
      expect(released).toHaveLength(USERS);
      await Promise.all(released.map((session) => session.disconnect({ releaseOwnership: true, reason: 'clean_shutdown' })));
      await waitFor(() => Array.from({ length: USERS }, (_, i) => appState(userIdFor(i), RELEASING)?.value).every((v) => v === 'released'), {
        timeoutMs: 5000,
        message: `sessions not released: ${JSON.stringify(Array.from({ length: USERS }, (_, i) => appState(userIdFor(i), RELEASING)?.value))}`,
      });
      await sleep(10_000);
      expect(sessionRequests(RELEASING).length - before).toBe(0);
      expect([...app.starts.values()].every((n) => n === 1)).toBe(true);
      expect(errorsShown(RELEASING)).toEqual([]);
      for (let i = 0; i < USERS; i++) {
        expect(h.cloud.sessions.get(userIdFor(i))?.getSnapshot().context.desiredApps).toContain(RELEASING);
      }
    },
    60_000,
  );
});
