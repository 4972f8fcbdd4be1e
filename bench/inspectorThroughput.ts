/**
 * Runtime event throughput with and without the inspector hub (issue 4: with the hub attached
 * and no page open, at least 95% of the throughput without it).
 *
 * Workload: `users` real `userSession` actors, each with one `appSession` child that is
 * `running`, on fake I/O (links over sockets that do nothing, a webhook that answers at once) and
 * a SimulatedClock, so only the machines and the inspection path are measured. Each user receives
 * the same control-plane cycle: five `subscriptions.updated` for its app (the heartbeat no longer
 * reaches the session machines: it lives in the links), its glasses socket closing (the link
 * ends → grace) and a `glasses.connected` with a newer generation (→ connected: a new link, app
 * reconciliation, `user.reconnected` to the app). The
 * loop yields to the event loop after every cycle, so timers (the feed's batches) run as they
 * would in the cloud.
 *
 * Variants:
 * - `none`: no `inspect` option at all;
 * - `noop`: an `inspect` observer that does nothing — what XState's inspection dispatch costs;
 * - `hub`: the hub alone, no page;
 * - `cloud`: the observers the cloud always attaches without the hub (the state-change log);
 * - `cloud+hub`: those plus the hub, no page — the runtime with and without the hub;
 * - `cloud+hub+page`: the same with one page connected (informational).
 *
 * Throughput is events per second of this process's CPU time, so other processes on a shared
 * machine do not count. Each round runs every variant once, back to back on fresh actors (one
 * population alive at a time, the order alternating between rounds) after an untimed warm-up
 * round; ratios are taken within a round and the report gives their medians and spread. V8's
 * JIT and GC make single runs vary by ±10% even on a quiet machine: read the medians.
 */
import { cpus } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SimulatedClock, type AnyActorRef, type InspectionEvent } from 'xstate';
import { appSessionSystemId } from '../machines/sessionApi.js';
import { createInspectorHub, type InspectorHub } from '../inspector/index.js';
import { silentLogger } from '../src/logger.js';
import { combineInspectors, createStateLog } from '../src/cloud/stateLog.js';
import { closeGlassesSocket, startInertUser } from '../test/support/inertUserSession.js';

/** Parameters of {@link runInspectorThroughput}. */
export interface ThroughputOptions {
  /** User sessions per run (each with one app session); default 1000. */
  users?: number;
  /** Timed event cycles per user per run (7 events each), after one untimed; default 3. */
  cycles?: number;
  /** Rounds; every variant runs once per round. Default 9. */
  rounds?: number;
  /** Variants to run (default: all). */
  variants?: Variant[];
  log?: (line: string) => void;
}

/** What is attached to the actors; see the module comment. */
export type Variant = 'none' | 'noop' | 'hub' | 'cloud' | 'cloud+hub' | 'cloud+hub+page';

/** All variants, in the order they are reported. */
const VARIANTS: readonly Variant[] = ['none', 'noop', 'hub', 'cloud', 'cloud+hub', 'cloud+hub+page'];

/** One variant's figures over the measured rounds. */
export interface VariantResult {
  name: Variant;
  /** Events per second of CPU time, one per round. */
  rates: number[];
  median: number;
}

/** A ratio of two variants' throughputs, measured back to back in each round. */
export interface RatioResult {
  /** `numerator/denominator`. */
  name: string;
  perRound: number[];
  median: number;
}

/** Result of {@link runInspectorThroughput}. */
export interface ThroughputResult {
  users: number;
  eventsPerRun: number;
  rounds: number;
  variants: VariantResult[];
  ratios: RatioResult[];
}

const SUBSCRIPTIONS = [['button_press'], ['button_press', 'transcription:en-US']] as const;
const PACKAGE = 'com.example.bench';
const CYCLE_EVENTS = 7;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The observers of `variant`, and what to close after the run. */
function attach(variant: Variant): { inspect?: (event: InspectionEvent) => void; close(): void } {
  const cloud = variant.startsWith('cloud') ? [createStateLog(silentLogger)] : [];
  if (variant === 'none') return { close() {} };
  if (variant === 'noop') return { inspect: () => {}, close() {} };
  if (variant === 'cloud') return { inspect: combineInspectors(...cloud), close() {} };
  const hub: InspectorHub = createInspectorHub();
  const page = variant === 'cloud+hub+page' ? hub.connect((message) => void JSON.stringify(message)) : undefined;
  return {
    inspect: combineInspectors(...cloud, hub.inspect),
    close() {
      page?.close();
      hub.close();
    },
  };
}

