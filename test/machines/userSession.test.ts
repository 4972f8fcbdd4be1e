import { createActor, SimulatedClock, type AnyActorRef } from 'xstate';
import { describe, expect, it } from 'vitest';
import { appSessionMachine } from '../../machines/appSession.js';
import { defaultSessionConfig, type SessionConfig } from '../../machines/policy/sessionConfig.js';
import { APP_LINK_ID, appSessionSystemId, GLASSES_LINK_ID, persistableSnapshot, retiringLinkId } from '../../machines/sessionApi.js';
import {
  userSessionMachine,
  type UserSessionEmitted,
  type UserSessionInput,
} from '../../machines/userSession.js';
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

const USER = 'user@example.com';
const CAPTIONS = 'com.augmentos.livecaptions';
const NOTES = 'com.mentra.notes';
const MAPS = 'com.example.maps';

/** The cloud runtime around one user session, played by the test: fake sockets and webhooks. */
function startUser(
  init: { persistedApps?: string[]; runningApps?: string[]; config?: Partial<SessionConfig> } = {},
  clock = new SimulatedClock(),
) {
  const glasses: FakeSocket[] = [];
  const appSockets: FakeSocket[] = [];
  const webhooks: FakeWebhook[] = [];
  const emitted: UserSessionEmitted[] = [];
  const states: unknown[] = [];
  let nextAppGen = 100;

  // The runtime knows which package each app socket belongs to; the links only know the gen.
  const packageOfGen = new Map<number, string>();
  const links = fakeLinks(clock, {
    answersPings: true,
    onCreate: (socket) => {
      const pkg = packageOfGen.get(socket.gen);
      if (pkg === undefined) glasses.push(socket);
      else {
        socket.packageName = pkg;
        appSockets.push(socket);
      }
    },
  });
  const appSession = appSessionMachine.provide({
    actors: { socketLink: links, appWebhook: fakeWebhook(webhooks) },
  });
  const machine = userSessionMachine.provide({
    actors: { socketLink: links, appSession },
  });
  const input: UserSessionInput = {
    userId: USER,
    gen: 1,
    persistedApps: init.persistedApps ?? [],
    ...(init.runningApps ? { runningApps: init.runningApps } : {}),
    config: { ...defaultSessionConfig, ...init.config },
    now: () => clock.now(),
    random: seededRandom(5),
  };
  const actor = createActor(machine, { input, clock, systemId: `userSession:${USER}` });
  actor.on('*', (event) => emitted.push(event));
  actor.subscribe((snapshot) => states.push(snapshot.value));
  actor.start();

  const app = (pkg: string): AnyActorRef | undefined => actor.system.get(appSessionSystemId(USER, pkg));
  const appState = (pkg: string) => app(pkg)?.getSnapshot().value;
  /** The app's SDK opens its socket: the runtime checked its key and tells the app session. */
  const connectApp = (pkg: string, extensions: string[] = ['user_reconnected']) => {
    nextAppGen += 1;
    packageOfGen.set(nextAppGen, pkg);
    app(pkg)!.send({ type: 'app.connected', gen: nextAppGen, extensions });
    return nextAppGen;
  };
  const sessionRequests = (pkg: string) =>
    webhooks.filter((w) => w.input.type === 'session_request' && w.input.packageName === pkg);
  const stopRequests = (pkg: string) =>
    webhooks.filter((w) => w.input.type === 'stop_request' && w.input.packageName === pkg);
  const appSocket = (pkg: string) => appSockets.filter((s) => s.packageName === pkg && s.id === APP_LINK_ID).at(-1);
  const glassesSocket = (gen: number) => glasses.find((s) => s.gen === gen && s.id === GLASSES_LINK_ID);
  /** Socket `gen` closes (the peer's close, or a network loss: 1006). */
  const closeSocket = (gen: number, code: number, reason = '', ownershipRelease: string | null = null) =>
    [...glasses, ...appSockets].find((s) => s.gen === gen)?.close(code, reason, ownershipRelease);
  /** The peer of socket `gen` sends a frame or a pong. */
  const hear = (gen: number) => [...glasses, ...appSockets].find((s) => s.gen === gen)?.hear();
  const ofType = <T extends UserSessionEmitted['type']>(type: T) =>
    emitted.filter((e): e is Extract<UserSessionEmitted, { type: T }> => e.type === type);

  return {
    actor, clock, glasses, appSockets, webhooks, emitted, states, input, machine,
    app, appState, connectApp, sessionRequests, stopRequests, appSocket, glassesSocket, closeSocket, hear, ofType,
  };
}

