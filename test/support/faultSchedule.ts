/**
 * A seeded schedule of faults for the chaos suite: when each fault strikes, of which kind and with
 * which parameters. The same seed always gives the same schedule, so a failing run is replayed
 * with `CHAOS_SEED=<seed>`. Targets (which user, which app socket) are drawn when the fault
 * strikes, from the same seeded generator, among those a fault of that kind can hit then.
 */
import { seededRandom } from './seededRandom.js';

/** Every kind of fault, with what its parameters mean. */
export const FAULT_KINDS = [
  /** A user's glasses link reset, unreachable for `ms` < grace: the session must resume. */
  'glasses.blipShort',
  /** …unreachable for `ms` > grace: the session ends and starts again on return. */
  'glasses.blipLong',
  /** A user's glasses link black-holed (half-open) for `ms`; then the phone gives up on it and reconnects. */
  'glasses.zombie',
  /** The phone changes network: a new socket, the old one closed after the ack, left open, dropped or silent. */
  'glasses.networkSwitch',
  /** The glasses link delayed by `delayMs` each way for `ms`. */
  'glasses.delay',
  /** The glasses link throttled to `bytesPerSecond` for `ms`. */
  'glasses.throttle',
  /** The glasses link cut after `bytes` more bytes. */
  'glasses.cutAfter',
  /** One app socket reset. */
  'app.reset',
  /** One app socket black-holed for `ms`, then its path is gone. */
  'app.zombie',
  /** One app socket delayed by `delayMs` for `ms`. */
  'app.delay',
  /** One app socket throttled to `bytesPerSecond` for `ms`. */
  'app.throttle',
  /** One app socket cut after `bytes` more bytes. */
  'app.cutAfter',
  /** An app server killed (SIGKILL) and started again on its port `ms` later. */
  'server.down',
  /** `count` users' glasses reset at the same moment, all reconnecting at once. */
  'storm',
  /** The cloud sent SIGTERM, then started again on the same port and database. */
  'cloud.sigterm',
  /** The cloud killed with SIGKILL, then started again on the same port and database. */
  'cloud.sigkill',
] as const;

/** One kind of fault. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One scheduled fault. */
export interface ScheduledFault {
  /** When it strikes, in ms from the start of the fault phase. */
  readonly atMs: number;
  readonly kind: FaultKind;
  /** How long it lasts, in ms, where that applies. */
  readonly ms: number;
  readonly delayMs: number;
  readonly bytesPerSecond: number;
  readonly bytes: number;
  readonly count: number;
  /** How the old socket ends on a network switch. */
  readonly closeOld: 'after-ack' | 'never' | 'terminate' | 'zombie';
  /** A number in [0, 1) to pick the target with, when it strikes. */
  readonly pick: number;
}

/** Options of {@link faultSchedule}. */
export interface FaultScheduleOptions {
  seed: number;
  /** Length of the fault phase, in ms. */
  durationMs: number;
  /** How many faults in all (the cloud's two restarts and the server outages included). */
  faults: number;
  /** The cloud's grace period, in ms: short blips stay under it, long ones go past it. */
  graceMs: number;
  /** How many app servers there are; each goes down `outagesPerServer` times. */
  servers: number;
  outagesPerServer: number;
  /** Users in all (a storm hits a share of them). */
  users: number;
  /** Where in the phase the cloud gets SIGTERM and SIGKILL, as fractions (default about 0.3 and 0.65). */
  cloudRestartsAt?: readonly [sigterm: number, sigkill: number];
}

