import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { CloseCode, CloseReason } from '../../machines/policy/closePolicy.js';
import { type SocketLinkInput } from '../../machines/socketLink.js';
import { advance, advanceTo, fakeLinks, type FakeSocket } from '../support/sessionMachineHarness.js';

const INTERVAL_MS = 15_000;
const TIMEOUT_MS = 45_000;

/**
 * One link on a simulated clock, its I/O played by the shared fake links. With `goneAtAttach`,
 * the socket has closed before the link attaches to it.
 */
function startLink(init: Partial<SocketLinkInput> & { answersPings?: boolean; goneAtAttach?: boolean } = {}) {
  const { answersPings, goneAtAttach, ...overrides } = init;
  const clock = new SimulatedClock();
  const sockets: FakeSocket[] = [];
  const detached: number[] = [];
  const machine = fakeLinks(clock, {
    answersPings: answersPings ?? false,
    onCreate: (socket) => {
      sockets.push(socket);
      if (goneAtAttach) socket.close(CloseCode.ABNORMAL);
    },
  }).provide({ actions: { detachSocket: ({ context }) => detached.push(context.gen) } });
  const input: SocketLinkInput = {
    kind: 'glasses',
    gen: 1,
    role: 'adopted',
    heartbeatIntervalMs: INTERVAL_MS,
    heartbeatTimeoutMs: TIMEOUT_MS,
    ...overrides,
  };
  const actor = createActor(machine, { input, clock });
  actor.start();
  const socket = sockets[0]!;
  const value = () => actor.getSnapshot().value;
  const status = () => actor.getSnapshot().status;
  const output = () => actor.getSnapshot().output;
  const pings = () => socket.commands.filter((c) => c.type === 'socket.ping').length;
  return { actor, clock, socket, detached, value, status, output, pings };
}

describe('socketLink: adoption', () => {
  it('acks an adopted socket at once and waits for the first heartbeat tick', () => {
    const t = startLink();
    expect(t.socket.commands).toEqual([{ type: 'socket.accept' }]);
    expect(t.value()).toEqual({ open: 'watching' });
  });

  it('writes the message of link.send to its socket', () => {
    const t = startLink();
    const message = { type: 'user_reconnected', userId: 'user', disconnectedMs: 232, long: false };
    t.actor.send({ type: 'link.send', message });
    expect(t.socket.commands).toEqual([{ type: 'socket.accept' }, { type: 'socket.send', message }]);
    expect(t.value()).toEqual({ open: 'watching' });
  });

  it('ends at once as closed 1006 when its socket is already gone at attach', () => {
    const t = startLink({ goneAtAttach: true });
    expect(t.status()).toBe('done');
    expect(t.output()).toEqual({ gen: 1, cause: 'closed', code: CloseCode.ABNORMAL, reason: '', ownershipRelease: null });
    expect(t.detached).toEqual([1]);
  });
});

describe('socketLink: heartbeat', () => {
  it('pings every heartbeatIntervalMs, the first one interval after adoption', () => {
    const t = startLink({ answersPings: true });
    advance(t.clock, INTERVAL_MS - 1);
    expect(t.pings()).toBe(0);
    advance(t.clock, 1);
    expect(t.pings()).toBe(1);
    advance(t.clock, INTERVAL_MS - 1);
    expect(t.pings()).toBe(1);
    advance(t.clock, 1);
    expect(t.pings()).toBe(2);
    advance(t.clock, 3 * INTERVAL_MS);
    expect(t.pings()).toBe(5);
  });

  it('never declares a peer that answers pings dead', () => {
    const t = startLink({ answersPings: true });
    advance(t.clock, 60 * 60_000);
    expect(t.value()).toEqual({ open: 'watching' });
    expect(t.pings()).toBe(240);
    expect(t.socket.commands.filter((c) => c.type === 'socket.terminate')).toEqual([]);
  });

  it('terminates a peer that stops answering pings exactly heartbeatTimeoutMs after its last pong', () => {
    const t = startLink({ answersPings: true });
    advance(t.clock, 2 * INTERVAL_MS);
    // Force-quit: the pong of the ping at 30 s is the last sign of life.
    t.socket.answersPings = false;
    const lastPongAt = t.clock.now();
    advanceTo(t.clock, lastPongAt + TIMEOUT_MS - 1);
    expect(t.value()).toEqual({ open: 'watching' });
    advanceTo(t.clock, lastPongAt + TIMEOUT_MS);
    expect(t.status()).toBe('done');
    expect(t.socket.commands.at(-1)).toEqual({ type: 'socket.terminate', reason: CloseReason.HEARTBEAT_TIMEOUT });
  });

  it.each([1, 7_500, INTERVAL_MS - 1])(
    'detects silence after a frame heard %i ms into an interval no earlier than the timeout and at most one interval after it',
    (offset) => {
      const t = startLink();
      const heardAt = INTERVAL_MS + offset;
      advanceTo(t.clock, heardAt);
      t.socket.hear();
      const firstTickAfterTimeout = Math.ceil((heardAt + TIMEOUT_MS) / INTERVAL_MS) * INTERVAL_MS;
      expect(firstTickAfterTimeout - (heardAt + TIMEOUT_MS)).toBeLessThan(INTERVAL_MS);
      advanceTo(t.clock, firstTickAfterTimeout - 1);
      expect(t.value()).toEqual({ open: 'watching' });
      advanceTo(t.clock, firstTickAfterTimeout);
      expect(t.status()).toBe('done');
      expect(t.output()?.cause).toBe('heartbeatTimeout');
    },
  );

  it('pings a silent peer on every tick until it is declared dead', () => {
    const t = startLink();
    advance(t.clock, TIMEOUT_MS);
    expect(t.socket.commands).toEqual([
      { type: 'socket.accept' },
      { type: 'socket.ping' },
      { type: 'socket.ping' },
      { type: 'socket.terminate', reason: CloseReason.HEARTBEAT_TIMEOUT },
    ]);
  });
});

