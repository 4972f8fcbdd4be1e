/**
 * Issue 5, "restart recovery" (seed 02 §3.4): 200 users with 2 apps each, both apps served by
 * one Tether SDK app-server process (a child process, `fixtures/restartAppServer.ts`). The
 * process is killed with SIGKILL and started again on other ports; once it has registered
 * (registration moves the webhooks to the new ports), every session is `running` again, no
 * session was started twice, and the glasses saw no error from the recovery. The time from the
 * cloud's answer to the registration to the last session running is reported, with its p95.
 *
 * The cloud runs with production timings (app reconnect window 5 s, webhook retries from 1 s
 * with backoff, 10 s webhook timeout, ten minutes of patience), and the app server comes back
 * once the sessions are waiting out its absence: none fails meanwhile (issue 11), and the
 * registration brings them all back. (Sessions whose patience ran out, with no session left,
 * come back too: `recovery.test.ts`.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { InspectionEvent } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../../src/sim/fleet.js';
import { startTestCloud, type LogLine } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';
import type { ChildReport } from './fixtures/restartAppServer.js';

const USERS = 200;
const PACKAGES = ['com.example.recover.alpha', 'com.example.recover.beta'] as const;
const userIdFor = (index: number) => `rr-${index}`;
const sessionIdOf = (userId: string, packageName: string) => `${userId}-${packageName}`;
const FIXTURE = fileURLToPath(new URL('./fixtures/restartAppServer.ts', import.meta.url));

/** Production timings (ARCHITECTURE.md defaults), so the app server's death plays out as it would. */
const productionTimings = {
  gracePeriodMs: 60_000,
  heartbeatIntervalMs: 15_000,
  heartbeatTimeoutMs: 45_000,
  restartThresholdMs: 30_000,
  appReconnectWindowMs: 5000,
  webhookTimeoutMs: 10_000,
};

interface AppServerProcess {
  child: ChildProcess;
  ports: number[];
  /** onSession calls by session id. */
  starts: Map<string, number>;
  exited: Promise<void>;
}

/** Starts the app-server process and resolves once both of its servers listen. */
async function startAppServerProcess(cloudUrl: string, apps: Array<{ packageName: string; apiKey: string }>): Promise<AppServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, TETHER_CLOUD_URL: cloudUrl, RESTART_TEST_APPS: JSON.stringify(apps) },
  });
  const starts = new Map<string, number>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ports = await new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the app-server process did not start within 10 s')), 10_000);
    child.once('exit', (code, signal) => reject(new Error(`the app-server process exited (${code ?? signal})`)));
    child.on('message', (message: ChildReport) => {
      if (message.type === 'session') starts.set(message.sessionId, (starts.get(message.sessionId) ?? 0) + 1);
      else if (message.type === 'listening') {
        clearTimeout(timer);
        resolve(message.ports);
      }
    });
  });
  return { child, ports, starts, exited };
}

async function kill(server: AppServerProcess | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGKILL');
  await server.exited;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

let h: Awaited<ReturnType<typeof startTestCloud>>;
let fleet: Fleet | undefined;
let first: AppServerProcess | undefined;
let second: AppServerProcess | undefined;
const keys: Array<{ packageName: string; apiKey: string }> = [];
/** When each session was first seen `running` after the restart began (epoch ms), by session id. */
const runningAt = new Map<string, number>();
let watchRunning = false;
const figures = { atRestart: '', failedAtRegistration: 0, lastMs: 0, p95Ms: 0, p50Ms: 0, recovered: 0, selfRecovered: 0 };

/** Records the first `running` snapshot of every app session once {@link watchRunning} is set. */
function watch(event: InspectionEvent): void {
  if (!watchRunning || event.type !== '@xstate.snapshot') return;
  const snapshot = event.snapshot as { value?: unknown; context?: { sessionId?: unknown } };
  const sessionId = snapshot.context?.sessionId;
  if (typeof sessionId !== 'string' || runningAt.has(sessionId)) return;
  if (snapshot.value === 'running') runningAt.set(sessionId, Date.now());
}

/** Where each of the 400 app sessions stands on the cloud: a top state, or `failed` (desired, no session). */
function sessionStates(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < USERS; i++) {
    const userId = userIdFor(i);
    for (const pkg of PACKAGES) {
      const value = h.cloud.sessions.appSession(userId, sessionIdOf(userId, pkg))?.getSnapshot().value;
      const state = value === undefined ? 'failed' : typeof value === 'string' ? value : Object.entries(value as object).map(([k, v]) => `${k}.${String(v)}`)[0]!;
      counts[state] = (counts[state] ?? 0) + 1;
    }
  }
  return counts;
}

