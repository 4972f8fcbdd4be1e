/**
 * JSON relay (issue 13 §1): glasses stream events fanned out to two apps per user, the cloud
 * against a bare `ws` relay of the same frames.
 *
 * `users` glasses (default 100) each send `phone_notification` events of about 200 bytes; each
 * user has two app sockets subscribed to them, so every event is delivered twice as a
 * `data_stream`. The server runs in a child process of its own (`support/serverChild.ts`);
 * glasses and apps live in this process. Per round, each server on a fresh child, the order
 * reversed every other round:
 * - `tether`: the cloud (`createCloud`, overrides only), its apps started by their webhooks
 *   (`support/appWebhook.ts`);
 * - `baseline`: a bare `ws` server that parses each glasses frame once and sends each of the
 *   user's app sockets its own `data_stream` (same shape, same backpressure check): one `send`,
 *   one system call, per delivery, as a relay written on `ws` does;
 * - `corked`: the same bare relay, corking each app socket for the rest of the tick as the
 *   cloud's data plane does (`writeDataFrame`), so that the ratio against it is what the
 *   cloud's statecharts, validation and replay buffers cost on the same I/O.
 * Two measurements per run:
 * - **throughput**: the glasses keep `inFlight` deliveries outstanding (sent × 2 − received),
 *   the most the server can take; the figure is deliveries per second over the window.
 * - **latency**: a fixed `rate` of events in per second (fan-out 2), spread over 10 ms slices;
 *   each event carries its send time, and the apps give p50/p99 of send → receipt.
 * Every event sent must arrive at both apps (a run that loses one fails). Ratios are Tether's
 * over each bare relay's within a round; the report gives medians over rounds.
 *
 * Run alone: `npx tsx bench/relay.ts [--quick] [--label <text>]`; writes `bench/results/relay.json`.
 */
import { performance } from 'node:perf_hooks';
import { startAppWebhook } from './support/appWebhook.js';
import { closeAll, openAcked, openGlasses, type ClientSocket } from './support/clients.js';
import { event, HIGH_WATER_BYTES, PACKAGES, runLoadPhases, STREAM } from './support/relayLoad.js';
import { startServerChild, type ServerChild } from './support/children.js';
import { fixed, isMain, median, parseFlags, sleep, table, until, withDeadline, writeResult, type BenchFigures } from './support/report.js';

/** Issue 13's goal for throughput, Tether over bare `ws`. */
const RATIO_TARGET = 0.9;

/** Parameters of {@link runRelay}. */
export interface RelayOptions {
  /** Glasses, each with two apps; default 100. */
  users?: number;
  /** Deliveries kept outstanding in the throughput phase; default 4,000. */
  inFlight?: number;
  /** Measured throughput window per run, in ms; default 8,000. */
  windowMs?: number;
  /** Saturated sending before the window (JIT warm-up), in ms; default 2,000. */
  warmupMs?: number;
  /** Events in per second in the latency phase; default 20,000. */
  rate?: number;
  /** Latency phase per run, in ms (its first quarter is not sampled); default 6,000. */
  latencyMs?: number;
  /** Rounds (one run of each server); default 3. */
  rounds?: number;
  label?: string;
  log?: (line: string) => void;
}

type Server = 'tether' | 'baseline' | 'corked';
type Full = Required<Omit<RelayOptions, 'label' | 'log'>>;

/** One run's figures. */
interface RunFigures {
  server: Server;
  deliveriesPerSecond: number;
  /** Server CPU over the throughput window, in % of one core. */
  cpuPct: number;
  /** Send → receipt at the fixed rate, in ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Deliveries per event at the fixed rate (must be 2). */
  fanOut: number;
}

/** Result of {@link runRelay}: the result file's content. */
export type RelayResult = BenchFigures & {
  params: Full & Record<string, number | string>;
  latency: { tetherP50Ms: number; tetherP99Ms: number; baselineP50Ms: number; baselineP99Ms: number; p99Ratio: number };
  /** Against the corked bare relay: deliveries per second and the median ratio. */
  corked: { deliveriesPerSecond: number; ratio: number; latencyP50Ms: number; latencyP99Ms: number };
  perRound: Array<{ tether: RunFigures; baseline: RunFigures; corked: RunFigures; ratio: number; corkedRatio: number }>;
};