describe('socketLink: endings', () => {
  it.each([
    { code: CloseCode.NORMAL, reason: 'App stopped', ownershipRelease: null },
    { code: CloseCode.ABNORMAL, reason: '', ownershipRelease: null },
    { code: 1005, reason: '', ownershipRelease: 'switching_clouds' },
  ])('ends as closed with code $code, its reason and ownershipRelease $ownershipRelease', (close) => {
    const t = startLink({ gen: 7 });
    t.socket.close(close.code, close.reason, close.ownershipRelease);
    expect(t.status()).toBe('done');
    expect(t.output()).toEqual({ gen: 7, cause: 'closed', ...close });
  });

  it('ends a silent socket as heartbeatTimeout with code 1006', () => {
    const t = startLink({ gen: 7 });
    advance(t.clock, TIMEOUT_MS);
    expect(t.output()).toEqual({
      gen: 7,
      cause: 'heartbeatTimeout',
      code: CloseCode.ABNORMAL,
      reason: CloseReason.HEARTBEAT_TIMEOUT,
      ownershipRelease: null,
    });
  });

  it('closes a socket whose writes stay congested 1013 at the next tick and ends as congested', () => {
    const t = startLink({ gen: 9, answersPings: true });
    advance(t.clock, INTERVAL_MS);
    t.socket.congested = true;
    advance(t.clock, INTERVAL_MS - 1);
    expect(t.status()).toBe('active');
    advance(t.clock, 1);
    expect(t.socket.commands.at(-1)).toEqual({ type: 'socket.close', code: 1013, reason: CloseReason.CONGESTED });
    expect(t.output()).toEqual({ gen: 9, cause: 'congested', code: 1013, reason: CloseReason.CONGESTED, ownershipRelease: null });
  });

  it('stops pinging and detaches from its socket once it has ended', () => {
    const t = startLink({ answersPings: true });
    advance(t.clock, INTERVAL_MS);
    t.socket.close(CloseCode.ABNORMAL);
    advance(t.clock, 10 * INTERVAL_MS);
    expect(t.pings()).toBe(1);
    expect(t.detached).toEqual([1]);
  });

  it('ignores socket.closed of another generation', () => {
    const t = startLink({ gen: 3 });
    t.actor.send({ type: 'socket.closed', gen: 2, code: CloseCode.ABNORMAL, reason: '' });
    t.actor.send({ type: 'socket.closed', gen: 4, code: CloseCode.NORMAL, reason: '' });
    expect(t.value()).toEqual({ open: 'watching' });
    expect(t.detached).toEqual([]);
  });
});

describe('socketLink: retiring', () => {
  const retiring = { role: 'retiring', closeCode: CloseCode.NORMAL, closeReason: CloseReason.APP_STOPPED } as const;

  it('closes a retiring socket with its code and reason, and neither acks nor pings it', () => {
    const t = startLink(retiring);
    expect(t.socket.commands).toEqual([{ type: 'socket.close', code: CloseCode.NORMAL, reason: CloseReason.APP_STOPPED }]);
    advance(t.clock, 10 * INTERVAL_MS);
    expect(t.socket.commands).toHaveLength(1);
    expect(t.value()).toBe('retiring');
  });

  it('closes a retiring socket 4003 "replaced" unless told otherwise', () => {
    const t = startLink({ role: 'retiring' });
    expect(t.socket.commands).toEqual([{ type: 'socket.close', code: CloseCode.REPLACED, reason: CloseReason.REPLACED }]);
  });

  it('ends a retiring link as replaced once its socket has closed, with the close it saw', () => {
    const t = startLink({ ...retiring, gen: 5 });
    t.socket.close(CloseCode.NORMAL, CloseReason.APP_STOPPED);
    expect(t.output()).toEqual({
      gen: 5,
      cause: 'replaced',
      code: CloseCode.NORMAL,
      reason: CloseReason.APP_STOPPED,
      ownershipRelease: null,
    });
    expect(t.detached).toEqual([5]);
  });

  it('ignores socket.closed of another generation while retiring', () => {
    const t = startLink({ ...retiring, gen: 5 });
    t.actor.send({ type: 'socket.closed', gen: 6, code: CloseCode.NORMAL, reason: '' });
    expect(t.value()).toBe('retiring');
  });

  it('ignores link.send while retiring', () => {
    const t = startLink(retiring);
    t.actor.send({ type: 'link.send', message: { type: 'user_reconnected' } });
    expect(t.socket.commands).toHaveLength(1);
  });

  it('ends at once as replaced 1006 when its socket is already gone at attach', () => {
    const t = startLink({ ...retiring, goneAtAttach: true });
    expect(t.output()).toEqual({ gen: 1, cause: 'replaced', code: CloseCode.ABNORMAL, reason: '', ownershipRelease: null });
  });
});
