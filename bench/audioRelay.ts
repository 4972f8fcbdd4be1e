/**
 * Audio relay cost (issue 12): the cloud's CPU per audio frame, glasses → app, against a bare
 * `ws` relay of the same frames.
 *
 * `users` glasses (default 100) each stream 16 kHz 16-bit mono audio as the phones do — one
 * binary frame of 3200 bytes every 100 ms, 32 KB/s per user — to one app socket each, subscribed
 * to `audio_chunk`. The server runs in a child process of its own (`support/serverChild.ts`), so
 * its CPU time is measured alone; glasses and apps live in this process, the frames staggered
 * over each 100 ms. Per round, two runs on fresh children, the order reversed every other round:
 * - `tether`: the cloud (`createCloud`, overrides only); apps started by its webhook
 *   (`support/appWebhook.ts`), subscribed to `audio_chunk`;
 * - `baseline`: a bare `ws` server that forwards each glasses binary frame to the paired app
 *   socket, with the same backpressure check (`relayAudioHighWaterBytes`).
 * The figure is the child's CPU time over the window divided by the frames the apps received,
 * in µs per frame; every frame sent must arrive (a run that loses one fails). The ratio is
 * Tether's over the baseline's within each round; the report gives medians over rounds.
 *
 * Run alone: `npx tsx bench/audioRelay.ts [--quick] [--label <text>]`; writes
 * `bench/results/audioRelay.json`.
 */
import { startAppWebhook } from './support/appWebhook.js';
import { closeAll, openAcked, openGlasses, type ClientSocket } from './support/clients.js';
import { startServerChild, type ServerChild } from './support/children.js';
import { fixed, isMain, median, parseFlags, sleep, table, until, withDeadline, writeResult, type BenchFigures } from './support/report.js';
import { pcmFrames } from '../src/sim/streamEvents.js';

const PACKAGE = 'com.example.audiobench';
const FRAME_MS = 100;
/** The cloud's default `socketHighWaterBytes`, given to the baseline too. */
const HIGH_WATER_BYTES = 1_048_576;
/** Issue 12's yardstick: above this ratio the relay is profiled. */
const RATIO_TARGET = 1.5;

/** Parameters of {@link runAudioRelay}. */
export interface AudioRelayOptions {
  /** Glasses (and apps), default 100. */
  users?: number;
  /** Measured window per run, in ms; default 10,000. */
  windowMs?: number;
  /** Streaming before the window, in ms (JIT warm-up); default 2,000. */
  warmupMs?: number;
  /** Rounds (two runs each); default 3. */
  rounds?: number;
  label?: string;
  log?: (line: string) => void;
}

type Server = 'tether' | 'baseline';

/** One run's figures. */
interface RunFigures {
  server: Server;
  /** CPU time of the child per frame relayed in the window, in µs. */
  cpuUsPerFrame: number;
  /** CPU of the child over the window, in % of one core. */
  cpuPct: number;
  /** Frames the apps received in the window. */
  frames: number;
  eventLoopP99Ms: number;
}

/** Result of {@link runAudioRelay}: the result file's content. */
export type AudioRelayResult = BenchFigures & {
  params: Required<Omit<AudioRelayOptions, 'label' | 'log'>> & Record<string, number>;
  perRound: Array<{ tether: RunFigures; baseline: RunFigures; ratio: number }>;
};

interface Population {
  glasses: ClientSocket[];
  apps: ClientSocket[];
  /** Binary frames the apps received so far. */
  received(): number;
  close(): Promise<void>;
}

/** Counts the binary frames an app socket receives; checks the first of each user's byte for byte. */
function countBinary(apps: readonly ClientSocket[], frame: Buffer): { received(): number; mismatched(): number } {
  let received = 0;
  let mismatched = 0;
  for (const app of apps) {
    app.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      received++;
      if (!data.equals(frame)) mismatched++;
    });
  }
  return { received: () => received, mismatched: () => mismatched };
}

