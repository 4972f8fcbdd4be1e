import { describe, expect, it } from 'vitest';
import { startConnection } from '../support/appConnectionHarness.js';

describe('appConnection: handshake', () => {
  it('opens a socket, sends tpa_connection_init on open and reaches open on the ack', () => {
    const c = startConnection({ extensions: ['resume'] });
    expect(c.state()).toBe('idle');
    c.actor.send({ type: 'connect.requested', sessionId: 's1' });
    expect(c.state()).toEqual({ connecting: 'opening' });
    c.actor.send({ type: 'socket.opened', gen: 1 });
    expect(c.sent()).toEqual([
      { type: 'tpa_connection_init', sessionId: 's1', packageName: 'com.example.test', apiKey: 'key', extensions: ['resume'] },
    ]);
    c.actor.send({ type: 'ack.received', gen: 1, ack: { type: 'tpa_connection_ack' } });
    expect(c.actor.getSnapshot().matches('open')).toBe(true);
    expect(c.actor.getSnapshot().hasTag('canSend')).toBe(true);
    expect(c.ofType('connected')).toHaveLength(1);
  });

  it('re-sends the current subscriptions on every open', () => {
    const c = startConnection();
    c.actor.send({ type: 'subscriptions.changed', subscriptions: ['button_press'] });
    c.connect();
    expect(c.sent().at(-1)).toMatchObject({ type: 'subscription_update', subscriptions: ['button_press'] });
    c.close(1006);
    c.clock.increment(c.actor.getSnapshot().context.retryDelayMs);
    c.handshake();
    expect(c.sent().map((m) => m.type)).toEqual(['tpa_connection_init', 'subscription_update']);
    expect(c.sent().at(-1)).toMatchObject({ subscriptions: ['button_press'] });
    expect(c.ofType('reconnected')).toHaveLength(1);
  });

  it('sends a subscription change at once while open', () => {
    const c = startConnection();
    c.connect();
    c.actor.send({ type: 'subscriptions.changed', subscriptions: ['transcription:en-US'] });
    expect(c.sent().at(-1)).toMatchObject({ type: 'subscription_update', subscriptions: ['transcription:en-US'] });
  });

  it('fails fast when the first connection never opens', () => {
    const c = startConnection();
    c.actor.send({ type: 'connect.requested', sessionId: 's' });
    c.close(1006);
    expect(c.state()).toBe('closed');
    expect(c.ofType('disconnected')[0]).toMatchObject({ errorCode: 'CONNECTION_FAILED', permanent: false });
    expect(c.ofType('reconnecting')).toHaveLength(0);
  });
});

describe('appConnection: close codes', () => {
  it.each([1000, 1001])('closes on %i without reconnecting', (code) => {
    const c = startConnection();
    c.connect();
    c.close(code);
    expect(c.state()).toBe('closed');
    expect(c.ofType('disconnected')[0]).toMatchObject({ code, wasClean: true, permanent: false });
    expect(c.ofType('reconnecting')).toHaveLength(0);
  });

  it.each(['App stopped', 'User session ended'])('closes on reason "%s" even with a retryable code', (reason) => {
    const c = startConnection();
    c.connect();
    c.close(1011, reason);
    expect(c.state()).toBe('closed');
    expect(c.ofType('disconnected')[0]).toMatchObject({ code: 1011, reason, permanent: false });
  });

  it.each([1006, 1011, 1012])('reconnects after %i', (code) => {
    const c = startConnection();
    c.connect();
    c.close(code);
    expect(c.state()).toBe('reconnecting');
    expect(c.ofType('reconnecting')).toEqual([{ type: 'reconnecting', attempt: 1, maxAttempts: 3, delayMs: 1006 }]);
    expect(c.last().stopped).toBe(true);
  });

  it('treats 1008 as terminal and never retries', () => {
    const c = startConnection();
    c.connect();
    c.close(1008, 'policy');
    expect(c.state()).toBe('closed');
    expect(c.ofType('disconnected')[0]).toMatchObject({ code: 1008, permanent: true });
  });

  it('closes quietly when replaced by a newer connection (4003)', () => {
    const c = startConnection();
    c.connect();
    c.close(4003, 'replaced');
    expect(c.state()).toBe('closed');
    expect(c.ofType('disconnected')[0]).toMatchObject({ permanent: false });
  });
});

