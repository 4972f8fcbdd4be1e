/**
 * Memory per user session (issue 9): what one idle user — glasses and two running apps — costs
 * the cloud, against a bare `ws` server holding the same sockets.
 *
 * The server runs in a child process of its own (`support/serverChild.ts`, `--expose-gc`); the
 * glasses and the two app servers live in this process, all over 127.0.0.1:
 * - `tether`: the cloud (`createCloud`, overrides only; default heartbeat timings) with two apps
 *   registered through `registerApp`. Each app's webhook is a tiny HTTP server here that, on
 *   `session_request`, opens the app WebSocket to the `mentraOSWebsocketUrl` of the body, sends
 *   `tpa_connection_init { sessionId, packageName, apiKey }`, waits for `tpa_connection_ack`,
 *   sends `subscription_update []` (as `@mentra/sdk` does) and answers 200 `{ status: 'success' }`.
 *   The glasses send `connection_init { coreToken, runningApps: [both apps] }`, so both start.
 * - `baseline`: a bare `ws` server; per user this process opens the same three sockets with the
 *   same frames (`connection_init` → `connection_ack`; twice `tpa_connection_init` →
 *   `tpa_connection_ack`, then `subscription_update`), and the server pings each socket from a
 *   `setInterval` of its own at the cloud's default 15 s interval.
 *
 * A few warm-up users come first, so that what the first sessions create once per process
 * (compiled code, pools, caches) is not counted; then the child's RSS and heap are read after two
 * full GCs (`before`), `users` users connect in batches, the process settles, and they are read
 * again (`after`). Per session = (after − before) / users. Runs alternate between the two servers
 * (the order reverses every other round), each on a fresh child; the report gives medians.
 *
 * Run alone: `npx tsx bench/sessionMemory.ts [--quick] [--label <text>]`; writes
 * `bench/results/sessionMemory.json`. Run it before and after a change (`--label before-…`,
 * `--label after-…`) and compare `perSessionKiB` field by field.
 */
import { startAppWebhook, type AppWebhook } from './support/appWebhook.js';
import { closeAll, openAcked, openGlasses, type ClientSocket } from './support/clients.js';
import { startServerChild, type ServerChild } from './support/children.js';
import { fixed, isMain, median, parseFlags, sleep, table, until, withDeadline, writeResult, type BenchFigures } from './support/report.js';
import type { MemoryFigures } from './support/serverChild.js';

/** The cloud's default heartbeat, in ms (the baseline pings at the same pace). */
const HEARTBEAT_INTERVAL_MS = 15_000;
const HEARTBEAT_TIMEOUT_MS = 45_000;
const APPS = ['com.bench.notes', 'com.bench.captions'] as const;

/** Parameters of {@link runSessionMemory}. */
export interface SessionMemoryOptions {
  /** Users per run (each: glasses + 2 apps = 3 sockets); default 1,000. */
  users?: number;
  /** Users connected before the `before` reading; default 20. */
  warmUpUsers?: number;
  /** Users connected at a time; default 100. */
  batch?: number;
  /** Wait after the last session is up, before the `after` reading, in ms; default 3,000. */
  settleMs?: number;
  /** Rounds (one run of each server); default 3. */
  rounds?: number;
  label?: string;
  log?: (line: string) => void;
}

type Server = 'tether' | 'baseline';
type Params = Required<Omit<SessionMemoryOptions, 'label' | 'log'>>;

/** One run's figures: memory per session, in KiB. */
interface RunFigures {
  server: Server;
  before: MemoryFigures;
  after: MemoryFigures;
  perSessionKiB: { rss: number; heapUsed: number; external: number };
}

