/**
 * Cloud restart (issue 13 §3): `users` users (default 1,000), each with glasses and one app on
 * unmodified `@mentra/sdk` 2.1; the cloud is stopped with SIGTERM and started again on the same
 * port and database, as a supervisor (systemd, a container runtime) does.
 *
 * The cloud runs as in production: compiled and bundled JavaScript (`node dist/bundle/cloud.mjs`,
 * built first by `npm run build`) in a child process configured by environment only, on SQLite. The
 * app server (the stock SDK's express app, served on 127.0.0.1; `AppServer.start()` is never
 * called) and the glasses (`SimulatedGlasses`, each retrying every 100–200 ms once the cloud
 * closed its socket) live in this process; a proxy in front of the webhook counts
 * `session_request`s by session.
 *
 * Per round, times from the SIGTERM: the old process gone (`shutdown`), the new one printing its
 * banner (`answering`; the goal is < 1,000 ms), the last glasses acked again (`glassesBack`) and
 * the last app session acked again (`appsAcked`; the goal is < 2,000 ms). Sessions the SDK gave
 * up (`onStop`) and second `session_request`s must both be 0.
 *
 * The baseline is the stock SDK's patience, measured in the same run on the same sessions: after
 * the last round the cloud is stopped for good and its port answers every upgrade with 503;
 * the upgrades that arrive give the SDK's retry schedule (≈ +1 s and ≈ +3 s), and its `onStop`
 * the moment it gives up (≈ +6 s). `ratio` = appsAcked / that moment: the share of a stock app's
 * patience a restart uses, which must stay under 1.
 *
 * Run alone: `npx tsx bench/restart.ts [--quick] [--label <text>]`; writes
 * `bench/results/restart.json`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { createCoreToken } from '../src/cloud/glassesAuth.js';
import { SimulatedGlasses } from '../src/sim/glassesClient.js';
import { CLOUD_PROCESS_SECRET, createAppOver, startCloudProcess, type CloudProcess } from '../test/support/cloudProcess.js';
import { serveMentraApp, type MentraAppWithLiveSessions } from '../test/support/mentraApp.js';
import { freePort } from '../test/support/net.js';
import { countWebhooks } from '../test/support/webhookCounter.js';
import { watchChild } from './support/children.js';
import { fixed, isMain, median, parseFlags, percentile, sleep, table, until, withDeadline, writeResult, type BenchFigures } from './support/report.js';

const PACKAGE = 'com.bench.restart';
const ENTRY = 'dist/bundle/cloud.mjs';
const GOAL_ANSWERING_MS = 1000;
const GOAL_BACK_MS = 2000;
/** Glasses retry a refused connection after this, plus up to as much again of jitter, in ms. */
const GLASSES_RETRY_MS = 100;
const CONNECT_BATCH = 50;
/** Upgrades of the stock SDK's retries closer than this belong to one wave, in ms. */
const WAVE_GAP_MS = 300;
/** Production timings, not the test defaults of `startCloudProcess`. */
const CLOUD_ENV = {
  TETHER_HEARTBEAT_INTERVAL_MS: '15000',
  TETHER_HEARTBEAT_TIMEOUT_MS: '45000',
  TETHER_GRACE_PERIOD_MS: '60000',
  TETHER_APP_RECONNECT_WINDOW_MS: '8000',
};

/** Parameters of {@link runRestart}. */
export interface RestartOptions {
  /** Users, each with glasses and one `@mentra/sdk` app session; default 1,000. */
  users?: number;
  /** Restarts, one after the other on the same population; default 3. */
  rounds?: number;
  label?: string;
  log?: (line: string) => void;
}

type Params = Required<Omit<RestartOptions, 'label' | 'log'>>;

/** One restart's times from the SIGTERM, in ms. */
interface RoundFigures {
  shutdownMs: number;
  /** Spawn to banner of the new process. */
  startMs: number;
  answeringMs: number;
  glassesBackMs: number;
  /** p50 and last of the app sessions' new acks. */
  appsAckedP50Ms: number;
  appsAckedMs: number;
  givenUp: number;
  secondWebhooks: number;
  /** Upgrades the new process refused (`tether_connections_refused_total`), by reason. */
  refused: Record<string, number>;
}

/** What the stock SDK does when the cloud stays away, from the SIGTERM, in ms. */
interface StockPatience {
  /** Median time of each wave of retries (upgrades less than {@link WAVE_GAP_MS} apart are one wave). */
  retriesMs: number[];
  /** Upgrades in each wave: as many as sessions when every session retried then. */
  retryCounts: number[];
  /** Median time of `onStop` ("Maximum reconnection attempts exceeded"). */
  givesUpMs: number;
  gaveUp: number;
}

