/**
 * Model-based tests of `userSession` and `appSession`: @xstate/graph explores each machine's
 * reachable states (under representative event payloads, delays modelled as their
 * `xstate.after.*` events), every event is tried from every reachable state, and each
 * resulting path is replayed on a real actor with a simulated clock — delays by advancing the
 * clock to the timer's due time, and child endings by the fakes that produce them: a webhook
 * result by settling the fake webhook, an app session's end by ending the stub, a socket
 * link's end by closing its fake socket (or, for a heartbeat timeout, by letting its peer stay
 * silent while the clock runs). The transitions the real actors took must be exactly the
 * transitions the machine defines, and every state node must be visited.
 */
import { getShortestPaths } from '@xstate/graph';
import {
  assign,
  createActor,
  initialTransition,
  setup,
  SimulatedClock,
  transition,
  type AnyActorRef,
  type AnyStateMachine,
  type AnyStateNode,
  type EventObject,
  type AnyTransitionDefinition,
  type InspectionEvent,
} from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  appSessionMachine,
  type AppSessionContext,
  type AppSessionInput,
  type AppSessionOutput,
} from '../../machines/appSession.js';
import { CloseCode, CloseReason } from '../../machines/policy/closePolicy.js';
import { defaultSessionConfig, type SessionConfig } from '../../machines/policy/sessionConfig.js';
import {
  APP_LINK_ID,
  appChildId,
  appSessionSystemId,
  GLASSES_LINK_ID,
  packageOfAppChild,
  retiringLinkId,
} from '../../machines/sessionApi.js';
import type { AppWebhookFailure, AppWebhookOutput } from '../../machines/sessionPorts.js';
import { socketLinkMachine, type SocketLinkContext, type SocketLinkOutput } from '../../machines/socketLink.js';
import { userSessionMachine, type UserSessionContext, type UserSessionInput } from '../../machines/userSession.js';
import { seededRandom } from '../support/seededRandom.js';
import { allStateNodes, allTransitions } from '../support/modelCoverage.js';
import {
  advance,
  advanceTo,
  fakeLinks,
  fakeWebhook,
  type FakeSocket,
  type FakeWebhook,
} from '../support/sessionMachineHarness.js';

/** A model event: a type and any payload (socket generations may be relative, see `concrete`). */
type ModelEvent = EventObject & Record<string, unknown>;
/** The socket-link machine with fake I/O, as each replay provides it. */
type Links = ReturnType<typeof fakeLinks>;

interface MachineSnapshotLike {
  value: unknown;
  context: unknown;
  children: Record<string, AnyActorRef | undefined>;
  status: string;
  _nodes: AnyStateNode[];
}

// ---------------------------------------------------------------------------------------------
// What a machine defines

/** The `xstate.after.*` events whose timers are armed in `snapshot` (their state is active). */
function armedDelayedEvents(machine: AnyStateMachine) {
  const delayed = allStateNodes(machine).flatMap((node) =>
    node.after.map((t: { eventType: string }) => ({ id: node.id, type: t.eventType })),
  );
  return (snapshot: MachineSnapshotLike): EventObject[] =>
    delayed.filter(({ id }) => snapshot._nodes.some((node) => node.id === id)).map(({ type }) => ({ type }));
}

/**
 * Names a transition by where it is defined (state, event, branch). Each replay provides the
 * machine with its own fakes, which builds new state nodes, so transitions are compared by
 * name; the names are unique (checked in `expectFullCoverage`).
 */
function describeTransition(t: AnyTransitionDefinition): string {
  // `eventType` of an untyped machine's transition is `any`; here it is the event's name.
  const eventType: string = t.eventType;
  const branches = ((eventType ? t.source.transitions.get(eventType) : t.source.always) ?? []) as AnyTransitionDefinition[];
  const index = branches.indexOf(t);
  return `${t.source.id} on ${eventType || '(always)'}${branches.length > 1 ? ` [${index}]` : ''}`;
}

/**
 * Socket generations in model events are relative, so that states the model treats as equal
 * (it abstracts the ever-growing `gen` away) also behave equally: `newer` is one above the
 * current socket, `older` one below every generation the path has named (the runtime never
 * hands out a generation twice, so neither does the model).
 */