/** Brings `count` users up on a Tether cloud: glasses with both apps declared running, both app sockets acked. */
function tetherUsers(child: ServerChild, hooks: readonly AppWebhook[], batch: number) {
  const glasses: ClientSocket[] = [];
  let next = 0;
  return {
    glasses,
    async add(count: number) {
      const userIds = Array.from({ length: count }, () => `mem-${next++}`);
      const tokens = await child.tokens(userIds);
      const opened = await openGlasses(child.glassesUrl, tokens, {
        batch,
        runningApps: APPS,
        // Each batch's apps are up before the next batch opens, so webhooks do not pile up.
        onBatch: (sockets) =>
          until(
            () => hooks.every((hook) => hook.acked >= glasses.length + sockets),
            60_000,
            () => `app sockets acked: ${hooks.map((h) => h.acked).join(', ')} of ${glasses.length + sockets} each`,
          ),
      });
      glasses.push(...opened);
    },
  };
}

/** The same three sockets per user, with the same frames, on the baseline server. */
function baselineUsers(child: ServerChild, batch: number) {
  const sockets: ClientSocket[] = [];
  let next = 0;
  return {
    sockets,
    async add(count: number) {
      const userIds = Array.from({ length: count }, () => `mem-${next++}`);
      const tokens = await child.tokens(userIds);
      for (let start = 0; start < count; start += batch) {
        const ids = userIds.slice(start, start + batch);
        const glasses = await openGlasses(child.glassesUrl, tokens.slice(start, start + batch), { batch, runningApps: APPS });
        sockets.push(...glasses);
        const apps = await Promise.all(
          ids.flatMap((userId) =>
            APPS.map(async (packageName) => {
              const sessionId = `${userId}-${packageName}`;
              const socket = await openAcked(child.appUrl, { type: 'tpa_connection_init', sessionId, packageName, apiKey: 'baseline-api-key' }, 'tpa_connection_ack');
              socket.ws.send(JSON.stringify({ type: 'subscription_update', packageName, subscriptions: [] }));
              return socket;
            }),
          ),
        );
        sockets.push(...apps);
      }
    },
  };
}

