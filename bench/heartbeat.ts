/**
 * Heartbeat cost (issue 9): what pinging idle glasses sockets costs the cloud, in CPU and in
 * event-loop delay, against a bare `ws` server pinging the same sockets.
 *
 * `sockets` idle glasses (default 5,000; `--quick` 1,000) connect over real `ws` to a server in
 * a child process of its own (`support/serverChild.ts`), so its CPU time is measured alone; the
 * clients live in this process and `ws` answers the pings. The glasses open `batch` at a time,
 * each batch acked before the next, and the server settles before a window of `windowMs` is
 * measured: CPU time of the child (`process.cpuUsage()`, every thread) and its event-loop delay
 * (`monitorEventLoopDelay`, p99 and max beyond the 10 ms sampling interval), with the longest
 * GC pause and the kernel's preemptions of the child in the window, to tell a stall of the
 * server from one of the machine (other processes on the cores).
 *
 * Four runs per round, each on a fresh child with the sockets connected anew:
 * - `tether 1s`: the cloud (`createCloud`, overrides only) with a 1 s heartbeat (timeout 3 s);
 * - `tether off`: the same with heartbeats effectively off (interval 2^31−2 ms, timeout 2^31−1:
 *   the timers are armed, they never fire);
 * - `baseline 1s` / `baseline off`: a bare `ws` server with one staggered `setInterval` per
 *   socket, at 1 s and at 2^31−2 ms.
 * The order reverses every other round. The heartbeat cost of a server is
 * `(cpu% at 1 s − cpu% off) / sockets × 10,000 / 15`: percent of one core per 10,000 sockets at
 * the 15 s default interval. The ratio is Tether's cost over the baseline's, taken within each
 * round; the report gives medians over rounds.
 *
 * Run alone: `npx tsx bench/heartbeat.ts [--quick] [--label <text>]`; writes
 * `bench/results/heartbeat.json`.
 */
import { closeAll, countPings, openGlasses, type ClientSocket } from './support/clients.js';
import { startServerChild } from './support/children.js';
import { fixed, isMain, median, parseFlags, sleep, table, withDeadline, writeResult, type BenchFigures } from './support/report.js';
import type { CpuWindow } from './support/serverChild.js';

/** Issue 9: at most this much of a core per 10,000 sockets at the 15 s default interval, in %. */
const HEARTBEAT_CPU_TARGET_PCT = 3;
/** Issue 9: no event-loop stall longer than this, in ms. */
const EVENT_LOOP_STALL_TARGET_MS = 50;

/** The interval the cost is scaled to, in ms: the cloud's default. */
const DEFAULT_INTERVAL_MS = 15_000;
const MEASURED_INTERVAL_MS = 1000;
const MEASURED_TIMEOUT_MS = 3000;
/** "Off": timers armed that never fire (Node's timers take at most 2^31−1 ms). */
const OFF_INTERVAL_MS = 2 ** 31 - 2;
const OFF_TIMEOUT_MS = 2 ** 31 - 1;

/** Parameters of {@link runHeartbeat}. */
export interface HeartbeatOptions {
  /** Idle glasses sockets per run; default 5,000. */
  sockets?: number;
  /** Measured window per run, in ms; default 15,000. */
  windowMs?: number;
  /** Wait between the last ack and the window, in ms; default 4,000. */
  settleMs?: number;
  /** Rounds (four runs each); default 3. */
  rounds?: number;
  /** Glasses opened at a time; default 500. */
  batch?: number;
  label?: string;
  log?: (line: string) => void;
}

type Server = 'tether' | 'baseline';
type Mode = '1s' | 'off';
const RUNS: ReadonlyArray<{ server: Server; mode: Mode }> = [
  { server: 'tether', mode: '1s' },
  { server: 'tether', mode: 'off' },
  { server: 'baseline', mode: '1s' },
  { server: 'baseline', mode: 'off' },
];

/** One run's figures. */
interface RunFigures extends CpuWindow {
  server: Server;
  mode: Mode;
  /** CPU of the child over the window, in % of one core. */
  cpuPct: number;
  /** Pings each socket received per second of the window (≈ 1 at 1 s, 0 off). */
  pingsPerSocketPerSecond: number;
}