type Harness = ReturnType<typeof startUser>;

/** Every app of the harness connects its socket (the usual case: before its webhook answers). */
function connectAll(t: Harness, ...pkgs: string[]) {
  for (const pkg of pkgs) t.connectApp(pkg);
}

describe('userSession: start', () => {
  it('accepts the glasses socket it was created for and starts the persisted apps', () => {
    const t = startUser({ persistedApps: [CAPTIONS, NOTES] });
    expect(t.actor.getSnapshot().value).toEqual('connected');
    expect(t.actor.getSnapshot().hasTag('canSend')).toBe(true);
    expect(t.glassesSocket(1)?.commands).toEqual([{ type: 'socket.accept' }]);
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(1);
    expect(t.sessionRequests(NOTES)).toHaveLength(1);
    expect(t.ofType('apps.changed')).toEqual([
      { type: 'apps.changed', userId: USER, desiredApps: [CAPTIONS, NOTES], runningApps: [CAPTIONS, NOTES], reconnectingApps: [] },
    ]);
  });

  it('spawns app sessions as children with systemId appSession:<sessionId>', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    const child = t.app(CAPTIONS);
    expect(child).toBeDefined();
    expect(t.actor.getSnapshot().children[`appSession.${CAPTIONS}`]).toBe(child);
    expect(child?.getSnapshot().context.sessionId).toBe(`${USER}-${CAPTIONS}`);
  });
});

describe('seed 05 option 4: runningApps from connection_init win over the persisted set', () => {
  it('starts only the declared apps', () => {
    const t = startUser({ persistedApps: [CAPTIONS, NOTES], runningApps: [NOTES, MAPS] });
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(0);
    expect(t.sessionRequests(NOTES)).toHaveLength(1);
    expect(t.sessionRequests(MAPS)).toHaveLength(1);
    expect(t.actor.getSnapshot().context.desiredApps).toEqual([MAPS, NOTES]);
    expect(t.ofType('apps.changed').at(-1)?.desiredApps).toEqual([MAPS, NOTES]);
  });

  it('on a reconnection, stops the apps the glasses no longer declare and keeps the others', () => {
    const t = startUser({ persistedApps: [CAPTIONS, NOTES] });
    connectAll(t, CAPTIONS, NOTES);
    t.closeSocket(1, 1006, '');
    advance(t.clock, 1000);
    t.actor.send({ type: 'glasses.connected', gen: 2, runningApps: [NOTES] });
    expect(t.appSocket(CAPTIONS)?.commands.at(-1)).toEqual({ type: 'socket.close', code: 1000, reason: 'App stopped' });
    expect(t.appState(CAPTIONS)).toBe('stopping');
    expect(t.appState(NOTES)).toEqual('running');
    expect(t.actor.getSnapshot().context.desiredApps).toEqual([NOTES]);
    expect(t.sessionRequests(NOTES)).toHaveLength(1);
  });
});