async function measureRun(server: Server, params: Params): Promise<RunFigures> {
  const child = await startServerChild({ kind: server, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  const hooks: AppWebhook[] = [];
  const held: ClientSocket[][] = [];
  try {
    let add: (count: number) => Promise<void>;
    if (server === 'tether') {
      for (const packageName of APPS) {
        const hook = await startAppWebhook(packageName);
        hook.apiKey = await child.registerApp(packageName, hook.url);
        hooks.push(hook);
      }
      const users = tetherUsers(child, hooks, params.batch);
      held.push(users.glasses);
      add = (count) => users.add(count);
    } else {
      const users = baselineUsers(child, params.batch);
      held.push(users.sockets);
      add = (count) => users.add(count);
    }
    await add(params.warmUpUsers);
    await sleep(params.settleMs);
    const before = await child.memory();
    await add(params.users);
    await sleep(params.settleMs);
    const after = await child.memory();
    const closed = held.flat().concat(hooks.flatMap((h) => h.sockets)).filter((s) => s.closed).length;
    if (closed > 0) throw new Error(`${server}: ${closed} sockets closed during the run`);
    const per = (key: keyof MemoryFigures) => (after[key] - before[key]) / params.users / 1024;
    return { server, before, after, perSessionKiB: { rss: per('rss'), heapUsed: per('heapUsed'), external: per('external') } };
  } finally {
    for (const sockets of held) closeAll(sockets);
    for (const hook of hooks) await hook.close();
    await child.close();
  }
}

/** Tether, baseline and ratio of one figure: medians over rounds (the ratio's taken within each round). */
interface Compared {
  tether: number;
  baseline: number;
  ratio: number;
}

/**
 * Result of {@link runSessionMemory}: the result file's content. The headline (`tether`,
 * `baseline`, `ratio`) is heap used, which repeats within a few percent from run to run; RSS is
 * what the process costs the machine but moves by ±20% (the allocator returns pages to the
 * system when it pleases), so it stands beside it.
 */
export type SessionMemoryResult = BenchFigures & {
  params: Params & { socketsPerUser: number; heartbeatIntervalMs: number };
  perSessionKiB: { heapUsed: Compared; rss: Compared };
  perRound: Array<{ tether: RunFigures; baseline: RunFigures }>;
};

/** Runs the benchmark; returns (and does not write) its result. */
export async function runSessionMemory(options: SessionMemoryOptions = {}): Promise<SessionMemoryResult> {
  const params: Params = {
    users: options.users ?? 1000,
    warmUpUsers: options.warmUpUsers ?? 20,
    batch: options.batch ?? 100,
    settleMs: options.settleMs ?? 3000,
    rounds: options.rounds ?? 3,
  };
  const log = options.log ?? (() => {});
  const perRound: SessionMemoryResult['perRound'] = [];
  for (let round = 0; round < params.rounds; round++) {
    const order: Server[] = round % 2 === 0 ? ['tether', 'baseline'] : ['baseline', 'tether'];
    const got = new Map<Server, RunFigures>();
    for (const server of order) {
      const figures = await measureRun(server, params);
      got.set(server, figures);
      const { rss, heapUsed, external } = figures.perSessionKiB;
      log(`round ${round + 1}/${params.rounds} ${server}: per session heap ${fixed(heapUsed)} KiB, rss ${fixed(rss)} KiB, external ${fixed(external)} KiB`);
    }
    perRound.push({ tether: got.get('tether') as RunFigures, baseline: got.get('baseline') as RunFigures });
  }
  const compare = (key: keyof RunFigures['perSessionKiB']): Compared => ({
    tether: median(perRound.map((r) => r.tether.perSessionKiB[key])),
    baseline: median(perRound.map((r) => r.baseline.perSessionKiB[key])),
    ratio: median(perRound.map((r) => r.tether.perSessionKiB[key] / r.baseline.perSessionKiB[key])),
  });
  const perSessionKiB = { heapUsed: compare('heapUsed'), rss: compare('rss') };
  return {
    name: 'sessionMemory',
    params: { ...params, socketsPerUser: 1 + APPS.length, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS },
    ...perSessionKiB.heapUsed,
    unit: 'KiB of JS heap used per idle user session (glasses + 2 apps), after full GCs',
    ...(options.label ? { label: options.label } : {}),
    perSessionKiB,
    perRound,
  };
}

/** The result as a short plain-text table. */
export function formatSessionMemory(result: SessionMemoryResult): string {
  const { rss, heapUsed } = result.perSessionKiB;
  const row = (name: string, c: Compared) => [name, fixed(c.tether), fixed(c.baseline), fixed(c.ratio, 2)];
  return [
    `${result.params.users.toLocaleString('en-US')} idle users (glasses + 2 apps each), medians over ${result.perRound.length} rounds`,
    table([['KiB per user session', 'tether', 'baseline', 'ratio'], row('heap used', heapUsed), row('rss', rss)]),
    '',
    table([
      ['per round (heap / rss KiB)', 'tether', 'baseline'],
      ...result.perRound.map((r, i) => [
        `round ${i + 1}`,
        `${fixed(r.tether.perSessionKiB.heapUsed)} / ${fixed(r.tether.perSessionKiB.rss)}`,
        `${fixed(r.baseline.perSessionKiB.heapUsed)} / ${fixed(r.baseline.perSessionKiB.rss)}`,
      ]),
    ]),
  ].join('\n');
}

/** Population and rounds of a full or `--quick` run. */
export function sessionMemoryOptions(quick: boolean): SessionMemoryOptions {
  return quick ? { users: 300, rounds: 3, settleMs: 2000 } : { users: 1000, rounds: 3, settleMs: 3000 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function sessionMemoryDeadlineMs(options: SessionMemoryOptions): number {
  const perRun = 60_000 + 2 * (options.settleMs ?? 3000) + (options.users ?? 1000) * 60;
  return 60_000 + perRun * 2 * (options.rounds ?? 3);
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...sessionMemoryOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('sessionMemory', sessionMemoryDeadlineMs(options), () => runSessionMemory(options));
  console.log('\n' + formatSessionMemory(result));
  console.log(`\nwrote ${writeResult(result)}`);
}