const running = () => sessionStates().running ?? 0;
const errorFrames = () =>
  fleet!.glasses.flatMap((g) => g.received).filter((f) => f.message.type === 'app_state_change' && 'error' in f.message && f.message.error);

async function recoveries(outcome: string): Promise<number> {
  const line = (await h.cloud.metrics.render()).split('\n').find((l) => l.startsWith(`tether_app_recoveries_total{outcome="${outcome}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

beforeAll(async () => {
  h = await startTestCloud({
    settings: productionTimings,
    session: { webhookRetry: { baseDelayMs: 1000, maxDelayMs: 10_000 }, appConnectTimeoutMs: 10_000 },
    inspect: watch,
  });
  for (const packageName of PACKAGES) {
    keys.push(await h.cloud.registerApp({ packageName, name: packageName, webhookUrl: 'http://127.0.0.1:1/webhook' }));
  }
}, 15_000);

afterAll(async () => {
  await kill(first);
  await kill(second);
  await fleet?.closeAll();
  await h?.close();
  console.log(
    `restart recovery: ${USERS} users × ${PACKAGES.length} apps; when the process was started again: ${figures.atRestart}; ` +
      `when it had registered: ${figures.failedAtRegistration} failed (each shown as an app_state_change error), ` +
      `${USERS * PACKAGES.length - figures.failedAtRegistration} still retrying; after registration ` +
      `every session running in ${figures.lastMs} ms (p50 ${figures.p50Ms} ms, p95 ${figures.p95Ms} ms per session); ` +
      `${figures.recovered} brought back by the recovery, ${figures.selfRecovered} by their own webhook retry`,
  );
});

describe('seed 02 §3.4: an app server killed with SIGKILL and started again', () => {
  it('runs 400 app sessions on one app-server process', async () => {
    first = await startAppServerProcess(h.cloud.url, keys);
    for (const [i, packageName] of PACKAGES.entries()) {
      await waitFor(async () => (await h.cloud.store.getApp(packageName))?.webhookUrl === `http://127.0.0.1:${first!.ports[i]}/webhook`, {
        timeoutMs: 5000,
        message: `${packageName} did not register`,
      });
      expect(await h.cloud.store.listRegistrations(packageName)).toHaveLength(1);
    }

    fleet = await startFleet({
      url: h.cloud.glassesUrl,
      count: USERS,
      concurrency: 25,
      userIdFor,
      tokens: (userId) => h.cloud.createGlassesToken(userId),
      runningApps: PACKAGES,
    });
    expect(fleet.failures).toEqual([]);
    await waitFor(() => running() === USERS * PACKAGES.length, {
      timeoutMs: 20_000,
      intervalMs: 50,
      message: `app sessions: ${JSON.stringify(sessionStates())}`,
    });
    // Each onSession runs after the ack, so its report may trail the cloud's `running`.
    await waitFor(() => first!.starts.size === USERS * PACKAGES.length, { timeoutMs: 2000, message: `${first.starts.size} sessions reported` });
    expect([...first.starts.values()].every((n) => n === 1)).toBe(true);
  }, 30_000);

  it('brings every session back once the restarted server registers, none started twice', async () => {
    await kill(first);
    // The cloud sees every app socket drop (1006) and starts waiting for the apps to come back.
    await waitFor(() => running() === 0, { timeoutMs: 5000, message: `still running: ${JSON.stringify(sessionStates())}` });
    // The server takes a while to come back: by then the sessions have failed against the dead
    // port and are backing off (its circuit open, one probe at a time), shown as reconnecting.
    await waitFor(() => (sessionStates()['starting.backingOff'] ?? 0) >= USERS, {
      timeoutMs: 15_000,
      intervalMs: 20,
      message: `states: ${JSON.stringify(sessionStates())}`,
    });
    figures.atRestart = Object.entries(sessionStates())
      .map(([state, n]) => `${n} ${state}`)
      .join(', ');
    const linesBefore = h.lines.length;

    watchRunning = true;
    second = await startAppServerProcess(h.cloud.url, keys);
    await waitFor(() => running() === USERS * PACKAGES.length, {
      timeoutMs: 20_000,
      intervalMs: 20,
      message: `app sessions: ${JSON.stringify(sessionStates())}`,
    });

    // The cloud's answer to each registration: the log line written as it answers.
    const lines = h.lines as Array<LogLine & { packageName?: string; restarted?: boolean; time?: number }>;
    const registered = new Map<string, number>();
    const registeredLine = new Map<string, number>();
    for (let i = linesBefore; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.msg === 'app server registered' && line.restarted === true && line.packageName) {
        registered.set(line.packageName, line.time!);
        registeredLine.set(line.packageName, i);
      }
    }
    expect([...registered.keys()].sort()).toEqual([...PACKAGES]);
    for (const [i, packageName] of PACKAGES.entries()) {
      expect((await h.cloud.store.getApp(packageName))?.webhookUrl).toBe(`http://127.0.0.1:${second.ports[i]}/webhook`);
      expect(await h.cloud.store.listRegistrations(packageName)).toHaveLength(2);
    }

    // Every session started exactly once by the new process.
    const expected = PACKAGES.flatMap((pkg) => Array.from({ length: USERS }, (_, i) => sessionIdOf(userIdFor(i), pkg))).sort();
    await waitFor(() => second!.starts.size === expected.length, { timeoutMs: 2000, message: `${second.starts.size} sessions reported` });
    expect([...second.starts.keys()].sort()).toEqual(expected);
    expect([...second.starts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    // And the cloud sent the new process exactly one session_request per session (each is logged
    // when it has answered, which is after that session's onSession).
    const newServers = second.ports.map((port) => `http://127.0.0.1:${port}/webhook`);
    const sessionRequests = () => {
      const counts = new Map<string, number>();
      for (const line of lines.slice(linesBefore) as Array<LogLine & { url?: string; correlationId?: string; webhookType?: string }>) {
        if (line.webhookType !== 'session_request' || !line.url || !newServers.includes(line.url)) continue;
        if (line.msg !== 'webhook answered' && line.msg !== 'webhook failed') continue;
        const parts = line.correlationId!.split(':');
        const sessionId = parts[0] === 'recovery' ? parts.slice(2).join(':') : parts.slice(1, -2).join(':');
        counts.set(sessionId, (counts.get(sessionId) ?? 0) + 1);
      }
      return counts;
    };
    await waitFor(() => sessionRequests().size === expected.length, { timeoutMs: 2000, message: `${sessionRequests().size} webhooks answered` });
    const requests = sessionRequests();
    expect([...requests.keys()].sort()).toEqual(expected);
    expect([...requests.entries()].filter(([, n]) => n !== 1)).toEqual([]);

    // The glasses were shown nothing from the recovery. Each app_state_change error they got is a
    // session that failed while its server was down, before that server registered again (the
    // registry logs every failure in the tick it sends the frame); none failed afterwards.
    const failures = lines.flatMap((line, i) => (line.msg === 'app session failed' ? [{ i, packageName: line.packageName! }] : []));
    expect(failures.filter((f) => f.i > registeredLine.get(f.packageName)!)).toEqual([]);
    figures.failedAtRegistration = failures.length;
    // Patience: a server away for seconds fails no session.
    expect(figures.failedAtRegistration).toBe(0);
    await waitFor(() => errorFrames().length === failures.length, { timeoutMs: 1000, message: `${errorFrames().length} error frames` });
    for (let i = 0; i < USERS; i++) {
      expect(h.cloud.sessions.get(userIdFor(i))?.getSnapshot().context.desiredApps).toEqual([...PACKAGES]);
    }

    const delays = expected.map((sessionId) => {
      const pkg = PACKAGES.find((p) => sessionId.endsWith(`-${p}`))!;
      return runningAt.get(sessionId)! - registered.get(pkg)!;
    });
    const sorted = delays.sort((a, b) => a - b);
    figures.lastMs = sorted.at(-1)!;
    figures.p95Ms = percentile(sorted, 95);
    figures.p50Ms = percentile(sorted, 50);
    figures.recovered = await recoveries('recovered');
    figures.selfRecovered = expected.length - figures.recovered;
    expect(await recoveries('failed')).toBe(0);
    // A failed session has no actor left to retry: only the recovery brings it back.
    expect(figures.recovered).toBeGreaterThanOrEqual(figures.failedAtRegistration);
    // The seed's target is < 2 s at the 95th percentile. It is reported, not asserted: the
    // figure is the app-server process's CPU time for 400 session starts, and these machines
    // are shared (see docs/RELIABILITY.md for the figures and the conditions they were taken in).
  }, 45_000);
});
