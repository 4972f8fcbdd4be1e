import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { appSessionMachine, type AppSessionInput } from '../../machines/appSession.js';
import { backoffDelay } from '../../machines/policy/backoff.js';
import { defaultSessionConfig, type SessionConfig } from '../../machines/policy/sessionConfig.js';
import { APP_LINK_ID, retiringLinkId } from '../../machines/sessionApi.js';
import { seededRandom } from '../support/seededRandom.js';
import {
  advance,
  fakeLinks,
  fakeWebhook,
  flush,
  restartAfter,
  type FakeSocket,
  type FakeWebhook,
} from '../support/sessionMachineHarness.js';

function startApp(overrides: Partial<SessionConfig> = {}, random: () => number = () => 0.5) {
  const clock = new SimulatedClock();
  const sockets: FakeSocket[] = [];
  const webhooks: FakeWebhook[] = [];
  const machine = appSessionMachine.provide({
    actors: {
      socketLink: fakeLinks(clock, { onCreate: (socket) => sockets.push(socket) }),
      appWebhook: fakeWebhook(webhooks),
    },
  });
  const input: AppSessionInput = {
    userId: 'user@example.com',
    packageName: 'com.example.captions',
    config: { ...defaultSessionConfig, ...overrides },
    now: () => clock.now(),
    random,
  };
  const actor = createActor(machine, { input, clock });
  actor.start();
  const socket = (gen: number) => sockets.find((s) => s.gen === gen && s.id === APP_LINK_ID);
  /** The socket of generation `gen` closes: the peer's close, or a network loss (1006). */
  const closeSocket = (gen: number, code: number, reason = '', ownershipRelease: string | null = null) =>
    sockets.find((s) => s.gen === gen)?.close(code, reason, ownershipRelease);
  /** The peer of socket `gen` sends a frame or a pong. */
  const hear = (gen: number) => sockets.find((s) => s.gen === gen)?.hear();
  const lastWebhook = () => webhooks.at(-1)!;
  const sessionRequests = () => webhooks.filter((w) => w.input.type === 'session_request');
  return { actor, clock, sockets, webhooks, socket, closeSocket, hear, lastWebhook, sessionRequests, machine, input };
}

const value = (t: { actor: { getSnapshot(): { value: unknown } } }) => t.actor.getSnapshot().value;

