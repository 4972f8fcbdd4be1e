/**
 * Zombie detection (issue 13 §6): how long a server takes to notice that connections went
 * silent without closing (a radio that vanished: no FIN, no RST), against its bound.
 *
 * `connections` glasses (default 200) connect through a fault proxy (`test/support/faultProxy.ts`)
 * to a server in a child process; once all are acked and have had a few heartbeats, every
 * connection is black-holed at once (bytes read and dropped both ways, nothing closed). The
 * detection time of one connection is from the black-hole to the moment the server closes its
 * end (the proxy sees its target side end), polled every 50 ms. Two servers per round, the order
 * reversed every other round:
 * - `tether`: the cloud with `heartbeatIntervalMs` 1,000 and `heartbeatTimeoutMs` 3,000 (the
 *   defaults, 15 s and 45 s, scaled down 15×): a socket is dead after 3 s of silence, found at the
 *   next tick, so the bound is timeout + interval = 4 s;
 * - `baseline`: a bare `ws` server that pings every 3 s and terminates a socket that did not
 *   answer the previous ping: it also tolerates 3 s of silence, and finds a zombie within 3–6 s.
 * Every connection must be detected (a run that leaves one open fails). The figure is the
 * p95 detection time; the ratio is Tether's over the bound (≤ 1 means within it), and Tether's
 * over the baseline's is reported too.
 *
 * Run alone: `npx tsx bench/zombie.ts [--quick] [--label <text>]`; writes `bench/results/zombie.json`.
 */
import { performance } from 'node:perf_hooks';
import { startFaultProxy, type FaultProxy } from '../test/support/faultProxy.js';
import { closeAll, openGlasses } from './support/clients.js';
import { startServerChild } from './support/children.js';
import { fixed, isMain, median, parseFlags, percentile, sleep, table, until, withDeadline, writeResult, type BenchFigures } from './support/report.js';

const INTERVAL_MS = 1000;
const TIMEOUT_MS = 3000;
/** The cloud's bound: dead after `TIMEOUT_MS` of silence, found at the next tick. */
const BOUND_MS = TIMEOUT_MS + INTERVAL_MS;
/** The baseline's ping interval: it tolerates as much silence as the cloud. */
const BASELINE_INTERVAL_MS = TIMEOUT_MS;

/** Parameters of {@link runZombie}. */
export interface ZombieOptions {
  /** Connections black-holed per run; default 200. */
  connections?: number;
  /** Heartbeats before the black-hole, in ms; default 4,000. */
  settleMs?: number;
  /** Rounds (two runs each); default 3. */
  rounds?: number;
  label?: string;
  log?: (line: string) => void;
}

type Server = 'tether' | 'baseline';

/** One run's detection times, in ms from the black-hole. */
interface RunFigures {
  server: Server;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  minMs: number;
  detected: number;
}

/** Result of {@link runZombie}: the result file's content. */
export type ZombieResult = BenchFigures & {
  params: Required<Omit<ZombieOptions, 'label' | 'log'>> & Record<string, number>;
  /** Tether's p95 over the baseline's, median over rounds. */
  baselineRatio: number;
  perRound: Array<{ tether: RunFigures; baseline: RunFigures }>;
};

async function measureRun(server: Server, options: Required<Omit<ZombieOptions, 'label' | 'log'>>): Promise<RunFigures> {
  const child = await startServerChild(
    server === 'tether'
      ? { kind: 'tether', heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS }
      : { kind: 'baseline', heartbeatIntervalMs: BASELINE_INTERVAL_MS, heartbeatTimeoutMs: BASELINE_INTERVAL_MS },
  );
  let proxy: FaultProxy | undefined;
  try {
    proxy = await startFaultProxy(Number(new URL(child.glassesUrl).port));
    const url = new URL(child.glassesUrl);
    url.port = String(proxy.port);
    const userIds = Array.from({ length: options.connections }, (_, i) => `z${i}`);
    const glasses = await openGlasses(url.href, await child.tokens(userIds), { batch: 100 });
    try {
      await sleep(options.settleMs);
      const links = [...proxy.connections];
      if (links.length !== options.connections || links.some((link) => !link.targetOpen)) {
        throw new Error(`${server}: ${links.filter((l) => l.targetOpen).length} of ${options.connections} connections open before the black-hole`);
      }
      const startedAt = performance.now();
      for (const link of links) link.setMode({ kind: 'blackhole' });
      const detectedAt = new Map<number, number>();
      await until(
        () => {
          const now = performance.now();
          for (const link of links) if (!link.targetOpen && !detectedAt.has(link.id)) detectedAt.set(link.id, now - startedAt);
          return detectedAt.size === links.length;
        },
        BOUND_MS * 3 + BASELINE_INTERVAL_MS * 2,
        () => `${server}: ${detectedAt.size} of ${links.length} zombies detected`,
      );
      const times = [...detectedAt.values()].sort((a, b) => a - b);
      return {
        server,
        p50Ms: percentile(times, 50),
        p95Ms: percentile(times, 95),
        maxMs: times.at(-1) ?? Number.NaN,
        minMs: times[0] ?? Number.NaN,
        detected: times.length,
      };
    } finally {
      closeAll(glasses);
    }
  } finally {
    await proxy?.close();
    await child.close();
  }
}