/** Result of {@link runRestart}: headline appsAcked (median over rounds) against the stock SDK's last retry. */
export type RestartResult = BenchFigures & {
  params: Params & { entry: string; glassesRetryMs: number; buildMs: number };
  medians: Omit<RoundFigures, 'givenUp' | 'secondWebhooks' | 'refused'>;
  givenUp: number;
  secondWebhooks: number;
  stock: StockPatience;
  perRound: RoundFigures[];
};

/** A stock app that notes when each session was acked and why it stopped. */
class TimedMentraApp extends MentraAppServer implements MentraAppWithLiveSessions {
  readonly live = new Map<string, MentraAppSession>();
  readonly acks = new Map<string, number[]>();
  readonly stops: Array<{ at: number; reason: string }> = [];
  protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
    this.live.set(sessionId, session);
    const ack = () => this.acks.set(sessionId, [...(this.acks.get(sessionId) ?? []), performance.now()]);
    // onSession runs after the first ack; `connected` fires on every later one.
    ack();
    session.events.onConnected(ack);
  }
  protected override async onStop(sessionId: string, userId: string, reason: string): Promise<void> {
    this.stops.push({ at: performance.now(), reason });
    this.live.delete(sessionId);
    await super.onStop(sessionId, userId, reason);
  }
}

/** The new process's `tether_connections_refused_total`, by reason (it counts from its start). */
async function refusals(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const refused: Record<string, number> = {};
  for (const [, reason, value] of text.matchAll(/^tether_connections_refused_total\{reason="(\w+)"\} (\d+)/gm)) refused[reason as string] = Number(value);
  return refused;
}

/** Glasses that reconnect by themselves whenever the cloud closes their socket. */
class Wearer {
  readonly glasses: SimulatedGlasses;
  backAt = 0;
  private stopped = false;
  constructor(url: string, token: string) {
    this.glasses = new SimulatedGlasses({ url, token, runningApps: [PACKAGE], record: false });
    this.glasses.on('close', (event) => {
      if (event.initiatedBy === 'server' && !this.stopped) void this.comeBack();
    });
  }
  private async comeBack(): Promise<void> {
    for (;;) {
      await sleep(GLASSES_RETRY_MS * (1 + Math.random()));
      if (this.stopped) return;
      const ok = await this.glasses.connect().then(() => true, () => false);
      if (ok) {
        this.backAt = performance.now();
        return;
      }
    }
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.glasses.destroy();
  }
}

/**
 * Runs `body` with `console.log` muted: the stock SDK prints a line per session it disconnects
 * ("SimpleStorage flushed on disconnect") straight to the console, past its silenced logger.
 */
async function quietly<T>(body: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  try {
    return await body();
  } finally {
    console.log = log;
  }
}