type GenRef = 'current' | 'newer' | 'older';

function concrete(event: EventObject, context: unknown, floor: number): EventObject {
  const ref = (event as { gen?: unknown }).gen;
  if (typeof ref !== 'string') return event;
  const { gen, refusedGen = 0 } = context as { gen: number; refusedGen?: number };
  const resolved: Record<GenRef, number> = { current: gen, newer: Math.max(gen, refusedGen) + 1, older: floor - 1 };
  return { ...event, gen: resolved[ref as GenRef] } as EventObject;
}

/** The lowest generation named so far, once `event` (concrete) has been taken. */
function floorAfter(floor: number, event: EventObject): number {
  const gen = (event as { gen?: unknown }).gen;
  return typeof gen === 'number' ? Math.min(floor, gen) : floor;
}

/**
 * The machine as pure logic for @xstate/graph. XState's own `transition()` gives each step a
 * fresh actor system, so the children a step spawns (each with its `systemId`) never collide
 * with those of another branch of the exploration; it creates them without running their
 * actions, so the socket links' unprovided I/O never runs.
 */
function pureLogic<M extends AnyStateMachine>(machine: M, input: unknown) {
  const floors = new WeakMap<object, number>();
  const floorOf = (snapshot: MachineSnapshotLike) =>
    floors.get(snapshot) ?? (snapshot.context as { gen: number }).gen;
  return {
    transition: (snapshot: unknown, event: EventObject) => {
      const current = snapshot as MachineSnapshotLike;
      // A real actor takes no events once it is done; XState's pure transition would.
      if (current.status !== 'active') return snapshot;
      const floor = floorOf(current);
      const resolved = concrete(event, current.context, floor);
      const [next] = transition(machine, snapshot as never, resolved as never);
      floors.set(next, floorAfter(floor, resolved));
      return next;
    },
    getInitialSnapshot: () => initialTransition(machine, input as never)[0],
  } as unknown as M;
}

// ---------------------------------------------------------------------------------------------
// Replaying a path on a real actor

const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

interface Replayer {
  actor: AnyActorRef;
  clock: SimulatedClock;
  /** The fake sockets of this replay, by generation. */
  sockets: ReadonlyMap<number, FakeSocket>;
  /** The events the root actor received during the latest delivery. */
  received: EventObject[];
  /** Delivers `event` the way the real world would: timers, webhook answers, child endings. */
  deliver(event: EventObject): Promise<void>;
}

/**
 * Watches the root actor's inspection stream: which transitions it takes, which events it
 * receives, and when each delayed event it raises is due (so an `xstate.after.*` step becomes
 * a clock advance).
 */
function watch(taken: Set<string>, received: EventObject[], due: Map<string, number>, clock: SimulatedClock) {
  let root: AnyActorRef | undefined;
  return {
    bind(actor: AnyActorRef) {
      root = actor;
    },
    inspect(event: InspectionEvent) {
      if (event.actorRef !== root) return;
      if (event.type === '@xstate.event') received.push(event.event);
      if (event.type === '@xstate.microstep') {
        for (const t of (event as unknown as { _transitions: AnyTransitionDefinition[] })._transitions) {
          taken.add(describeTransition(t));
        }
      }
      if (event.type === '@xstate.action') {
        const { type, params } = event.action as { type: string; params?: { event?: EventObject; delay?: number } };
        if (type === 'xstate.raise' && params?.event && typeof params.delay === 'number') {
          due.set(params.event.type, clock.now() + params.delay);
        }
      }
    },
  };
}

async function deliverDelay(replayer: Replayer, due: Map<string, number>, type: string): Promise<void> {
  const at = due.get(type);
  if (at === undefined) throw new Error(`no timer was armed for ${type}`);
  advanceTo(replayer.clock, at);
  await settle();
}

/**
 * Delivers an event that only the test's fakes can produce (a webhook answering, a child
 * ending) and says so, or returns false for any other event.
 */
type FakeDelivery = (replayer: Replayer, event: EventObject) => boolean | Promise<true>;

/** A socket link's done event, as its parent receives it. */
interface LinkEnded {
  type: string;
  output: SocketLinkOutput;
  actorId: string;
}

