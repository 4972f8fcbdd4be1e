/**
 * Model-based tests of `userSession` and `appSession`: @xstate/graph explores each machine's
 * reachable states (under representative event payloads, delays modelled as their
 * `xstate.after.*` events), every event is tried from every reachable state, and each
 * resulting path is replayed on a real actor with a simulated clock — delays by advancing the
 * clock to the timer's due time, webhook results by settling the fake webhook, child endings
 * by ending the child. The transitions the real actors took must be exactly the transitions
 * the machine defines.
 */
import { getShortestPaths } from '@xstate/graph';
import {
  assign,
  createActor,
  fromCallback,
  initialTransition,
  setup,
  SimulatedClock,
  transition,
  type AnyActorRef,
  type AnyStateMachine,
  type AnyStateNode,
  type EventObject,
  type InspectionEvent,
  type TransitionDefinition,
} from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  appSessionMachine,
  type AppSessionContext,
  type AppSessionInput,
  type AppSessionOutput,
} from '../../machines/appSession.js';
import { defaultSessionConfig, type SessionConfig } from '../../machines/policy/sessionConfig.js';
import type {
  AppSessionSocketInput,
  AppWebhookFailure,
  AppWebhookOutput,
  GlassesSocketInput,
  SessionSocketCommand,
} from '../../machines/sessionPorts.js';
import {
  appChildId,
  appSessionSystemId,
  userSessionMachine,
  type UserSessionContext,
  type UserSessionInput,
} from '../../machines/userSession.js';
import { seededRandom } from '../support/seededRandom.js';
import { allStateNodes, allTransitions } from '../support/modelCoverage.js';
import { advanceTo, fakeWebhook, type FakeWebhook } from '../support/sessionMachineHarness.js';

type AnyTransition = TransitionDefinition<any, any>;
/** A model event: a type and any payload (socket generations may be relative, see `concrete`). */
type ModelEvent = EventObject & Record<string, unknown>;

interface MachineSnapshotLike {
  value: unknown;
  context: unknown;
  status: string;
  _nodes: AnyStateNode[];
}

// ---------------------------------------------------------------------------------------------
// What a machine defines

/** The `xstate.after.*` events whose timers are armed in `snapshot` (their state is active). */
function armedDelayedEvents(machine: AnyStateMachine) {
  const delayed = allStateNodes(machine).flatMap((node) =>
    node.after.map((t: { eventType: string }) => ({ node, type: t.eventType })),
  );
  return (snapshot: MachineSnapshotLike): EventObject[] =>
    delayed.filter(({ node }) => snapshot._nodes.includes(node)).map(({ type }) => ({ type }));
}

function describeTransition(machine: AnyStateMachine, t: AnyTransition): string {
  const branches = (t.source.transitions.get(t.eventType) as AnyTransition[] | undefined) ?? [];
  const index = branches.indexOf(t);
  return `${t.source.id} on ${t.eventType}${branches.length > 1 ? ` [${index}]` : ''}`;
}

/**
 * Socket generations in model events are relative, so that states the model treats as equal
 * (it abstracts the ever-growing `gen` away) also behave equally: `newer` is one above the
 * current socket, `older` one below every socket seen, `refused` a refused socket still closing.
 */
type GenRef = 'current' | 'newer' | 'older' | 'refused';

function concrete(event: EventObject, context: unknown): EventObject {
  const ref = (event as { gen?: unknown }).gen;
  if (typeof ref !== 'string') return event;
  const { gen, refusedGens } = context as { gen: number; refusedGens: readonly number[] };
  const resolved: Record<GenRef, number | undefined> = {
    current: gen,
    newer: gen + 1,
    older: Math.min(gen, ...refusedGens) - 1,
    refused: refusedGens[0],
  };
  return { ...event, gen: resolved[ref as GenRef] } as EventObject;
}

/**
 * The machine as pure logic for @xstate/graph. XState's own `transition()` gives each step a
 * fresh actor system, so the app sessions a step spawns (each with its `systemId`) never
 * collide with those of another branch of the exploration.
 */