async function populate(server: Server, child: ServerChild, users: number, frame: Buffer): Promise<Population & { mismatched(): number }> {
  const userIds = Array.from({ length: users }, (_, i) => `u${i}`);
  const tokens = await child.tokens(userIds);
  if (server === 'tether') {
    const hook = await startAppWebhook(PACKAGE, ['audio_chunk']);
    hook.apiKey = await child.registerApp(PACKAGE, hook.url);
    const glasses = await openGlasses(child.glassesUrl, tokens, { batch: 50, runningApps: [PACKAGE] });
    await until(() => hook.acked >= users, 30_000, () => `${hook.acked} of ${users} apps connected`);
    // Their subscription_update lands after the ack.
    await sleep(500);
    const counter = countBinary(hook.sockets, frame);
    return { glasses, apps: hook.sockets, ...counter, close: () => hook.close() };
  }
  const glasses = await openGlasses(child.glassesUrl, tokens, { batch: 50 });
  const apps = await Promise.all(
    userIds.map((userId) =>
      openAcked(child.appUrl, { type: 'tpa_connection_init', sessionId: `${userId}-${PACKAGE}`, packageName: PACKAGE, apiKey: 'baseline-api-key' }, 'tpa_connection_ack'),
    ),
  );
  const counter = countBinary(apps, frame);
  return { glasses, apps, ...counter, close: async () => closeAll(apps) };
}

/** Every glasses socket sends `frame` once per 100 ms, staggered in 10 slices; returns a stop function and the count sent. */
function stream(glasses: readonly ClientSocket[], frame: Buffer): { stop(): void; sent(): number } {
  let sent = 0;
  let slice = 0;
  const slices = 10;
  const timer = setInterval(() => {
    for (let i = slice; i < glasses.length; i += slices) {
      glasses[i]!.ws.send(frame, { binary: true });
      sent++;
    }
    slice = (slice + 1) % slices;
  }, FRAME_MS / slices);
  return { stop: () => clearInterval(timer), sent: () => sent };
}

async function measureRun(server: Server, options: Required<Omit<AudioRelayOptions, 'label' | 'log'>>, frame: Buffer): Promise<RunFigures> {
  const child = await startServerChild({
    kind: server,
    heartbeatIntervalMs: 15_000,
    heartbeatTimeoutMs: 45_000,
    ...(server === 'baseline' ? { relayAudioHighWaterBytes: HIGH_WATER_BYTES } : {}),
  });
  const population = await populate(server, child, options.users, frame);
  try {
    const source = stream(population.glasses, frame);
    await sleep(options.warmupMs);
    const sentBefore = source.sent();
    await until(() => population.received() >= sentBefore, 5000, () => `warm-up: ${population.received()} of ${sentBefore} frames arrived`);
    const receivedBefore = population.received();
    await child.measureStart();
    await sleep(options.windowMs);
    const window = await child.measureStop();
    const receivedInWindow = population.received() - receivedBefore;
    source.stop();
    const sent = source.sent();
    await until(() => population.received() >= sent, 5000, () => `${population.received()} of ${sent} frames arrived`);
    if (population.received() !== sent) throw new Error(`${server}: ${population.received()} frames arrived, ${sent} sent`);
    if (population.mismatched() > 0) throw new Error(`${server}: ${population.mismatched()} frames arrived altered`);
    return {
      server,
      cpuUsPerFrame: (window.cpuMs * 1000) / receivedInWindow,
      cpuPct: (window.cpuMs / window.elapsedMs) * 100,
      frames: receivedInWindow,
      eventLoopP99Ms: window.eventLoopP99Ms,
    };
  } finally {
    closeAll(population.glasses);
    await population.close();
    await child.close();
  }
}