function linkEnded(actorId: string, output: SocketLinkOutput): ModelEvent {
  return { type: `xstate.done.actor.${actorId}`, output, actorId };
}

function isLinkEnding(event: EventObject): event is EventObject & LinkEnded {
  const { output, actorId } = event as Partial<LinkEnded>;
  if (typeof actorId !== 'string' || typeof output?.gen !== 'number') return false;
  const linkIds = [GLASSES_LINK_ID, APP_LINK_ID, retiringLinkId(output.gen)];
  return linkIds.includes(actorId) && event.type === `xstate.done.actor.${actorId}`;
}

/**
 * Ends a socket link the way the wire would: its socket closes with the output's code, reason
 * and ownership release; or, for a heartbeat timeout, its peer stays silent while the clock
 * runs tick by tick until the link gives up. Then checks that the parent heard exactly that
 * ending.
 */
async function endLink(replayer: Replayer, event: LinkEnded): Promise<true> {
  const { actorId, output } = event;
  const link = replayer.actor.getSnapshot().children[actorId] as AnyActorRef | undefined;
  const socket = replayer.sockets.get(output.gen);
  if (!link || !socket || socket.link !== link) throw new Error(`no ${actorId} holds socket ${output.gen}`);
  if (output.cause === 'heartbeatTimeout') {
    const { heartbeatIntervalMs, heartbeatTimeoutMs } = link.getSnapshot().context as SocketLinkContext;
    socket.answersPings = false;
    const ticks = Math.ceil(heartbeatTimeoutMs / heartbeatIntervalMs) + 1;
    for (let i = 0; i < ticks && link.getSnapshot().status === 'active'; i++) advance(replayer.clock, heartbeatIntervalMs);
  } else {
    socket.close(output.code, output.reason, output.ownershipRelease);
  }
  await settle();
  const heard = replayer.received.filter((e) => e.type === event.type).map((e) => (e as unknown as LinkEnded).output);
  expect(heard, `${actorId} ended`).toEqual([output]);
  return true;
}

/**
 * The endings the links of `snapshot` can have: the held link's socket closes (with each of
 * `closes`) or falls silent; each retiring link's socket finishes closing (the peer echoes the
 * code and reason it was closed with).
 */
function linkEndings(
  snapshot: MachineSnapshotLike,
  heldId: string,
  closes: ReadonlyArray<Pick<SocketLinkOutput, 'code' | 'reason' | 'ownershipRelease'>>,
): ModelEvent[] {
  const events: ModelEvent[] = [];
  for (const [id, child] of Object.entries(snapshot.children)) {
    const link = child?.getSnapshot().context as Partial<SocketLinkContext> | undefined;
    if (typeof link?.gen !== 'number' || link.role === undefined) continue;
    const { gen } = link;
    if (id === heldId) {
      for (const close of closes) events.push(linkEnded(id, { gen, cause: 'closed', ...close }));
      events.push(
        linkEnded(id, {
          gen,
          cause: 'heartbeatTimeout',
          code: CloseCode.ABNORMAL,
          reason: CloseReason.HEARTBEAT_TIMEOUT,
          ownershipRelease: null,
        }),
      );
    } else if (link.role === 'retiring' && id === retiringLinkId(gen)) {
      events.push(
        linkEnded(id, { gen, cause: 'replaced', code: link.closeCode!, reason: link.closeReason!, ownershipRelease: null }),
      );
    }
  }
  return events;
}

/** True while some socket the session let go is still closing. */
function hasRetiringLinks(snapshot: MachineSnapshotLike): boolean {
  return Object.values(snapshot.children).some(
    (child) => (child?.getSnapshot().context as Partial<SocketLinkContext> | undefined)?.role === 'retiring',
  );
}

/**
 * Makes a fresh real actor for each replay, with fresh fake sockets and links: delayed events
 * become clock advances to their due time, link endings are played on the fake sockets, the
 * other fakes' events go to `byFake`, the rest are sent to the actor.
 */