describe('seed 05: quick reconnect below the restart threshold', () => {
  it('keeps the apps, tells them user_reconnected with disconnectedMs, sends no second webhook', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    const child = t.app(CAPTIONS);
    t.connectApp(CAPTIONS);
    t.closeSocket(1, 1000, '');
    expect(t.actor.getSnapshot().value).toBe('grace');
    advance(t.clock, 232);
    t.actor.send({ type: 'glasses.connected', gen: 2 });

    expect(t.actor.getSnapshot().value).toEqual('connected');
    expect(t.app(CAPTIONS)).toBe(child);
    expect(t.appState(CAPTIONS)).toEqual('running');
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(1);
    expect(t.appSocket(CAPTIONS)?.commands.at(-1)).toEqual({
      type: 'socket.send',
      message: { type: 'user_reconnected', userId: USER, disconnectedMs: 232, long: false },
    });
    expect(t.ofType('glasses.reconnected')).toEqual([
      { type: 'glasses.reconnected', userId: USER, gen: 2, disconnectedMs: 232, long: false },
    ]);
    expect(t.glassesSocket(2)?.commands).toEqual([{ type: 'socket.accept' }]);
  });
});

describe('seed 05: reconnect after the threshold but inside grace', () => {
  it('has every desired app running afterwards, none started twice', async () => {
    const t = startUser({ persistedApps: [CAPTIONS, NOTES], config: { appPatienceMs: 0 } });
    t.connectApp(CAPTIONS);
    // Notes' server is down: a transient failure, which must not drop it from the desired set.
    t.sessionRequests(NOTES)[0]?.reject({ code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' });
    await flush();
    expect(t.app(NOTES)).toBeUndefined();
    expect(t.ofType('apps.changed').at(-1)).toEqual({
      type: 'apps.changed',
      userId: USER,
      desiredApps: [CAPTIONS, NOTES],
      runningApps: [CAPTIONS],
      reconnectingApps: [],
      error: { packageName: NOTES, code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' },
    });

    t.closeSocket(1, 1006, '');
    advance(t.clock, 40_000);
    t.actor.send({ type: 'glasses.connected', gen: 2 });

    expect(t.ofType('glasses.reconnected').at(-1)).toMatchObject({ disconnectedMs: 40_000, long: true });
    expect(t.appSocket(CAPTIONS)?.commands.at(-1)).toEqual({
      type: 'socket.send',
      message: { type: 'user_reconnected', userId: USER, disconnectedMs: 40_000, long: true },
    });
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(1);
    expect(t.appState(CAPTIONS)).toEqual('running');
    expect(t.sessionRequests(NOTES)).toHaveLength(2);
    t.connectApp(NOTES);
    expect(t.appState(NOTES)).toEqual('running');
    expect(t.actor.getSnapshot().context.desiredApps).toEqual([CAPTIONS, NOTES]);
  });
});

describe('seed 05: force-quit → heartbeat timeout → grace → disposed → reopen', () => {
  it('detects the dead socket, disposes after grace, persists the apps, and a new session starts them', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    t.connectApp(CAPTIONS);
    advance(t.clock, 30_000);
    expect(t.actor.getSnapshot().value).toEqual('connected');
    // Force-quit: the phone vanishes, no close frame ever arrives, pings go unanswered.
    t.glassesSocket(1)!.answersPings = false;
    advance(t.clock, 44_999);
    expect(t.actor.getSnapshot().value).toEqual('connected');
    advance(t.clock, 1);
    expect(t.actor.getSnapshot().value).toBe('grace');
    expect(t.glassesSocket(1)?.commands.at(-1)).toEqual({ type: 'socket.terminate', reason: 'heartbeat timeout' });
    expect(t.glassesSocket(1)?.stopped).toBe(true);

    advance(t.clock, 59_999);
    expect(t.actor.getSnapshot().value).toBe('grace');
    const appSocket = t.appSocket(CAPTIONS)!;
    advance(t.clock, 1);
    expect(t.actor.getSnapshot().status).toBe('done');
    expect(t.actor.getSnapshot().value).toBe('disposed');
    expect(t.ofType('session.disposed')).toEqual([{ type: 'session.disposed', userId: USER, desiredApps: [CAPTIONS] }]);
    expect(appSocket.commands.at(-1)).toEqual({ type: 'socket.close', code: 1000, reason: 'User session ended' });
    expect(appSocket.stopped).toBe(true);
    expect(t.stopRequests(CAPTIONS)[0]?.input).toMatchObject({ reason: 'system_stop' });
    expect(t.app(CAPTIONS)).toBeUndefined();

    const reopened = startUser({ persistedApps: t.ofType('session.disposed')[0]!.desiredApps }, t.clock);
    expect(reopened.sessionRequests(CAPTIONS)).toHaveLength(1);
  });
});

describe("seed 05: the log's own sequence (1006, reconnect, 1006, 1000, reconnect 232 ms later, force-quit)", () => {
  it('ends with the app started again when the user reopens long after', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    t.connectApp(CAPTIONS);
    t.closeSocket(1, 1006, '');
    advance(t.clock, 3000);
    t.actor.send({ type: 'glasses.connected', gen: 2 });
    advance(t.clock, 60_000);
    t.closeSocket(2, 1006, '');
    advance(t.clock, 2000);
    t.actor.send({ type: 'glasses.connected', gen: 3 });
    advance(t.clock, 18_000);
    t.closeSocket(3, 1000, '');
    advance(t.clock, 232);
    t.actor.send({ type: 'glasses.connected', gen: 4 });
    // The old sockets' late events change nothing.
    t.closeSocket(2, 1006, '');
    t.hear(3);
    expect(t.actor.getSnapshot().value).toEqual('connected');
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(1);

    t.glassesSocket(4)!.answersPings = false;
    advance(t.clock, 45_000 + 60_000);
    expect(t.actor.getSnapshot().value).toBe('disposed');
    // 9 minutes 20 s later the user reopens the app.
    advance(t.clock, 560_000);
    const reopened = startUser({ persistedApps: t.ofType('session.disposed')[0]!.desiredApps }, t.clock);
    expect(reopened.sessionRequests(CAPTIONS)).toHaveLength(1);
    reopened.connectApp(CAPTIONS);
    expect(reopened.appState(CAPTIONS)).toEqual('running');
  });
});

describe('seed 05: network switch (the new socket opens before the old one closes)', () => {
  it("replaces the socket with 4003, ignores the old socket's close, never enters grace", () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    t.connectApp(CAPTIONS);
    advance(t.clock, 10_000);
    t.actor.send({ type: 'glasses.connected', gen: 2, runningApps: [CAPTIONS] });
    expect(t.glassesSocket(1)?.commands.at(-1)).toEqual({ type: 'socket.close', code: 4003, reason: 'replaced' });
    expect(t.glassesSocket(1)?.stopped).toBe(true);
    expect(t.glassesSocket(2)?.commands).toEqual([{ type: 'socket.accept' }]);
    t.closeSocket(1, 4003, 'replaced');
    advance(t.clock, 120_000);
    expect(t.states).not.toContain('grace');
    expect(t.actor.getSnapshot().value).toEqual('connected');
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(1);
    expect(t.ofType('glasses.reconnected')).toEqual([]);
    expect(t.appSocket(CAPTIONS)?.commands.some((c) => c.type === 'socket.send')).toBe(false);
  });

  it('closes a glasses socket older than the adopted one with 4003 and releases it on its close', () => {
    const t = startUser();
    t.actor.send({ type: 'glasses.connected', gen: 3 });
    t.actor.send({ type: 'glasses.connected', gen: 2 });
    const refused = t.glasses.find((s) => s.gen === 2)!;
    expect(refused.id).toBe(retiringLinkId(2));
    expect(refused.commands).toEqual([{ type: 'socket.close', code: 4003, reason: 'replaced' }]);
    expect(t.actor.getSnapshot().context.gen).toBe(3);
    t.closeSocket(2, 4003, 'replaced');
    expect(refused.stopped).toBe(true);
    expect(t.actor.getSnapshot().value).toEqual('connected');
  });
});