describe('appConnection: authentication', () => {
  it('closes permanently on an auth error and makes no further attempt', () => {
    const c = startConnection();
    c.connect();
    c.close(1012);
    c.clock.increment(1006);
    c.actor.send({ type: 'socket.opened', gen: c.gen() });
    c.actor.send({ type: 'connectionError.received', gen: c.gen(), code: 'INVALID_API_KEY', message: 'Invalid API key' });
    expect(c.state()).toBe('closed');
    expect(c.ofType('disconnected')[0]).toMatchObject({ permanent: true, errorCode: 'INVALID_API_KEY' });
    const socketsBefore = c.sockets.length;
    c.clock.increment(10 * 60_000);
    expect(c.sockets).toHaveLength(socketsBefore);
  });

  it('retries a non-auth connection error during the handshake', () => {
    const c = startConnection();
    c.connect();
    c.close(1006);
    c.clock.increment(1006);
    c.actor.send({ type: 'socket.opened', gen: c.gen() });
    c.actor.send({ type: 'connectionError.received', gen: c.gen(), code: 'INTERNAL_ERROR', message: 'busy' });
    expect(c.state()).toBe('reconnecting');
  });

  it('reports a non-auth error after the ack without dropping the connection', () => {
    const c = startConnection();
    c.connect();
    c.actor.send({ type: 'connectionError.received', gen: c.gen(), code: 'INVALID_FIELDS', message: 'bad layout' });
    expect(c.actor.getSnapshot().matches('open')).toBe(true);
    expect(c.ofType('error')).toEqual([{ type: 'error', code: 'INVALID_FIELDS', message: 'bad layout' }]);
  });
});