/** One variant's actors: `users` user sessions, each with a running app session. */
interface Population {
  /** Runs one event cycle for every user and returns the CPU time it took, in ms. */
  cycle(): Promise<number>;
  /** Checks the workload stayed valid, then stops every actor. */
  finish(): void;
}

async function createPopulation(variant: Variant, users: number): Promise<Population> {
  const clock = new SimulatedClock();
  const observers = attach(variant);
  const actors: Array<{ user: ReturnType<typeof startInertUser>; app: AnyActorRef; gen: number }> = [];
  for (let i = 0; i < users; i++) {
    const userId = `user-${i}`;
    const user = startInertUser(userId, PACKAGE, clock, observers.inspect);
    const app = user.system.get(appSessionSystemId(userId, PACKAGE)) as AnyActorRef | undefined;
    if (!app) throw new Error('app session missing');
    actors.push({ user, app, gen: 1 });
  }
  // Webhooks resolve on the microtask queue; then every app connects.
  await yieldToLoop();
  for (const { app } of actors) app.send({ type: 'app.connected', gen: 1 });

  return {
    async cycle() {
      const started = cpuMs();
      for (const entry of actors) {
        const { user, app } = entry;
        for (let i = 0; i < 5; i++) app.send({ type: 'subscriptions.updated', gen: 1, subscriptions: SUBSCRIPTIONS[i % 2]! });
        closeGlassesSocket(user, 1006);
        entry.gen++;
        user.send({ type: 'glasses.connected', gen: entry.gen });
      }
      // Timers that came due (a page's batches) run here, and count.
      await yieldToLoop();
      return cpuMs() - started;
    },
    finish() {
      for (const { app } of actors) {
        if (!hasValue(app.getSnapshot(), 'running')) throw new Error('workload broke: an app session is not running');
      }
      observers.close();
      for (const { user } of actors) user.stop();
    },
  };
}

/**
 * One round: each variant in turn (the order alternates between rounds) creates its actors,
 * runs one untimed warm-up cycle and `cycles` timed ones, and stops them; one population is
 * alive at a time, so no variant inherits another's heap. Returns events per CPU-second.
 */
async function runRound(variants: readonly Variant[], users: number, cycles: number, reverse: boolean): Promise<Map<Variant, number>> {
  const got = new Map<Variant, number>();
  for (const variant of reverse ? [...variants].reverse() : variants) {
    const population = await createPopulation(variant, users);
    await population.cycle();
    gc();
    let ms = 0;
    for (let c = 0; c < cycles; c++) ms += await population.cycle();
    population.finish();
    got.set(variant, (users * cycles * CYCLE_EVENTS) / (ms / 1000));
  }
  return got;
}

/**
 * CPU time this process has used, in ms. Timing by CPU rather than wall clock keeps other
 * processes on a shared machine (a CI runner, parallel test workers) out of the figures; it
 * includes the GC's helper threads, which are part of the cost.
 */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function hasValue(snapshot: unknown, top: string): boolean {
  const value = (snapshot as { value?: unknown }).value;
  return value === top || (typeof value === 'object' && value !== null && top in value);
}

let collect: (() => void) | undefined;
/** A full GC before each timed run, so one variant does not pay for the previous one's garbage. */
function gc(): void {
  if (!collect) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      collect = () => {};
    }
  }
  collect();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Ratios reported when both of their variants ran: [numerator, denominator]. */
const RATIOS: ReadonlyArray<[Variant, Variant]> = [
  ['cloud+hub', 'cloud'],
  ['hub', 'none'],
  ['noop', 'none'],
  ['hub', 'noop'],
  ['cloud+hub+page', 'cloud'],
];