describe('userSession: user intents', () => {
  it('start_app adds the app and starts it once; stop_app removes it and stops its session', async () => {
    const t = startUser();
    t.actor.send({ type: 'app.startRequested', packageName: MAPS });
    t.actor.send({ type: 'app.startRequested', packageName: MAPS });
    expect(t.sessionRequests(MAPS)).toHaveLength(1);
    expect(t.ofType('apps.changed').at(-1)).toMatchObject({ desiredApps: [MAPS], runningApps: [MAPS] });
    t.connectApp(MAPS);
    t.actor.send({ type: 'app.stopRequested', packageName: MAPS });
    expect(t.appSocket(MAPS)?.commands.at(-1)).toEqual({ type: 'socket.close', code: 1000, reason: 'App stopped' });
    expect(t.stopRequests(MAPS)[0]?.input).toMatchObject({ reason: 'user_disabled' });
    expect(t.ofType('apps.changed').at(-1)).toMatchObject({ desiredApps: [], runningApps: [] });
    t.stopRequests(MAPS)[0]?.resolve();
    await flush();
    expect(t.app(MAPS)).toBeUndefined();
    expect(t.actor.getSnapshot().children[`appSession.${MAPS}`]).toBeUndefined();
  });

  it('starts an app afresh when it is wanted again while its session is still stopping', async () => {
    const t = startUser({ persistedApps: [MAPS] });
    t.connectApp(MAPS);
    t.actor.send({ type: 'app.stopRequested', packageName: MAPS });
    t.actor.send({ type: 'app.startRequested', packageName: MAPS });
    expect(t.sessionRequests(MAPS)).toHaveLength(1);
    t.stopRequests(MAPS)[0]?.resolve();
    await flush();
    expect(t.sessionRequests(MAPS)).toHaveLength(2);
    expect(t.appState(MAPS)).toEqual({ starting: 'callingWebhook' });
  });

  it('drops an app from the desired set only on a permanent failure', async () => {
    const t = startUser({ persistedApps: [MAPS, NOTES], config: { appPatienceMs: 0 } });
    t.sessionRequests(NOTES)[0]?.reject({ code: 'WEBHOOK_TIMEOUT', message: 'no answer' });
    t.sessionRequests(MAPS)[0]?.reject({ code: 'UNKNOWN_PACKAGE', message: 'app deleted', permanent: true });
    await flush();
    expect(t.actor.getSnapshot().context.desiredApps).toEqual([NOTES]);
    expect(t.ofType('apps.changed').at(-1)).toMatchObject({
      desiredApps: [NOTES],
      runningApps: [],
      error: { packageName: MAPS, code: 'UNKNOWN_PACKAGE' },
    });
  });

  it('keeps an app desired when it closes its own session, and starts it on the next connection', () => {
    const t = startUser({ persistedApps: [MAPS] });
    const gen = t.connectApp(MAPS);
    t.closeSocket(gen, 1000, '');
    expect(t.app(MAPS)).toBeUndefined();
    expect(t.actor.getSnapshot().context.desiredApps).toEqual([MAPS]);
    t.closeSocket(1, 1006, '');
    t.actor.send({ type: 'glasses.connected', gen: 2 });
    expect(t.sessionRequests(MAPS)).toHaveLength(2);
  });
});