function build(): number {
  const started = performance.now();
  const run = spawnSync('npm', ['run', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (run.status !== 0) throw new Error(`npm run build failed (${run.status ?? run.signal})`);
  return performance.now() - started;
}

/** Runs the benchmark; returns (and does not write) its result. */
export async function runRestart(options: RestartOptions = {}): Promise<RestartResult> {
  const params: Params = { users: options.users ?? 1000, rounds: options.rounds ?? 3 };
  const log = options.log ?? (() => {});
  const buildMs = build();
  const dir = mkdtempSync(join(tmpdir(), 'tether-bench-restart-'));
  const dbPath = join(dir, 'tether.db');
  const port = await freePort();
  let cloud: CloudProcess | undefined;
  const start = async () => {
    // `BENCH_CHILD_NODE_FLAGS` (see support/children.ts) reaches the cloud too, to profile it.
    const nodeFlags = (process.env.BENCH_CHILD_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
    const started = await startCloudProcess({ port, dbPath, entry: ENTRY, env: CLOUD_ENV, nodeFlags });
    watchChild(started.child);
    return started;
  };
  const wearers: Wearer[] = [];
  let appPort = 0;
  const hooks = await countWebhooks(() => appPort);
  let served: Awaited<ReturnType<typeof serveMentraApp<TimedMentraApp>>> | undefined;
  try {
    cloud = await start();
    const apiKey = await createAppOver(`http://127.0.0.1:${port}`, PACKAGE, hooks.url);
    served = await serveMentraApp(() => new TimedMentraApp({ packageName: PACKAGE, apiKey, port: 0 }));
    appPort = served.port;
    const app = served.app;
    for (let i = 0; i < params.users; i++) {
      wearers.push(new Wearer(`ws://127.0.0.1:${port}/glasses-ws`, await createCoreToken(`restart-${i}`, CLOUD_PROCESS_SECRET)));
    }
    for (let at = 0; at < wearers.length; at += CONNECT_BATCH) await Promise.all(wearers.slice(at, at + CONNECT_BATCH).map((w) => w.glasses.connect()));
    await until(() => app.live.size === params.users, 60_000, () => `${app.live.size} of ${params.users} app sessions up`);
    log(`${params.users} users up, each with a @mentra/sdk app session`);

    const perRound: RoundFigures[] = [];
    for (let round = 0; round < params.rounds; round++) {
      await sleep(1000);
      const stopsBefore = app.stops.length;
      const sigterm = performance.now();
      const old = cloud;
      old.child.kill('SIGTERM');
      await old.exited;
      const shutdownMs = performance.now() - sigterm;
      cloud = await start();
      const answeringMs = performance.now() - sigterm;
      const acked = () => [...app.acks.values()].filter((times) => (times.at(-1) ?? 0) > sigterm).length;
      await until(
        () => wearers.every((w) => w.backAt > sigterm) && acked() === params.users,
        30_000,
        () => `${wearers.filter((w) => w.backAt > sigterm).length} glasses back, ${acked()} of ${params.users} apps acked`,
      );
      const ackTimes = [...app.acks.values()].map((times) => (times.at(-1) as number) - sigterm);
      const figures: RoundFigures = {
        shutdownMs,
        startMs: cloud.readyMs,
        answeringMs,
        glassesBackMs: Math.max(...wearers.map((w) => w.backAt)) - sigterm,
        appsAckedP50Ms: percentile(ackTimes, 50),
        appsAckedMs: Math.max(...ackTimes),
        givenUp: app.stops.length - stopsBefore,
        secondWebhooks: [...hooks.sessionRequests.values()].reduce((sum, n) => sum + n - 1, 0),
        refused: await refusals(port),
      };
      perRound.push(figures);
      log(
        `round ${round + 1}/${params.rounds}: shutdown ${fixed(shutdownMs, 0)} ms, start ${fixed(figures.startMs, 0)} ms → answering ${fixed(answeringMs, 0)} ms; ` +
          `glasses back ${fixed(figures.glassesBackMs, 0)} ms, apps acked p50 ${fixed(figures.appsAckedP50Ms, 0)} / last ${fixed(figures.appsAckedMs, 0)} ms; ` +
          `given up ${figures.givenUp}, second session_requests ${figures.secondWebhooks}, refused ${JSON.stringify(figures.refused)}`,
      );
    }

    const stock = await stockPatience(cloud, port, app, wearers, log);
    cloud = undefined;
    const pick = (key: keyof Omit<RoundFigures, 'refused'>) => median(perRound.map((r) => r[key]));
    const medians = {
      shutdownMs: pick('shutdownMs'),
      startMs: pick('startMs'),
      answeringMs: pick('answeringMs'),
      glassesBackMs: pick('glassesBackMs'),
      appsAckedP50Ms: pick('appsAckedP50Ms'),
      appsAckedMs: pick('appsAckedMs'),
    };
    return {
      name: 'restart',
      params: { ...params, entry: ENTRY, glassesRetryMs: GLASSES_RETRY_MS, buildMs },
      tether: medians.appsAckedMs,
      baseline: stock.givesUpMs,
      ratio: medians.appsAckedMs / stock.givesUpMs,
      unit: 'ms from SIGTERM to the last @mentra/sdk app session acked again, against the moment a stock app gives up on a cloud that stays down',
      ...(options.label ? { label: options.label } : {}),
      medians,
      givenUp: perRound.reduce((sum, r) => sum + r.givenUp, 0),
      secondWebhooks: perRound.at(-1)?.secondWebhooks ?? 0,
      stock,
      perRound,
    };
  } finally {
    for (const wearer of wearers) await wearer.stop();
    await quietly(async () => served?.close());
    await hooks.close();
    if (cloud) {
      cloud.child.kill('SIGKILL');
      await cloud.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Stops the cloud for good, answers every upgrade on its port with 503, and records what the
 * stock SDK does: the time of each upgrade it tries and of each `onStop`.
 */
async function stockPatience(cloud: CloudProcess, port: number, app: TimedMentraApp, wearers: Wearer[], log: (line: string) => void): Promise<StockPatience> {
  // The glasses would come back too: only the apps' attempts are the subject here.
  for (const wearer of wearers) await wearer.stop();
  await sleep(500);
  const sessions = app.live.size;
  const stopsBefore = app.stops.length;
  const upgrades: number[] = [];
  const refusing = createServer((_, res) => res.writeHead(503).end());
  refusing.on('upgrade', (_, socket) => {
    upgrades.push(performance.now());
    socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  const sigterm = performance.now();
  cloud.child.kill('SIGTERM');
  await cloud.exited;
  await new Promise<void>((resolve, reject) => {
    refusing.once('error', reject);
    refusing.listen(port, '127.0.0.1', resolve);
  });
  try {
    await quietly(() => until(() => app.stops.length - stopsBefore === sessions, 20_000, () => `${app.stops.length - stopsBefore} of ${sessions} stock sessions gave up`));
  } finally {
    await new Promise<void>((resolve) => {
      refusing.close(() => resolve());
      refusing.closeAllConnections();
    });
  }
  // An upgrade names no session: the retries are told apart by time, as waves.
  const waves: number[][] = [];
  for (const at of upgrades.map((t) => t - sigterm).sort((a, b) => a - b)) {
    const wave = waves.at(-1);
    if (wave && at - (wave.at(-1) as number) < WAVE_GAP_MS) wave.push(at);
    else waves.push([at]);
  }
  const stops = app.stops.slice(stopsBefore);
  const stock = {
    retriesMs: waves.map((wave) => median(wave)),
    retryCounts: waves.map((wave) => wave.length),
    givesUpMs: median(stops.map((s) => s.at - sigterm)),
    gaveUp: stops.filter((s) => s.reason.includes('Maximum reconnection')).length,
  };
  log(`stock @mentra/sdk with the cloud gone: retries ${formatWaves(stock)}, onStop at +${fixed(stock.givesUpMs, 0)} ms (${stock.gaveUp} of ${sessions})`);
  return stock;
}

function formatWaves(stock: StockPatience): string {
  return stock.retriesMs.map((ms, i) => `+${fixed(ms, 0)} ms (${stock.retryCounts[i]})`).join(', ');
}

/** The result as a short plain-text table. */
export function formatRestart(result: RestartResult): string {
  const m = result.medians;
  const verdict = (ms: number, goal: number) => (ms < goal ? 'met' : 'MISSED');
  return [
    `${result.params.users.toLocaleString('en-US')} users on @mentra/sdk apps, cloud \`node ${ENTRY}\` on SQLite, SIGTERM and restart; medians over ${result.perRound.length} rounds (ms from the SIGTERM)`,
    table([
      ['shutdown', 'start', 'answering', 'glasses back', 'apps acked p50', 'apps acked (last)', 'given up', 'second session_requests'],
      [fixed(m.shutdownMs, 0), fixed(m.startMs, 0), fixed(m.answeringMs, 0), fixed(m.glassesBackMs, 0), fixed(m.appsAckedP50Ms, 0), fixed(m.appsAckedMs, 0), String(result.givenUp), String(result.secondWebhooks)],
    ]),
    `stock @mentra/sdk against a cloud that stays down: retries ${formatWaves(result.stock)}, gives up at +${fixed(result.stock.givesUpMs, 0)} ms; apps acked / giving up = ${fixed(result.ratio, 2)}`,
    `new process answering < ${GOAL_ANSWERING_MS} ms: ${verdict(m.answeringMs, GOAL_ANSWERING_MS)}; every glasses back and app acked < ${GOAL_BACK_MS} ms: ${verdict(Math.max(m.glassesBackMs, m.appsAckedMs), GOAL_BACK_MS)}; ` +
      `0 given up and 0 second session_requests: ${result.givenUp === 0 && result.secondWebhooks === 0 ? 'met' : 'MISSED'}`,
  ].join('\n');
}

/** Population and rounds of a full or `--quick` run. */
export function restartOptions(quick: boolean): RestartOptions {
  return quick ? { users: 300, rounds: 1 } : { users: 1000, rounds: 3 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function restartDeadlineMs(options: RestartOptions): number {
  return 180_000 + (options.users ?? 1000) * 60 + (options.rounds ?? 3) * 40_000;
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...restartOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('restart', restartDeadlineMs(options), () => runRestart(options));
  console.log('\n' + formatRestart(result));
  console.log(`\nwrote ${writeResult(result)}`);
}