/** Runs the benchmark and returns its figures. */
export async function runInspectorThroughput(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const users = options.users ?? 1000;
  const cycles = options.cycles ?? 3;
  const rounds = options.rounds ?? 9;
  const log = options.log ?? (() => {});
  const variants = [...(options.variants ?? VARIANTS)];
  const rates = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  const ratioPairs = RATIOS.filter(([a, b]) => variants.includes(a) && variants.includes(b));
  const perRound = new Map<string, number[]>(ratioPairs.map(([a, b]) => [`${a}/${b}`, []]));

  // Warm-up: the JIT sees every variant's code paths before anything is timed.
  await runRound(variants, Math.max(1, Math.floor(users / 4)), 1, false);
  for (let round = 0; round < rounds; round++) {
    const got = await runRound(variants, users, cycles, round % 2 === 1);
    for (const [variant, rate] of got) rates.get(variant)?.push(rate);
    for (const [a, b] of ratioPairs) perRound.get(`${a}/${b}`)?.push((got.get(a) ?? 0) / (got.get(b) ?? 1));
    log(`round ${round + 1}/${rounds}: ` + variants.map((v) => `${v} ${fmt(got.get(v) ?? 0)}`).join(', ') + ' ev/s');
  }
  return {
    users,
    eventsPerRun: users * cycles * CYCLE_EVENTS,
    rounds,
    variants: variants.map((name) => {
      const list = rates.get(name) ?? [];
      return { name, rates: list, median: median(list) };
    }),
    ratios: [...perRound].map(([name, list]) => ({ name, perRound: list, median: median(list) })),
  };
}

/** The interquartile range of `values`, as `a–b`. */
function quartiles(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))] ?? 0;
  return `${at(0.25).toFixed(3)}–${at(0.75).toFixed(3)}`;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

const LABELS: Record<Variant, string> = {
  none: 'no inspection at all',
  noop: 'a no-op `inspect` observer (XState\'s dispatch alone)',
  hub: 'the hub alone, no page',
  cloud: "the cloud's own observers (state-change log, silent logger), no hub",
  'cloud+hub': "the cloud's observers + the hub, no page",
  'cloud+hub+page': "the cloud's observers + the hub, one page connected",
};

/** The result as a Markdown section for docs/PERFORMANCE.md. */
export function formatThroughput(result: ThroughputResult): string {
  const ratio = (name: string) => result.ratios.find((r) => r.name === name);
  const lines = [
    '### Inspector hub overhead',
    '',
    `Command: \`npm run bench\` (bench/inspectorThroughput.ts). ${result.users.toLocaleString('en-US')} \`userSession\` actors, ` +
      `each with a running \`appSession\` child (${(result.users * 2).toLocaleString('en-US')} machines), fake I/O actors, SimulatedClock; ` +
      `${fmt(result.eventsPerRun)} control-plane events per run (heartbeat re-entries, app liveness, glasses close → grace → reconnect). ` +
      `Throughput is events per second of the process's CPU time (other load on the machine does not count). ` +
      `Every variant runs once per round, back to back on fresh actors, ${result.rounds} rounds after a warm-up; ratios are taken within a round. ` +
      `Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}).`,
    '',
    '| attached to every actor | median events per CPU-second | per round |',
    '|---|---:|---|',
    ...result.variants.map((v) => `| ${LABELS[v.name]} | ${fmt(v.median)} | ${v.rates.map(fmt).join(', ')} |`),
    '',
    '| ratio | median | middle half | per round |',
    '|---|---:|---|---|',
    ...result.ratios.map(
      (r) => `| ${r.name} | **${r.median.toFixed(3)}** | ${quartiles(r.perRound)} | ${r.perRound.map((x) => x.toFixed(3)).join(', ')} |`,
    ),
  ];
  const cloud = ratio('cloud+hub/cloud');
  const noop = ratio('noop/none');
  const hubNoop = ratio('hub/noop');
  lines.push('');
  if (cloud) lines.push(`The runtime with the hub attached and no page open runs at ${(cloud.median * 100).toFixed(1)}% of its throughput without it (target ≥ 95%).`);
  if (noop && hubNoop) {
    lines.push(
      `Against no inspection at all, XState's inspection dispatch by itself (a no-op observer) costs ${((1 - noop.median) * 100).toFixed(1)}%; ` +
        `the hub on top of that dispatch runs at ${(hubNoop.median * 100).toFixed(1)}% of the no-op observer.`,
    );
  }
  return lines.join('\n');
}