describe('appSession: starting', () => {
  it('posts session_request with the session id on start', () => {
    const t = startApp();
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.webhooks).toHaveLength(1);
    expect(t.lastWebhook().input).toEqual({
      type: 'session_request',
      userId: 'user@example.com',
      packageName: 'com.example.captions',
      sessionId: 'user@example.com-com.example.captions',
      attempt: 1,
    });
    expect(t.actor.getSnapshot().hasTag('canSend')).toBe(false);
  });

  it('accepts the connection before the webhook answers, and never re-sends it once connected', async () => {
    const t = startApp();
    t.actor.send({ type: 'app.connected', gen: 1, extensions: ['user_reconnected'] });
    expect(value(t)).toEqual('running');
    expect(t.actor.getSnapshot().hasTag('canSend')).toBe(true);
    expect(t.socket(1)?.commands).toEqual([{ type: 'socket.accept' }]);
    // The pending session_request is abandoned: its answer can no longer change anything.
    expect(t.webhooks[0]?.aborted).toBe(true);
    t.webhooks[0]?.reject({ code: 'WEBHOOK_FAILED', message: '500 Failed to connect', status: 500 });
    await flush();
    expect(value(t)).toEqual('running');

    t.closeSocket(1, 1006, '');
    advance(t.clock, 1000);
    t.actor.send({ type: 'app.connected', gen: 2, extensions: ['user_reconnected'] });
    expect(value(t)).toEqual('running');
    expect(t.sessionRequests()).toHaveLength(1);
  });

  describe('a stock SDK (no extensions): the session_request answer decides whose socket it is', () => {
    it('closes the adopted socket 1008 and calls again when the server answers 500 for it', async () => {
      // @mentra/sdk answers 500 when its connect timed out on its side: the socket that came
      // anyway is an orphan's, on which no onSession will ever run.
      const t = startApp();
      t.actor.send({ type: 'app.connected', gen: 1 });
      expect(value(t)).toEqual('running');
      expect(t.webhooks[0]?.aborted).toBe(false);
      t.webhooks[0]?.reject({ code: 'WEBHOOK_FAILED', message: '500 Failed to connect', status: 500 });
      await flush();
      expect(value(t)).toEqual({ starting: 'backingOff' });
      expect(t.socket(1)?.commands.at(-1)).toEqual({ type: 'socket.close', code: 1008, reason: 'session request failed' });
      advance(t.clock, t.actor.getSnapshot().context.retryDelayMs);
      expect(t.sessionRequests()).toHaveLength(2);
    });

    it('keeps the socket when the call is lost on our side rather than refused by the server', async () => {
      const t = startApp();
      t.actor.send({ type: 'app.connected', gen: 1 });
      t.webhooks[0]?.reject({ code: 'WEBHOOK_FAILED', message: 'socket hang up' });
      await flush();
      expect(value(t)).toEqual('running');
      expect(t.sessionRequests()).toHaveLength(1);
    });

    it('once the server answered 200, refuses a second stock socket 1008 instead of replacing the live one', async () => {
      // An orphan (a session object its server gave up on) reconnects by itself, and its socket
      // is newer than the live one: replacing would leave the app's real session with none.
      const t = startApp();
      t.actor.send({ type: 'app.connected', gen: 1 });
      t.webhooks[0]?.resolve();
      await flush();
      expect(t.actor.getSnapshot().context.confirmed).toBe(true);
      t.actor.send({ type: 'app.connected', gen: 2, heldAlive: true });
      const refused = t.sockets.find((s) => s.gen === 2)!;
      expect(refused.id).toBe(retiringLinkId(2));
      expect(refused.commands).toEqual([{ type: 'socket.close', code: 1008, reason: 'session already connected' }]);
      expect(t.actor.getSnapshot().context.gen).toBe(1);
      expect(t.socket(1)?.commands).toEqual([{ type: 'socket.accept' }]);
      // The held socket's frames still count.
      t.actor.send({ type: 'subscriptions.updated', gen: 1, subscriptions: ['transcription:en-US'] });
      expect(t.actor.getSnapshot().context.subscriptions).toEqual(['transcription:en-US']);
      // A socket older than the refused one, authenticated late, is closed too, never left open.
      t.actor.send({ type: 'app.connected', gen: 5, heldAlive: true });
      t.actor.send({ type: 'app.connected', gen: 4 });
      expect(t.sockets.find((s) => s.gen === 4)?.commands).toEqual([{ type: 'socket.close', code: 4003, reason: 'replaced' }]);
      expect(t.actor.getSnapshot().context.gen).toBe(1);
    });

    it('replaces a confirmed stock socket that no longer answers: the SDK reconnected after losing it', async () => {
      const t = startApp();
      t.actor.send({ type: 'app.connected', gen: 1 });
      t.webhooks[0]?.resolve();
      await flush();
      t.actor.send({ type: 'app.connected', gen: 2, heldAlive: false });
      expect(t.socket(1)?.commands.at(-1)).toEqual({ type: 'socket.close', code: 4003, reason: 'replaced' });
      expect(t.actor.getSnapshot().context.gen).toBe(2);
      expect(t.socket(2)?.commands).toEqual([{ type: 'socket.accept' }]);
    });

    it('does not send the call again when restored from a snapshot taken while it was out', async () => {
      const t = startApp();
      t.actor.send({ type: 'app.connected', gen: 1 });
      expect(t.actor.getSnapshot().context.webhookPending).toBe(true);
      const { restored } = restartAfter(t, 500);
      restored.start();
      await flush();
      expect(t.sessionRequests()).toHaveLength(1);
      expect(restored.getSnapshot().context.webhookPending).toBe(false);
      expect(restored.getSnapshot().children).not.toHaveProperty('sessionWebhook');
      restored.stop();
    });

    it('replaces an unconfirmed stock socket with a newer one (the call for it is still out)', async () => {
      const t = startApp();
      t.actor.send({ type: 'app.connected', gen: 1 });
      t.actor.send({ type: 'app.connected', gen: 2 });
      expect(t.actor.getSnapshot().context.gen).toBe(2);
      t.webhooks[0]?.resolve();
      await flush();
      expect(t.actor.getSnapshot().context.confirmed).toBe(true);
      expect(value(t)).toEqual('running');
    });
  });

  it('retries a failed webhook with backoff while no connection has arrived', async () => {
    const random = seededRandom(42);
    const draws = seededRandom(42);
    const t = startApp({}, random);
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: '500', status: 500 });
    await flush();
    expect(value(t)).toEqual({ starting: 'backingOff' });
    const delay = backoffDelay(0, defaultSessionConfig.webhookRetry, draws);
    expect(t.actor.getSnapshot().context.retryDelayMs).toBe(delay);
    advance(t.clock, delay - 1);
    expect(t.webhooks).toHaveLength(1);
    advance(t.clock, 1);
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.webhooks).toHaveLength(2);
    expect(t.lastWebhook().input.attempt).toBe(2);
  });

  it('adopts a Tether SDK connection that arrives during the backoff and sends no more webhooks', async () => {
    const t = startApp();
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: '500' });
    await flush();
    t.actor.send({ type: 'app.connected', gen: 1, extensions: ['user_reconnected'] });
    expect(value(t)).toEqual('running');
    advance(t.clock, 30_000);
    expect(value(t)).toEqual('running');
    expect(t.sessionRequests()).toHaveLength(1);
  });

  it('closes 1008 a stock-SDK socket that arrives after its webhook failed, and calls the webhook again', async () => {
    // @mentra/sdk answers 500 when its connect times out, yet that socket may still complete:
    // nothing behind it ever runs onSession, so it must not be taken for the app.
    const t = startApp();
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: '500 Failed to connect', status: 500 });
    await flush();
    t.actor.send({ type: 'app.connected', gen: 1 });
    const refused = t.sockets.find((s) => s.gen === 1)!;
    expect(refused.id).toBe(retiringLinkId(1));
    expect(refused.commands).toEqual([{ type: 'socket.close', code: 1008, reason: 'session request failed' }]);
    expect(value(t)).toEqual({ starting: 'backingOff' });
    t.closeSocket(1, 1008, 'session request failed');
    expect(refused.stopped).toBe(true);

    advance(t.clock, t.actor.getSnapshot().context.retryDelayMs);
    expect(t.sessionRequests()).toHaveLength(2);
    // The socket of the new call's session is adopted, even while that call is in flight.
    t.actor.send({ type: 'app.connected', gen: 2 });
    expect(value(t)).toEqual('running');
    expect(t.socket(2)?.commands).toEqual([{ type: 'socket.accept' }]);
  });

  it('counts a webhook that does not answer within webhookTimeout as a failed attempt', () => {
    const t = startApp();
    advance(t.clock, defaultSessionConfig.webhookTimeoutMs - 1);
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    advance(t.clock, 1);
    expect(value(t)).toEqual({ starting: 'backingOff' });
    expect(t.webhooks[0]?.aborted).toBe(true);
    expect(t.actor.getSnapshot().context.lastError?.code).toBe('WEBHOOK_TIMEOUT');
  });

  it('keeps the webhook timeout above the 5 s an SDK needs before answering 500', () => {
    expect(defaultSessionConfig.webhookTimeoutMs).toBeGreaterThanOrEqual(10_000);
  });

  it('waits for the socket after a successful webhook, then calls again if it never comes', async () => {
    const t = startApp();
    t.lastWebhook().resolve();
    await flush();
    expect(value(t)).toEqual({ starting: 'awaitingConnection' });
    advance(t.clock, defaultSessionConfig.appConnectTimeoutMs);
    expect(value(t)).toEqual({ starting: 'backingOff' });
    expect(t.actor.getSnapshot().context.lastError?.code).toBe('APP_CONNECT_TIMEOUT');
    advance(t.clock, 10_000);
    expect(t.sessionRequests()).toHaveLength(2);
  });

  it('fails with the last error once appPatienceMs has passed since the first failure, the error being transient', async () => {
    const t = startApp({ appPatienceMs: 1 });
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: '500' });
    await flush();
    advance(t.clock, 10_000);
    t.lastWebhook().reject({ code: 'WEBHOOK_UNREACHABLE', message: 'ECONNREFUSED' });
    await flush();
    expect(t.actor.getSnapshot().status).toBe('done');
    expect(t.actor.getSnapshot().output).toEqual({
      packageName: 'com.example.captions',
      sessionId: 'user@example.com-com.example.captions',
      outcome: 'failed',
      error: { code: 'WEBHOOK_UNREACHABLE', category: 'connection', message: 'ECONNREFUSED', permanent: false },
    });
    expect(t.sessionRequests()).toHaveLength(2);
  });

  it('fails at once on a permanent webhook failure', async () => {
    const t = startApp();
    t.lastWebhook().reject({ code: 'UNKNOWN_PACKAGE', message: 'app deleted', permanent: true });
    await flush();
    expect(t.actor.getSnapshot().output?.error).toMatchObject({ code: 'UNKNOWN_PACKAGE', permanent: true });
    expect(t.webhooks).toHaveLength(1);
  });
});