describe('appConnection: backoff', () => {
  it('waits the exact jittered delays drawn from the seed', () => {
    const c = startConnection({ maxReconnectAttempts: 6 });
    c.connect();
    // seed 7 draws 0.0117, 0.0620, 0.9769, 0.6990, 0.5214, 0.4055; d = 1000·1.5ⁿ.
    const expected = [1006, 1546, 3349, 4555, 6382, 9133];
    c.close(1006);
    for (const delayMs of expected) {
      const sockets = c.sockets.length;
      c.clock.increment(delayMs - 1);
      expect(c.sockets).toHaveLength(sockets);
      c.clock.increment(1);
      expect(c.sockets).toHaveLength(sockets + 1);
      c.close(1006);
    }
    expect(c.ofType('reconnecting').map((e) => e.delayMs)).toEqual(expected);
    expect(c.ofType('reconnecting').map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('closes permanently once the attempts are exhausted', () => {
    const c = startConnection({ maxReconnectAttempts: 2 });
    c.connect();
    c.close(1006);
    c.clock.increment(1006);
    c.close(1006);
    c.clock.increment(1546);
    c.close(1006);
    expect(c.state()).toBe('closed');
    expect(c.ofType('disconnected')[0]).toMatchObject({ permanent: true, errorCode: 'RECONNECT_EXHAUSTED', code: 1006 });
    expect(c.sockets).toHaveLength(3);
  });

  it('closes permanently at the first drop when autoReconnect is off', () => {
    const c = startConnection({ autoReconnect: false });
    c.connect();
    c.close(1006);
    expect(c.state()).toBe('closed');
    expect(c.ofType('disconnected')[0]).toMatchObject({ permanent: true, errorCode: 'CONNECTION_CLOSED' });
  });

  it('resets the attempt counter only after the connection stays open for stableMs', () => {
    const c = startConnection();
    c.connect();
    c.close(1006);
    c.clock.increment(1006);
    c.handshake();
    c.clock.increment(9999);
    c.close(1006);
    expect(c.ofType('reconnecting').at(-1)).toMatchObject({ attempt: 2 });
    c.clock.increment(1546);
    c.handshake();
    c.clock.increment(10_000);
    c.close(1006);
    expect(c.ofType('reconnecting').at(-1)).toMatchObject({ attempt: 1 });
  });

  it('counts a connect timeout as a failed attempt', () => {
    const c = startConnection();
    c.connect();
    c.close(1006);
    c.clock.increment(1006);
    c.actor.send({ type: 'socket.opened', gen: c.gen() });
    c.clock.increment(4999);
    expect(c.state()).toEqual({ connecting: 'authenticating' });
    c.clock.increment(1);
    expect(c.state()).toBe('reconnecting');
    expect(c.sockets[1]!.commands).toContainEqual({ type: 'socket.terminate' });
    expect(c.ofType('reconnecting').at(-1)).toMatchObject({ attempt: 2 });
  });

  it('ignores facts from a socket it already replaced', () => {
    const c = startConnection();
    c.connect();
    const oldGen = c.gen();
    c.close(1006);
    c.clock.increment(1006);
    c.handshake();
    c.actor.send({ type: 'socket.closed', gen: oldGen, code: 1006, reason: '', wasClean: false });
    expect(c.actor.getSnapshot().matches('open')).toBe(true);
  });
});

describe('appConnection: heartbeat', () => {
  it('pings every heartbeatInterval while open', () => {
    const c = startConnection();
    c.connect();
    c.clock.increment(15_000);
    c.actor.send({ type: 'socket.alive', gen: c.gen() });
    c.clock.increment(15_000);
    c.actor.send({ type: 'socket.alive', gen: c.gen() });
    expect(c.last().commands.filter((x) => x.type === 'socket.ping')).toHaveLength(2);
  });

  it('terminates a silent socket after heartbeatTimeout and reconnects', () => {
    const c = startConnection();
    c.connect();
    c.clock.increment(15_000);
    c.actor.send({ type: 'socket.alive', gen: c.gen() });
    // Silent from t=15 s: dead at 15 + 45 s, not before.
    c.clock.increment(44_999);
    expect(c.actor.getSnapshot().matches('open')).toBe(true);
    c.clock.increment(1);
    expect(c.state()).toBe('reconnecting');
    expect(c.sockets[0]!.commands).toContainEqual({ type: 'socket.terminate' });
    expect(c.sockets[0]!.stopped).toBe(true);
    c.clock.increment(1006);
    expect(c.sockets).toHaveLength(2);
  });
});

describe('appConnection: outbox', () => {
  const text = (t: string, view = 'main') => ({
    type: 'display_event',
    packageName: 'com.example.test',
    sessionId: '',
    view,
    layout: { layoutType: 'text_wall', text: t },
  });

  it('queues sends while reconnecting and flushes them in order on open', () => {
    const c = startConnection();
    c.connect();
    c.close(1006);
    expect(c.actor.getSnapshot().hasTag('queueing')).toBe(true);
    for (const n of [1, 2, 3]) c.actor.send({ type: 'send.requested', message: { type: 'custom', n } });
    c.clock.increment(1006);
    c.handshake();
    expect(c.sent().map((m) => m.type)).toEqual(['tpa_connection_init', 'subscription_update', 'custom', 'custom', 'custom']);
    expect(c.sent().slice(2).map((m) => m.n)).toEqual([1, 2, 3]);
    expect(c.actor.getSnapshot().context.outbox).toEqual([]);
  });

  it('coalesces display updates per view', () => {
    const c = startConnection();
    c.actor.send({ type: 'send.requested', message: text('a'), coalesceKey: 'display:main' });
    c.actor.send({ type: 'send.requested', message: text('dash', 'dashboard'), coalesceKey: 'display:dashboard' });
    c.actor.send({ type: 'send.requested', message: text('b'), coalesceKey: 'display:main' });
    c.connect();
    const displays = c.sent().filter((m) => m.type === 'display_event');
    expect(displays).toEqual([text('dash', 'dashboard'), text('b')]);
  });

  it('drops the oldest message and emits an error when the outbox overflows', () => {
    const c = startConnection({ outboxLimit: 3 });
    for (const n of [1, 2, 3, 4]) c.actor.send({ type: 'send.requested', message: { type: 'custom', n } });
    expect(c.actor.getSnapshot().context.outbox.map((e) => e.message.n)).toEqual([2, 3, 4]);
    expect(c.ofType('error')).toEqual([expect.objectContaining({ code: 'OUTBOX_OVERFLOW' })]);
  });

  it('keeps a send that reaches it while open (the socket is closing) for the next open', () => {
    const c = startConnection();
    c.connect();
    c.actor.send({ type: 'send.requested', message: { type: 'custom', n: 9 } });
    expect(c.sent().map((m) => m.type)).not.toContain('custom');
    c.close(1012);
    c.clock.increment(c.actor.getSnapshot().context.retryDelayMs);
    c.handshake();
    expect(c.sent().at(-1)).toEqual({ type: 'custom', n: 9 });
  });
});

describe('appConnection: disconnect', () => {
  it('closes the socket with 1000 and ends cleanly', () => {
    const c = startConnection();
    c.connect();
    c.actor.send({ type: 'disconnect.requested' });
    expect(c.state()).toBe('closed');
    expect(c.sockets[0]!.commands).toContainEqual({ type: 'socket.close', code: 1000, reason: 'App disconnected' });
    expect(c.sockets[0]!.stopped).toBe(true);
    expect(c.ofType('disconnected')[0]).toMatchObject({ code: 1000, wasClean: true, permanent: false });
    expect(c.actor.getSnapshot().status).toBe('done');
  });

  it('stops waiting for a retry when disconnected while reconnecting', () => {
    const c = startConnection();
    c.connect();
    c.close(1006);
    c.actor.send({ type: 'disconnect.requested' });
    expect(c.state()).toBe('closed');
    c.clock.increment(60_000);
    expect(c.sockets).toHaveLength(1);
  });
});
