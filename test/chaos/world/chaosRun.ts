/**
 * One chaos run, shared by the suite (`chaos.test.ts`) and the soak (`soak.ts`): the world
 * connects, the glasses stream, a seeded schedule of faults strikes, the world heals, and the
 * run reports what it saw. Checked as it goes: every return within grace gets its apps back
 * within the bound, and the cloud never holds two sockets for one session
 * (`tether_duplicate_sockets`). Checked at the end: every session delivers again, the Tether
 * SDK's handlers saw every message once and in order within the replay window, and once the
 * users leave no session, socket or timer remains in the cloud or the app servers.
 */
import { seededRandom } from '../../support/seededRandom.js';
import { faultSchedule, FAULT_KINDS, type FaultKind, type ScheduledFault } from '../../support/faultSchedule.js';
import { sleep, waitFor } from '../../support/net.js';
import { scrapeCloud, type CloudScrape } from './cloudScrape.js';
import { ChaosWorld } from './chaosWorld.js';
import type { ChaosUser } from './chaosUser.js';
import type { DeliveryTotals } from './deliveryLedger.js';
import { RecoveryTracker, type RecoveryViolation } from './recoveryTracker.js';

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  seed: number;
  users: number;
  /** Length of the fault phase, in ms. */
  faultPhaseMs: number;
  /** Faults scheduled in it. */
  faults: number;
  graceMs: number;
  /** Each user sends one transcription this often, in ms. */
  speakEveryMs: number;
  /** The recovery bound of the first invariant, in ms. */
  recoveryBoundMs: number;
  /** App server outages per server. */
  outagesPerServer: number;
  /** Progress lines. */
  log: (line: string) => void;
  /** Called with every scrape of the cloud (the soak samples memory with it). */
  onScrape?: (scrape: CloudScrape, atMs: number) => void;
  /** How often the cloud is scraped, in ms (default 1000). */
  scrapeEveryMs?: number;
  /** Where in the fault phase the cloud is restarted (see {@link faultSchedule}). */
  cloudRestartsAt?: readonly [sigterm: number, sigkill: number];
}

/** Percentiles of a list of durations, in ms. */
export interface Durations {
  count: number;
  p50: number;
  p95: number;
  max: number;
}

/** What a run saw. */
export interface ChaosReport {
  seed: number;
  users: number;
  /** Faults applied, by kind (a scheduled fault with no target at its time is skipped, not counted). */
  faultsByKind: Record<FaultKind, number>;
  faultsApplied: number;
  /** Scheduled faults that found nothing to hit when they struck (the cloud restarting, no user up), by kind. */
  faultsSkipped: Partial<Record<FaultKind, number>>;
  /** Connections a storm reset, in all. */
  stormConnections: number;
  /** Returns within grace, and how long until their apps were running. */
  recoveries: Durations;
  recoveriesWithinBound: number;
  violations: RecoveryViolation[];
  /** Scrapes of the cloud, and the largest `tether_duplicate_sockets` any of them showed. */
  scrapes: number;
  maxDuplicateSockets: { glasses: number; app: number };
  deliveries: Record<'tether' | 'mentra', DeliveryTotals>;
  /** Tether sessions with `seq` gaps the cloud did not report (at most 20). */
  unreportedGaps: Array<{ sessionId: string; seqGaps: number; reported: number }>;
  /** Transcriptions the glasses put into a socket. */
  sent: number;
  /** After healing: how long until every user's every app was connected, and which were not. */
  healedInMs: number;
  notHealed: string[];
  /** The app servers' account of some of the sessions not healed: objects started for the id, last socket events. */
  notHealedDetail?: Array<{ sessionId: string; objects: number; events: string[] }>;
  /** Sessions whose last message after healing did not arrive. */
  finalMissing: string[];
  /** After everyone left: what remained, beyond a fresh process's baseline. */
  leftInCloud: { sessions: number; sockets: number; resources: string[] };
  leftInApps: { alive: number; resources: string[] };
  /** The cloud's restarts: signal, time away and time to listen, in ms. */
  cloudRestarts: Array<{ signal: string; downMs: number; readyMs: number }>;
  /** MaxListenersExceededWarning lines the cloud printed. */
  listenerWarnings: number;
  /** Phase durations, in ms. */
  timings: Record<string, number>;
}

const HEAL_BOUND_MS = 60_000;

/** The durations' percentiles (nearest rank). */
function durations(values: readonly number[]): Durations {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? 0 : Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!));
  return { count: sorted.length, p50: at(0.5), p95: at(0.95), max: at(1) };
}

/** Counts above a baseline, as `Type +n`. */
function above(baseline: Record<string, number>, now: Record<string, number>): string[] {
  return Object.entries(now)
    .filter(([type, count]) => count > (baseline[type] ?? 0))
    .map(([type, count]) => `${type} +${count - (baseline[type] ?? 0)}`);
}