describe('appSession: running', () => {
  async function running(overrides: Partial<SessionConfig> = {}) {
    const t = startApp(overrides);
    t.actor.send({ type: 'app.connected', gen: 1, extensions: ['user_reconnected'] });
    return t;
  }

  it('pings every heartbeatInterval and resets the timeout on each sign of life', async () => {
    const t = await running();
    const pings = () => t.socket(1)!.commands.filter((c) => c.type === 'socket.ping').length;
    advance(t.clock, 15_000);
    expect(pings()).toBe(1);
    t.hear(1);
    advance(t.clock, 44_999);
    expect(value(t)).toEqual('running');
    expect(pings()).toBe(3);
  });

  it('terminates a silent socket after heartbeatTimeout and starts resurrecting', async () => {
    const t = await running();
    advance(t.clock, 45_000);
    expect(value(t)).toBe('resurrecting');
    expect(t.socket(1)?.commands.at(-1)).toEqual({ type: 'socket.terminate', reason: 'heartbeat timeout' });
    expect(t.socket(1)?.stopped).toBe(true);
  });

  it('replaces the socket with a newer one, closing the old one 4003, and ignores its late close', async () => {
    const t = await running();
    t.actor.send({ type: 'app.connected', gen: 2 });
    expect(t.socket(1)?.commands.at(-1)).toEqual({ type: 'socket.close', code: 4003, reason: 'replaced' });
    expect(t.socket(1)?.stopped).toBe(true);
    expect(t.socket(2)?.commands).toEqual([{ type: 'socket.accept' }]);
    t.closeSocket(1, 1005, '');
    t.hear(1);
    expect(value(t)).toEqual('running');
    expect(t.actor.getSnapshot().context.gen).toBe(2);
  });

  it('closes a socket older than the adopted one with 4003 instead of adopting it', async () => {
    const t = await running();
    t.actor.send({ type: 'app.connected', gen: 3 });
    t.actor.send({ type: 'app.connected', gen: 2 });
    const refused = t.sockets.find((s) => s.gen === 2)!;
    expect(refused.id).toBe(retiringLinkId(2));
    expect(refused.commands).toEqual([{ type: 'socket.close', code: 4003, reason: 'replaced' }]);
    expect(t.actor.getSnapshot().context.gen).toBe(3);
    t.closeSocket(2, 4003, 'replaced');
    expect(refused.stopped).toBe(true);
    expect(value(t)).toEqual('running');
  });

  it('treats a 1005 close with no ownership_release as an app that died', async () => {
    const t = await running();
    t.closeSocket(1, 1005, '');
    expect(value(t)).toBe('resurrecting');
  });

  it('treats ownership_release followed by a close as a replacement, even with 1000', async () => {
    const t = await running();
    t.closeSocket(1, 1000, '', 'switching_clouds');
    expect(value(t)).toBe('resurrecting');
    t.actor.send({ type: 'app.connected', gen: 2 });
    expect(value(t)).toEqual('running');
  });

  it('ends without an error when the app closes its session normally', async () => {
    const t = await running();
    t.closeSocket(1, 1000, 'Clean disconnect');
    expect(t.actor.getSnapshot().status).toBe('done');
    expect(t.actor.getSnapshot().output).toMatchObject({ outcome: 'ended', error: null });
  });

  it('keeps subscriptions across reconnects, [] included', async () => {
    const t = await running();
    t.actor.send({ type: 'subscriptions.updated', gen: 1, subscriptions: [] });
    expect(value(t)).toEqual('running');
    t.actor.send({ type: 'subscriptions.updated', gen: 1, subscriptions: ['transcription:en-US', 'button_press'] });
    t.closeSocket(1, 1006, '');
    t.actor.send({ type: 'subscriptions.updated', gen: 1, subscriptions: ['late'] });
    t.actor.send({ type: 'app.connected', gen: 2 });
    expect(t.actor.getSnapshot().context.subscriptions).toEqual(['transcription:en-US', 'button_press']);
  });

  it('tells user_reconnected only to a socket that listed the extension', async () => {
    const t = await running();
    t.actor.send({ type: 'user.reconnected', disconnectedMs: 232, long: false });
    expect(t.socket(1)?.commands.at(-1)).toEqual({
      type: 'socket.send',
      message: { type: 'user_reconnected', userId: 'user@example.com', disconnectedMs: 232, long: false },
    });
    t.actor.send({ type: 'app.connected', gen: 2 });
    t.actor.send({ type: 'user.reconnected', disconnectedMs: 5, long: false });
    expect(t.socket(2)?.commands).toEqual([{ type: 'socket.accept' }]);
  });

  it('ignores appServer.restarted while its socket is open', async () => {
    const t = await running();
    t.actor.send({ type: 'appServer.restarted' });
    expect(value(t)).toEqual('running');
    expect(t.sessionRequests()).toHaveLength(1);
  });
});

