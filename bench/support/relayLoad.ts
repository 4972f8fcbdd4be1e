/**
 * The JSON relay benchmark's load, shared by `relay.ts` (the cloud against bare `ws`) and
 * `cluster.ts` (three nodes against one): glasses send stamped `phone_notification` events of
 * about 200 bytes, each user's two apps are subscribed to them, and the apps count (and while
 * sampling, time) what reaches them.
 */
import { performance } from 'node:perf_hooks';
import type { ClientSocket } from './clients.js';
import { percentile, sleep, until } from './report.js';

/** The two apps every user runs. */
export const PACKAGES = ['com.example.relaybench.a', 'com.example.relaybench.b'];
/** The stream the glasses send and the apps subscribe to. */
export const STREAM = 'phone_notification';
/** The cloud's default `socketHighWaterBytes`, given to the baseline too. */
export const HIGH_WATER_BYTES = 1_048_576;
/** Marker before the send time (µs, performance.now()) inside each event. */
const STAMP = '"notificationId":"t';

/** An event of about 200 bytes on the wire, stamped with its send time. */
export function event(now: number): string {
  return `{"type":"${STREAM}",${STAMP}${now.toFixed(1)}","app":"Messages","title":"Ada Lovelace","content":"Lunch at noon? The usual place near the river, table by the window","priority":"normal"}`;
}

/** What the apps received: a count, and send → receipt times while sampling. */
export interface Receipts {
  received: number;
  sampling: boolean;
  latenciesMs: number[];
}

/** Counts every stamped frame `apps` receive into `receipts`, and its latency while sampling. */
function listen(apps: readonly ClientSocket[], receipts: Receipts): void {
  for (const app of apps) {
    app.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const at = data.indexOf(STAMP);
      if (at < 0) return;
      receipts.received++;
      if (!receipts.sampling) return;
      const start = at + STAMP.length;
      const end = data.indexOf(0x22, start);
      receipts.latenciesMs.push(performance.now() - Number(data.toString('latin1', start, end)));
    });
  }
}

/** Sends round-robin over `glasses` while fewer than `inFlight` deliveries are outstanding; returns a stop function and the count sent. */
function saturate(glasses: readonly ClientSocket[], receipts: Receipts, inFlight: number): { stop(): void; sent(): number } {
  let sent = 0;
  let next = 0;
  let stopped = false;
  const pump = () => {
    if (stopped) return;
    // Bounded per turn, so the apps' receipts get the event loop too.
    for (let k = 0; k < 500 && sent * 2 - receipts.received < inFlight; k++) {
      glasses[next]!.ws.send(event(performance.now()));
      next = (next + 1) % glasses.length;
      sent++;
    }
    setImmediate(pump);
  };
  pump();
  return {
    stop: () => (stopped = true),
    sent: () => sent,
  };
}

/** Sends `rate` events per second over `glasses`, in 10 ms slices; returns a stop function and the count sent. */
function paced(glasses: readonly ClientSocket[], rate: number): { stop(): void; sent(): number } {
  let sent = 0;
  let next = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      glasses[next]!.ws.send(event(performance.now()));
      next = (next + 1) % glasses.length;
      sent++;
    }
  }, 10);
  return { stop: () => clearInterval(timer), sent: () => sent };
}

/** Sizes of {@link runLoadPhases}. */
export interface LoadPhases {
  /** Deliveries kept outstanding while saturated. */
  inFlight: number;
  /** Saturated sending before the measured window, in ms. */
  warmupMs: number;
  /** Events in per second in the latency phase. */
  rate: number;
  /** Latency phase, in ms (its first quarter is not sampled). */
  latencyMs: number;
  /** How long the deliveries still due may take to arrive after each phase, in ms. */
  drainMs: number;
}

/**
 * One run's two phases on `glasses` → `apps`: saturated (after the warm-up, `measureWindow`
 * measures what it wants while the flood goes on), then the latency phase at a fixed rate. Every
 * event sent must reach both apps: a run that loses one rejects, named `name`.
 */
export async function runLoadPhases<Window>(
  name: string,
  glasses: readonly ClientSocket[],
  apps: readonly ClientSocket[],
  phases: LoadPhases,
  measureWindow: (receipts: Receipts) => Promise<Window>,
): Promise<{ window: Window; latencyP50Ms: number; latencyP99Ms: number; fanOut: number }> {
  const receipts: Receipts = { received: 0, sampling: false, latenciesMs: [] };
  listen(apps, receipts);
  const drained = async (sent: number, what: string) => {
    await until(() => receipts.received >= sent * 2, phases.drainMs, () => `${what}: ${receipts.received} of ${sent * 2} deliveries arrived`);
    if (receipts.received !== sent * 2) throw new Error(`${name} ${what}: ${receipts.received} deliveries, ${sent * 2} due`);
  };
  const flood = saturate(glasses, receipts, phases.inFlight);
  await sleep(phases.warmupMs);
  const window = await measureWindow(receipts);
  flood.stop();
  await drained(flood.sent(), 'throughput');

  receipts.received = 0;
  const steady = paced(glasses, phases.rate);
  await sleep(phases.latencyMs / 4);
  receipts.sampling = true;
  await sleep((phases.latencyMs * 3) / 4);
  receipts.sampling = false;
  steady.stop();
  await drained(steady.sent(), 'latency');
  return {
    window,
    latencyP50Ms: percentile(receipts.latenciesMs, 50),
    latencyP99Ms: percentile(receipts.latenciesMs, 99),
    fanOut: receipts.received / steady.sent(),
  };
}