describe("seed 02 §3.4: the app's server restarts", () => {
  it('starts again, once, a desired app whose start failed while its server was down', async () => {
    const t = startUser({ persistedApps: [CAPTIONS, NOTES], config: { appPatienceMs: 0 } });
    t.connectApp(CAPTIONS);
    t.sessionRequests(NOTES)[0]?.reject({ code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' });
    await flush();
    expect(t.app(NOTES)).toBeUndefined();

    t.actor.send({ type: 'appServer.restarted', packageName: NOTES, correlationId: 'recovery:r1:x' });
    expect(t.sessionRequests(NOTES)).toHaveLength(2);
    expect(t.sessionRequests(NOTES)[1]?.input.correlationId).toBe('recovery:r1:x');
    expect(t.ofType('apps.changed').at(-1)).toEqual({
      type: 'apps.changed',
      userId: USER,
      desiredApps: [CAPTIONS, NOTES],
      runningApps: [CAPTIONS, NOTES],
      reconnectingApps: [],
    });
    // A second restart event finds the session live and starting: no second start.
    t.actor.send({ type: 'appServer.restarted', packageName: NOTES });
    expect(t.sessionRequests(NOTES)).toHaveLength(2);
    t.connectApp(NOTES);
    expect(t.appState(NOTES)).toEqual('running');
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(1);
  });

  it('restarts a session that lost its socket and leaves a running one alone', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    const gen = t.connectApp(CAPTIONS);
    t.actor.send({ type: 'appServer.restarted', packageName: CAPTIONS });
    expect(t.appState(CAPTIONS)).toEqual('running');
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(1);

    t.closeSocket(gen, 1006, '');
    expect(t.appState(CAPTIONS)).toBe('resurrecting');
    const changes = t.ofType('apps.changed').length;
    t.actor.send({ type: 'appServer.restarted', packageName: CAPTIONS });
    expect(t.appState(CAPTIONS)).toEqual({ starting: 'callingWebhook' });
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(2);
    // Nothing the glasses would see: the app was listed as running all along.
    expect(t.ofType('apps.changed')).toHaveLength(changes);
  });

  it('ignores the restart of an app the user does not want, or is stopping', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    t.connectApp(CAPTIONS);
    t.actor.send({ type: 'appServer.restarted', packageName: MAPS });
    expect(t.app(MAPS)).toBeUndefined();
    t.actor.send({ type: 'app.stopRequested', packageName: CAPTIONS });
    t.actor.send({ type: 'appServer.restarted', packageName: CAPTIONS });
    expect(t.appState(CAPTIONS)).toBe('stopping');
    expect(t.sessionRequests(CAPTIONS)).toHaveLength(1);
  });

  it('recovers apps in grace too, so they are there when the glasses come back', async () => {
    const t = startUser({ persistedApps: [NOTES], config: { appPatienceMs: 0 } });
    t.sessionRequests(NOTES)[0]?.reject({ code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' });
    await flush();
    t.closeSocket(1, 1006, '');
    t.actor.send({ type: 'appServer.restarted', packageName: NOTES });
    expect(t.actor.getSnapshot().value).toBe('grace');
    expect(t.sessionRequests(NOTES)).toHaveLength(2);
  });
});

describe('userSession: persistence', () => {
  it('stores no retiring link: its socket cannot outlive the process', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    t.connectApp(CAPTIONS);
    t.actor.send({ type: 'glasses.connected', gen: 3 });
    t.actor.send({ type: 'glasses.connected', gen: 2 });
    expect(Object.keys(t.actor.getSnapshot().children)).toEqual(expect.arrayContaining([retiringLinkId(1), retiringLinkId(2)]));
    const stored = JSON.stringify(persistableSnapshot(t.actor));
    expect(stored).not.toContain('retiringLink.');
    expect(stored).toContain(GLASSES_LINK_ID);
    expect(stored).toContain(APP_LINK_ID);
  });

  it('keeps the grace deadline across a persisted-snapshot restore', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    t.connectApp(CAPTIONS);
    t.closeSocket(1, 1006, '');
    advance(t.clock, 20_000);

    const { restored, clock } = restartAfter(t, 10_000);
    const disposed: unknown[] = [];
    restored.on('session.disposed', (e) => disposed.push(e));
    restored.start();
    restored.send({ type: 'session.restored' });
    expect(restored.getSnapshot().value).toBe('grace');
    advance(clock, 29_999);
    expect(restored.getSnapshot().value).toBe('grace');
    advance(clock, 1);
    expect(restored.getSnapshot().value).toBe('disposed');
    expect(disposed).toEqual([{ type: 'session.disposed', userId: USER, desiredApps: [CAPTIONS] }]);
  });

  it('gives restored app sessions their clock back, so they keep their deadlines too', () => {
    const t = startUser({ persistedApps: [CAPTIONS] });
    const gen = t.connectApp(CAPTIONS);
    t.closeSocket(gen, 1006, '');
    advance(t.clock, 2000);

    const { restored, clock } = restartAfter(t, 1000);
    restored.start();
    restored.send({ type: 'session.restored' });
    const app = () => restored.system.get(appSessionSystemId(USER, CAPTIONS))!.getSnapshot().value;
    expect(app()).toBe('resurrecting');
    advance(clock, 1999);
    expect(app()).toBe('resurrecting');
    advance(clock, 1);
    expect(app()).toEqual({ starting: 'callingWebhook' });
  });
});

