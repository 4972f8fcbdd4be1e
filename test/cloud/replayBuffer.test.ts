import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkReplayLimits, frameText, ReplayBuffer, type EvictionReason, type ReplayAccount, type ReplayLimits } from '../../src/cloud/replayBuffer.js';

function makeBuffer(limits: ReplayLimits = { maxMessages: 5, maxAgeMs: 1000, maxBytes: 1_000_000 }) {
  const clock = { t: 10_000 };
  const buffer = new ReplayBuffer('u-com.example.app', limits, () => clock.t);
  const push = (n: number) => {
    for (let i = 0; i < n; i++) buffer.append('transcription:en-US', { text: `m${buffer.nextSeq}` });
  };
  return { buffer, clock, push };
}

const seqs = (frames: ReadonlyArray<{ seq: number }>) => frames.map((f) => f.seq);

describe('ReplayBuffer', () => {
  it('hands its frames and position to another node: the new buffer replays the same frames, ages kept (issue 14)', () => {
    const { buffer, clock, push } = makeBuffer({ maxMessages: 10, maxAgeMs: 1000, maxBytes: 1_000_000 });
    push(3);
    clock.t += 400;
    push(2);
    buffer.markSent(2);
    const state = JSON.parse(JSON.stringify(buffer.exportHandover())) as ReturnType<ReplayBuffer['exportHandover']>;
    expect(state).toMatchObject({ nextSeq: 6, droppedAtSeq: 2 });
    expect(state.frames?.map((f) => [f.seq, f.ageMs])).toEqual([
      [1, 400],
      [2, 400],
      [3, 400],
      [4, 0],
      [5, 0],
    ]);
    const other = makeBuffer({ maxMessages: 10, maxAgeMs: 1000, maxBytes: 1_000_000 });
    other.clock.t = clock.t;
    other.buffer.importState(state);
    expect(other.buffer.nextSeq).toBe(6);
    const plan = other.buffer.planReplay(undefined);
    expect(plan.gap).toBeNull();
    expect(plan.frames).toEqual(buffer.planReplay(undefined).frames);
    // The ages came along: the first three go 600 ms later, the last two 1000 ms later.
    other.clock.t += 601;
    expect(seqs(other.buffer.planReplay(0).frames)).toEqual([4, 5]);
  });

  it('ignores frames of a handover that would misnumber a replay (not contiguous up to nextSeq - 1)', () => {
    const { buffer } = makeBuffer();
    buffer.importState({ nextSeq: 10, droppedAtSeq: 7, frames: [{ streamType: 't', data: 1, seq: 7, ageMs: 0 }] });
    expect(buffer.size).toBe(0);
    expect(buffer.planReplay(7).gap).toEqual({ lost: 2, fromSeq: 8, toSeq: 9 });
  });

  it('numbers frames 1, 2, 3… for the session', () => {
    const { buffer } = makeBuffer();
    const a = buffer.append('button_press', { buttonId: 'main' });
    const b = buffer.append('transcription:en-US', { text: 'hi' });
    expect(a).toEqual({ type: 'data_stream', sessionId: 'u-com.example.app', streamType: 'button_press', data: { buttonId: 'main' }, seq: 1 });
    expect(b.seq).toBe(2);
    expect(buffer.nextSeq).toBe(3);
  });

  it('keeps at most maxMessages frames, dropping the oldest', () => {
    const { buffer, push } = makeBuffer();
    push(12);
    expect(buffer.size).toBe(5);
    expect(buffer.oldestSeq).toBe(8);
    expect(seqs(buffer.planReplay(7).frames)).toEqual([8, 9, 10, 11, 12]);
  });

  it('drops frames older than maxAgeMs, by the injected clock', () => {
    const { buffer, clock, push } = makeBuffer({ maxMessages: 100, maxAgeMs: 1000, maxBytes: 1_000_000 });
    push(3); // t = 10 000
    clock.t += 600;
    push(2); // t = 10 600
    clock.t += 1000; // the first three are 1600 ms old, the last two exactly 1000
    const plan = buffer.planReplay(0);
    expect(seqs(plan.frames)).toEqual([4, 5]);
    expect(plan.gap).toEqual({ lost: 3, fromSeq: 1, toSeq: 3 });
    clock.t += 1;
    expect(buffer.planReplay(5).frames).toEqual([]);
    expect(buffer.size).toBe(0);
  });

  it('grows a ring that wrapped after expiries without losing order', () => {
    const { buffer, clock, push } = makeBuffer({ maxMessages: 6, maxAgeMs: 1000, maxBytes: 1_000_000 });
    push(2);
    clock.t += 600;
    push(2);
    clock.t += 500; // 1 and 2 expire on the next append; 5 and 6 wrap into their slots
    push(2);
    push(1); // the ring is full at its current length and wrapped: it grows
    expect(seqs(buffer.planReplay(2).frames)).toEqual([3, 4, 5, 6, 7]);
    push(2); // full at 6: 9 takes the slot of 3
    expect(seqs(buffer.planReplay(3).frames)).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('replays exactly the frames after lastSeq, in order', () => {
    const { buffer, push } = makeBuffer();
    push(5);
    expect(seqs(buffer.planReplay(2).frames)).toEqual([3, 4, 5]);
    expect(buffer.planReplay(2).gap).toBeNull();
    expect(buffer.planReplay(5).frames).toEqual([]);
  });

  it('replays what came after the last frame written when the client sends no lastSeq', () => {
    const { buffer, push } = makeBuffer();
    push(3);
    buffer.markSent(1);
    buffer.markSent(2);
    push(2);
    const plan = buffer.planReplay(undefined);
    expect(plan.after).toBe(2);
    expect(seqs(plan.frames)).toEqual([3, 4, 5]);
  });

  it('reports a gap when lastSeq is older than the oldest kept frame − 1', () => {
    const { buffer, push } = makeBuffer();
    push(9); // keeps 5..9
    expect(buffer.planReplay(4).gap).toBeNull();
    const plan = buffer.planReplay(1);
    expect(plan.gap).toEqual({ lost: 3, fromSeq: 2, toSeq: 4 });
    expect(seqs(plan.frames)).toEqual([5, 6, 7, 8, 9]);
  });

  it('moves its numbering past a lastSeq it never handed out, so the client drops nothing new', () => {
    const { buffer, push } = makeBuffer();
    push(3);
    buffer.markSent(1);
    const plan = buffer.planReplay(40);
    expect(plan.renumberedBy).toBe(39);
    expect(seqs(plan.frames)).toEqual([41, 42]);
    expect(buffer.append('x', null).seq).toBe(43);
  });

  it('is deliverable only to the socket whose replay was done', () => {
    const { buffer } = makeBuffer();
    expect(buffer.isDeliverable(0)).toBe(false);
    expect(buffer.isDeliverable(7)).toBe(false);
    buffer.markDeliverable(7);
    expect(buffer.isDeliverable(7)).toBe(true);
    expect(buffer.isDeliverable(8)).toBe(false);
  });

  it('exports its position and continues from an imported one with an empty buffer', () => {
    const { buffer, push } = makeBuffer();
    push(4);
    buffer.markSent(3);
    expect(buffer.exportState()).toEqual({ nextSeq: 5, droppedAtSeq: 3 });
    const { buffer: restored } = makeBuffer();
    restored.importState({ nextSeq: 5, droppedAtSeq: 3 });
    expect(restored.size).toBe(0);
    expect(restored.append('x', null).seq).toBe(5);
    expect(seqs(restored.planReplay(undefined).frames)).toEqual([5]);
    // The client had handled 2 of the 4 frames before the restart: 3 and 4 are gone.
    expect(restored.planReplay(2).gap).toEqual({ lost: 2, fromSeq: 3, toSeq: 4 });
    expect(() => restored.importState({ nextSeq: 0 })).toThrow(RangeError);
    expect(() => restored.importState({ nextSeq: 3, droppedAtSeq: 3 })).toThrow(RangeError);
  });

  it('counts each frame as its serialised length', () => {
    const { buffer } = makeBuffer();
    const a = buffer.append('transcription:en-US', { text: 'hello', isFinal: true });
    const b = buffer.append('button_press', { buttonId: 'main' });
    expect(buffer.bytes).toBe(JSON.stringify(a).length + JSON.stringify(b).length);
  });

  it('keeps at most maxBytes, dropping the oldest, and reports what it dropped as a gap', () => {
    const frame = (n: number) => ({ text: `m${n}`.padEnd(1000, '.') });
    const evicted: EvictionReason[] = [];
    const account: ReplayAccount = { resized: () => {}, evicted: (reason, n) => evicted.push(...Array<EvictionReason>(n).fill(reason)), dataBytes: (d) => JSON.stringify(d).length };
    const buffer = new ReplayBuffer('u-com.example.app', { maxMessages: 1000, maxAgeMs: 30_000, maxBytes: 10_000 }, () => 0, undefined, account);
    for (let n = 1; n <= 30; n++) buffer.append('transcription:en-US', frame(n));
    expect(buffer.bytes).toBeLessThanOrEqual(10_000);
    expect(buffer.size).toBe(8); // 1,117 bytes each
    expect(buffer.oldestSeq).toBe(23);
    expect(evicted).toEqual(Array(22).fill('bytes'));
    const plan = buffer.planReplay(5);
    expect(plan.gap).toEqual({ lost: 17, fromSeq: 6, toSeq: 22 });
    expect(seqs(plan.frames)).toEqual([23, 24, 25, 26, 27, 28, 29, 30]);
  });

  it('keeps no frame larger than maxBytes, nor anything before it, so the gap covers it', () => {
    const buffer = new ReplayBuffer('u-com.example.app', { maxMessages: 1000, maxAgeMs: 30_000, maxBytes: 2_000 }, () => 0);
    buffer.append('x', { n: 1 });
    buffer.append('x', { n: 2 });
    const big = buffer.append('x', { text: 'y'.repeat(5_000) });
    expect(big.seq).toBe(3);
    expect(buffer.size).toBe(0);
    expect(buffer.bytes).toBe(0);
    buffer.append('x', { n: 4 });
    expect(buffer.planReplay(1)).toMatchObject({ gap: { lost: 2, fromSeq: 2, toSeq: 3 } });
    expect(seqs(buffer.planReplay(1).frames)).toEqual([4]);
  });

  it('frees expired frames on expire() with no new append', () => {
    const { buffer, clock, push } = makeBuffer({ maxMessages: 100, maxAgeMs: 1000, maxBytes: 1_000_000 });
    push(4);
    expect(buffer.bytes).toBeGreaterThan(0);
    clock.t += 1001;
    buffer.expire();
    expect(buffer.size).toBe(0);
    expect(buffer.bytes).toBe(0);
    expect(buffer.planReplay(0).gap).toEqual({ lost: 4, fromSeq: 1, toSeq: 4 });
  });

  describe('reservations (write-through of the position)', () => {
    function reservingBuffer() {
      const due: number[] = [];
      const account: ReplayAccount = { resized: () => {}, evicted: () => {}, dataBytes: () => 10, reservationDue: (b) => due.push(b.nextSeq) };
      const buffer = new ReplayBuffer('u-com.example.app', { maxMessages: 100, maxAgeMs: 30_000, maxBytes: 1_000_000 }, () => 0, undefined, account);
      const push = (n: number) => {
        for (let i = 0; i < n; i++) buffer.append('x', {});
      };
      return { buffer, due, push };
    }

    it('asks for a reservation at its first frame, then once each time the counter gets within half a block of the mark', () => {
      const { buffer, due, push } = reservingBuffer();
      push(3);
      expect(due).toEqual([2]); // once, not per frame, until a reservation is made
      expect(buffer.reserve(100)).toEqual({ nextSeq: 104, droppedAtSeq: 0 });
      push(46); // next = 50: 54 numbers left before the mark
      expect(due).toEqual([2]);
      push(4); // next = 54: half a block left
      expect(due).toEqual([2, 54]);
      push(10);
      expect(due).toEqual([2, 54]);
      expect(buffer.reserve(100)).toEqual({ nextSeq: 164, droppedAtSeq: 0 });
    });

    it('keeps its mark while more than half a block is left', () => {
      const { buffer, push } = reservingBuffer();
      push(1);
      expect(buffer.reserve(100).nextSeq).toBe(102);
      push(20);
      expect(buffer.reserve(100).nextSeq).toBe(102);
    });

    it('continues past a restored mark, so no number is used twice, and reports the unused ones as a gap', () => {
      const { buffer, push } = reservingBuffer();
      push(10);
      const reserved = buffer.reserve(100); // what the store holds when the process dies
      push(5); // numbered 11..15 after the write; 15 reached the client
      const restored = reservingBuffer();
      restored.buffer.importState(reserved);
      expect(restored.buffer.append('x', {}).seq).toBe(reserved.nextSeq);
      expect(restored.buffer.planReplay(15).gap).toEqual({ lost: reserved.nextSeq - 16, fromSeq: 16, toSeq: reserved.nextSeq - 1 });
      expect(restored.due).toEqual([reserved.nextSeq + 1]);
    });
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => checkReplayLimits({ maxMessages: 0, maxAgeMs: 1000, maxBytes: 1_000_000 })).toThrow(RangeError);
    expect(() => checkReplayLimits({ maxMessages: 10, maxAgeMs: 1.5, maxBytes: 1_000_000 })).toThrow(RangeError);
  });
});

describe('frameText', () => {
  it('is JSON.stringify of the frame, with the data serialised beforehand', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.jsonValue(), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (sessionId, streamType, data, seq) => {
        const buffer = new ReplayBuffer(sessionId, { maxMessages: 10, maxAgeMs: 60_000, maxBytes: 1_000_000 }, () => 0, { nextSeq: seq });
        const frame = buffer.append(streamType, data);
        expect(frameText(frame, JSON.stringify(data))).toBe(JSON.stringify(frame));
      }),
    );
  });
});