/** Runs the world through the schedule of `options.seed`; resolves with the report. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const random = seededRandom(options.seed ^ 0x5eed);
  const tracker = new RecoveryTracker(options.recoveryBoundMs);
  const timings: Record<string, number> = {};
  const started = performance.now();
  // The world reports returns; which apps to await is known once it exists.
  const appsOf = new Map<string, Array<[string, string]>>();
  const onReturn = (user: ChaosUser, withinGrace: boolean, cause: string) => {
    const apps = appsOf.get(user.userId);
    if (!apps) return;
    if (withinGrace) tracker.returned(user.userId, apps, cause);
    else tracker.abandoned(user.userId);
  };
  const w = await ChaosWorld.start({ users: options.users, graceMs: options.graceMs, random, onReturn });
  w.users.forEach((user, i) => appsOf.set(user.userId, w.sessionsOf(i)));
  const report: ChaosReport = {
    seed: options.seed,
    users: options.users,
    faultsByKind: Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>,
    faultsApplied: 0,
    faultsSkipped: {},
    stormConnections: 0,
    recoveries: durations([]),
    recoveriesWithinBound: 0,
    violations: [],
    scrapes: 0,
    maxDuplicateSockets: { glasses: 0, app: 0 },
    deliveries: w.ledger.totals,
    unreportedGaps: [],
    sent: 0,
    healedInMs: 0,
    notHealed: [],
    finalMissing: [],
    leftInCloud: { sessions: 0, sockets: 0, resources: [] },
    leftInApps: { alive: 0, resources: [] },
    cloudRestarts: w.restarts,
    listenerWarnings: 0,
    timings,
  };
  const timers: NodeJS.Timeout[] = [];
  const background: Array<Promise<void>> = [];
  try {
    const cloudBaseline = (await scrapeCloud(w.base)).resources;
    const appBaselines = await Promise.all(w.servers.map(async (server) => (await server.census()).resources));

    // Connected sessions, from the latest census of every app server.
    let connected = new Set<string>();
    const takeCensus = async () => {
      const censuses = await Promise.all(w.servers.map((server) => server.census().catch(() => ({ connectedIds: [] as string[] }))));
      connected = new Set(censuses.flatMap((census) => census.connectedIds));
    };
    const view = {
      connected: (sessionId: string) => connected.has(sessionId),
      serverDown: (pkg: string) => w.servers.find((server) => server.packageName === pkg)?.down ?? false,
      serverReturnedAt: (pkg: string) => w.servers.find((server) => server.packageName === pkg)?.returnedAt,
      cloudReturnedAt: () => w.cloudReturnedAt,
    };

    // Everyone connects, in waves; then every app of every user must be up.
    for (let at = 0; at < w.users.length; at += 50) {
      w.users.slice(at, at + 50).forEach((user) => user.connect());
      await waitFor(() => w.users.slice(at, at + 50).every((user) => user.up), { timeoutMs: 60_000, intervalMs: 50, message: 'users did not connect' });
    }
    const everyone = w.users.flatMap((_, i) => w.sessionsOf(i).map(([, sessionId]) => sessionId));
    await waitFor(
      async () => {
        await takeCensus();
        return everyone.every((id) => connected.has(id));
      },
      { timeoutMs: 90_000, intervalMs: 500, message: 'not every app session started' },
    );
    tracker.check(view);
    timings.connectMs = Math.round(performance.now() - started);
    options.log(`chaos seed ${options.seed}: ${w.users.length} users, ${everyone.length} app sessions up in ${timings.connectMs} ms`);

    // Streaming, census, scraping: all through the fault phase and the healing.
    const phaseStart = performance.now();
    let speaking = true;
    let turn = 0;
    const slices = Math.max(1, Math.round(options.speakEveryMs / 100));
    timers.push(
      setInterval(() => {
        if (!speaking) return;
        turn = (turn + 1) % slices;
        for (let i = turn; i < w.users.length; i += slices) if (w.users[i]!.speak()) report.sent += 1;
      }, 100),
    );
    let censusBusy = false;
    timers.push(
      setInterval(() => {
        if (censusBusy) return;
        censusBusy = true;
        void takeCensus()
          .then(() => tracker.check(view))
          .finally(() => (censusBusy = false));
      }, 500),
    );
    timers.push(
      setInterval(() => {
        if (w.cloudRestarting) return;
        void scrapeCloud(w.base).then(
          (scrape) => {
            report.scrapes += 1;
            for (const kind of ['glasses', 'app'] as const) {
              report.maxDuplicateSockets[kind] = Math.max(report.maxDuplicateSockets[kind], scrape.duplicates[kind]);
            }
            options.onScrape?.(scrape, performance.now() - phaseStart);
          },
          () => {},
        );
      }, options.scrapeEveryMs ?? 1000),
    );

    timers.push(
      setInterval(() => {
        options.log(
          `chaos +${Math.round((performance.now() - phaseStart) / 1000)} s: ${w.users.filter((user) => user.up).length}/${w.users.length} glasses up, ` +
            `${connected.size}/${everyone.length} app sessions connected, ${tracker.waiting} returns awaited${w.cloudRestarting ? ', cloud restarting' : ''}` +
            `${w.servers.filter((server) => server.down).map((server) => `, ${server.packageName} down`).join('')}; ` +
            JSON.stringify(w.users.reduce<Record<string, number>>((phases, user) => ((phases[user.phase] = (phases[user.phase] ?? 0) + 1), phases), {})),
        );
      }, 10_000),
    );

    // The fault phase.
    const schedule = faultSchedule({
      seed: options.seed,
      durationMs: options.faultPhaseMs,
      faults: options.faults,
      graceMs: options.graceMs,
      servers: w.servers.length,
      outagesPerServer: options.outagesPerServer,
      users: w.users.length,
      ...(options.cloudRestartsAt ? { cloudRestartsAt: options.cloudRestartsAt } : {}),
    });
    const strike = (fault: ScheduledFault): boolean => applyFault(w, fault, { background, timers, report });
    for (const fault of schedule) {
      const wait = phaseStart + fault.atMs - performance.now();
      if (wait > 0) await sleep(wait);
      if (strike(fault)) {
        report.faultsApplied += 1;
        report.faultsByKind[fault.kind] += 1;
      } else report.faultsSkipped[fault.kind] = (report.faultsSkipped[fault.kind] ?? 0) + 1;
    }
    const rest = phaseStart + options.faultPhaseMs - performance.now();
    if (rest > 0) await sleep(rest);
    timings.faultPhaseMs = Math.round(performance.now() - phaseStart);
    options.log(`chaos: ${report.faultsApplied} faults applied (skipped: ${JSON.stringify(report.faultsSkipped)}) in ${timings.faultPhaseMs} ms`);

    // Healing: outages end, links pass again, everyone comes back.
    const healStart = performance.now();
    await Promise.all(background);
    await w.settled();
    for (const user of w.users) for (const link of user.proxy.connections) link.setMode({ kind: 'pass' });
    for (const link of w.appProxy.connections) link.setMode({ kind: 'pass' });
    for (const user of w.users) user.connect();
    const missingNow = () => everyone.filter((id) => !connected.has(id));
    await waitFor(
      async () => {
        await takeCensus();
        return w.users.every((user) => user.up) && missingNow().length === 0;
      },
      { timeoutMs: HEAL_BOUND_MS, intervalMs: 500 },
    ).catch(() => {});
    report.healedInMs = Math.round(performance.now() - healStart);
    report.notHealed = [...w.users.filter((user) => !user.up).map((user) => `${user.userId} glasses`), ...missingNow()];
    if (report.notHealed.length > 0) {
      const censuses = await Promise.all(w.servers.map((server) => server.census().catch(() => undefined)));
      report.notHealedDetail = censuses.flatMap((census) => census?.disconnected ?? []).slice(0, 20);
    }
    tracker.check(view);

    // Every session delivers again: one last message per user reaches both its apps.
    speaking = false;
    await sleep(500);
    const finalK = new Map<string, number>();
    w.users.forEach((user, i) => {
      if (user.speak()) report.sent += 1;
      for (const [, sessionId] of w.sessionsOf(i)) finalK.set(sessionId, user.nextK - 1);
    });
    const finalMissing = () => [...finalK].filter(([sessionId, k]) => w.ledger.lastKOf(sessionId) < k).map(([sessionId]) => sessionId);
    await waitFor(() => finalMissing().length === 0, { timeoutMs: 20_000, intervalMs: 250 }).catch(() => {});
    report.finalMissing = finalMissing();
    timings.healMs = Math.round(performance.now() - healStart);

    // Everyone leaves: nothing may remain.
    for (const timer of timers.splice(0)) clearInterval(timer);
    const leaveStart = performance.now();
    await Promise.all(w.users.map((user) => user.stop()));
    let last: CloudScrape | undefined;
    await waitFor(
      async () => {
        last = await scrapeCloud(w.base).catch(() => undefined);
        return last !== undefined && last.sessions === 0 && last.sockets.glasses + last.sockets.app === 0 && above(cloudBaseline, last.resources).length === 0;
      },
      { timeoutMs: options.graceMs + 30_000, intervalMs: 500 },
    ).catch(() => {});
    report.leftInCloud = {
      sessions: last?.sessions ?? -1,
      sockets: last ? last.sockets.glasses + last.sockets.app : -1,
      resources: last ? above(cloudBaseline, last.resources) : ['no scrape'],
    };
    let appsLeft = { alive: 0, resources: [] as string[] };
    await waitFor(
      async () => {
        const censuses = await Promise.all(w.servers.map((server) => server.census()));
        appsLeft = {
          alive: censuses.reduce((sum, census) => sum + census.alive, 0),
          resources: censuses.flatMap((census, i) => above(appBaselines[i]!, census.resources).map((r) => `${w.servers[i]!.packageName} ${r}`)),
        };
        return appsLeft.alive === 0 && appsLeft.resources.length === 0;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    ).catch(() => {});
    report.leftInApps = appsLeft;
    timings.leaveMs = Math.round(performance.now() - leaveStart);

    report.deliveries = w.ledger.totals;
    report.unreportedGaps = w.ledger.unreportedGaps().slice(0, 20);
    report.recoveries = durations(tracker.times);
    report.recoveriesWithinBound = tracker.times.filter((ms) => ms <= options.recoveryBoundMs).length;
    report.violations = tracker.violations;
    report.listenerWarnings = (w.stderr.match(/MaxListenersExceededWarning/g) ?? []).length;
    timings.totalMs = Math.round(performance.now() - started);
    return report;
  } finally {
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled(background);
    await w.close();
  }
}

/** Where a fault leaves what outlives it: work to await before healing, timers to clear, counts. */
interface FaultEffects {
  background: Array<Promise<void>>;
  timers: NodeJS.Timeout[];
  report: ChaosReport;
}

