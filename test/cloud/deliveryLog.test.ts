import type { WebSocket } from 'ws';
import { createActor, createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { DeliveryLog } from '../../src/cloud/deliveryLog.js';
import { createCloudMetrics } from '../../src/cloud/metrics.js';
import type { SocketEntry } from '../../src/cloud/link/socketTable.js';

/** An open socket that records what is written to it. */
function fakeSocket() {
  const written: Array<Record<string, unknown>> = [];
  const ws = { readyState: 1, send: (data: string) => written.push(JSON.parse(data) as Record<string, unknown>) };
  return { ws: ws as unknown as WebSocket, written };
}

function appEntry(ws: WebSocket, gen: number, init: { lastSeq?: number; extensions?: string[] } = {}): SocketEntry {
  return {
    gen,
    kind: 'app',
    ws,
    userId: 'u',
    packageName: 'com.example.app',
    sessionId: 'u-com.example.app',
    extensions: new Set(init.extensions ?? []),
    ...(init.lastSeq !== undefined ? { lastSeq: init.lastSeq } : {}),
    ownershipRelease: null,
    heardAt: 0,
    link: undefined,
  };
}

const SESSION = 'u-com.example.app';
const owner = {};

describe('DeliveryLog', () => {
  it('replays what the client missed after its lastSeq, then lets live frames through', () => {
    const log = new DeliveryLog();
    const buffer = log.open(SESSION, owner);
    for (let i = 0; i < 5; i++) buffer.append('transcription:en-US', { text: `m${i + 1}` });
    const { ws, written } = fakeSocket();
    expect(buffer.isDeliverable(7)).toBe(false);
    expect(log.resume(appEntry(ws, 7, { lastSeq: 2, extensions: ['resume'] }), owner)).toBe(3);
    expect(written.map((f) => f.seq)).toEqual([3, 4, 5]);
    expect(buffer.isDeliverable(7)).toBe(true);
    expect(log.stats).toMatchObject({ resumes: 1, replayed: 3, gaps: 0 });
  });

  it('sends resume_gap first, and only to a client that listed the resume extension', () => {
    const log = new DeliveryLog({ limits: { maxMessages: 3 } });
    const buffer = log.open(SESSION, owner);
    for (let i = 0; i < 6; i++) buffer.append('button_press', { n: i + 1 });
    const tether = fakeSocket();
    log.resume(appEntry(tether.ws, 1, { lastSeq: 1, extensions: ['user_reconnected', 'resume'] }), owner);
    expect(tether.written[0]).toEqual({ type: 'resume_gap', lost: 2, fromSeq: 2, toSeq: 3 });
    expect(tether.written.slice(1).map((f) => f.seq)).toEqual([4, 5, 6]);
    const other = fakeSocket();
    log.resume(appEntry(other.ws, 2, { lastSeq: 1 }), owner);
    expect(other.written.map((f) => f.type)).toEqual(['data_stream', 'data_stream', 'data_stream']);
    expect(log.stats).toMatchObject({ gaps: 2, lost: 4 });
  });

  it('replays to a client without lastSeq what came after the last frame written to the session', () => {
    const log = new DeliveryLog();
    const first = fakeSocket();
    log.resume(appEntry(first.ws, 1), owner);
    const buffer = log.open(SESSION, owner);
    for (let i = 0; i < 3; i++) {
      const frame = buffer.append('button_press', {});
      buffer.markSent(frame.seq);
    }
    // The socket drops; two frames arrive while the session waits for the app.
    buffer.append('button_press', {});
    buffer.append('button_press', {});
    const second = fakeSocket();
    log.resume(appEntry(second.ws, 2), owner);
    expect(second.written.map((f) => f.seq)).toEqual([4, 5]);
  });

  it('exports and imports a session position', () => {
    const log = new DeliveryLog();
    const buffer = log.open(SESSION, owner);
    buffer.markSent(buffer.append('x', null).seq);
    buffer.append('x', null);
    expect(log.exportState(SESSION)).toEqual({ nextSeq: 3, droppedAtSeq: 1 });
    expect(log.exportState('nobody')).toBeUndefined();
    const next = new DeliveryLog();
    next.importState(SESSION, { nextSeq: 3, droppedAtSeq: 1 });
    expect(next.open(SESSION, owner).append('x', null).seq).toBe(3);
  });

  it('forgets a buffer when its appSession actor stops, but never a successor’s', () => {
    const log = new DeliveryLog();
    const machine = createMachine({ id: 'appSession', initial: 'running', states: { running: { on: { end: 'stopped' } }, stopped: { type: 'final' } } });
    const ended = createActor(machine, { systemId: `appSession:${SESSION}`, inspect: log.observe }).start();
    log.open(SESSION, ended);
    ended.send({ type: 'end' });
    expect(log.size).toBe(0);

    const stopped = createActor(machine, { systemId: `appSession:${SESSION}`, inspect: log.observe }).start();
    log.open(SESSION, stopped);
    stopped.stop();
    expect(log.size).toBe(0);

    const successor = {};
    log.open(SESSION, successor);
    log.forget(SESSION, stopped);
    expect(log.size).toBe(1);
    log.forget(SESSION);
    expect(log.size).toBe(0);
  });

  it('starts afresh when a new actor takes over a session id whose buffer was never forgotten', () => {
    const log = new DeliveryLog();
    log.open(SESSION, {}).append('x', null);
    expect(log.open(SESSION, {}).append('x', null).seq).toBe(1);
  });

  describe('memory bounds', () => {
    /** A ~1 KB frame whose text starts with its number. */
    const kb = (n: number) => ({ text: `m${n}`.padEnd(1_000, '.') });

    it('holds at most maxBytes per session and tells a resuming client what went', () => {
      const log = new DeliveryLog({ limits: { maxBytes: 20_000 } });
      const buffer = log.open(SESSION, owner);
      for (let n = 1; n <= 300; n++) buffer.append('transcription:en-US', kb(n));
      expect(log.bytes).toBeLessThanOrEqual(20_000);
      expect(log.stats.peakBytes).toBeLessThanOrEqual(20_000);
      const kept = buffer.size;
      expect(log.stats.evicted).toEqual({ count: 0, age: 0, bytes: 300 - kept, budget: 0 });
      const { ws, written } = fakeSocket();
      log.resume(appEntry(ws, 1, { lastSeq: 0, extensions: ['resume'] }), owner);
      expect(written[0]).toEqual({ type: 'resume_gap', lost: 300 - kept, fromSeq: 1, toSeq: 300 - kept });
      expect(written.slice(1).map((f) => f.seq)).toEqual(Array.from({ length: kept }, (_, i) => 301 - kept + i));
      expect(log.stats).toMatchObject({ gaps: 1, lost: 300 - kept });
    });

    it('keeps every buffer together under the budget by cutting the largest first', () => {
      const log = new DeliveryLog({ limits: { maxBytes: 100_000 }, budgetBytes: 120_000 });
      const small = ['a', 'b', 'c'].map((id) => log.open(id, {}));
      for (const buffer of small) for (let n = 1; n <= 10; n++) buffer.append('x', kb(n)); // ~11 KB each
      const hog = log.open('hog', {});
      for (let n = 1; n <= 200; n++) {
        hog.append('x', kb(n));
        expect(log.bytes).toBeLessThanOrEqual(120_000);
      }
      for (const buffer of small) expect(buffer.size).toBe(10); // the well-behaved sessions keep their window
      expect(hog.bytes).toBeGreaterThan(50_000);
      expect(log.stats.evicted.budget).toBeGreaterThan(0);
      const { ws, written } = fakeSocket();
      log.resume({ ...appEntry(ws, 1, { lastSeq: 0, extensions: ['resume'] }), sessionId: 'hog' });
      expect(written[0]).toMatchObject({ type: 'resume_gap', fromSeq: 1, toSeq: hog.oldestSeq - 1, lost: hog.oldestSeq - 1 });
    });

    it('frees expired frames of idle buffers in bounded sweeps, without appends', () => {
      const clock = { t: 0 };
      const log = new DeliveryLog({ limits: { maxAgeMs: 1_000 }, now: () => clock.t });
      const buffers = ['a', 'b', 'c', 'd', 'e'].map((id) => log.open(id, {}));
      for (const buffer of buffers) for (let n = 1; n <= 3; n++) buffer.append('x', kb(n));
      const held = log.bytes;
      clock.t += 1_001;
      log.sweep(2);
      expect(log.bytes).toBeCloseTo((held * 3) / 5, -2);
      log.sweep(2);
      log.sweep(2);
      expect(log.bytes).toBe(0);
      expect(buffers.map((b) => b.size)).toEqual([0, 0, 0, 0, 0]);
      expect(log.stats.evicted.age).toBe(15);
    });

    it('gives a forgotten session its bytes back', () => {
      const log = new DeliveryLog();
      log.open(SESSION, owner).append('x', kb(1));
      expect(log.bytes).toBeGreaterThan(1_000);
      log.forget(SESSION, owner);
      expect(log.bytes).toBe(0);
    });

    it('shows bytes held and evictions by reason in /metrics', async () => {
      const metrics = createCloudMetrics();
      const log = new DeliveryLog({ limits: { maxBytes: 5_000, maxMessages: 100 }, metrics });
      const buffer = log.open(SESSION, owner);
      for (let n = 1; n <= 20; n++) buffer.append('x', kb(n));
      const text = await metrics.render();
      expect(text).toContain(`tether_replay_bytes ${log.bytes}`);
      expect(text).toContain(`tether_replay_evicted_frames_total{reason="bytes"} ${20 - buffer.size}`);
      metrics.close();
    });
  });
});