async function measureRun(server: Server, mode: Mode, options: Required<Omit<HeartbeatOptions, 'label' | 'log'>>): Promise<RunFigures> {
  const child = await startServerChild({
    kind: server,
    heartbeatIntervalMs: mode === '1s' ? MEASURED_INTERVAL_MS : OFF_INTERVAL_MS,
    heartbeatTimeoutMs: mode === '1s' ? MEASURED_TIMEOUT_MS : OFF_TIMEOUT_MS,
  });
  let sockets: ClientSocket[] = [];
  try {
    const userIds = Array.from({ length: options.sockets }, (_, i) => `hb-${i}`);
    const tokens = await child.tokens(userIds);
    sockets = await openGlasses(child.glassesUrl, tokens, { batch: options.batch });
    await sleep(options.settleMs);
    countPings(sockets);
    await child.measureStart();
    await sleep(options.windowMs);
    const window = await child.measureStop();
    const pings = sockets.reduce((sum, socket) => sum + socket.pings, 0);
    const closed = sockets.filter((socket) => socket.closed).length;
    if (closed > 0) throw new Error(`${server} ${mode}: ${closed} of ${sockets.length} sockets closed during the run`);
    return {
      server,
      mode,
      ...window,
      cpuPct: (window.cpuMs / window.elapsedMs) * 100,
      pingsPerSocketPerSecond: pings / sockets.length / (window.elapsedMs / 1000),
    };
  } finally {
    closeAll(sockets);
    await child.close();
  }
}

/** Figures reported as medians per run kind. */
const MEDIAN_KEYS = ['cpuPct', 'eventLoopP99Ms', 'eventLoopMaxMs', 'gcMaxPauseMs', 'involuntaryContextSwitches', 'pingsPerSocketPerSecond'] as const;
type MedianKey = (typeof MEDIAN_KEYS)[number];

/** Heartbeat cost of one server in one round: % of a core per 10,000 sockets at 15 s. */
function cost(on: RunFigures, off: RunFigures, sockets: number): number {
  return (((on.cpuPct - off.cpuPct) / sockets) * 10_000 * MEASURED_INTERVAL_MS) / DEFAULT_INTERVAL_MS;
}

/** Result of {@link runHeartbeat}: the result file's content. */
export type HeartbeatResult = BenchFigures & {
  params: Required<Omit<HeartbeatOptions, 'label' | 'log'>> & Record<string, number>;
  runs: Record<`${Server} ${Mode}`, Record<MedianKey, number>>;
  perRound: Array<{ tether: number; baseline: number; ratio: number; runs: RunFigures[] }>;
  eventLoopWorstMs: { tether: number; baseline: number };
  targets: { cpuPct: number; cpuMet: boolean; stallMs: number; stallMet: boolean };
};

/** Runs the benchmark; returns (and does not write) its result. */
export async function runHeartbeat(options: HeartbeatOptions = {}): Promise<HeartbeatResult> {
  const full = {
    sockets: options.sockets ?? 5000,
    windowMs: options.windowMs ?? 15_000,
    settleMs: options.settleMs ?? 4000,
    rounds: options.rounds ?? 3,
    batch: options.batch ?? 500,
  };
  const log = options.log ?? (() => {});
  const perRound: HeartbeatResult['perRound'] = [];
  for (let round = 0; round < full.rounds; round++) {
    const order = round % 2 === 0 ? RUNS : [...RUNS].reverse();
    const runs: RunFigures[] = [];
    for (const { server, mode } of order) {
      const figures = await measureRun(server, mode, full);
      runs.push(figures);
      log(
        `round ${round + 1}/${full.rounds} ${server} ${mode}: cpu ${fixed(figures.cpuPct)}% of a core, ` +
          `event loop p99 ${fixed(figures.eventLoopP99Ms)} ms, max ${fixed(figures.eventLoopMaxMs)} ms, ` +
          `longest GC ${fixed(figures.gcMaxPauseMs)} ms, ${figures.involuntaryContextSwitches} preemptions, ` +
          `${fixed(figures.pingsPerSocketPerSecond, 2)} pings/socket/s`,
      );
    }
    const find = (server: Server, mode: Mode) => runs.find((r) => r.server === server && r.mode === mode) as RunFigures;
    const tether = cost(find('tether', '1s'), find('tether', 'off'), full.sockets);
    const baseline = cost(find('baseline', '1s'), find('baseline', 'off'), full.sockets);
    perRound.push({ tether, baseline, ratio: tether / baseline, runs });
    log(`round ${round + 1}/${full.rounds}: heartbeat cost tether ${fixed(tether, 2)}, baseline ${fixed(baseline, 2)} (% of a core per 10k sockets at 15 s), ratio ${fixed(tether / baseline, 2)}`);
  }

  const all = perRound.flatMap((r) => r.runs);
  const medianOf = (server: Server, mode: Mode, key: MedianKey) => median(all.filter((r) => r.server === server && r.mode === mode).map((r) => r[key]));
  const runs = Object.fromEntries(
    RUNS.map(({ server, mode }) => [`${server} ${mode}`, Object.fromEntries(MEDIAN_KEYS.map((key) => [key, medianOf(server, mode, key)]))]),
  ) as HeartbeatResult['runs'];
  const worst = (server: Server) => Math.max(...all.filter((r) => r.server === server).map((r) => r.eventLoopMaxMs));
  const tether = median(perRound.map((r) => r.tether));
  return {
    name: 'heartbeat',
    params: { ...full, intervalMs: MEASURED_INTERVAL_MS, timeoutMs: MEASURED_TIMEOUT_MS, offIntervalMs: OFF_INTERVAL_MS, scaledToIntervalMs: DEFAULT_INTERVAL_MS },
    tether,
    baseline: median(perRound.map((r) => r.baseline)),
    ratio: median(perRound.map((r) => r.ratio)),
    unit: '% of one core per 10,000 idle sockets at a 15 s heartbeat interval',
    ...(options.label ? { label: options.label } : {}),
    runs,
    perRound,
    eventLoopWorstMs: { tether: worst('tether'), baseline: worst('baseline') },
    targets: {
      cpuPct: HEARTBEAT_CPU_TARGET_PCT,
      cpuMet: tether <= HEARTBEAT_CPU_TARGET_PCT,
      stallMs: EVENT_LOOP_STALL_TARGET_MS,
      stallMet: worst('tether') <= EVENT_LOOP_STALL_TARGET_MS,
    },
  };
}