/** Runs the benchmark; returns (and does not write) its result. */
export async function runAudioRelay(options: AudioRelayOptions = {}): Promise<AudioRelayResult> {
  const full = {
    users: options.users ?? 100,
    windowMs: options.windowMs ?? 10_000,
    warmupMs: options.warmupMs ?? 2000,
    rounds: options.rounds ?? 3,
  };
  const log = options.log ?? (() => {});
  const [frame] = pcmFrames(1, { frameMs: FRAME_MS });
  const perRound: AudioRelayResult['perRound'] = [];
  for (let round = 0; round < full.rounds; round++) {
    const order: Server[] = round % 2 === 0 ? ['tether', 'baseline'] : ['baseline', 'tether'];
    const runs: Partial<Record<Server, RunFigures>> = {};
    for (const server of order) {
      const figures = await measureRun(server, full, frame!);
      runs[server] = figures;
      log(
        `round ${round + 1}/${full.rounds} ${server}: ${fixed(figures.cpuUsPerFrame)} µs/frame, ${fixed(figures.cpuPct)}% of a core, ` +
          `${figures.frames} frames, event loop p99 ${fixed(figures.eventLoopP99Ms)} ms`,
      );
    }
    const tether = runs.tether!;
    const baseline = runs.baseline!;
    perRound.push({ tether, baseline, ratio: tether.cpuUsPerFrame / baseline.cpuUsPerFrame });
  }
  return {
    name: 'audioRelay',
    params: { ...full, frameBytes: frame!.length, frameMs: FRAME_MS, highWaterBytes: HIGH_WATER_BYTES },
    tether: median(perRound.map((r) => r.tether.cpuUsPerFrame)),
    baseline: median(perRound.map((r) => r.baseline.cpuUsPerFrame)),
    ratio: median(perRound.map((r) => r.ratio)),
    unit: 'µs of server CPU per 3200-byte audio frame relayed glasses → app',
    ...(options.label ? { label: options.label } : {}),
    perRound,
  };
}

/** The result as a short plain-text table. */
export function formatAudioRelay(result: AudioRelayResult): string {
  const { users } = result.params;
  return [
    `${users} glasses streaming 32 KB/s each (3200-byte frames every 100 ms) to one app each, medians over ${result.perRound.length} rounds`,
    table([
      ['CPU per frame (µs)', 'tether', 'baseline', 'ratio'],
      ['median', fixed(result.tether, 1), fixed(result.baseline, 1), fixed(result.ratio, 2)],
      ...result.perRound.map((r, i) => [`round ${i + 1}`, fixed(r.tether.cpuUsPerFrame, 1), fixed(r.baseline.cpuUsPerFrame, 1), fixed(r.ratio, 2)]),
    ]),
    `ratio ≤ ${RATIO_TARGET}: ${result.ratio <= RATIO_TARGET ? 'met' : 'MISSED'} (${fixed(result.ratio, 2)})`,
  ].join('\n');
}

/** Rounds and windows of a full or `--quick` run. */
export function audioRelayOptions(quick: boolean): AudioRelayOptions {
  return quick ? { users: 100, windowMs: 4000, warmupMs: 1500, rounds: 2 } : { users: 100, windowMs: 10_000, warmupMs: 2000, rounds: 3 };
}

/** A bound on a whole run, in ms: generous, so only a hang reaches it. */
export function audioRelayDeadlineMs(options: AudioRelayOptions): number {
  const perRun = 60_000 + (options.windowMs ?? 10_000) + (options.warmupMs ?? 2000);
  return 60_000 + perRun * 2 * (options.rounds ?? 3);
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const options = { ...audioRelayOptions(flags.quick), ...(flags.label ? { label: flags.label } : {}), log: (line: string) => console.log(`  ${line}`) };
  const result = await withDeadline('audioRelay', audioRelayDeadlineMs(options), () => runAudioRelay(options));
  console.log('\n' + formatAudioRelay(result));
  console.log(`\nwrote ${writeResult(result)}`);
}