/** Relative frequency of the kinds drawn at random (restarts and outages are placed, not drawn). */
const WEIGHTS: ReadonlyArray<[FaultKind, number]> = [
  ['glasses.blipShort', 22],
  ['glasses.blipLong', 3],
  ['glasses.zombie', 8],
  ['glasses.networkSwitch', 10],
  ['glasses.delay', 8],
  ['glasses.throttle', 6],
  ['glasses.cutAfter', 8],
  ['app.reset', 12],
  ['app.zombie', 5],
  ['app.delay', 6],
  ['app.throttle', 4],
  ['app.cutAfter', 6],
  ['storm', 0.4],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
const CLOSE_OLD = ['after-ack', 'never', 'terminate', 'zombie'] as const;

/** The schedule of `seed`, sorted by time. */
export function faultSchedule(options: FaultScheduleOptions): ScheduledFault[] {
  const random = seededRandom(options.seed);
  const between = (min: number, max: number) => Math.round(min + random() * (max - min));
  const fault = (atMs: number, kind: FaultKind, fields: Partial<ScheduledFault> = {}): ScheduledFault => ({
    atMs,
    kind,
    ms: 0,
    delayMs: 0,
    bytesPerSecond: 0,
    bytes: 0,
    count: 0,
    closeOld: 'after-ack',
    pick: random(),
    ...fields,
  });
  const { durationMs, graceMs } = options;
  const placed: ScheduledFault[] = [];
  // Each server down `outagesPerServer` times, 5–60 s, in slots that never overlap for one
  // server; the servers' slots are staggered, so outages overlap but do not all start together.
  const slot = durationMs / Math.max(1, options.outagesPerServer);
  for (let server = 0; server < options.servers; server++) {
    const offset = (server * slot) / options.servers;
    for (let outage = 0; outage < options.outagesPerServer; outage++) {
      const longest = Math.min(between(5000, 60_000), Math.max(5000, slot - 5000));
      const atMs = Math.min(outage * slot + offset + between(0, Math.max(0, slot - longest - 2000)), durationMs - 5000);
      // Ends with the phase (at worst 5 s after it), before the server's next slot.
      const ms = Math.max(5000, Math.min(longest, durationMs - atMs));
      placed.push(fault(atMs, 'server.down', { ms, pick: server / options.servers }));
    }
  }
  // One graceful and one hard restart of the cloud, by default a third and two thirds of the way through.
  const [sigtermAt, sigkillAt] = options.cloudRestartsAt ?? [0.3, 0.65];
  placed.push(fault(Math.round(durationMs * (sigtermAt + random() * 0.05)), 'cloud.sigterm'));
  placed.push(fault(Math.round(durationMs * (sigkillAt + random() * 0.05)), 'cloud.sigkill'));

  const drawn = Math.max(0, options.faults - placed.length);
  for (let i = 0; i < drawn; i++) {
    const atMs = Math.round(random() * durationMs);
    let roll = random() * TOTAL_WEIGHT;
    const [kind] = WEIGHTS.find(([, w]) => (roll -= w) < 0) ?? WEIGHTS[0]!;
    switch (kind) {
      case 'glasses.blipShort':
        placed.push(fault(atMs, kind, { ms: between(300, graceMs * 0.5) }));
        break;
      case 'glasses.blipLong':
        placed.push(fault(atMs, kind, { ms: between(graceMs + 2000, graceMs * 2) }));
        break;
      case 'glasses.zombie':
      case 'app.zombie':
        placed.push(fault(atMs, kind, { ms: between(1000, 8000) }));
        break;
      case 'glasses.networkSwitch':
        placed.push(fault(atMs, kind, { closeOld: CLOSE_OLD[Math.floor(random() * CLOSE_OLD.length)]! }));
        break;
      case 'glasses.delay':
      case 'app.delay':
        placed.push(fault(atMs, kind, { ms: between(1000, 10_000), delayMs: between(20, 800) }));
        break;
      case 'glasses.throttle':
      case 'app.throttle':
        placed.push(fault(atMs, kind, { ms: between(1000, 10_000), bytesPerSecond: between(500, 20_000) }));
        break;
      case 'glasses.cutAfter':
      case 'app.cutAfter':
        placed.push(fault(atMs, kind, { bytes: between(1, 4000) }));
        break;
      case 'storm':
        placed.push(fault(atMs, kind, { count: between(Math.ceil(options.users * 0.1), Math.ceil(options.users * 0.3)) }));
        break;
      default:
        placed.push(fault(atMs, kind));
    }
  }
  return placed.sort((a, b) => a.atMs - b.atMs);
}