describe('appSession: resurrecting', () => {
  async function dropped(overrides: Partial<SessionConfig> = {}) {
    const t = startApp(overrides);
    t.actor.send({ type: 'app.connected', gen: 1 });
    t.closeSocket(1, 1006, '');
    return t;
  }

  it('adopts the SDK when it reconnects by itself inside appReconnectWindow', async () => {
    const t = await dropped();
    advance(t.clock, 1009);
    t.actor.send({ type: 'app.connected', gen: 2 });
    expect(value(t)).toEqual('running');
    advance(t.clock, 10_000);
    expect(t.sessionRequests()).toHaveLength(1);
  });

  it('re-sends the webhook after the window, then stops with an error when patience runs out', async () => {
    const t = await dropped({ appPatienceMs: 1 });
    advance(t.clock, 4999);
    expect(value(t)).toBe('resurrecting');
    advance(t.clock, 1);
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.sessionRequests()).toHaveLength(2);
    expect(t.lastWebhook().input.attempt).toBe(1);
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: '500' });
    await flush();
    advance(t.clock, 10_000);
    expect(t.sessionRequests()).toHaveLength(3);
    advance(t.clock, 10_000);
    expect(t.actor.getSnapshot().output).toMatchObject({
      outcome: 'failed',
      error: { code: 'WEBHOOK_TIMEOUT', permanent: false },
    });
  });

  it('adopts an SDK that reconnects late, after the webhook was re-sent', async () => {
    const t = await dropped();
    advance(t.clock, 5000);
    expect(t.sessionRequests()).toHaveLength(2);
    t.actor.send({ type: 'app.connected', gen: 2 });
    expect(value(t)).toEqual('running');
  });

  it('goes back to starting at once when the app server restarts', async () => {
    const t = await dropped();
    t.actor.send({ type: 'appServer.restarted' });
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.sessionRequests()).toHaveLength(2);
  });

  it('starts over, attempts reset, when the app server restarts during starting', async () => {
    const t = startApp();
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: '500' });
    await flush();
    t.actor.send({ type: 'appServer.restarted' });
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.actor.getSnapshot().context.webhookAttempts).toBe(1);
  });

  it('keeps a call in flight when the app server restarts, and retries its failure with a fresh count', async () => {
    const t = startApp({ appPatienceMs: 1 });
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' });
    await flush();
    advance(t.clock, 10_000);
    expect(t.sessionRequests()).toHaveLength(2);
    // The second and last call is in flight when the server comes back: no second request now
    // (a duplicate would make @mentra/sdk drop its socket and run onSession again)…
    t.actor.send({ type: 'appServer.restarted' });
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.sessionRequests()).toHaveLength(2);
    expect(t.webhooks[1]?.aborted).toBe(false);
    // …but that call now opens a fresh round, so its failure is retried against the new server.
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' });
    await flush();
    expect(value(t)).toEqual({ starting: 'backingOff' });
    advance(t.clock, 10_000);
    expect(t.sessionRequests()).toHaveLength(3);
    expect(t.lastWebhook().input.attempt).toBe(2);
  });

  it('calls again at once when the server that accepted the session restarts before the app connected', async () => {
    const t = startApp();
    t.lastWebhook().resolve();
    await flush();
    expect(value(t)).toEqual({ starting: 'awaitingConnection' });
    t.actor.send({ type: 'appServer.restarted' });
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.sessionRequests()).toHaveLength(2);
    expect(t.lastWebhook().input.attempt).toBe(1);
  });

  it('names the webhooks of a recovery with its correlation id, and forgets it once running', async () => {
    const t = await dropped();
    t.actor.send({ type: 'appServer.restarted', correlationId: 'recovery:r1:s1' });
    expect(t.lastWebhook().input).toMatchObject({ attempt: 1, correlationId: 'recovery:r1:s1' });
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: '500' });
    await flush();
    advance(t.clock, 10_000);
    expect(t.lastWebhook().input).toMatchObject({ attempt: 2, correlationId: 'recovery:r1:s1' });
    t.actor.send({ type: 'app.connected', gen: 2 });
    expect(t.actor.getSnapshot().context.correlationId).toBeNull();
    // A later drop is an ordinary resurrection, not part of that recovery.
    t.closeSocket(2, 1006, '');
    advance(t.clock, 5000);
    expect(t.lastWebhook().input.correlationId).toBeUndefined();
  });

  it('ignores appServer.restarted while stopping', async () => {
    const t = await dropped();
    t.actor.send({ type: 'app.stopRequested', reason: 'user_disabled' });
    t.actor.send({ type: 'appServer.restarted' });
    expect(value(t)).toBe('stopping');
    expect(t.sessionRequests()).toHaveLength(1);
  });

  it('keeps the resurrection deadline across a persisted-snapshot restore', async () => {
    const t = await dropped();
    advance(t.clock, 3000);
    const { restored, clock } = restartAfter(t, 500);
    restored.start();
    restored.send({ type: 'session.restored' });
    advance(clock, 1499);
    expect(restored.getSnapshot().value).toBe('resurrecting');
    advance(clock, 1);
    expect(restored.getSnapshot().value).toEqual({ starting: 'callingWebhook' });
  });
});