function replayerFor<I>(
  provide: (links: Links) => AnyStateMachine,
  makeInput: (clock: SimulatedClock) => I,
  byFake: FakeDelivery,
) {
  return (taken: Set<string>): Replayer => {
    const clock = new SimulatedClock();
    const sockets = new Map<number, FakeSocket>();
    const machine = provide(fakeLinks(clock, { onCreate: (socket) => sockets.set(socket.gen, socket) }));
    const due = new Map<string, number>();
    const received: EventObject[] = [];
    const watcher = watch(taken, received, due, clock);
    const actor = createActor(machine, { input: makeInput(clock), clock, inspect: (e) => watcher.inspect(e) });
    watcher.bind(actor);
    actor.start();
    let floor = (actor.getSnapshot().context as { gen: number }).gen;
    const replayer: Replayer = {
      actor,
      clock,
      sockets,
      received,
      async deliver(symbolic) {
        const event = concrete(symbolic, actor.getSnapshot().context, floor);
        floor = floorAfter(floor, event);
        received.length = 0;
        if (isLinkEnding(event)) {
          await endLink(replayer, event);
          return;
        }
        const delivered = byFake(replayer, event);
        if (delivered !== false) {
          await delivered;
          return;
        }
        if (event.type.startsWith('xstate.after.')) return deliverDelay(replayer, due, event.type);
        actor.send(event);
      },
    };
    return replayer;
  };
}

interface ModelSpec {
  /** The machine as defined; the replays provide it with their fakes. */
  machine: AnyStateMachine;
  input: unknown;
  events: (snapshot: MachineSnapshotLike) => EventObject[];
  serialize: (snapshot: MachineSnapshotLike) => string;
  replayer: (taken: Set<string>) => Replayer;
}

const trail = (events: EventObject[]) => events.map((e) => e.type).join(' → ') || '(initial)';

/**
 * Explores the model, then replays every (shortest path to a state, event) pair on a real
 * actor, checking after every step that it is where the model is. Returns the transitions the
 * real actors took and the state nodes they visited, by name.
 */
async function exercise(spec: ModelSpec) {
  const logic = pureLogic(spec.machine, spec.input);
  const initial = logic.getInitialSnapshot(undefined as never, spec.input);
  const paths = getShortestPaths(logic, {
    events: spec.events as never,
    serializeState: spec.serialize as never,
    fromState: initial,
    limit: 20_000,
  });

  // An event the machine cannot handle would put it in an error state: never acceptable.
  const broken = paths.filter((p) => (p.state as unknown as MachineSnapshotLike).status === 'error');
  expect(broken.map((p) => trail(p.steps.slice(1).map((s) => s.event as EventObject)))).toEqual([]);

  const taken = new Set<string>();
  const visited = new Set<string>();
  const step = logic.transition.bind(logic) as unknown as (s: unknown, e: EventObject) => MachineSnapshotLike;

  async function replay(events: EventObject[]) {
    const replayer = spec.replayer(taken);
    let model = initial as unknown as MachineSnapshotLike;
    for (const [i, event] of events.entries()) {
      model = step(model, event);
      try {
        await replayer.deliver(event);
      } catch (error) {
        throw new Error(`${trail(events.slice(0, i + 1))}: ${String(error)}`);
      }
      const real = replayer.actor.getSnapshot() as MachineSnapshotLike & { error?: unknown };
      expect([real.status, real.value, real.error], trail(events.slice(0, i + 1))).toEqual([
        model.status,
        model.value,
        undefined,
      ]);
    }
    for (const node of (replayer.actor.getSnapshot() as MachineSnapshotLike)._nodes) visited.add(node.id);
    replayer.actor.stop();
    return model;
  }

  for (const path of paths) {
    // The first step is `xstate.init`, which a started actor has already taken.
    const events = path.steps.slice(1).map((s) => s.event as EventObject);
    const end = await replay(events);
    if (end.status !== 'active') continue;
    for (const event of spec.events(end)) await replay([...events, event]);
  }
  return { paths, taken, visited };
}