describe('issue 11: apps waited for are shown as reconnecting; user_logout stops the app', () => {
  it('shows an app whose server cannot be reached as reconnecting, keeps it desired, and clears it once it connects', async () => {
    const t = startUser({ persistedApps: [CAPTIONS, NOTES] });
    t.connectApp(CAPTIONS);
    t.sessionRequests(NOTES)[0]!.reject({ code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' });
    await flush();
    expect(t.ofType('apps.changed').at(-1)).toMatchObject({
      desiredApps: [CAPTIONS, NOTES],
      runningApps: [CAPTIONS, NOTES],
      reconnectingApps: [NOTES],
    });
    expect(t.ofType('apps.changed').at(-1)).not.toHaveProperty('error');
    // Five minutes of failures change nothing the glasses see: the app stays desired and waited for.
    for (let i = 0; i < 30; i++) {
      advance(t.clock, 10_000);
      const last = t.sessionRequests(NOTES).at(-1)!;
      if (!last.settled) last.reject({ code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' });
      await flush();
    }
    const changes = t.ofType('apps.changed').length;
    expect(t.actor.getSnapshot().context.desiredApps).toEqual([CAPTIONS, NOTES]);
    t.actor.send({ type: 'appServer.reachable', packageName: NOTES });
    t.connectApp(NOTES);
    expect(t.ofType('apps.changed').at(-1)).toMatchObject({ runningApps: [CAPTIONS, NOTES], reconnectingApps: [] });
    expect(t.ofType('apps.changed')).toHaveLength(changes + 1);
  });

  it('shows an app that dropped as reconnecting until its SDK is back', () => {
    const t = startUser({ persistedApps: [NOTES] });
    const gen = t.connectApp(NOTES);
    t.closeSocket(gen, 1006);
    expect(t.ofType('apps.changed').at(-1)).toMatchObject({ reconnectingApps: [NOTES] });
    t.connectApp(NOTES);
    expect(t.ofType('apps.changed').at(-1)).toMatchObject({ reconnectingApps: [] });
  });

  it('user_logout removes the app from the desired set; clean_shutdown keeps it', () => {
    const t = startUser({ persistedApps: [CAPTIONS, NOTES] });
    const captions = t.connectApp(CAPTIONS);
    const notes = t.connectApp(NOTES);
    t.closeSocket(notes, 1005, '', 'user_logout');
    t.closeSocket(captions, 1005, '', 'clean_shutdown');
    expect(t.actor.getSnapshot().context.desiredApps).toEqual([CAPTIONS]);
    expect(t.appState(NOTES)).toBeUndefined();
    expect(t.appState(CAPTIONS)).toBe('released');
    expect(t.ofType('apps.changed').at(-1)).toMatchObject({
      desiredApps: [CAPTIONS],
      runningApps: [CAPTIONS],
      reconnectingApps: [CAPTIONS],
    });
    expect(t.stopRequests(NOTES)).toHaveLength(0);
  });

  it('starts a desired app whose start gave up once its host answers again', async () => {
    const t = startUser({ persistedApps: [NOTES], config: { appPatienceMs: 0 } });
    t.sessionRequests(NOTES)[0]!.reject({ code: 'WEBHOOK_FAILED', message: 'ECONNREFUSED' });
    await flush();
    expect(t.app(NOTES)).toBeUndefined();
    t.actor.send({ type: 'appServer.reachable', packageName: NOTES, correlationId: 'host:x' });
    expect(t.sessionRequests(NOTES)).toHaveLength(2);
    expect(t.sessionRequests(NOTES)[1]?.input.correlationId).toBe('host:x');
  });
});