describe('appSession: stopping', () => {
  it('closes the socket 1000 "App stopped" and sends stop_request on a user stop', async () => {
    const t = startApp();
    t.actor.send({ type: 'app.connected', gen: 1 });
    t.actor.send({ type: 'app.stopRequested', reason: 'user_disabled' });
    expect(value(t)).toBe('stopping');
    expect(t.socket(1)?.commands.at(-1)).toEqual({ type: 'socket.close', code: 1000, reason: 'App stopped' });
    expect(t.lastWebhook().input).toMatchObject({ type: 'stop_request', reason: 'user_disabled' });
    // The app's own 1005 close after stop_request is expected, not a failure.
    t.closeSocket(1, 1005, '');
    expect(value(t)).toBe('stopping');
    t.lastWebhook().resolve();
    await flush();
    expect(t.actor.getSnapshot().output).toEqual({
      packageName: 'com.example.captions',
      sessionId: 'user@example.com-com.example.captions',
      outcome: 'stopped',
      error: null,
    });
  });

  it('closes 1000 "User session ended" with a system_stop request when the user session ends', async () => {
    const t = startApp();
    t.actor.send({ type: 'app.connected', gen: 1 });
    t.actor.send({ type: 'app.stopRequested', reason: 'session_ended' });
    expect(t.socket(1)?.commands.at(-1)).toEqual({ type: 'socket.close', code: 1000, reason: 'User session ended' });
    expect(t.lastWebhook().input).toMatchObject({ type: 'stop_request', reason: 'system_stop' });
  });

  it('sends only stop_request when the app has no socket, and ends even if it fails', async () => {
    const t = startApp();
    t.actor.send({ type: 'app.stopRequested', reason: 'user_disabled' });
    expect(t.webhooks[0]?.aborted).toBe(true);
    expect(t.lastWebhook().input.type).toBe('stop_request');
    t.lastWebhook().reject({ code: 'WEBHOOK_FAILED', message: '502' });
    await flush();
    expect(t.actor.getSnapshot().output?.outcome).toBe('stopped');
  });

  it('ends when stop_request does not answer in time', () => {
    const t = startApp();
    t.actor.send({ type: 'app.stopRequested', reason: 'user_disabled' });
    advance(t.clock, defaultSessionConfig.webhookTimeoutMs);
    expect(t.actor.getSnapshot().status).toBe('done');
  });

  it('refuses a late reconnect while stopping with 1000 and the stop reason', () => {
    const t = startApp();
    t.actor.send({ type: 'app.connected', gen: 1 });
    t.closeSocket(1, 1006, '');
    t.actor.send({ type: 'app.stopRequested', reason: 'user_disabled' });
    t.actor.send({ type: 'app.connected', gen: 2 });
    const refused = t.sockets.find((s) => s.gen === 2)!;
    expect(refused.commands).toEqual([{ type: 'socket.close', code: 1000, reason: 'App stopped' }]);
    t.closeSocket(2, 1000, 'App stopped');
    expect(refused.stopped).toBe(true);
    expect(value(t)).toBe('stopping');
  });

  it('ignores a second stop request', () => {
    const t = startApp();
    t.actor.send({ type: 'app.stopRequested', reason: 'user_disabled' });
    t.actor.send({ type: 'app.stopRequested', reason: 'session_ended' });
    expect(t.webhooks.filter((w) => w.input.type === 'stop_request')).toHaveLength(1);
  });
});

