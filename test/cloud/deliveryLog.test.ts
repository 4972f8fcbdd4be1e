import type { WebSocket } from 'ws';
import { createActor, createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { DeliveryLog } from '../../src/cloud/deliveryLog.js';
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
    ownershipReleased: false,
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
});