async function populate(server: Server, child: ServerChild, users: number): Promise<{ glasses: ClientSocket[]; apps: ClientSocket[]; close(): Promise<void> }> {
  const userIds = Array.from({ length: users }, (_, i) => `u${i}`);
  const tokens = await child.tokens(userIds);
  if (server === 'tether') {
    const hooks = await Promise.all(PACKAGES.map((pkg) => startAppWebhook(pkg, [STREAM])));
    for (const [i, hook] of hooks.entries()) hook.apiKey = await child.registerApp(PACKAGES[i]!, hook.url);
    const glasses = await openGlasses(child.glassesUrl, tokens, { batch: 50, runningApps: PACKAGES });
    await until(() => hooks.every((hook) => hook.acked >= users), 30_000, () => `${hooks.map((h) => h.acked).join(' + ')} of ${users} × 2 apps connected`);
    // Their subscription_update lands after the ack.
    await sleep(500);
    return { glasses, apps: hooks.flatMap((hook) => hook.sockets), close: async () => void (await Promise.all(hooks.map((hook) => hook.close()))) };
  }
  const glasses = await openGlasses(child.glassesUrl, tokens, { batch: 50 });
  const apps = await Promise.all(
    userIds.flatMap((userId) =>
      PACKAGES.map((packageName) =>
        openAcked(child.appUrl, { type: 'tpa_connection_init', sessionId: `${userId}-${packageName}`, packageName, apiKey: 'baseline-api-key' }, 'tpa_connection_ack'),
      ),
    ),
  );
  return { glasses, apps, close: async () => closeAll(apps) };
}

async function measureRun(server: Server, options: Full): Promise<RunFigures> {
  const child = await startServerChild({
    kind: server === 'tether' ? 'tether' : 'baseline',
    heartbeatIntervalMs: 15_000,
    heartbeatTimeoutMs: 45_000,
    ...(server === 'tether'
      ? { messagesPerSecond: { socket: 1_000_000, user: 1_000_000 } }
      : { relayJsonHighWaterBytes: HIGH_WATER_BYTES, relayJsonCork: server === 'corked' }),
  });
  const population = await populate(server, child, options.users);
  try {
    const run = await runLoadPhases(server, population.glasses, population.apps, { ...options, drainMs: 10_000 }, async (receipts) => {
      const before = receipts.received;
      const startedAt = performance.now();
      await child.measureStart();
      await sleep(options.windowMs);
      const window = await child.measureStop();
      return { window, deliveries: receipts.received - before, elapsed: performance.now() - startedAt };
    });
    const { window, deliveries, elapsed } = run.window;
    return {
      server,
      deliveriesPerSecond: (deliveries / elapsed) * 1000,
      cpuPct: (window.cpuMs / window.elapsedMs) * 100,
      latencyP50Ms: run.latencyP50Ms,
      latencyP99Ms: run.latencyP99Ms,
      fanOut: run.fanOut,
    };
  } finally {
    closeAll(population.glasses);
    await population.close();
    await child.close();
  }
}

