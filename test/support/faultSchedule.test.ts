/** The chaos suite's schedule: replayable by seed, every kind present, parameters where the issue puts them. */
import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, faultSchedule, type FaultScheduleOptions } from './faultSchedule.js';

const OPTIONS: FaultScheduleOptions = { seed: 42, durationMs: 150_000, faults: 2200, graceMs: 10_000, servers: 4, outagesPerServer: 2, users: 500 };

describe('faultSchedule', () => {
  it('gives the same schedule for the same seed, and another for another seed', () => {
    expect(faultSchedule(OPTIONS)).toEqual(faultSchedule(OPTIONS));
    expect(faultSchedule({ ...OPTIONS, seed: 43 })).not.toEqual(faultSchedule(OPTIONS));
  });

  it('holds the asked number of faults, sorted, inside the phase, with every kind present', () => {
    const schedule = faultSchedule(OPTIONS);
    expect(schedule).toHaveLength(OPTIONS.faults);
    expect(schedule.map((f) => f.atMs)).toEqual(schedule.map((f) => f.atMs).sort((a, b) => a - b));
    expect(schedule.every((f) => f.atMs >= 0 && f.atMs <= OPTIONS.durationMs)).toBe(true);
    expect(new Set(schedule.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
  });

  it('keeps short blips under grace and long ones past it; servers down 5–60 s, each outage apart; the cloud restarted twice', () => {
    const schedule = faultSchedule(OPTIONS);
    const of = (kind: string) => schedule.filter((f) => f.kind === kind);
    expect(of('glasses.blipShort').every((f) => f.ms < OPTIONS.graceMs)).toBe(true);
    expect(of('glasses.blipLong').every((f) => f.ms > OPTIONS.graceMs)).toBe(true);
    const outages = of('server.down');
    expect(outages).toHaveLength(OPTIONS.servers * OPTIONS.outagesPerServer);
    expect(outages.every((f) => f.ms >= 5000 && f.ms <= 60_000)).toBe(true);
    for (let server = 0; server < OPTIONS.servers; server++) {
      const mine = outages.filter((f) => f.pick === server / OPTIONS.servers);
      expect(mine).toHaveLength(OPTIONS.outagesPerServer);
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.atMs).toBeGreaterThan(mine[i - 1]!.atMs + mine[i - 1]!.ms);
    }
    expect(of('cloud.sigterm')).toHaveLength(1);
    expect(of('cloud.sigkill')).toHaveLength(1);
  });
});