/** Applies one fault to the world; false when nothing could be hit at that moment. */
function applyFault(world: ChaosWorld, fault: ScheduledFault, { background, timers, report }: FaultEffects): boolean {
  const upUsers = () => world.users.filter((user) => user.up);
  const pickUser = (): ChaosUser | undefined => {
    const candidates = upUsers();
    return candidates[Math.floor(fault.pick * candidates.length)];
  };
  const pickAppLink = () => {
    const links = world.appProxy.connections.filter((link) => link.mode.kind === 'pass');
    return links[Math.floor(fault.pick * links.length)];
  };
  if (world.cloudRestarting && fault.kind !== 'server.down') return false;
  switch (fault.kind) {
    case 'glasses.blipShort':
    case 'glasses.blipLong': {
      const user = pickUser();
      user?.blip(fault.ms, fault.kind);
      return user !== undefined;
    }
    case 'glasses.zombie': {
      const user = pickUser();
      user?.zombie(fault.ms);
      return user !== undefined;
    }
    case 'glasses.networkSwitch': {
      const user = pickUser();
      user?.networkSwitch(fault.closeOld);
      return user !== undefined;
    }
    case 'glasses.delay':
    case 'glasses.throttle':
    case 'glasses.cutAfter': {
      const user = pickUser();
      if (!user) return false;
      if (fault.kind === 'glasses.delay') user.degrade({ kind: 'delay', ms: fault.delayMs }, fault.ms);
      else if (fault.kind === 'glasses.throttle') user.degrade({ kind: 'throttle', bytesPerSecond: fault.bytesPerSecond }, fault.ms);
      else user.degrade({ kind: 'cutAfter', bytes: fault.bytes }, 0);
      return true;
    }
    case 'app.reset':
    case 'app.zombie':
    case 'app.delay':
    case 'app.throttle':
    case 'app.cutAfter': {
      const link = pickAppLink();
      if (!link) return false;
      if (fault.kind === 'app.reset') link.reset();
      else if (fault.kind === 'app.cutAfter') link.setMode({ kind: 'cutAfter', bytes: fault.bytes });
      else {
        link.setMode(
          fault.kind === 'app.zombie'
            ? { kind: 'blackhole' }
            : fault.kind === 'app.delay'
              ? { kind: 'delay', ms: fault.delayMs }
              : { kind: 'throttle', bytesPerSecond: fault.bytesPerSecond },
        );
        timers.push(setTimeout(() => link.setMode({ kind: 'pass' }), fault.ms));
      }
      return true;
    }
    case 'server.down': {
      const server = world.servers[Math.round(fault.pick * world.servers.length)];
      if (!server || server.down) return false;
      background.push(
        (async () => {
          await server.kill();
          await sleep(fault.ms);
          await server.restart();
        })(),
      );
      return true;
    }
    case 'storm': {
      // A run of neighbours from a seeded start: one cell tower, say.
      const candidates = upUsers();
      const from = Math.floor(fault.pick * candidates.length);
      const hit = [...candidates.slice(from), ...candidates.slice(0, from)].slice(0, fault.count);
      for (const user of hit) user.blip(0, 'storm');
      report.stormConnections += hit.length;
      return hit.length > 0;
    }
    case 'cloud.sigterm':
    case 'cloud.sigkill':
      background.push(world.restartCloud(fault.kind === 'cloud.sigterm' ? 'SIGTERM' : 'SIGKILL'));
      return true;
  }
}