function expectFullCoverage(machine: AnyStateMachine, taken: Set<string>, visited: Set<string>) {
  const defined = allTransitions(machine).map(describeTransition);
  // Unique names, so that counting names counts transitions.
  expect(new Set(defined).size).toBe(defined.length);
  expect(defined.filter((t) => !taken.has(t))).toEqual([]);
  expect([...taken].filter((t) => !defined.includes(t))).toEqual([]);
  expect(taken.size).toBe(allTransitions(machine).length);
  const unvisited = allStateNodes(machine)
    .filter((node) => !visited.has(node.id))
    .map((node) => node.id);
  expect(unvisited).toEqual([]);
  expect(visited.size).toBe(allStateNodes(machine).length);
}

/** The inspector shows descriptions: every state node and every transition has one. */
function undescribed(machine: AnyStateMachine): string[] {
  return [
    ...allStateNodes(machine)
      .filter((node) => !node.description)
      .map((node) => `state ${node.id}`),
    ...allTransitions(machine)
      .filter((t) => !t.description)
      .map((t) => `transition ${describeTransition(t)}`),
  ];
}

describe('session machines: descriptions', () => {
  it('describes every state and every transition', () => {
    expect(undescribed(appSessionMachine)).toEqual([]);
    expect(undescribed(userSessionMachine)).toEqual([]);
    expect(undescribed(socketLinkMachine)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Fakes

const config: SessionConfig = { ...defaultSessionConfig, appPatienceMs: 1 };

// ---------------------------------------------------------------------------------------------
// appSession

const WEBHOOK_OK = { status: 200 };
const TRANSIENT: AppWebhookFailure = { code: 'WEBHOOK_FAILED', message: '500 Failed to connect', status: 500 };
const PERMANENT: AppWebhookFailure = { code: 'UNKNOWN_PACKAGE', message: 'app deleted', permanent: true };

function appEvents(machine: AnyStateMachine) {
  const delayed = armedDelayedEvents(machine);
  return (snapshot: MachineSnapshotLike): ModelEvent[] => {
    const ctx = snapshot.context as AppSessionContext;
    const events: ModelEvent[] = [
      { type: 'app.connected', gen: 'newer', extensions: ['user_reconnected'] },
      // A stock-SDK socket (no extensions): refused after a failed webhook, adopted elsewhere.
      { type: 'app.connected', gen: 'newer' },
      { type: 'app.connected', gen: 'newer', heldAlive: true },
      { type: 'subscriptions.updated', gen: 'current', subscriptions: ['transcription:en-US'] },
      { type: 'appServer.restarted' },
      { type: 'appServer.restarted', correlationId: 'recovery:r1:user-com.example.a' },
      { type: 'appServer.reachable' },
      { type: 'app.stopRequested', reason: 'user_disabled' },
      { type: 'app.stopRequested', reason: 'session_ended' },
      { type: 'user.reconnected', disconnectedMs: 232, long: false },
      { type: 'session.restored' },
      ...delayed(snapshot),
      // The app link ends however its socket does: each close the session tells apart, or silence.
      ...linkEndings(snapshot, APP_LINK_ID, [
        { code: CloseCode.ABNORMAL, reason: '', ownershipRelease: null },
        { code: CloseCode.NORMAL, reason: '', ownershipRelease: null },
        { code: CloseCode.NORMAL, reason: '', ownershipRelease: 'switching_clouds' },
        { code: 1005, reason: '', ownershipRelease: 'switching_clouds' },
        { code: 1005, reason: '', ownershipRelease: 'clean_shutdown' },
        { code: 1005, reason: '', ownershipRelease: 'user_logout' },
      ]),
    ];
    // A webhook can only answer while its call is in flight (its invoked actor exists).
    if (snapshot.children.sessionWebhook) {
      events.push(
        { type: 'xstate.done.actor.sessionWebhook', output: WEBHOOK_OK, actorId: 'sessionWebhook' },
        { type: 'xstate.error.actor.sessionWebhook', error: TRANSIENT, actorId: 'sessionWebhook' },
        { type: 'xstate.error.actor.sessionWebhook', error: PERMANENT, actorId: 'sessionWebhook' },
      );
    }
    if (snapshot.children.stopWebhook) {
      events.push(
        { type: 'xstate.done.actor.stopWebhook', output: WEBHOOK_OK, actorId: 'stopWebhook' },
        { type: 'xstate.error.actor.stopWebhook', error: TRANSIENT, actorId: 'stopWebhook' },
      );
    }
    if (ctx.gen >= 1) events.push({ type: 'app.connected', gen: 'older' });
    return events;
  };
}

function appReplayer(
  provide: (links: Links) => AnyStateMachine,
  makeInput: (clock: { now(): number }) => AppSessionInput,
  pending: FakeWebhook[],
) {
  const replayer = replayerFor(provide, makeInput, (_replayer, event) => {
    const webhook = /^xstate\.(done|error)\.actor\.(sessionWebhook|stopWebhook)$/.exec(event.type);
    if (!webhook) return false;
    const kind = webhook[2] === 'sessionWebhook' ? 'session_request' : 'stop_request';
    const call = pending.filter((p) => !p.settled && p.input.type === kind).at(-1);
    if (!call) throw new Error(`no ${kind} in flight for ${event.type}`);
    if (webhook[1] === 'done') call.resolve((event as unknown as { output: AppWebhookOutput }).output);
    else call.reject((event as unknown as { error: AppWebhookFailure }).error);
    return settle().then(() => true as const);
  });
  return (taken: Set<string>): Replayer => {
    // Replays run one after another; each starts with no webhook in flight.
    pending.length = 0;
    return replayer(taken);
  };
}

describe('appSession: model-based coverage', () => {
  it('reaches every state and takes every transition of the machine on a real actor', async () => {
    const pending: FakeWebhook[] = [];
    const webhook = fakeWebhook(pending);
    const makeInput = (clock: { now(): number }): AppSessionInput => ({
      userId: 'user',
      packageName: 'com.example.a',
      config,
      now: () => clock.now(),
      random: seededRandom(11),
    });
    // Time moves on between any two readings, as it does between two failures of a real start
    // (a backoff lies between them): with appPatienceMs 1 the second failure exhausts patience.
    let tick = 0;
    const { paths, taken, visited } = await exercise({
      machine: appSessionMachine,
      input: makeInput({ now: () => tick++ }),
      events: appEvents(appSessionMachine),
      // The generation is relative in model events, so it is abstracted away here.
      serialize: (s) => {
        const ctx = s.context as AppSessionContext;
        return JSON.stringify([
          s.value,
          Math.min(ctx.webhookAttempts, 2),
          ctx.patienceDeadline !== null,
          hasRetiringLinks(s),
          ctx.extensions.length > 0,
          ctx.webhookPending,
          ctx.confirmed,
          s.status,
        ]);
      },
      replayer: appReplayer(
        (links) => appSessionMachine.provide({ actors: { socketLink: links, appWebhook: webhook } }),
        makeInput,
        pending,
      ),
    });
    expect(paths.length).toBeGreaterThan(10);
    expectFullCoverage(appSessionMachine, taken, visited);
  });
});

// ---------------------------------------------------------------------------------------------
// userSession

const A = 'com.example.a';
const B = 'com.example.b';
const USER = 'user';

/**
 * Stands in for `appSession` under `userSession`: the parent's contract with its children is
 * only "spawn with input, send events, receive their end", and the model decides how they end.
 */
const stubAppSession = setup({
  types: {
    input: {} as AppSessionInput,
    context: {} as { packageName: string; output: AppSessionOutput | null },
    events: {} as { type: 'stub.finish'; output: AppSessionOutput } | { type: 'stub.crash' },
    output: {} as AppSessionOutput,
  },
  actions: {
    crash: () => {
      throw new Error('app session crashed');
    },
  },
}).createMachine({
  context: ({ input }) => ({ packageName: input.packageName, output: null }),
  initial: 'live',
  states: {
    live: {
      on: {
        'stub.finish': { target: 'ended', actions: assign({ output: ({ event }) => event.output }) },
        'stub.crash': { actions: 'crash' },
      },
    },
    ended: { type: 'final' },
  },
  output: ({ context }) => context.output!,
});

function ending(pkg: string, outcome: AppSessionOutput['outcome'], error: AppSessionOutput['error'] = null): AppSessionOutput {
  return { packageName: pkg, sessionId: `${USER}-${pkg}`, outcome, error };
}

function userEvents(machine: AnyStateMachine) {
  const delayed = armedDelayedEvents(machine);
  return (snapshot: MachineSnapshotLike): ModelEvent[] => {
    const ctx = snapshot.context as UserSessionContext;
    const events: ModelEvent[] = [
      { type: 'glasses.connected', gen: 'newer' },
      { type: 'glasses.connected', gen: 'newer', runningApps: [B] },
      { type: 'glasses.connected', gen: 'older' },
      { type: 'app.startRequested', packageName: A },
      { type: 'app.startRequested', packageName: B },
      { type: 'app.stopRequested', packageName: A },
      { type: 'app.stopRequested', packageName: B },
      { type: 'appServer.restarted', packageName: A, correlationId: 'recovery:r1:user-a' },
      { type: 'appServer.restarted', packageName: B },
      { type: 'appServer.reachable', packageName: A },
      { type: 'session.restored' },
      ...delayed(snapshot),
      ...linkEndings(snapshot, GLASSES_LINK_ID, [
        { code: CloseCode.ABNORMAL, reason: '', ownershipRelease: null },
        { code: CloseCode.NORMAL, reason: '', ownershipRelease: null },
      ]),
    ];
    for (const pkg of Object.keys(ctx.apps)) {
      const id = appChildId(pkg);
      events.push(
        { type: `xstate.done.actor.${id}`, output: ending(pkg, 'stopped'), actorId: id },
        { type: `xstate.done.actor.${id}`, output: ending(pkg, 'ended'), actorId: id },
        { type: `xstate.done.actor.${id}`, output: ending(pkg, 'loggedOut'), actorId: id },
        { type: 'app.standing', packageName: pkg, reconnecting: true },
        { type: 'app.standing', packageName: pkg, reconnecting: false },
        {
          type: `xstate.done.actor.${id}`,
          output: ending(pkg, 'failed', { code: 'WEBHOOK_FAILED', category: 'connection', message: '500', permanent: false }),
          actorId: id,
        },
        {
          type: `xstate.done.actor.${id}`,
          output: ending(pkg, 'failed', { code: 'UNKNOWN_PACKAGE', category: 'auth', message: 'deleted', permanent: true }),
          actorId: id,
        },
        { type: `xstate.error.actor.${id}`, error: new Error('app session crashed'), actorId: id },
      );
    }
    return events;
  };
}

function userReplayer(provide: (links: Links) => AnyStateMachine, makeInput: (clock: SimulatedClock) => UserSessionInput) {
  return replayerFor(provide, makeInput, ({ actor }, event) => {
    const actorId = (event as { actorId?: unknown }).actorId;
    const pkg = typeof actorId === 'string' ? packageOfAppChild(actorId) : undefined;
    if (pkg === undefined) return false;
    const child = actor.system.get(appSessionSystemId(USER, pkg));
    if (!child) throw new Error(`no app session for ${pkg}`);
    child.send(
      event.type.startsWith('xstate.done.actor.')
        ? { type: 'stub.finish', output: (event as unknown as { output: AppSessionOutput }).output }
        : { type: 'stub.crash' },
    );
    return true;
  });
}

describe('userSession: model-based coverage', () => {
  it('reaches every state and takes every transition of the machine on a real actor', async () => {
    const model = userSessionMachine.provide({ actors: { appSession: stubAppSession as never } });
    const makeInput = (clock: { now(): number }): UserSessionInput => ({
      userId: USER,
      gen: 1,
      persistedApps: [A],
      config,
      now: () => clock.now(),
      random: seededRandom(3),
    });
    const { paths, taken, visited } = await exercise({
      machine: model,
      input: makeInput({ now: () => 0 }),
      events: userEvents(model),
      serialize: (s) => {
        const ctx = s.context as UserSessionContext;
        return JSON.stringify([s.value, ctx.desiredApps, ctx.apps, hasRetiringLinks(s), s.status]);
      },
      replayer: userReplayer(
        (links) => userSessionMachine.provide({ actors: { socketLink: links, appSession: stubAppSession as never } }),
        makeInput,
      ),
    });
    expect(paths.length).toBeGreaterThan(10);
    expectFullCoverage(userSessionMachine, taken, visited);
  });
});
