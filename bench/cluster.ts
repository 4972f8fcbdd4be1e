/**
 * Cost of many nodes (issue 14): the JSON relay benchmark's load on three nodes of a cluster
 * against one cloud alone, and how many ownership operations the JetStream KV bucket takes.
 *
 * The load is `relay.ts`'s: `users` glasses send ~200-byte events, each fanned out to two apps
 * as `data_stream`s, with `inFlight` deliveries kept outstanding (saturated). Each server is a
 * child process of its own (`support/serverChild.ts`); glasses and apps live in this process.
 * Per round, each layout on fresh processes (order reversed every other round):
 * - `single`: one cloud, no cluster, on a SQLite file: today's node (`npm start`), the baseline;
 * - `singlePg`: the same cloud on PostgreSQL, no cluster: what the store alone costs;
 * - `local`: three nodes on one `nats-server` and one PostgreSQL; every user's glasses connect
 *   to the first node, which claims the sessions, and the apps connect where the webhook says
 *   (the owner): glasses, owner and apps on one node, the path the owner hint keeps traffic on.
 *   The two other nodes are members with nothing to do but renew their lease;
 * - `singles` and `spread`: the users split in three, each third on a node of its own: three
 *   clouds that know nothing of each other (`singles`), then three nodes of a cluster (`spread`).
 *   On two cores the three processes take turns, and each does less per wake-up than one busy
 *   node does: `spread` is compared with `singles`, which pays the same;
 * - `relayed`: as `local`, but every app socket is sent to the second node, which relays its
 *   frames to the owner over NATS (`cluster/appRelay.ts`): the exception's cost.
 * `single`, `singlePg` and `local` also run in `pairedRounds` more rounds, and their busy node
 * has CPU 0 to itself while everything else shares the rest (`support/cpuPinning.ts`): unpinned,
 * one round of them varied by ±15% on two shared cores, more than the 10% the target allows.
 * The figure is **cost per delivery**: CPU time of the node processes over the window divided by
 * the deliveries in it, in µs. Throughput alone would not compare: three nodes, NATS and the
 * clients share two cores. The CPU of `nats-server` and PostgreSQL is reported apart (and in a
 * total), since on the local path neither is on a message's way.
 *
 * **Ownership operations** run against a fresh `nats-server` from this process, `concurrency`
 * at a time: a claim of a free user (read, create), a takeover from a dead owner (read, lease
 * read, compare-and-set), a handover (compare-and-set), a release (delete at the revision), and
 * a session claim as a node does it (`ClusterNode.acquire`: the KV claim and the epoch recorded
 * in PostgreSQL). Baseline: a plain `put` on the same bucket, measured in the same run.
 *
 * Run alone: `npx tsx bench/cluster.ts [--quick] [--label <text>]`; writes `bench/results/cluster.json`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { openClusterBuckets } from '../src/cloud/cluster/buckets.js';
import { startClusterNode } from '../src/cloud/cluster/clusterNode.js';
import { Ownership } from '../src/cloud/cluster/ownership.js';
import { openStore } from '../src/cloud/openStore.js';
import { silentLogger } from '../src/logger.js';
import { startNats, type LocalNats } from '../scripts/localServers/nats.js';
import { startPostgres, type LocalPostgres } from '../scripts/localServers/postgres.js';
import { startAppWebhook, type AppWebhook } from './support/appWebhook.js';
import { closeAll, openGlasses, type ClientSocket } from './support/clients.js';
import { startServerChild, type ServerChild } from './support/children.js';
import { isolateCpu } from './support/cpuPinning.js';
import { processTreeCpuMs, processTreePids } from './support/processCpu.js';
import { event, PACKAGES, runLoadPhases, STREAM, type Receipts } from './support/relayLoad.js';
import { fixed, isMain, median, parseFlags, sleep, table, until, withDeadline, writeResult, type BenchFigures } from './support/report.js';

/** Issue 14's bound: the local path's cost per delivery at most 10% above one node's. */
const COST_TARGET = 1.1;
const NODES = 3;
/** The nodes' lease: the default, so renewals cost what they cost in production. */
const LEASE_MS = 10_000;

