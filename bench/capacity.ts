/**
 * Capacity (issue 13 §2): 1,000, 3,000 and 5,000 idle users, each glasses and two running apps,
 * on one cloud, against a bare `ws` server holding the same sockets; memory per user session and
 * sessions brought up per second.
 *
 * The server runs in a child process (`support/serverChild.ts`, default heartbeat timings), and
 * so do the clients (`support/clientChild.ts`): one process here may hold 20,000 descriptors and
 * 5,000 users are 15,000 sockets on each side. Each client child holds up to
 * {@link USERS_PER_CLIENT} users and, against the cloud, the webhooks of two apps of its own
 * (the cloud sees more packages, each user still runs two apps); on `session_request` a webhook
 * opens the app socket as `@mentra/sdk` does (see `support/appWebhook.ts`). Against the baseline
 * the client child opens the same sockets with the same frames itself.
 *
 * Per run: a few warm-up users, two full GCs and a reading of the server's memory (`before`);
 * then every client child brings its share up at once, in batches of {@link BATCH} users, and
 * the time until the last app socket is acked gives sessions per second; the server settles, is
 * read again (`after`), and per session = (after − before) / users. No socket may close in a
 * run. Sizes and servers alternate (the order reverses every other round); medians over rounds.
 *
 * The machine's two cores are shared by the server and the client children, so sessions per
 * second is what the whole machine reaches, the same for both servers.
 *
 * With `BENCH_HEAP_SNAPSHOTS=<dir>`, each cloud run also writes a V8 heap snapshot of the cloud
 * at both readings (`<dir>/tether-<users>-before.heapsnapshot`, `…-after…`), to compare.
 *
 * Run alone: `npx tsx bench/capacity.ts [--quick] [--label <text>]`; writes
 * `bench/results/capacity.json` and the chart `bench/results/capacity.svg` (a full run also
 * `docs/charts/capacity.svg`).
 */
import { startClientChild, startServerChild, type ClientChild, type ServerChild } from './support/children.js';
import { fixed, isMain, median, parseFlags, sleep, table, withDeadline, writeChart, writeResult, type BenchFigures } from './support/report.js';
import type { MemoryFigures } from './support/serverChild.js';
import { renderLineChart } from './support/svgChart.js';

const HEARTBEAT_INTERVAL_MS = 15_000;
const HEARTBEAT_TIMEOUT_MS = 45_000;
/** Users per client child: 6,000 sockets, and as many again for the cloud's webhook calls at worst. */
const USERS_PER_CLIENT = 2000;
const BATCH = 100;
const WARM_UP_USERS = 20;
/** The goal of the issue: memory per session at most this many times the bare sockets'. */
const GOAL_RATIO = 1.5;

/** Parameters of {@link runCapacity}. */
export interface CapacityOptions {
  /** Users per size; default 1,000, 3,000 and 5,000. */
  sizes?: number[];
  /** Rounds (each size once on each server); default 2. */
  rounds?: number;
  /** Wait after the last session is up, before the `after` reading, in ms; default 3,000. */
  settleMs?: number;
  label?: string;
  log?: (line: string) => void;
}

type Server = 'tether' | 'baseline';
type Params = Required<Omit<CapacityOptions, 'label' | 'log'>>;

/** One run's figures. */
interface RunFigures {
  server: Server;
  users: number;
  clientChildren: number;
  before: MemoryFigures;
  after: MemoryFigures;
  perSessionKiB: { heapUsed: number; rss: number };
  sessionsPerSecond: number;
}

/** Tether, baseline and their ratio, medians over rounds (the ratio taken within each round). */
interface Compared {
  tether: number;
  baseline: number;
  ratio: number;
}

/** One size's medians. */
interface SizeFigures {
  users: number;
  heapKiB: Compared;
  rssKiB: Compared;
  sessionsPerSecond: Compared;
}

/**
 * Result of {@link runCapacity}. The headline is heap per session at the largest size (heap
 * repeats within a few percent; RSS moves with the allocator and stands beside it).
 */
