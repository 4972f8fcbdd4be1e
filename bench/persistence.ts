/**
 * What write-through costs (issue 11 §4): the cloud writing every user session through to its
 * SQLite file as it changes (one transaction per tick), against the same cloud writing them only
 * at shutdown — the behaviour before, which a crash loses — under the same lifecycle churn.
 *
 * The cloud runs in a child process of its own (`support/serverChild.ts`, a WAL file in a temp
 * directory, default heartbeat timings); glasses and three app webhooks (`support/appWebhook.ts`)
 * live in this process. Per batch of users, in the measured window:
 * 1. the glasses connect declaring two apps running: two webhooks, two app sockets;
 * 2. the glasses drop (no close frame) and connect again: grace, then a reconnect;
 * 3. each user starts a third app (`start_app`): a webhook and its socket;
 * 4. one app's socket drops and its SDK reconnects: `resurrecting`, then `running` again;
 * 5. each user stops the third app (`stop_app`): `stop_request`, the session ends;
 * 6. the glasses send one transcription, which both declared apps receive (their delivery
 *    positions exist from now on, as they do for any session that streams).
 * The window is the child's CPU time from before the first batch to the end of the last (plus
 * 300 ms for the last writes); the headline is its ratio, write-through over shutdown-only, each
 * round's pair measured back to back on fresh children, the order reversed every other round.
 * Beside it: rows written per user, transactions, and what the shutdown's flush (a SIGTERM) then
 * has left to write in each mode.
 *
 * Run alone: `npx tsx bench/persistence.ts [--quick] [--label <text>]`; writes
 * `bench/results/persistence.json`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appSessionId } from '../machines/sessionApi.js';
import { startAppWebhook, type AppWebhook } from './support/appWebhook.js';
import { closeAll, openGlasses, type ClientSocket } from './support/clients.js';
import { startServerChild } from './support/children.js';
import { fixed, isMain, median, parseFlags, sleep, table, until, withDeadline, writeResult, type BenchFigures } from './support/report.js';
import type { CpuWindow, PersistenceFigures, ShutdownFlush } from './support/serverChild.js';

const HEARTBEAT_INTERVAL_MS = 15_000;
const HEARTBEAT_TIMEOUT_MS = 45_000;
const DECLARED = ['com.bench.notes', 'com.bench.captions'] as const;
const STARTED = 'com.bench.maps';
const TRANSCRIPTION = 'transcription:en-US';
/** Longest one churn step of a batch may take, in ms. */
const STEP_TIMEOUT_MS = 60_000;

/** Parameters of {@link runPersistence}. */
export interface PersistenceOptions {
  /** Users per run; default 1,000. */
  users?: number;
  /** Users churned at a time; default 100. */
  batch?: number;
  /** Rounds (one run of each mode); default 3. */
  rounds?: number;
  label?: string;
  log?: (line: string) => void;
}

type Mode = 'writeThrough' | 'shutdownOnly';
type Params = Required<Omit<PersistenceOptions, 'label' | 'log'>>;

/** One run's figures. */
interface RunFigures {
  mode: Mode;
  window: CpuWindow;
  persistence: PersistenceFigures;
  shutdown: ShutdownFlush;
}