/** Parameters of {@link runCluster}. */
export interface ClusterOptions {
  /** Glasses, each with two apps; default 99 (a multiple of three: as many users per node). */
  users?: number;
  /** Deliveries kept outstanding; default 4,000. */
  inFlight?: number;
  /** Measured window per run, in ms; default 8,000. */
  windowMs?: number;
  /** Saturated sending before the window, in ms; default 2,000. */
  warmupMs?: number;
  /** Events in per second in the latency phase; default 10,000. */
  rate?: number;
  /** Latency phase per run, in ms (its first quarter is not sampled); default 4,000. */
  latencyMs?: number;
  /** Rounds (one run of each layout); default 3. */
  rounds?: number;
  /** More rounds of `single`, `singlePg` and `local` only; default 4. */
  pairedRounds?: number;
  /** Operations of each kind in the ownership measurement; default 3,000. */
  ownershipOps?: number;
  /** Ownership operations in flight at once; default 64. */
  concurrency?: number;
  label?: string;
  log?: (line: string) => void;
}

type Layout = 'single' | 'singlePg' | 'local' | 'singles' | 'spread' | 'relayed';
/** The layouts of the target, run in the paired rounds too. */
type Paired = 'single' | 'singlePg' | 'local';
const PAIRED: readonly Paired[] = ['single', 'singlePg', 'local'];

/** How a layout is deployed. */
interface LayoutSpec {
  /** Nodes of one cluster (else independent clouds). */
  readonly cluster: boolean;
  /** Each cloud on a PostgreSQL database of its own (a cluster always is on one). */
  readonly postgres?: boolean;
  readonly nodes: number;
  /** Nodes the glasses are split over, user k on node k mod `spread`. */
  readonly spread: number;
  /** App sockets sent to the node after the owner. */
  readonly relayed: boolean;
}

const LAYOUTS: Record<Layout, LayoutSpec> = {
  single: { cluster: false, nodes: 1, spread: 1, relayed: false },
  singlePg: { cluster: false, postgres: true, nodes: 1, spread: 1, relayed: false },
  local: { cluster: true, nodes: NODES, spread: 1, relayed: false },
  singles: { cluster: false, nodes: NODES, spread: NODES, relayed: false },
  spread: { cluster: true, nodes: NODES, spread: NODES, relayed: false },
  relayed: { cluster: true, nodes: NODES, spread: 1, relayed: true },
};
const ORDER = Object.keys(LAYOUTS) as Layout[];
type Full = Required<Omit<ClusterOptions, 'label' | 'log'>>;

/** One run's figures. */
interface RunFigures {
  layout: Layout;
  deliveriesPerSecond: number;
  /** CPU of the cloud processes per delivery over the window, in µs. */
  nodeCostUs: number;
  /** CPU of `nats-server` and PostgreSQL per delivery over the window, in µs (0 alone). */
  infraCostUs: number;
  /** CPU of each node over the window, in % of one core. */
  nodeCpuPct: number[];
  latencyP50Ms: number;
  latencyP99Ms: number;
}

/** Ownership operations per second, each kind on its own. */
export interface OwnershipFigures {
  putPerSecond: number;
  claimPerSecond: number;
  takeoverPerSecond: number;
  handoverPerSecond: number;
  releasePerSecond: number;
  /** `ClusterNode.acquire`: KV claim plus the epoch written to PostgreSQL. */
  sessionClaimPerSecond: number;
}

/** Result of {@link runCluster}: the result file's content. */
export type ClusterResult = BenchFigures & {
  params: Full & Record<string, number | string>;
  /** Median µs of node CPU per delivery and median ratios against `single`. */
  cost: {
    singleUs: number;
    singlePgUs: number;
    localUs: number;
    singlesUs: number;
    spreadUs: number;
    relayedUs: number;
    /** `local` against `single`, over every round: the target. */
    localRatio: number;
    /** `singlePg` against `single`: the store's part. */
    singlePgRatio: number;
    /** `local` against `singlePg`: ownership's part. */
    localOverPgRatio: number;
    /** `spread` against `singles`. */
    spreadRatio: number;
    /** `relayed` against `single`. */
    relayedRatio: number;
    /** Nodes plus `nats-server` and PostgreSQL, against one node. */
    localTotalRatio: number;
    relayedTotalRatio: number;
  };
  throughput: Record<Layout, number>;
  latency: Record<Layout, { p50Ms: number; p99Ms: number }>;
  ownership: OwnershipFigures & { claimRatio: number; takeoverRatio: number; handoverRatio: number; releaseRatio: number; sessionClaimRatio: number };
  perRound: Array<Record<Layout, RunFigures>>;
  /** Every round's `single`, `singlePg` and `local` (the first `rounds` are also in `perRound`). */
  paired: Array<Record<Paired, RunFigures>>;
};