export type CapacityResult = BenchFigures & {
  params: Params & { usersPerClient: number; batch: number; heartbeatIntervalMs: number };
  perSize: SizeFigures[];
  perRound: RunFigures[];
};

const HEAP_SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS;

async function snapshotIfAsked(child: ServerChild, server: Server, users: number, moment: 'before' | 'after'): Promise<void> {
  if (HEAP_SNAPSHOTS && server === 'tether') await child.heapSnapshot(`${HEAP_SNAPSHOTS}/tether-${users}-${moment}.heapsnapshot`);
}

async function measureRun(server: Server, users: number, params: Params): Promise<RunFigures> {
  const child: ServerChild = await startServerChild({ kind: server, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  const clients: ClientChild[] = [];
  try {
    const count = Math.ceil(users / USERS_PER_CLIENT);
    for (let c = 0; c < count; c++) {
      const apps = [`com.bench.c${c}.notes`, `com.bench.c${c}.captions`];
      const client = await startClientChild({ kind: server, glassesUrl: child.glassesUrl, appUrl: child.appUrl, apps, batch: BATCH });
      const keys: Record<string, string> = {};
      for (const [app, url] of Object.entries(client.webhooks)) keys[app] = await child.registerApp(app, url);
      await client.apiKeys(keys);
      clients.push(client);
    }
    let next = 0;
    const chunk = async (size: number) => {
      const userIds = Array.from({ length: size }, () => `cap-${next++}`);
      return { userIds, tokens: await child.tokens(userIds) };
    };
    const warmUp = await chunk(WARM_UP_USERS);
    await (clients[0] as ClientChild).add(warmUp.userIds, warmUp.tokens);
    await sleep(params.settleMs);
    const before = await child.memory();
    await snapshotIfAsked(child, server, users, 'before');

    const shares = await Promise.all(clients.map((_, c) => chunk(Math.min(USERS_PER_CLIENT, users - c * USERS_PER_CLIENT))));
    const started = performance.now();
    await Promise.all(clients.map((client, c) => client.add((shares[c] as { userIds: string[] }).userIds, (shares[c] as { tokens: string[] }).tokens)));
    const upMs = performance.now() - started;

    await sleep(params.settleMs);
    const after = await child.memory();
    await snapshotIfAsked(child, server, users, 'after');
    const closed = (await Promise.all(clients.map((client) => client.closed()))).reduce((sum, n) => sum + n, 0);
    if (closed > 0) throw new Error(`${server}, ${users} users: ${closed} sockets closed during the run`);
    const per = (key: keyof MemoryFigures) => (after[key] - before[key]) / users / 1024;
    return {
      server,
      users,
      clientChildren: count,
      before,
      after,
      perSessionKiB: { heapUsed: per('heapUsed'), rss: per('rss') },
      sessionsPerSecond: users / (upMs / 1000),
    };
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await child.close();
  }
}

/** Runs the benchmark; returns (and does not write) its result. */
export async function runCapacity(options: CapacityOptions = {}): Promise<CapacityResult> {
  const params: Params = { sizes: options.sizes ?? [1000, 3000, 5000], rounds: options.rounds ?? 2, settleMs: options.settleMs ?? 3000 };
  const log = options.log ?? (() => {});
  const perRound: RunFigures[] = [];
  for (let round = 0; round < params.rounds; round++) {
    for (const users of params.sizes) {
      const order: Server[] = round % 2 === 0 ? ['tether', 'baseline'] : ['baseline', 'tether'];
      for (const server of order) {
        const run = await measureRun(server, users, params);
        perRound.push(run);
        log(
          `round ${round + 1}/${params.rounds} ${users} users ${server}: heap ${fixed(run.perSessionKiB.heapUsed)} KiB, ` +
            `rss ${fixed(run.perSessionKiB.rss)} KiB per session; ${fixed(run.sessionsPerSecond, 0)} sessions/s`,
        );
      }
    }
  }
  const perSize = params.sizes.map((users): SizeFigures => {
    const runs = (server: Server) => perRound.filter((r) => r.users === users && r.server === server);
    const compare = (pick: (r: RunFigures) => number): Compared => {
      const tether = runs('tether');
      const baseline = runs('baseline');
      return {
        tether: median(tether.map(pick)),
        baseline: median(baseline.map(pick)),
        ratio: median(tether.map((r, i) => pick(r) / pick(baseline[i] as RunFigures))),
      };
    };
    return {
      users,
      heapKiB: compare((r) => r.perSessionKiB.heapUsed),
      rssKiB: compare((r) => r.perSessionKiB.rss),
      sessionsPerSecond: compare((r) => r.sessionsPerSecond),
    };
  });
  const largest = perSize.at(-1) as SizeFigures;
  return {
    name: 'capacity',
    params: { ...params, usersPerClient: USERS_PER_CLIENT, batch: BATCH, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS },
    ...largest.heapKiB,
    unit: `KiB of JS heap used per idle user session (glasses + 2 apps) at ${largest.users} users, after full GCs`,
    ...(options.label ? { label: options.label } : {}),
    perSize,
    perRound,
  };
}

/** Memory per session against users, both servers, heap and RSS. */
export function capacityChart(result: CapacityResult): string {
  const line = (name: string, pick: (s: SizeFigures) => number) => ({ name, points: result.perSize.map((s) => [s.users, pick(s)] as const) });
  return renderLineChart({
    title: 'Memory per idle user session (glasses + 2 apps)',
    xLabel: 'users',
    yLabel: 'KiB per user session',
    series: [
      line('tether heap', (s) => s.heapKiB.tether),
      line('bare ws heap', (s) => s.heapKiB.baseline),
      line('tether rss', (s) => s.rssKiB.tether),
      line('bare ws rss', (s) => s.rssKiB.baseline),
    ],
  });
}

/** The result as a short plain-text table. */
export function formatCapacity(result: CapacityResult): string {
  const c = (x: Compared, digits = 1) => [fixed(x.tether, digits), fixed(x.baseline, digits), fixed(x.ratio, 2)];
  return [
    `idle users (glasses + 2 apps each), clients in ${USERS_PER_CLIENT}-user child processes; medians over ${result.params.rounds} rounds`,
    table([
      ['users', 'heap KiB tether', 'bare ws', 'ratio', 'rss KiB tether', 'bare ws', 'ratio', 'sessions/s tether', 'bare ws', 'ratio'],
      ...result.perSize.map((s) => [s.users.toLocaleString('en-US'), ...c(s.heapKiB), ...c(s.rssKiB), ...c(s.sessionsPerSecond, 0)]),
    ]),
    `memory per session ≤ ${GOAL_RATIO} × bare ws (heap, ${result.perSize.at(-1)?.users} users): ${result.ratio <= GOAL_RATIO ? 'met' : 'MISSED'} (${fixed(result.ratio, 2)})`,
  ].join('\n');
}

/** Sizes and rounds of a full or `--quick` run. */
export function capacityOptions(quick: boolean): CapacityOptions {
  return quick ? { sizes: [300, 1000], rounds: 1, settleMs: 2000 } : { sizes: [1000, 3000, 5000], rounds: 2, settleMs: 3000 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function capacityDeadlineMs(options: CapacityOptions): number {
  const users = (options.sizes ?? [1000, 3000, 5000]).reduce((sum, n) => sum + n, 0);
  return 120_000 + (options.rounds ?? 2) * 2 * (users * 40 + (options.sizes?.length ?? 3) * (60_000 + 2 * (options.settleMs ?? 3000)));
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...capacityOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('capacity', capacityDeadlineMs(options), () => runCapacity(options));
  console.log('\n' + formatCapacity(result));
  console.log(`\nwrote ${writeResult(result)} and ${writeChart('capacity', capacityChart(result), !flags.quick)}`);
}