/** The five churn steps of one batch of users, each awaited until the clients see its effect. */
async function churnBatch(glassesUrl: string, tokens: readonly string[], userIds: readonly string[], hooks: Record<string, AppWebhook>): Promise<ClientSocket[]> {
  const batch = tokens.length;
  const declared = DECLARED.map((pkg) => hooks[pkg]!);
  const started = hooks[STARTED]!;
  const acked = declared.map((hook) => hook.acked);
  const first = await openGlasses(glassesUrl, tokens, { batch, runningApps: DECLARED });
  await until(() => declared.every((hook, i) => hook.acked >= acked[i]! + batch), STEP_TIMEOUT_MS, () => 'declared apps acked');
  closeAll(first);
  const glasses = await openGlasses(glassesUrl, tokens, { batch, runningApps: DECLARED });
  const startedAcked = started.acked;
  for (const g of glasses) g.ws.send(JSON.stringify({ type: 'start_app', packageName: STARTED }));
  await until(() => started.acked >= startedAcked + batch, STEP_TIMEOUT_MS, () => `${STARTED} acked ${started.acked - startedAcked} of ${batch}`);
  await Promise.all(userIds.map((userId) => declared[0]!.reconnect(appSessionId(userId, DECLARED[0]))));
  const stopped = started.stopped;
  for (const g of glasses) g.ws.send(JSON.stringify({ type: 'stop_app', packageName: STARTED }));
  await until(() => started.stopped >= stopped + batch, STEP_TIMEOUT_MS, () => `${STARTED} stopped ${started.stopped - stopped} of ${batch}`);
  const frames = declared.map((hook) => hook.dataFrames);
  for (const g of glasses) g.ws.send(JSON.stringify({ type: 'local_transcription', text: 'hello', isFinal: true }));
  await until(() => declared.every((hook, i) => hook.dataFrames >= frames[i]! + batch), STEP_TIMEOUT_MS, () => 'transcriptions received');
  return glasses;
}

