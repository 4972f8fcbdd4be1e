/**
 * The JSON relay benchmark's load, shared by `relay.ts` (the cloud against bare `ws`) and
 * `cluster.ts` (three nodes against one): glasses send stamped `phone_notification` events of
 * about 200 bytes, each user's two apps are subscribed to them, and the apps count (and while
 * sampling, time) what reaches them.
 */
import { performance } from 'node:perf_hooks';
import type { ClientSocket } from './clients.js';

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
export function listen(apps: readonly ClientSocket[], receipts: Receipts): void {
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
export function saturate(glasses: readonly ClientSocket[], receipts: Receipts, inFlight: number): { stop(): void; sent(): number } {
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
export function paced(glasses: readonly ClientSocket[], rate: number): { stop(): void; sent(): number } {
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