/** The result as a short plain-text table with the targets' verdicts. */
export function formatHeartbeat(result: HeartbeatResult): string {
  const { sockets } = result.params;
  const rows = Object.entries(result.runs).map(([name, r]) => [
    name,
    fixed(r.cpuPct),
    fixed(r.eventLoopP99Ms),
    fixed(r.eventLoopMaxMs),
    fixed(r.gcMaxPauseMs),
    String(Math.round(r.involuntaryContextSwitches)),
    fixed(r.pingsPerSocketPerSecond, 2),
  ]);
  return [
    `${sockets.toLocaleString('en-US')} idle glasses sockets, medians over ${result.perRound.length} rounds`,
    table([['run', 'cpu % of a core', 'event loop p99 ms', 'max ms', 'longest GC ms', 'preemptions', 'pings/socket/s'], ...rows]),
    '',
    table([
      ['heartbeat cost (% of a core per 10k sockets at 15 s)', 'tether', 'baseline', 'ratio'],
      ['median', fixed(result.tether, 2), fixed(result.baseline, 2), fixed(result.ratio, 2)],
      ...result.perRound.map((r, i) => [`round ${i + 1}`, fixed(r.tether, 2), fixed(r.baseline, 2), fixed(r.ratio, 2)]),
    ]),
    '',
    `target ≤ ${result.targets.cpuPct}% of a core per 10k sockets at 15 s: ${result.targets.cpuMet ? 'met' : 'MISSED'} (${fixed(result.tether, 2)}%)`,
    `target no event-loop stall over ${result.targets.stallMs} ms: ${result.targets.stallMet ? 'met' : 'MISSED'} ` +
      `(worst of every tether run ${fixed(result.eventLoopWorstMs.tether)} ms; baseline ${fixed(result.eventLoopWorstMs.baseline)} ms)`,
  ].join('\n');
}

/** Rounds, windows and population of a full or `--quick` run. */
export function heartbeatOptions(quick: boolean): HeartbeatOptions {
  return quick ? { sockets: 1000, windowMs: 6000, settleMs: 2000, rounds: 3 } : { sockets: 5000, windowMs: 15_000, settleMs: 4000, rounds: 3 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function heartbeatDeadlineMs(options: HeartbeatOptions): number {
  const perRun = 45_000 + (options.windowMs ?? 15_000) + (options.settleMs ?? 4000) + ((options.sockets ?? 5000) / (options.batch ?? 500)) * 5000;
  return 60_000 + perRun * RUNS.length * (options.rounds ?? 3);
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...heartbeatOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('heartbeat', heartbeatDeadlineMs(options), () => runHeartbeat(options));
  console.log('\n' + formatHeartbeat(result));
  console.log(`\nwrote ${writeResult(result)}`);
}