/** The servers of one run, the clients on them, and how to stop all of it. */
interface Deployment {
  nodes: ServerChild[];
  /** Pids of `nats-server` and PostgreSQL (none alone). */
  infraPids: number[];
  close(): Promise<void>;
}

async function deploy(layout: Layout, postgres: LocalPostgres, run: number): Promise<Deployment> {
  const base = {
    kind: 'tether' as const,
    heartbeatIntervalMs: 15_000,
    heartbeatTimeoutMs: 45_000,
    messagesPerSecond: { socket: 1_000_000, user: 1_000_000 },
  };
  const spec = LAYOUTS[layout];
  if (!spec.cluster) {
    // A node alone on SQLite has a file of its own, as `npm start` does (WAL, in a temporary directory).
    const dir = mkdtempSync(join(tmpdir(), 'tether-bench-cluster-'));
    const pgUrl = spec.postgres ? await postgres.createDatabase(`bench_alone_${run}`) : undefined;
    const nodes = await Promise.all(Array.from({ length: spec.nodes }, (_, i) => startServerChild({ ...base, dbPath: pgUrl ?? join(dir, `node${i}.db`) })));
    return {
      nodes,
      infraPids: [],
      close: async () => {
        await Promise.all(nodes.map((node) => node.close()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const nats = await startNats();
  const dbUrl = await postgres.createDatabase(`bench_cluster_${run}`);
  const nodes: ServerChild[] = [];
  const close = async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await nats.stop();
  };
  try {
    // One at a time: the first creates the buckets and migrates the database.
    for (let i = 0; i < spec.nodes; i++) nodes.push(await startServerChild({ ...base, cluster: { natsUrl: nats.url, dbUrl, nodeId: `n${i + 1}`, leaseMs: LEASE_MS } }));
  } catch (error) {
    await close();
    throw error;
  }
  return { nodes, infraPids: [nats.pid, postgres.pid], close };
}

/** The app WebSocket URL of the node after the one `url` names (relayed layout). */
function nextNode(nodes: readonly ServerChild[], url: string): string {
  const port = new URL(url).port;
  const at = nodes.findIndex((node) => new URL(node.appUrl).port === port);
  if (at < 0) throw new Error(`the webhook named ${url}, which is no node of this run`);
  return nodes[(at + 1) % nodes.length]!.appUrl;
}

async function populate(layout: Layout, deployment: Deployment, users: number): Promise<{ glasses: ClientSocket[]; apps: ClientSocket[]; close(): Promise<void> }> {
  const { nodes } = deployment;
  const spec = LAYOUTS[layout];
  let rerouted = 0;
  const routeSocket = spec.relayed ? (url: string) => (rerouted++, nextNode(nodes, url)) : undefined;
  // One registration serves a cluster (its nodes share the database); independent clouds each
  // issue their own API keys, so each gets webhooks of its own.
  const registries = spec.cluster ? [nodes[0]!] : nodes.slice(0, spec.spread);
  const hooks: AppWebhook[] = [];
  const glasses: ClientSocket[] = [];
  const close = async () => {
    closeAll(glasses);
    await Promise.all(hooks.map((hook) => hook.close()));
  };
  try {
    for (const registry of registries) {
      for (const pkg of PACKAGES) {
        const hook = await startAppWebhook(pkg, [STREAM], routeSocket ? { routeSocket } : {});
        hooks.push(hook);
        hook.apiKey = await registry.registerApp(pkg, hook.url);
      }
    }
    for (let n = 0; n < spec.spread; n++) {
      const node = nodes[n]!;
      const userIds = Array.from({ length: users }, (_, k) => `u${k}`).filter((_, k) => k % spec.spread === n);
      glasses.push(...(await openGlasses(node.glassesUrl, await node.tokens(userIds), { batch: 50, runningApps: PACKAGES })));
    }
    const due = users * PACKAGES.length;
    const acked = () => hooks.reduce((sum, hook) => sum + hook.acked, 0);
    await until(() => acked() >= due, 60_000, () => `${acked()} of ${due} app sockets connected`);
    if (spec.relayed && rerouted !== due) throw new Error(`${rerouted} of ${due} app sockets were sent to a non-owner`);
    // Their subscription_update lands after the ack (and, relayed, crosses NATS).
    await sleep(1000);
  } catch (error) {
    await close();
    throw error;
  }
  return { glasses, apps: hooks.flatMap((hook) => hook.sockets), close };
}

/** What the servers spent over one measured window. */
interface CostWindow {
  deliveries: number;
  elapsedMs: number;
  nodeCostUs: number;
  infraCostUs: number;
  nodeCpuPct: number[];
}

/** Measures the next `ms` of `deployment`: its nodes' CPU, NATS's and PostgreSQL's, against the deliveries in it. */
async function measure(deployment: Deployment, receipts: Receipts, ms: number): Promise<CostWindow> {
  await Promise.all(deployment.nodes.map((node) => node.measureStart()));
  const infraBefore = processTreeCpuMs(deployment.infraPids);
  const before = receipts.received;
  const startedAt = performance.now();
  await sleep(ms);
  const deliveries = receipts.received - before;
  const elapsedMs = performance.now() - startedAt;
  const windows = await Promise.all(deployment.nodes.map((node) => node.measureStop()));
  const infraMs = processTreeCpuMs(deployment.infraPids) - infraBefore;
  const nodeMs = windows.reduce((sum, window) => sum + window.cpuMs, 0);
  return {
    deliveries,
    elapsedMs,
    nodeCostUs: (nodeMs / deliveries) * 1000,
    infraCostUs: (infraMs / deliveries) * 1000,
    nodeCpuPct: windows.map((window) => (window.cpuMs / window.elapsedMs) * 100),
  };
}

async function measureRun(layout: Layout, postgres: LocalPostgres, run: number, options: Full): Promise<RunFigures> {
  const deployment = await deploy(layout, postgres, run);
  // One busy node: it gets a core, and everything else (this process, idle nodes, NATS,
  // PostgreSQL) the other, the same in every paired layout.
  const unpin = (PAIRED as readonly string[]).includes(layout)
    ? isolateCpu(deployment.nodes[0]!.pid, [
        process.pid,
        ...processTreePids([postgres.pid, ...deployment.infraPids]),
        ...deployment.nodes.slice(1).map((node) => node.pid),
      ])
    : undefined;
  try {
    const population = await populate(layout, deployment, options.users);
    try {
      const run = await runLoadPhases(layout, population.glasses, population.apps, { ...options, drainMs: 15_000 }, (receipts) =>
        measure(deployment, receipts, options.windowMs),
      );
      const saturated = run.window;
      return {
        layout,
        deliveriesPerSecond: (saturated.deliveries / saturated.elapsedMs) * 1000,
        nodeCostUs: saturated.nodeCostUs,
        infraCostUs: saturated.infraCostUs,
        nodeCpuPct: saturated.nodeCpuPct,
        latencyP50Ms: run.latencyP50Ms,
        latencyP99Ms: run.latencyP99Ms,
      };
    } finally {
      await population.close();
    }
  } finally {
    unpin?.();
    await deployment.close();
  }
}

/** Runs `count` calls of `operation`, `concurrency` at a time; resolves with calls per second. */
async function perSecond(count: number, concurrency: number, operation: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await operation(next++);
    }),
  );
  return (count / (performance.now() - startedAt)) * 1000;
}

async function measureOwnership(postgres: LocalPostgres, options: Full): Promise<OwnershipFigures> {
  const nats: LocalNats = await startNats();
  const nc = await connect({ servers: nats.url });
  try {
    const buckets = await openClusterBuckets(nc, LEASE_MS);
    // Two incarnations with no lease in the nodes bucket: to each other, the other is dead.
    const first = new Ownership({ ...buckets, self: { nodeId: 'bench-a', incarnation: 'a' } });
    const second = new Ownership({ ...buckets, self: { nodeId: 'bench-b', incarnation: 'b' } });
    const count = options.ownershipOps;
    const { concurrency } = options;
    const user = (i: number) => `bench-user-${i}`;
    const value = JSON.stringify(first.self);
    const putPerSecond = await perSecond(count, concurrency, (i) => buckets.owners.put(`put-${i}`, value));
    const claimPerSecond = await perSecond(count, concurrency, async (i) => {
      const outcome = await first.claim(user(i));
      if (outcome.kind !== 'owned' || outcome.from) throw new Error(`claim of a free ${user(i)} found ${outcome.kind}`);
    });
    const epochs: number[] = [];
    const takeoverPerSecond = await perSecond(count, concurrency, async (i) => {
      const outcome = await second.claim(user(i));
      if (outcome.kind !== 'owned' || !outcome.from) throw new Error(`takeover of ${user(i)} found ${outcome.kind}`);
      epochs[i] = outcome.epoch;
    });
    const handoverPerSecond = await perSecond(count, concurrency, async (i) => {
      epochs[i] = await second.transfer(user(i), epochs[i]!, first.self);
    });
    const releasePerSecond = await perSecond(count, concurrency, async (i) => {
      if (!(await first.release(user(i), epochs[i]!))) throw new Error(`release of ${user(i)} was refused`);
    });
    const sessionClaimPerSecond = await measureSessionClaims(nats.url, await postgres.createDatabase('bench_ownership'), count, concurrency);
    return { putPerSecond, claimPerSecond, takeoverPerSecond, handoverPerSecond, releasePerSecond, sessionClaimPerSecond };
  } finally {
    await nc.close();
    await nats.stop();
  }
}

/** Sessions a node claims per second (`acquire` of free users), its store on PostgreSQL. */
async function measureSessionClaims(natsUrl: string, dbUrl: string, count: number, concurrency: number): Promise<number> {
  const store = await openStore(dbUrl, silentLogger);
  const node = await startClusterNode({ natsUrl, nodeId: 'bench-node', leaseMs: LEASE_MS, store, logger: silentLogger });
  try {
    return await perSecond(count, concurrency, async (i) => {
      const outcome = await node.acquire(`session-user-${i}`);
      if (outcome.kind !== 'claimed') throw new Error(`acquire of a free user found ${outcome.kind}`);
    });
  } finally {
    await node.close();
    await store.close();
  }
}

/** Runs the benchmark; returns (and does not write) its result. */
export async function runCluster(options: ClusterOptions = {}): Promise<ClusterResult> {
  const full: Full = {
    users: options.users ?? 99,
    inFlight: options.inFlight ?? 4000,
    windowMs: options.windowMs ?? 8000,
    warmupMs: options.warmupMs ?? 2000,
    rate: options.rate ?? 10_000,
    latencyMs: options.latencyMs ?? 4000,
    rounds: options.rounds ?? 3,
    pairedRounds: options.pairedRounds ?? 4,
    ownershipOps: options.ownershipOps ?? 3000,
    concurrency: options.concurrency ?? 64,
  };
  const log = options.log ?? (() => {});
  // Profiling one layout alone: BENCH_CLUSTER_LAYOUTS=local (the report needs them all).
  const layouts = (process.env['BENCH_CLUSTER_LAYOUTS']?.split(',') as Layout[] | undefined) ?? ORDER;
  const postgres = await startPostgres();
  try {
    const perRound: ClusterResult['perRound'] = [];
    let run = 0;
    const paired: Array<Record<Paired, RunFigures>> = [];
    const total = full.rounds + full.pairedRounds;
    for (let round = 0; round < total; round++) {
      const these = round < full.rounds ? layouts : layouts.filter((layout) => (PAIRED as readonly string[]).includes(layout));
      const order = round % 2 === 0 ? these : [...these].reverse();
      const runs: Partial<Record<Layout, RunFigures>> = {};
      for (const layout of order) {
        const figures = await measureRun(layout, postgres, run++, full);
        runs[layout] = figures;
        log(
          `round ${round + 1}/${total} ${layout}: ${fixed(figures.nodeCostUs, 2)} µs of node CPU per delivery (+ ${fixed(figures.infraCostUs, 2)} µs NATS and PostgreSQL); ` +
            `${fixed(figures.deliveriesPerSecond / 1000, 1)} k deliveries/s, nodes at ${figures.nodeCpuPct.map((pct) => fixed(pct)).join(' / ')}% of a core; ` +
            `at ${full.rate / 1000} k in/s p50 ${fixed(figures.latencyP50Ms, 2)} ms, p99 ${fixed(figures.latencyP99Ms, 2)} ms`,
        );
      }
      if (round < full.rounds) perRound.push(runs as Record<Layout, RunFigures>);
      paired.push(runs as Record<Paired, RunFigures>);
    }
    if (layouts.length !== ORDER.length) throw new Error(`profiling run of ${layouts.join(', ')}: no report without every layout`);
    log(`ownership: ${full.ownershipOps} operations of each kind, ${full.concurrency} in flight`);
    const ownership = await measureOwnership(postgres, full);
    const med = (pick: (r: Record<Layout, RunFigures>) => number) => median(perRound.map(pick));
    const node = (r: RunFigures) => r.nodeCostUs;
    const withInfra = (r: RunFigures) => r.nodeCostUs + r.infraCostUs;
    const pairedMed = (pick: (r: Record<Paired, RunFigures>) => number) => median(paired.map(pick));
    const cost = {
      singleUs: pairedMed((r) => node(r.single)),
      singlePgUs: pairedMed((r) => node(r.singlePg)),
      localUs: pairedMed((r) => node(r.local)),
      singlesUs: med((r) => node(r.singles)),
      spreadUs: med((r) => node(r.spread)),
      relayedUs: med((r) => node(r.relayed)),
      localRatio: pairedMed((r) => node(r.local) / node(r.single)),
      singlePgRatio: pairedMed((r) => node(r.singlePg) / node(r.single)),
      localOverPgRatio: pairedMed((r) => node(r.local) / node(r.singlePg)),
      spreadRatio: med((r) => node(r.spread) / node(r.singles)),
      relayedRatio: med((r) => node(r.relayed) / node(r.single)),
      localTotalRatio: pairedMed((r) => withInfra(r.local) / withInfra(r.single)),
      relayedTotalRatio: med((r) => withInfra(r.relayed) / withInfra(r.single)),
    };
    return {
      name: 'cluster',
      params: { ...full, nodes: NODES, leaseMs: LEASE_MS, stream: STREAM, eventBytes: event(performance.now()).length, fanOut: PACKAGES.length },
      tether: cost.localUs,
      baseline: cost.singleUs,
      ratio: cost.localRatio,
      unit: 'µs of node CPU per data_stream delivery, saturated: 3 nodes on the local path (tether) against one node (baseline); lower is better',
      ...(options.label ? { label: options.label } : {}),
      cost,
      throughput: Object.fromEntries(ORDER.map((layout) => [layout, med((r) => r[layout].deliveriesPerSecond)])) as Record<Layout, number>,
      latency: Object.fromEntries(ORDER.map((layout) => [layout, { p50Ms: med((r) => r[layout].latencyP50Ms), p99Ms: med((r) => r[layout].latencyP99Ms) }])) as ClusterResult['latency'],
      ownership: {
        ...ownership,
        claimRatio: ownership.claimPerSecond / ownership.putPerSecond,
        takeoverRatio: ownership.takeoverPerSecond / ownership.putPerSecond,
        handoverRatio: ownership.handoverPerSecond / ownership.putPerSecond,
        releaseRatio: ownership.releasePerSecond / ownership.putPerSecond,
        sessionClaimRatio: ownership.sessionClaimPerSecond / ownership.putPerSecond,
      },
      perRound,
      paired,
    };
  } finally {
    await postgres.stop();
  }
}

/** The result as a short plain-text table. */
export function formatCluster(result: ClusterResult): string {
  const { users, rate, ownershipOps, concurrency } = result.params;
  const { cost, ownership } = result;
  const us = (n: number) => fixed(n, 2);
  const k = (n: number) => fixed(n / 1000, 1);
  const ratio = (n: number) => (Number.isNaN(n) ? '' : fixed(n, 2));
  const row = (label: string, figure: (layout: Layout) => string, ratios: readonly [number, number, number] = [Number.NaN, Number.NaN, Number.NaN]) => {
    const [local, relayed, spread] = ratios;
    return [label, figure('single'), figure('local'), ratio(local), figure('relayed'), ratio(relayed), figure('singles'), figure('spread'), ratio(spread)];
  };
  const costs: Record<Layout, number> = {
    single: cost.singleUs,
    singlePg: cost.singlePgUs,
    local: cost.localUs,
    relayed: cost.relayedUs,
    singles: cost.singlesUs,
    spread: cost.spreadUs,
  };
  return [
    `${users} glasses → 2 apps each, ~${result.params.eventBytes} B events, saturated; µs of node CPU per delivery`,
    '',
    `The local path against one node, medians over ${result.paired.length} rounds:`,
    table([
      ['', 'one node, SQLite', 'one node, PostgreSQL', 'ratio', '3 nodes, local path', 'ratio to SQLite', 'ratio to PostgreSQL'],
      ['median', us(cost.singleUs), us(cost.singlePgUs), ratio(cost.singlePgRatio), us(cost.localUs), ratio(cost.localRatio), ratio(cost.localOverPgRatio)],
      ...result.paired.map((r, i) => [
        `round ${i + 1}`,
        us(r.single.nodeCostUs),
        us(r.singlePg.nodeCostUs),
        ratio(r.singlePg.nodeCostUs / r.single.nodeCostUs),
        us(r.local.nodeCostUs),
        ratio(r.local.nodeCostUs / r.single.nodeCostUs),
        ratio(r.local.nodeCostUs / r.singlePg.nodeCostUs),
      ]),
    ]),
    '',
    `Relayed apps and users split over three processes, medians over ${result.perRound.length} rounds:`,
    table([
      ['', 'one node', '3 nodes, local', 'ratio', '3 nodes, apps relayed', 'ratio', '3 clouds, users split', '3 nodes, users split', 'ratio'],
      row('µs node CPU / delivery', (layout) => us(costs[layout]), [cost.localRatio, cost.relayedRatio, cost.spreadRatio]),
      row('… with NATS and PostgreSQL', () => '', [cost.localTotalRatio, cost.relayedTotalRatio, Number.NaN]),
      row('k deliveries/s (2 cores shared)', (layout) => k(result.throughput[layout])),
      row(`p50 ms at ${rate / 1000} k in/s`, (layout) => fixed(result.latency[layout].p50Ms, 2)),
      row(`p99 ms at ${rate / 1000} k in/s`, (layout) => fixed(result.latency[layout].p99Ms, 2)),
      ...result.perRound.map((r, i) =>
        row(`round ${i + 1} µs`, (layout) => us(r[layout].nodeCostUs), [
          r.local.nodeCostUs / r.single.nodeCostUs,
          r.relayed.nodeCostUs / r.single.nodeCostUs,
          r.spread.nodeCostUs / r.singles.nodeCostUs,
        ]),
      ),
    ]),
    `local path within 10% of one node (ratio ≤ ${COST_TARGET}): ${cost.localRatio <= COST_TARGET ? 'met' : 'MISSED'} (${fixed(cost.localRatio, 2)})`,
    '',
    `ownership operations on JetStream KV, ${ownershipOps} of each, ${concurrency} in flight`,
    table([
      ['', 'ops/s', 'against put'],
      ['plain put (baseline)', fixed(ownership.putPerSecond, 0), '1.00'],
      ['claim a free user (get, create)', fixed(ownership.claimPerSecond, 0), fixed(ownership.claimRatio, 2)],
      ['take over from a dead owner (get, lease get, CAS)', fixed(ownership.takeoverPerSecond, 0), fixed(ownership.takeoverRatio, 2)],
      ['hand over (CAS)', fixed(ownership.handoverPerSecond, 0), fixed(ownership.handoverRatio, 2)],
      ['release (delete at revision)', fixed(ownership.releasePerSecond, 0), fixed(ownership.releaseRatio, 2)],
      ['session claim (KV claim + epoch in PostgreSQL)', fixed(ownership.sessionClaimPerSecond, 0), fixed(ownership.sessionClaimRatio, 2)],
    ]),
  ].join('\n');
}

/** Rounds and windows of a full or `--quick` run. */
export function clusterOptions(quick: boolean): ClusterOptions {
  return quick
    ? { users: 48, windowMs: 3000, warmupMs: 1000, rate: 5000, latencyMs: 2000, rounds: 1, pairedRounds: 1, ownershipOps: 500 }
    : { users: 99, rounds: 3, pairedRounds: 4 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function clusterDeadlineMs(options: ClusterOptions): number {
  const perRun = 90_000 + (options.windowMs ?? 8000) + (options.warmupMs ?? 2000) + (options.latencyMs ?? 4000);
  return 120_000 + perRun * (ORDER.length * (options.rounds ?? 3) + PAIRED.length * (options.pairedRounds ?? 4));
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...clusterOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('cluster', clusterDeadlineMs(options), () => runCluster(options));
  console.log('\n' + formatCluster(result));
  console.log(`\nwrote ${writeResult(result)}`);
}