/** Runs the benchmark; returns (and does not write) its result. */
export async function runRelay(options: RelayOptions = {}): Promise<RelayResult> {
  const full: Full = {
    users: options.users ?? 100,
    inFlight: options.inFlight ?? 4000,
    windowMs: options.windowMs ?? 8000,
    warmupMs: options.warmupMs ?? 2000,
    rate: options.rate ?? 20_000,
    latencyMs: options.latencyMs ?? 6000,
    rounds: options.rounds ?? 3,
  };
  const log = options.log ?? (() => {});
  const perRound: RelayResult['perRound'] = [];
  for (let round = 0; round < full.rounds; round++) {
    const order: Server[] = round % 2 === 0 ? ['tether', 'baseline', 'corked'] : ['corked', 'baseline', 'tether'];
    const runs: Partial<Record<Server, RunFigures>> = {};
    for (const server of order) {
      const figures = await measureRun(server, full);
      runs[server] = figures;
      log(
        `round ${round + 1}/${full.rounds} ${server}: ${fixed(figures.deliveriesPerSecond / 1000, 1)} k deliveries/s (${fixed(figures.cpuPct)}% of a core); ` +
          `at ${full.rate / 1000} k in/s p50 ${fixed(figures.latencyP50Ms, 2)} ms, p99 ${fixed(figures.latencyP99Ms, 2)} ms`,
      );
    }
    const tether = runs.tether!;
    const baseline = runs.baseline!;
    const corked = runs.corked!;
    perRound.push({
      tether,
      baseline,
      corked,
      ratio: tether.deliveriesPerSecond / baseline.deliveriesPerSecond,
      corkedRatio: tether.deliveriesPerSecond / corked.deliveriesPerSecond,
    });
  }
  const med = (pick: (r: RunFigures) => number, server: Server) => median(perRound.map((r) => pick(r[server])));
  return {
    name: 'relay',
    params: { ...full, stream: STREAM, eventBytes: event(performance.now()).length, fanOut: PACKAGES.length, highWaterBytes: HIGH_WATER_BYTES },
    tether: med((r) => r.deliveriesPerSecond, 'tether'),
    baseline: med((r) => r.deliveriesPerSecond, 'baseline'),
    ratio: median(perRound.map((r) => r.ratio)),
    unit: 'data_stream deliveries per second, glasses → 2 apps each, saturated',
    ...(options.label ? { label: options.label } : {}),
    latency: {
      tetherP50Ms: med((r) => r.latencyP50Ms, 'tether'),
      tetherP99Ms: med((r) => r.latencyP99Ms, 'tether'),
      baselineP50Ms: med((r) => r.latencyP50Ms, 'baseline'),
      baselineP99Ms: med((r) => r.latencyP99Ms, 'baseline'),
      p99Ratio: median(perRound.map((r) => r.tether.latencyP99Ms / r.baseline.latencyP99Ms)),
    },
    corked: {
      deliveriesPerSecond: med((r) => r.deliveriesPerSecond, 'corked'),
      ratio: median(perRound.map((r) => r.corkedRatio)),
      latencyP50Ms: med((r) => r.latencyP50Ms, 'corked'),
      latencyP99Ms: med((r) => r.latencyP99Ms, 'corked'),
    },
    perRound,
  };
}

/** The result as a short plain-text table. */
export function formatRelay(result: RelayResult): string {
  const { users, rate } = result.params;
  const k = (n: number) => fixed(n / 1000, 1);
  return [
    `${users} glasses → 2 apps each, ~${result.params.eventBytes} B events, medians over ${result.perRound.length} rounds`,
    table([
      ['', 'tether', 'bare ws', 'ratio', 'bare ws, corked', 'ratio'],
      ['k deliveries/s (saturated)', k(result.tether), k(result.baseline), fixed(result.ratio, 2), k(result.corked.deliveriesPerSecond), fixed(result.corked.ratio, 2)],
      [
        `p50 ms at ${rate / 1000} k in/s`,
        fixed(result.latency.tetherP50Ms, 2),
        fixed(result.latency.baselineP50Ms, 2),
        '',
        fixed(result.corked.latencyP50Ms, 2),
        '',
      ],
      [
        `p99 ms at ${rate / 1000} k in/s`,
        fixed(result.latency.tetherP99Ms, 2),
        fixed(result.latency.baselineP99Ms, 2),
        fixed(result.latency.p99Ratio, 2),
        fixed(result.corked.latencyP99Ms, 2),
        '',
      ],
      ...result.perRound.map((r, i) => [
        `round ${i + 1} k/s`,
        k(r.tether.deliveriesPerSecond),
        k(r.baseline.deliveriesPerSecond),
        fixed(r.ratio, 2),
        k(r.corked.deliveriesPerSecond),
        fixed(r.corkedRatio, 2),
      ]),
    ]),
    `throughput against bare ws ≥ ${RATIO_TARGET}: ${result.ratio >= RATIO_TARGET ? 'met' : 'MISSED'} (${fixed(result.ratio, 2)}); ` +
      `against bare ws with the same corking: ${fixed(result.corked.ratio, 2)}`,
  ].join('\n');
}

/** Rounds and windows of a full or `--quick` run. */
export function relayOptions(quick: boolean): RelayOptions {
  return quick ? { users: 50, windowMs: 3000, warmupMs: 1000, rate: 10_000, latencyMs: 3000, rounds: 1 } : { users: 100, rounds: 3 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function relayDeadlineMs(options: RelayOptions): number {
  const perRun = 60_000 + (options.windowMs ?? 8000) + (options.warmupMs ?? 2000) + (options.latencyMs ?? 6000);
  return 60_000 + perRun * 3 * (options.rounds ?? 3);
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...relayOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('relay', relayDeadlineMs(options), () => runRelay(options));
  console.log('\n' + formatRelay(result));
  console.log(`\nwrote ${writeResult(result)}`);
}