/** Runs the benchmark; returns (and does not write) its result. */
export async function runZombie(options: ZombieOptions = {}): Promise<ZombieResult> {
  const full = { connections: options.connections ?? 200, settleMs: options.settleMs ?? 4000, rounds: options.rounds ?? 3 };
  const log = options.log ?? (() => {});
  const perRound: ZombieResult['perRound'] = [];
  for (let round = 0; round < full.rounds; round++) {
    const order: Server[] = round % 2 === 0 ? ['tether', 'baseline'] : ['baseline', 'tether'];
    const runs: Partial<Record<Server, RunFigures>> = {};
    for (const server of order) {
      const figures = await measureRun(server, full);
      runs[server] = figures;
      log(
        `round ${round + 1}/${full.rounds} ${server}: ${figures.detected} detected, p50 ${fixed(figures.p50Ms / 1000, 2)} s, ` +
          `p95 ${fixed(figures.p95Ms / 1000, 2)} s, ${fixed(figures.minMs / 1000, 2)}–${fixed(figures.maxMs / 1000, 2)} s`,
      );
    }
    perRound.push({ tether: runs.tether!, baseline: runs.baseline! });
  }
  const tether = median(perRound.map((r) => r.tether.p95Ms));
  return {
    name: 'zombie',
    params: { ...full, heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS, boundMs: BOUND_MS, baselineIntervalMs: BASELINE_INTERVAL_MS },
    tether,
    baseline: BOUND_MS,
    ratio: tether / BOUND_MS,
    unit: 'ms from black-hole to the server closing the socket, p95 (baseline column: the bound)',
    ...(options.label ? { label: options.label } : {}),
    baselineRatio: median(perRound.map((r) => r.tether.p95Ms / r.baseline.p95Ms)),
    perRound,
  };
}

/** The result as a short plain-text table. */
export function formatZombie(result: ZombieResult): string {
  const s = (ms: number) => fixed(ms / 1000, 2);
  const med = (pick: (r: RunFigures) => number, server: Server) => median(result.perRound.map((r) => pick(r[server])));
  return [
    `${result.params.connections} connections black-holed at once; heartbeat ${INTERVAL_MS} ms, timeout ${TIMEOUT_MS} ms (bound ${BOUND_MS} ms); medians over ${result.perRound.length} rounds`,
    table([
      ['detection (s)', 'p50', 'p95', 'max'],
      ['tether', s(med((r) => r.p50Ms, 'tether')), s(result.tether), s(med((r) => r.maxMs, 'tether'))],
      [`bare ws, ping every ${BASELINE_INTERVAL_MS / 1000} s`, s(med((r) => r.p50Ms, 'baseline')), s(med((r) => r.p95Ms, 'baseline')), s(med((r) => r.maxMs, 'baseline'))],
    ]),
    `p95 within the bound (≤ ${BOUND_MS} ms): ${result.ratio <= 1 ? 'met' : 'MISSED'} (${fixed(result.ratio, 2)} of it); ` +
      `against bare ws tolerating the same silence: ${fixed(result.baselineRatio, 2)}`,
  ].join('\n');
}

/** Rounds of a full or `--quick` run. */
export function zombieOptions(quick: boolean): ZombieOptions {
  return quick ? { connections: 200, settleMs: 3000, rounds: 1 } : { connections: 200, settleMs: 4000, rounds: 3 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function zombieDeadlineMs(options: ZombieOptions): number {
  return 60_000 + (60_000 + (options.settleMs ?? 4000) + BOUND_MS * 3) * 2 * (options.rounds ?? 3);
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...zombieOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('zombie', zombieDeadlineMs(options), () => runZombie(options));
  console.log('\n' + formatZombie(result));
  console.log(`\nwrote ${writeResult(result)}`);
}
