/**
 * Issue 11 §6, the chaos suite: ≥ 500 users, each with a Tether SDK app and an unmodified
 * `@mentra/sdk` app, glasses streaming, through a seeded schedule of ≥ 2,000 faults of every kind
 * (`test/support/faultSchedule.ts`): blips shorter and longer than grace, zombies, network
 * switches, delayed, throttled and cut links, app sockets broken the same ways, app servers killed
 * for 5–60 s, reconnect storms, and the cloud restarted after SIGTERM and after SIGKILL. The
 * invariants are in `world/chaosRun.ts`; the seed is printed first, and `CHAOS_SEED=<seed> npm run
 * test:chaos` replays a run. `CHAOS_USERS`, `CHAOS_FAULTS` and `CHAOS_PHASE_MS` shrink it for a
 * quick local look; the defaults are the numbers.
 */
import { expect, it } from 'vitest';
import { FAULT_KINDS } from '../support/faultSchedule.js';
import { runChaos } from './world/chaosRun.js';

const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const users = Number(process.env.CHAOS_USERS ?? 500);
const faults = Number(process.env.CHAOS_FAULTS ?? 2400);
const faultPhaseMs = Number(process.env.CHAOS_PHASE_MS ?? 120_000);
const RECOVERY_BOUND_MS = 30_000;

it(`survives ${faults} faults over ${users} users with nothing lost twice, leaked or left behind (seed ${seed})`, async () => {
  console.log(`chaos: seed ${seed} (replay with CHAOS_SEED=${seed} npm run test:chaos)`);
  const report = await runChaos({
    seed,
    users,
    faults,
    faultPhaseMs,
    graceMs: 10_000,
    speakEveryMs: 2000,
    recoveryBoundMs: RECOVERY_BOUND_MS,
    outagesPerServer: 2,
    log: (line) => console.log(line),
  });
  console.log(`chaos report: ${JSON.stringify(report)}`);

  // The numbers the issue asks for.
  if (!process.env.CHAOS_FAULTS) expect(report.faultsApplied).toBeGreaterThanOrEqual(2000);
  for (const kind of FAULT_KINDS) expect(report.faultsByKind[kind], kind).toBeGreaterThan(0);
  // Every return within grace had its apps back within the bound.
  expect(report.violations).toEqual([]);
  expect(report.recoveries.count).toBeGreaterThan(users);
  // Never two sockets held for one user's glasses or one (user, app).
  expect(report.scrapes).toBeGreaterThan(0);
  expect(report.maxDuplicateSockets).toEqual({ glasses: 0, app: 0 });
  // The Tether SDK's handlers: every message once and in order; what the replay window could not
  // hold was reported, never silently dropped.
  expect(report.deliveries.tether.delivered).toBeGreaterThan(0);
  expect(report.deliveries.tether.duplicated).toBe(0);
  expect(report.deliveries.tether.seqNotRising).toBe(0);
  expect(report.deliveries.tether.lostUnreported).toBe(0);
  expect(report.deliveries.mentra.delivered).toBeGreaterThan(0);
  // Healed: every user's glasses and apps up, and every session delivering.
  expect(report.notHealed).toEqual([]);
  expect(report.finalMissing).toEqual([]);
  // After everyone left: no session, socket or timer in the cloud or the app servers.
  expect(report.leftInCloud).toEqual({ sessions: 0, sockets: 0, resources: [] });
  expect(report.leftInApps).toEqual({ alive: 0, resources: [] });
  expect(report.listenerWarnings).toBe(0);
}, 300_000);