describe('appSession: patience with an app server that stays down (issue 11)', () => {
  const UNREACHABLE = { code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' };

  /** Fails every session_request as it is made, for `forMs` of simulated time; returns the call times. */
  async function failEveryCall(t: ReturnType<typeof startApp>, forMs: number): Promise<number[]> {
    const calls: number[] = [];
    const until = t.clock.now() + forMs;
    while (t.clock.now() < until && t.actor.getSnapshot().status === 'active') {
      const call = t.lastWebhook();
      if (!call.settled) {
        calls.push(t.clock.now());
        call.reject(UNREACHABLE);
        await flush();
      }
      advance(t.clock, 100);
    }
    return calls;
  }

  it('keeps calling with capped, jittered backoff for appPatienceMs, then fails with a transient error', async () => {
    const t = startApp({ appPatienceMs: 120_000 }, seededRandom(5));
    const calls = await failEveryCall(t, 200_000);
    const gaps = calls.slice(1).map((at, i) => at - calls[i]!);
    // Growing from the base, never above the cap plus its jitter (10 s · 1.5), and not in lockstep.
    expect(gaps[0]).toBeLessThan(2000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(15_100);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(10_000);
    expect(new Set(gaps.slice(-4)).size).toBeGreaterThan(1);
    // Every call fails at once, so the last one falls at the deadline at the latest.
    expect(calls.at(-1)!).toBeGreaterThanOrEqual(120_000 - 15_100);
    expect(t.actor.getSnapshot().output).toMatchObject({ outcome: 'failed', error: { code: 'WEBHOOK_FAILED', permanent: false } });
  });

  it('calls at once, with whole patience, when the host answers again', async () => {
    const t = startApp({ appPatienceMs: 60_000 });
    t.lastWebhook().reject(UNREACHABLE);
    await flush();
    expect(value(t)).toEqual({ starting: 'backingOff' });
    advance(t.clock, 1);
    t.actor.send({ type: 'appServer.reachable', correlationId: 'host:127.0.0.1:1' });
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.lastWebhook().input).toMatchObject({ attempt: 1, correlationId: 'host:127.0.0.1:1' });
    expect(t.actor.getSnapshot().context.patienceDeadline).toBeNull();
  });

  it('ignores the host answering again while a call is in flight or the app runs', async () => {
    const t = startApp();
    t.actor.send({ type: 'appServer.reachable' });
    expect(t.sessionRequests()).toHaveLength(1);
    t.actor.send({ type: 'app.connected', gen: 1 });
    t.actor.send({ type: 'appServer.reachable' });
    expect(value(t)).toBe('running');
    expect(t.sessionRequests()).toHaveLength(1);
  });
});

describe('appSession: ownership_release reasons (issue 11)', () => {
  async function released(overrides: Partial<SessionConfig> = {}) {
    const t = startApp(overrides);
    t.actor.send({ type: 'app.connected', gen: 1 });
    t.lastWebhook().resolve();
    await flush();
    t.closeSocket(1, 1005, '', 'clean_shutdown');
    return t;
  }

  it('clean_shutdown: keeps the session without a webhook for appReleaseWaitMs, then asks again', async () => {
    const t = await released();
    expect(value(t)).toBe('released');
    expect(t.actor.getSnapshot().hasTag('buffering')).toBe(true);
    advance(t.clock, defaultSessionConfig.appReleaseWaitMs - 1);
    expect(t.sessionRequests()).toHaveLength(1);
    advance(t.clock, 1);
    expect(value(t)).toEqual({ starting: 'callingWebhook' });
    expect(t.sessionRequests()).toHaveLength(2);
  });

  it('clean_shutdown: a registration or the host answering ends the wait at once', async () => {
    for (const type of ['appServer.restarted', 'appServer.reachable'] as const) {
      const t = await released();
      advance(t.clock, 2000);
      t.actor.send({ type });
      expect(value(t)).toEqual({ starting: 'callingWebhook' });
      expect(t.sessionRequests()).toHaveLength(2);
    }
  });

  it('clean_shutdown: adopts the app if a new server picks the session up by itself', async () => {
    const t = await released();
    t.actor.send({ type: 'app.connected', gen: 2 });
    expect(value(t)).toBe('running');
    expect(t.actor.getSnapshot().context.releaseDeadline).toBeNull();
  });

  it('clean_shutdown: a restored session waits only what is left of the wait', async () => {
    const t = await released();
    advance(t.clock, 20_000);
    const { restored, clock } = restartAfter(t, 0);
    restored.start();
    restored.send({ type: 'session.restored' });
    advance(clock, 9999);
    expect(restored.getSnapshot().value).toBe('released');
    advance(clock, 1);
    expect(restored.getSnapshot().value).toEqual({ starting: 'callingWebhook' });
  });

  it('user_logout: ends the session as logged out, with no webhook', async () => {
    const t = startApp();
    t.actor.send({ type: 'app.connected', gen: 1 });
    t.closeSocket(1, 1005, '', 'user_logout');
    expect(t.actor.getSnapshot().output).toMatchObject({ outcome: 'loggedOut', error: null });
    expect(t.webhooks.filter((w) => w.input.type === 'stop_request')).toHaveLength(0);
  });

  it('an unknown reason reads as switching_clouds: a replacement is awaited', async () => {
    const t = startApp();
    t.actor.send({ type: 'app.connected', gen: 1 });
    t.closeSocket(1, 1005, '', 'moving_house');
    expect(value(t)).toBe('resurrecting');
  });
});
