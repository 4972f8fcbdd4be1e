import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EVENT_RECORD, RecordRing, SnapshotRing } from '../../inspector/ring.js';
import { RingShare } from '../../inspector/ringShare.js';

/** What a ring must hold: the newest `capacity` of everything pushed, oldest first. */
const newestOf = (pushed: number[], capacity: number) => pushed.slice(Math.max(0, pushed.length - capacity));

describe('RecordRing.resize', () => {
  it('keeps the newest entries, in order, through any sequence of pushes and resizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.record({ push: fc.integer({ min: 1, max: 12 }) }), fc.record({ resize: fc.integer({ min: 1, max: 10 }) })), { maxLength: 30 }),
        (initial, steps) => {
          const ring = new RecordRing(initial);
          // The model: what the ring holds, oldest first, and its bound.
          let held: number[] = [];
          let capacity = initial;
          let next = 0;
          for (const step of steps) {
            if ('push' in step) {
              for (let k = 0; k < step.push; k++) {
                ring.push(next, EVENT_RECORD, `e${next}`, undefined, undefined);
                held = newestOf([...held, next], capacity);
                next++;
              }
            } else {
              ring.resize(step.resize);
              capacity = step.resize;
              held = newestOf(held, capacity);
            }
            const records = ring.since();
            expect(records.map((r) => r.t)).toEqual(held);
            expect(records.map((r) => r.event)).toEqual(held.map((t) => `e${t}`));
            // Sequence numbers stay those of the whole history.
            expect(records.map((r) => r.seq)).toEqual(held);
          }
        },
      ),
    );
  });
});

describe('SnapshotRing.resize', () => {
  it('cuts a wrapped ring to its newest snapshots and then grows again', () => {
    const ring = new SnapshotRing<string>(4);
    for (let t = 0; t < 7; t++) ring.push(t, `v${t}`, { t }, 'active');
    ring.resize(2);
    expect(ring.toArray().map((s) => s.t)).toEqual([5, 6]);
    ring.resize(5);
    for (let t = 7; t < 11; t++) ring.push(t, `v${t}`, { t }, 'active');
    expect(ring.toArray().map((s) => s.value)).toEqual(['v6', 'v7', 'v8', 'v9', 'v10']);
  });
});

describe('RingShare', () => {
  it('keeps actors × share within the budget, and within [min, max] per actor', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50_000 }), { minLength: 1, maxLength: 40 }), (counts) => {
        const share = new RingShare(100_000, 1000, 16);
        for (const count of counts) {
          share.update(count);
          expect(share.perActor).toBeGreaterThanOrEqual(16);
          expect(share.perActor).toBeLessThanOrEqual(1000);
          if (share.perActor > 16) expect(count * share.perActor).toBeLessThanOrEqual(100_000);
        }
      }),
    );
  });

  it('does not move while the count wanders within a factor of two', () => {
    const share = new RingShare(100_000, 1000, 16);
    expect(share.update(1_000)).toBe('shrunk');
    expect(share.perActor).toBe(64);
    const moves = [1_100, 900, 1_500, 800, 1_562].map((count) => share.update(count));
    expect(moves).toEqual([undefined, undefined, undefined, undefined, undefined]);
    // 100 000 / (2 × 390) ≥ 128: the doubled share fits in half the budget.
    expect(share.update(390)).toBe('grew');
    expect(share.perActor).toBe(128);
  });

  it('never goes under a max smaller than its min', () => {
    const share = new RingShare(100, 5, 16);
    share.update(1_000);
    expect(share.perActor).toBe(5);
  });
});