async function measureRun(mode: Mode, params: Params): Promise<RunFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-bench-persistence-'));
  const child = await startServerChild({
    kind: 'tether',
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    dbPath: join(dir, 'tether.db'),
    writeThrough: mode === 'writeThrough',
  });
  const hooks: Record<string, AppWebhook> = {};
  const held: ClientSocket[] = [];
  try {
    for (const packageName of [...DECLARED, STARTED]) {
      const hook = await startAppWebhook(packageName, [TRANSCRIPTION]);
      hook.apiKey = await child.registerApp(packageName, hook.url);
      hooks[packageName] = hook;
    }
    const userIds = Array.from({ length: params.users }, (_, i) => `churn-${i}`);
    const tokens = await child.tokens(userIds);
    await child.measureStart();
    for (let at = 0; at < params.users; at += params.batch) {
      held.push(...(await churnBatch(child.glassesUrl, tokens.slice(at, at + params.batch), userIds.slice(at, at + params.batch), hooks)));
    }
    await sleep(300);
    const window = await child.measureStop();
    const persistence = await child.persistence();
    const shutdown = await child.flushForShutdown();
    return { mode, window, persistence, shutdown };
  } finally {
    closeAll(held);
    for (const hook of Object.values(hooks)) await hook.close();
    await child.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Result of {@link runPersistence}: the result file's content. Headline: CPU ms of the cloud
 * process per churned user, write-through (`tether`) over shutdown-only (`baseline`).
 */
export type PersistenceResult = BenchFigures & {
  params: Params & { heartbeatIntervalMs: number; appsPerUser: number };
  /** Medians over rounds. */
  medians: {
    writeThrough: { cpuMsPerUser: number; rowsPerUser: number; transactions: number; shutdownRows: number; shutdownMs: number; eventLoopP99Ms: number };
    shutdownOnly: { cpuMsPerUser: number; shutdownRows: number; shutdownMs: number; eventLoopP99Ms: number };
  };
  perRound: Array<{ writeThrough: RunFigures; shutdownOnly: RunFigures }>;
};

/** Runs the benchmark; returns (and does not write) its result. */
export async function runPersistence(options: PersistenceOptions = {}): Promise<PersistenceResult> {
  const params: Params = { users: options.users ?? 1000, batch: options.batch ?? 100, rounds: options.rounds ?? 3 };
  const log = options.log ?? (() => {});
  const perRound: PersistenceResult['perRound'] = [];
  for (let round = 0; round < params.rounds; round++) {
    const order: Mode[] = round % 2 === 0 ? ['writeThrough', 'shutdownOnly'] : ['shutdownOnly', 'writeThrough'];
    const got = new Map<Mode, RunFigures>();
    for (const mode of order) {
      const figures = await measureRun(mode, params);
      got.set(mode, figures);
      const { window, persistence, shutdown } = figures;
      log(
        `round ${round + 1}/${params.rounds} ${mode}: ${fixed(window.cpuMs / params.users, 2)} CPU ms per user, ${persistence.saved} rows in ${persistence.batches} transactions; ` +
          `shutdown flush ${shutdown.rows} rows in ${fixed(shutdown.ms)} ms`,
      );
    }
    perRound.push({ writeThrough: got.get('writeThrough')!, shutdownOnly: got.get('shutdownOnly')! });
  }
  const med = (pick: (r: PersistenceResult['perRound'][number]) => number) => median(perRound.map(pick));
  const perUser = (r: RunFigures) => r.window.cpuMs / params.users;
  const medians: PersistenceResult['medians'] = {
    writeThrough: {
      cpuMsPerUser: med((r) => perUser(r.writeThrough)),
      rowsPerUser: med((r) => r.writeThrough.persistence.saved / params.users),
      transactions: med((r) => r.writeThrough.persistence.batches),
      shutdownRows: med((r) => r.writeThrough.shutdown.rows),
      shutdownMs: med((r) => r.writeThrough.shutdown.ms),
      eventLoopP99Ms: med((r) => r.writeThrough.window.eventLoopP99Ms),
    },
    shutdownOnly: {
      cpuMsPerUser: med((r) => perUser(r.shutdownOnly)),
      shutdownRows: med((r) => r.shutdownOnly.shutdown.rows),
      shutdownMs: med((r) => r.shutdownOnly.shutdown.ms),
      eventLoopP99Ms: med((r) => r.shutdownOnly.window.eventLoopP99Ms),
    },
  };
  return {
    name: 'persistence',
    params: { ...params, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, appsPerUser: DECLARED.length + 1 },
    tether: medians.writeThrough.cpuMsPerUser,
    baseline: medians.shutdownOnly.cpuMsPerUser,
    ratio: med((r) => perUser(r.writeThrough) / perUser(r.shutdownOnly)),
    unit: 'CPU ms of the cloud process per user churned (connect, reconnect, app start, app reconnect, app stop)',
    ...(options.label ? { label: options.label } : {}),
    medians,
    perRound,
  };
}

/** The result as a short plain-text table. */
export function formatPersistence(result: PersistenceResult): string {
  const { writeThrough: on, shutdownOnly: off } = result.medians;
  return [
    `${result.params.users.toLocaleString('en-US')} users churned in batches of ${result.params.batch}, medians over ${result.perRound.length} rounds; ratio ${fixed(result.ratio, 2)}`,
    table([
      ['', 'write-through', 'shutdown only'],
      ['CPU ms per user', fixed(on.cpuMsPerUser, 2), fixed(off.cpuMsPerUser, 2)],
      ['rows written per user while running', fixed(on.rowsPerUser, 1), '0'],
      ['transactions while running', String(on.transactions), '0'],
      ['event-loop delay p99 (ms)', fixed(on.eventLoopP99Ms), fixed(off.eventLoopP99Ms)],
      ['shutdown flush: rows', String(on.shutdownRows), String(off.shutdownRows)],
      ['shutdown flush: ms', fixed(on.shutdownMs), fixed(off.shutdownMs)],
    ]),
  ].join('\n');
}

/** Population and rounds of a full or `--quick` run. */
export function persistenceOptions(quick: boolean): PersistenceOptions {
  return quick ? { users: 200, rounds: 3 } : { users: 1000, rounds: 5 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function persistenceDeadlineMs(options: PersistenceOptions): number {
  const perRun = 60_000 + (options.users ?? 1000) * 100;
  return 60_000 + perRun * 2 * (options.rounds ?? 3);
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...persistenceOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('persistence', persistenceDeadlineMs(options), () => runPersistence(options));
  console.log('\n' + formatPersistence(result));
  console.log(`\nwrote ${writeResult(result)}`);
}