function pureLogic<M extends AnyStateMachine>(machine: M, input: unknown) {
  return {
    // A real actor takes no events once it is done; XState's pure transition would.
    transition: (snapshot: unknown, event: EventObject) =>
      (snapshot as MachineSnapshotLike).status !== 'active'
        ? snapshot
        : transition(machine, snapshot as never, concrete(event, (snapshot as MachineSnapshotLike).context) as never)[0],
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
  /** Delivers `event` the way the real world would: timers, webhook answers, child endings. */
  deliver(event: EventObject): Promise<void>;
}

/**
 * Watches the root actor's inspection stream: which transitions it takes, and when each
 * delayed event it raises is due (so an `xstate.after.*` step becomes a clock advance).
 */
function watch(taken: Set<unknown>, due: Map<string, number>, clock: SimulatedClock) {
  let root: AnyActorRef | undefined;
  return {
    bind(actor: AnyActorRef) {
      root = actor;
    },
    inspect(event: InspectionEvent) {
      if (event.actorRef !== root) return;
      if (event.type === '@xstate.microstep') {
        for (const t of (event as unknown as { _transitions: AnyTransition[] })._transitions) taken.add(t);
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
type FakeDelivery = (actor: AnyActorRef, event: EventObject) => boolean | Promise<true>;

/**
 * Makes a fresh real actor for each replay: delayed events become clock advances to their due
 * time, the fakes' events go to `byFake`, the rest are sent to the actor.
 */
function replayerFor<I>(machine: AnyStateMachine, makeInput: (clock: SimulatedClock) => I, byFake: FakeDelivery) {
  return (taken: Set<unknown>): Replayer => {
    const clock = new SimulatedClock();
    const due = new Map<string, number>();
    const watcher = watch(taken, due, clock);
    const actor = createActor(machine, { input: makeInput(clock), clock, inspect: (e) => watcher.inspect(e) });
    watcher.bind(actor);
    actor.start();
    const replayer: Replayer = {
      actor,
      clock,
      async deliver(symbolic) {
        const event = concrete(symbolic, actor.getSnapshot().context);
        const delivered = byFake(actor, event);
        if (delivered !== false) {
          await delivered;
          return;
        }
        if (event.type.startsWith('xstate.after.')) return deliverDelay(replayer, due, event.type);
        actor.send(event as never);
      },
    };
    return replayer;
  };
}

interface ModelSpec {
  machine: AnyStateMachine;
  input: unknown;
  events: (snapshot: MachineSnapshotLike) => EventObject[];
  serialize: (snapshot: MachineSnapshotLike) => string;
  replayer: (taken: Set<unknown>) => Replayer;
}

const trail = (events: EventObject[]) => events.map((e) => e.type).join(' → ') || '(initial)';

/**
 * Explores the model, then replays every (shortest path to a state, event) pair on a real
 * actor, checking after every step that it is where the model is. Returns the transitions the
 * real actors took and the state nodes they visited.
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

  const taken = new Set<unknown>();
  const visited = new Set<AnyStateNode>();
  const step = logic.transition as unknown as (s: unknown, e: EventObject) => MachineSnapshotLike;

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
    for (const node of (replayer.actor.getSnapshot() as MachineSnapshotLike)._nodes) visited.add(node);
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

function expectFullCoverage(machine: AnyStateMachine, taken: Set<unknown>, visited: Set<AnyStateNode>) {
  const defined = allTransitions(machine);
  const missing = defined.filter((t) => !taken.has(t)).map((t) => describeTransition(machine, t));
  expect(missing).toEqual([]);
  const unknown = [...taken].filter((t) => !defined.includes(t as AnyTransition));
  expect(unknown).toEqual([]);
  const unvisited = allStateNodes(machine)
    .filter((node) => !visited.has(node))
    .map((node) => node.id);
  expect(unvisited).toEqual([]);
}

/** The inspector shows descriptions: every state node and every transition has one. */
function undescribed(machine: AnyStateMachine): string[] {
  return [
    ...allStateNodes(machine)
      .filter((node) => !node.description)
      .map((node) => `state ${node.id}`),
    ...allTransitions(machine)
      .filter((t) => !t.description)
      .map((t) => `transition ${describeTransition(machine, t)}`),
  ];
}

describe('session machines: descriptions', () => {
  it('describes every state and every transition', () => {
    expect(undescribed(appSessionMachine)).toEqual([]);
    expect(undescribed(userSessionMachine)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Fakes

const config: SessionConfig = { ...defaultSessionConfig, webhookMaxAttempts: 2 };

/** A socket that records nothing and never answers: liveness is whatever the model says. */
const silentSocket = <I>() => fromCallback<SessionSocketCommand, I>(() => () => {});

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
      { type: 'app.alive', gen: 'current' },
      { type: 'app.closed', gen: 'current', code: 1006, reason: '' },
      { type: 'app.closed', gen: 'current', code: 1000, reason: '' },
      { type: 'app.closed', gen: 'current', code: 1005, reason: '', ownershipReleased: true },
      { type: 'subscriptions.updated', gen: 'current', subscriptions: ['transcription:en-US'] },
      { type: 'appServer.restarted' },
      { type: 'appServer.restarted', correlationId: 'recovery:r1:user-com.example.a' },
      { type: 'app.stopRequested', reason: 'user_disabled' },
      { type: 'app.stopRequested', reason: 'session_ended' },
      { type: 'user.reconnected', disconnectedMs: 232, long: false },
      { type: 'session.restored' },
      ...delayed(snapshot),
    ];
    // A webhook can only answer while its call is in flight (its invoked actor exists).
    const children = (snapshot as unknown as { children: Record<string, unknown> }).children;
    if (children.sessionWebhook) {
      events.push(
        { type: 'xstate.done.actor.sessionWebhook', output: WEBHOOK_OK, actorId: 'sessionWebhook' },
        { type: 'xstate.error.actor.sessionWebhook', error: TRANSIENT, actorId: 'sessionWebhook' },
        { type: 'xstate.error.actor.sessionWebhook', error: PERMANENT, actorId: 'sessionWebhook' },
      );
    }
    if (children.stopWebhook) {
      events.push(
        { type: 'xstate.done.actor.stopWebhook', output: WEBHOOK_OK, actorId: 'stopWebhook' },
        { type: 'xstate.error.actor.stopWebhook', error: TRANSIENT, actorId: 'stopWebhook' },
      );
    }
    if (ctx.gen >= 1) events.push({ type: 'app.connected', gen: 'older' });
    if (ctx.refusedGens.length > 0) events.push({ type: 'app.closed', gen: 'refused', code: 1000, reason: '' });
    return events;
  };
}

function appReplayer(
  machine: AnyStateMachine,
  makeInput: (clock: { now(): number }) => AppSessionInput,
  pending: FakeWebhook[],
) {
  const replayer = replayerFor(machine, makeInput, (_actor, event) => {
    const webhook = /^xstate\.(done|error)\.actor\.(sessionWebhook|stopWebhook)$/.exec(event.type);
    if (!webhook) return false;
    const kind = webhook[2] === 'sessionWebhook' ? 'session_request' : 'stop_request';
    const call = pending.filter((p) => !p.settled && p.input.type === kind).at(-1);
    if (!call) throw new Error(`no ${kind} in flight for ${event.type}`);
    if (webhook[1] === 'done') call.resolve((event as unknown as { output: AppWebhookOutput }).output);
    else call.reject((event as unknown as { error: AppWebhookFailure }).error);
    return settle().then(() => true as const);
  });
  return (taken: Set<unknown>): Replayer => {
    // Replays run one after another; each starts with no webhook in flight.
    pending.length = 0;
    return replayer(taken);
  };
}

describe('appSession: model-based coverage', () => {
  it('reaches every state and takes every transition of the machine on a real actor', async () => {
    const pending: FakeWebhook[] = [];
    const machine = appSessionMachine.provide({
      actors: { appSocket: silentSocket<AppSessionSocketInput>(), appWebhook: fakeWebhook(pending) },
    });
    const makeInput = (clock: { now(): number }): AppSessionInput => ({
      userId: 'user',
      packageName: 'com.example.a',
      config,
      now: () => clock.now(),
      random: seededRandom(11),
    });
    const { paths, taken, visited } = await exercise({
      machine,
      input: makeInput({ now: () => 0 }),
      events: appEvents(machine),
      // The generation is relative in model events, so it is abstracted away here.
      serialize: (s) => {
        const ctx = s.context as AppSessionContext;
        return JSON.stringify([s.value, ctx.webhookAttempts, ctx.refusedGens.length > 0, ctx.extensions.length > 0, s.status]);
      },
      replayer: appReplayer(machine, makeInput, pending),
    });
    expect(paths.length).toBeGreaterThan(10);
    expectFullCoverage(machine, taken, visited);
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
      { type: 'glasses.alive', gen: 'current' },
      { type: 'glasses.closed', gen: 'current', code: 1006, reason: '' },
      { type: 'app.startRequested', packageName: A },
      { type: 'app.startRequested', packageName: B },
      { type: 'app.stopRequested', packageName: A },
      { type: 'app.stopRequested', packageName: B },
      { type: 'appServer.restarted', packageName: A, correlationId: 'recovery:r1:user-a' },
      { type: 'appServer.restarted', packageName: B },
      { type: 'session.restored' },
      ...delayed(snapshot),
    ];
    events.push({ type: 'glasses.connected', gen: 'older' });
    if (ctx.refusedGens.length > 0) events.push({ type: 'glasses.closed', gen: 'refused', code: 4003, reason: 'replaced' });
    for (const pkg of Object.keys(ctx.apps)) {
      const id = appChildId(pkg);
      events.push(
        { type: `xstate.done.actor.${id}`, output: ending(pkg, 'stopped'), actorId: id },
        { type: `xstate.done.actor.${id}`, output: ending(pkg, 'ended'), actorId: id },
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

function userReplayer(machine: AnyStateMachine, makeInput: (clock: SimulatedClock) => UserSessionInput) {
  return replayerFor(machine, makeInput, (actor, event) => {
    const ended = /^xstate\.(done|error)\.actor\.appSession\.(.+)$/.exec(event.type);
    if (!ended) return false;
    const child = actor.system.get(appSessionSystemId(USER, ended[2]!));
    if (!child) throw new Error(`no app session for ${ended[2]}`);
    child.send(
      ended[1] === 'done'
        ? { type: 'stub.finish', output: (event as unknown as { output: AppSessionOutput }).output }
        : { type: 'stub.crash' },
    );
    return true;
  });
}

describe('userSession: model-based coverage', () => {
  it('reaches every state and takes every transition of the machine on a real actor', async () => {
    const machine = userSessionMachine.provide({
      actors: { glassesSocket: silentSocket<GlassesSocketInput>(), appSession: stubAppSession as never },
    });
    const makeInput = (clock: { now(): number }): UserSessionInput => ({
      userId: USER,
      gen: 1,
      persistedApps: [A],
      config,
      now: () => clock.now(),
      random: seededRandom(3),
    });
    const { paths, taken, visited } = await exercise({
      machine,
      input: makeInput({ now: () => 0 }),
      events: userEvents(machine),
      serialize: (s) => {
        const ctx = s.context as UserSessionContext;
        return JSON.stringify([s.value, ctx.desiredApps, ctx.apps, ctx.refusedGens.length > 0, s.status]);
      },
      replayer: userReplayer(machine, makeInput),
    });
    expect(paths.length).toBeGreaterThan(10);
    expectFullCoverage(machine, taken, visited);
  });
});
