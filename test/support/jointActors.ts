/**
 * The two actors of the joint model (test/support/jointSystem.ts) as pure, memoized step
 * functions over their persisted snapshots: `(snapshot, input, view of the sockets) →
 * (snapshot, view, frames written)`. Each step restores the real actor from its snapshot
 * (`createActor({ snapshot })`), gives it one event, and persists it again; the I/O doubles
 * read and write only the view handed in, so the result depends on nothing else and is
 * computed once per distinct argument. That is what makes exhaustive exploration affordable:
 * one actor's state recurs in thousands of global states, and an XState restore and
 * macrostep costs about a hundred microseconds.
 *
 * The doubles do what the runtime's adapters do, on the view: the SDK's socket actor as
 * `src/sdk/appSocket.ts` (frames written only while open, `close()` of a socket still
 * connecting abandons it, released → closed 1000), the cloud's links as
 * `src/cloud/link/socketAdapter.ts` (attach by generation, ack on accept, close with the
 * link's code, terminate). Pings are not modelled (see jointSystem.ts). A webhook call is
 * synchronous actor logic whose outcome the explorer sends it.
 */
import { createActor, fromCallback, SimulatedClock, type ActorLogic, type AnyActorRef, type AnyStateMachine, type Snapshot } from 'xstate';
import type { appConnectionMachine, AppConnectionConfig } from '../../machines/appConnection.js';
import type { appSessionMachine, AppSessionInput } from '../../machines/appSession.js';
import { CloseCode } from '../../machines/policy/closePolicy.js';
import { defaultSessionConfig } from '../../machines/policy/sessionConfig.js';
import type { AppSocketCommand, AppSocketInput } from '../../machines/ports.js';
import type { appWebhookPort, AppWebhookInput, AppWebhookOutput } from '../../machines/sessionPorts.js';
import { isRetiringLinkId, retiringLinkId } from '../../machines/sessionIds.js';
import { socketLinkMachine } from '../../machines/socketLink.js';
import { allStateNodes } from './modelCoverage.js';
import { testConfig } from './appConnectionHarness.js';

/** A frame in flight. `fin` is the TCP end of a terminated socket: the peer sees 1006. */
export type Frame =
  | { t: 'init' }
  | { t: 'ack' }
  | { t: 'error'; code: string }
  | { t: 'close'; code: number; reason: string }
  | { t: 'fin' };

/** The SDK's end of one socket. */
export interface ClientEnd {
  client: 'connecting' | 'open' | 'closing' | 'closed';
  /** The SDK's socket actor still listens (it has not been released). */
  attached: boolean;
}

/** The cloud's end of one authenticated socket. */
export interface ServerEnd {
  server: 'open' | 'closing' | 'closed';
  /** The link it is attached to, `<child id>#<gen>`, or null. */
  holder: string | null;
}

/**
 * An actor's state, interned: the number of one persisted snapshot (canonical JSON), or of
 * `ended[:<outcome>]` once the actor has ended. Global states and memo keys stay short.
 */
export type ActorState = number;

type Value = string | { [region: string]: Value };

/** A persisted snapshot, read-only, as the explorer reads it. */
export interface ParsedActor {
  value: Value;
  context: Record<string, unknown>;
  children: Record<string, { src: string; snapshot: { status: string; value?: Value; context?: Record<string, unknown> } & Partial<WebhookSnapshot> }>;
}

const texts: string[] = [];
const ids = new Map<string, ActorState>();
const reads: (ParsedActor | null | undefined)[] = [];

function intern(text: string): ActorState {
  let id = ids.get(text);
  if (id === undefined) {
    id = texts.length;
    texts.push(text);
    ids.set(text, id);
  }
  return id;
}

/** The persisted snapshot of a state, read-only; null once the actor has ended. */
export function readActor(state: ActorState): ParsedActor | null {
  let found = reads[state];
  if (found === undefined) {
    const text = texts[state]!;
    found = text.startsWith('ended') ? null : (JSON.parse(text) as ParsedActor);
    reads[state] = found;
  }
  return found;
}

/** How an ended actor ended (the cloud session's `outcome`), or undefined while it runs. */
export function outcomeOf(state: ActorState): string | undefined {
  const text = texts[state]!;
  return text.startsWith('ended') ? text.slice('ended:'.length) : undefined;
}

/** What one SDK step did: its new state, its sockets' ends (a new one: a dial), frames written. */
export interface SdkResult {
  state: ActorState;
  ends: Record<number, ClientEnd>;
  writes: [sdkGen: number, frame: Frame][];
}

/** What one cloud step did: its new state, its sockets' ends and the frames written. */
export interface CloudResult {
  state: ActorState;
  ends: Record<number, ServerEnd>;
  writes: [cloudGen: number, frame: Frame][];
}

/** An input to the cloud: an event for the session, or for one of its children. */
export type CloudInput =
  | { to: 'session'; event: { type: string; [key: string]: unknown } }
  | { to: string; event: { type: string; [key: string]: unknown }; silent?: boolean };

/** The explorer's events for a webhook call. */
export type WebhookEvent =
  | { type: 'webhook.reached' }
  | { type: 'webhook.answered' }
  | { type: 'webhook.failed'; permanent: boolean }
  | { type: 'xstate.stop' };

/** A webhook call as its snapshot persists it: whether it reached the app server yet. */
export type WebhookSnapshot = Snapshot<AppWebhookOutput> & { input: AppWebhookInput; reached: boolean };

/**
 * A webhook call whose outcome the explorer picks. Synchronous rather than a promise, so its
 * result lands within the step and its state is part of the persisted snapshot.
 */
const modelWebhook: ActorLogic<WebhookSnapshot, WebhookEvent, AppWebhookInput> = {
  getInitialSnapshot: (_scope, input) => ({ status: 'active', output: undefined, error: undefined, input, reached: false }),
  transition: (snapshot, event) => {
    if (snapshot.status !== 'active') return snapshot;
    switch (event.type) {
      case 'webhook.reached':
        return { ...snapshot, reached: true };
      case 'webhook.answered':
        return { ...snapshot, status: 'done', output: { status: 200 } };
      case 'webhook.failed': {
        // The shape of the real client's rejections (src/cloud/webhookClient.ts).
        const error = Object.assign(new Error('webhook failed'), {
          code: event.permanent ? 'APP_NOT_FOUND' : 'WEBHOOK_FAILED',
          permanent: event.permanent,
        });
        return { ...snapshot, status: 'error', error };
      }
      default:
        // `xstate.stop`, when the machine leaves the state that invoked the call.
        return snapshot;
    }
  },
  getPersistedSnapshot: (snapshot) => snapshot,
  restoreSnapshot: (snapshot) => snapshot as WebhookSnapshot,
};

/** For each state node id of `machine`, the `xstate.after.*` events its timers raise. */
function timersByNode(machine: AnyStateMachine): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const node of allStateNodes(machine)) {
    // A delay with guarded branches is one timer.
    const types = [...new Set(node.after.map((t: { eventType: string }) => t.eventType))];
    if (types.length > 0) map.set(node.id, types);
  }
  return map;
}

type Persisted = { status: string; context: Record<string, unknown>; children: Record<string, unknown> };

/**
 * Persists an actor as canonical JSON: configuration and functions left out (put back on
 * restore), children sorted, and the fields `irrelevant` names reset — they only feed
 * emitted payloads, logs or delays, so states that differ in them behave alike.
 */
function persist(
  actor: AnyActorRef,
  irrelevant: Record<string, unknown>,
  child: (snapshot: Record<string, unknown>) => Record<string, unknown> = (snapshot) => snapshot,
): ActorState {
  const snapshot = actor.getPersistedSnapshot() as unknown as Persisted & { output?: { outcome?: string } };
  if (snapshot.status !== 'active') return intern(snapshot.output?.outcome ? `ended:${snapshot.output.outcome}` : 'ended');
  const { config: _config, random: _random, now: _now, ...context } = snapshot.context;
  const children: Record<string, unknown> = {};
  for (const key of Object.keys(snapshot.children).sort()) {
    const c = snapshot.children[key] as { snapshot: Record<string, unknown> };
    children[key] = { ...c, snapshot: child(c.snapshot) };
  }
  return intern(JSON.stringify({ ...snapshot, context: { ...context, ...irrelevant }, children }));
}

const renamed = new Map<string, ActorState>();

/**
 * The SDK's state with its socket generation renamed to `gen`. The machine only compares
 * generations for equality and counts up from the current one, so a state and its renaming
 * behave alike (with the socket facts renamed too); the explorer keeps generations small.
 */
export function withSdkGen(state: ActorState, gen: number): ActorState {
  const key = `${state}|${gen}`;
  let found = renamed.get(key);
  if (found === undefined) {
    const persisted = JSON.parse(texts[state]!) as Persisted & { children: { socket?: { snapshot: { input: AppSocketInput } } } };
    persisted.context.gen = gen;
    if (persisted.children.socket) persisted.children.socket.snapshot.input.gen = gen;
    found = intern(JSON.stringify(persisted));
    renamed.set(key, found);
  }
  return found;
}

const reranked = new Map<string, ActorState>();

/**
 * The cloud session's state with its socket generations renamed by `rename` (old → new,
 * order-preserving): its adopted generation, its links' generations and the retiring links'
 * ids, which name the generation they close. The machine only compares generations with one
 * another and with newer ones, so an order-preserving renaming behaves alike.
 */
export function withCloudGens(state: ActorState, rename: Map<number, number>): ActorState {
  const key = `${state}|${[...rename].join(';')}`;
  let found = reranked.get(key);
  if (found === undefined) {
    const persisted = JSON.parse(texts[state]!) as Persisted & { children: Record<string, { snapshot: { context?: { gen?: number } } }> };
    const to = (gen: number) => rename.get(gen) ?? gen;
    if (typeof persisted.context.gen === 'number' && persisted.context.gen > 0) persisted.context.gen = to(persisted.context.gen);
    const children: typeof persisted.children = {};
    for (const [id, child] of Object.entries(persisted.children)) {
      const gen = child.snapshot.context?.gen;
      if (typeof gen !== 'number') {
        children[id] = child;
        continue;
      }
      child.snapshot.context!.gen = to(gen);
      children[isRetiringLinkId(id) ? retiringLinkId(to(gen)) : id] = child;
    }
    const sorted: typeof children = {};
    for (const id of Object.keys(children).sort()) sorted[id] = children[id]!;
    found = intern(JSON.stringify({ ...persisted, children: sorted }));
    reranked.set(key, found);
  }
  return found;
}

/** Restores and starts an actor, collecting any error it ends with. */
function restore(machine: AnyStateMachine, state: ActorState, revive: Record<string, unknown>, errors: unknown[]): AnyActorRef {
  const persisted = JSON.parse(texts[state]!) as Persisted;
  const snapshot = { ...persisted, context: { ...persisted.context, ...revive } };
  return watch(createActor(machine, { snapshot: snapshot as never, clock: new SimulatedClock() }), errors);
}

function watch(actor: AnyActorRef, errors: unknown[]): AnyActorRef {
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  return actor;
}

function fail(errors: unknown[]): void {
  if (errors.length > 0) throw new Error('an actor failed during a model step', { cause: errors[0] });
}

/** Fixed inputs of the two actors; only counts matter, the clock never moves. */
const sdkConfig: AppConnectionConfig = {
  ...testConfig,
  url: 'ws://model/app-ws',
  packageName: 'com.example.model',
  maxReconnectAttempts: 2,
};
const sdkRandom = () => 0.5;
/** What the last failure was and how the session ended feed only its `disconnected` payload; the retry delay only a timer. */
const SDK_IRRELEVANT = { lastFailure: null, ending: null, retryDelayMs: 0, ack: null };

/**
 * The SDK's `appConnection` (a variant of it) as a memoized step function. `ends` is the view
 * of the sockets of this SDK session, by its generation; a socket the machine spawns appears
 * in the result as `connecting`.
 */
export function sdkActor(machine: typeof appConnectionMachine) {
  let io: { ends: Record<number, ClientEnd>; writes: [number, Frame][] } | null = null;
  const current = () => {
    if (!io) throw new Error('the SDK socket double ran outside a step');
    return io;
  };
  const closeClient = (gen: number, code: number, reason: string) => {
    const end = current().ends[gen]!;
    if (end.client === 'connecting') {
      end.client = 'closed';
      current().writes.push([gen, { t: 'fin' }]);
    } else if (end.client === 'open') {
      end.client = 'closing';
      current().writes.push([gen, { t: 'close', code, reason }]);
    }
  };
  const socket = fromCallback<AppSocketCommand, AppSocketInput>(({ input, receive }) => {
    const { gen } = input;
    // A restored actor runs its callback again, for a socket the view already has.
    current().ends[gen] ??= { client: 'connecting', attached: true };
    receive((command) => {
      const end = current().ends[gen]!;
      switch (command.type) {
        case 'socket.send':
          // Only the handshake is modelled; other frames change neither machine's state.
          if (end.client === 'open' && command.message.type === 'tpa_connection_init') current().writes.push([gen, { t: 'init' }]);
          break;
        case 'socket.close':
          closeClient(gen, command.code, command.reason);
          break;
        case 'socket.terminate':
          if (end.client !== 'closed') {
            end.client = 'closed';
            current().writes.push([gen, { t: 'fin' }]);
          }
          break;
        case 'socket.ping':
          break;
      }
    });
    return () => {
      current().ends[gen]!.attached = false;
      closeClient(gen, CloseCode.NORMAL, 'App disconnected');
    };
  });
  const provided = machine.provide({ actors: { appSocket: socket } });
  const memo = new Map<string, SdkResult>();

  /**
   * One step: `event` for the SDK session in `state`, or, with `create`, a new session
   * (number `instance`) that is asked to connect.
   */
  function step(state: ActorState | 'new', event: { type: string; [key: string]: unknown } | null, ends: Record<number, ClientEnd>): SdkResult {
    const key = `${state}|${JSON.stringify(event)}|${JSON.stringify(ends)}`;
    const known = memo.get(key);
    if (known) return known;
    const errors: unknown[] = [];
    io = { ends: structuredClone(ends), writes: [] };
    try {
      let actor: AnyActorRef;
      if (typeof state === 'number') {
        actor = restore(provided, state, { config: sdkConfig, random: sdkRandom }, errors);
        if (event) actor.send(event);
      } else {
        actor = watch(createActor(provided, { input: { config: sdkConfig, random: sdkRandom }, clock: new SimulatedClock() }), errors);
        actor.send({ type: 'connect.requested', sessionId: 'user-com.example.model' });
      }
      fail(errors);
      const result: SdkResult = { state: persist(actor, SDK_IRRELEVANT), ends: io.ends, writes: io.writes };
      memo.set(key, result);
      return result;
    } finally {
      io = null;
    }
  }

  return { step, timers: timersByNode(machine) };
}

/** The cloud's inputs: short figures are irrelevant, counts matter. */
const cloudInput: AppSessionInput = {
  userId: 'user',
  packageName: 'com.example.model',
  // Two webhook calls per start keep the state space small. Merged rather than spelled as a
  // literal: a machine whose retries are patient rather than counted ignores the setting.
  config: Object.assign({}, defaultSessionConfig, { webhookMaxAttempts: 2 }),
  now: () => 0,
  random: () => 0.5,
};

/** The last error feeds only the output's `error`; the retry delay and the deadline only timers. */
const CLOUD_IRRELEVANT = { lastError: null, retryDelayMs: 0, resurrectionDeadline: null };

/** A webhook call's attempt number only names it in logs. */
function withoutAttempt(snapshot: Record<string, unknown>): Record<string, unknown> {
  const input = snapshot.input as Record<string, unknown> | undefined;
  return input && 'attempt' in input ? { ...snapshot, input: { ...input, attempt: 0 } } : snapshot;
}

/**
 * The cloud's `appSession` (a variant of it) as a memoized step function. `ends` is the view
 * of every authenticated socket, by the generation the cloud gave it.
 */
export function cloudActor(machine: typeof appSessionMachine) {
  let io: { ends: Record<number, ServerEnd>; writes: [number, Frame][]; silent: boolean } | null = null;
  const current = () => {
    if (!io) throw new Error('a cloud I/O double ran outside a step');
    return io;
  };
  const links = socketLinkMachine.provide({
    guards: {
      isSilent: () => current().silent,
      isCongested: () => false,
    },
    actions: {
      attachSocket: ({ context, self }) => {
        const end = current().ends[context.gen];
        if (!end || end.server === 'closed') {
          self.send({ type: 'socket.closed', gen: context.gen, code: CloseCode.ABNORMAL, reason: '' });
          return;
        }
        end.holder = `${self.id}#${context.gen}`;
      },
      detachSocket: ({ context, self }) => {
        const end = current().ends[context.gen];
        if (end?.holder === `${self.id}#${context.gen}`) end.holder = null;
      },
      acceptSocket: ({ context }) => {
        if (current().ends[context.gen]?.server === 'open') current().writes.push([context.gen, { t: 'ack' }]);
      },
      pingSocket: () => {},
      terminateSocket: ({ context }) => {
        const end = current().ends[context.gen];
        if (end && end.server !== 'closed') {
          end.server = 'closed';
          current().writes.push([context.gen, { t: 'fin' }]);
        }
      },
      closeCongestedSocket: () => {},
      closeSocket: ({ context }) => {
        const end = current().ends[context.gen];
        if (end?.server === 'open') {
          end.server = 'closing';
          current().writes.push([context.gen, { t: 'close', code: context.closeCode, reason: context.closeReason }]);
        }
      },
      writeMessage: () => {},
    },
  });
  const provided = machine.provide({
    actors: { socketLink: links, appWebhook: modelWebhook as unknown as typeof appWebhookPort },
  });
  const revive = { config: cloudInput.config, now: cloudInput.now, random: cloudInput.random };
  const memo = new Map<string, CloudResult>();

  /** The session's first state: created, its first webhook call in flight. */
  function initial(): ActorState {
    const errors: unknown[] = [];
    io = { ends: {}, writes: [], silent: false };
    try {
      const actor = watch(createActor(provided, { input: cloudInput, clock: new SimulatedClock() }), errors);
      fail(errors);
      return persist(actor, CLOUD_IRRELEVANT, withoutAttempt);
    } finally {
      io = null;
    }
  }

  /** One step: `input` for the session in `state`, with `ends` its view of the sockets. */
  function step(state: ActorState, input: CloudInput, ends: Record<number, ServerEnd>): CloudResult {
    const key = `${state}|${JSON.stringify(input)}|${JSON.stringify(ends)}`;
    const known = memo.get(key);
    if (known) return known;
    const errors: unknown[] = [];
    io = { ends: structuredClone(ends), writes: [], silent: 'silent' in input && input.silent === true };
    try {
      const actor = restore(provided, state, revive, errors);
      if (input.to === 'session') actor.send(input.event);
      else {
        const child = (actor.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children[input.to];
        if (!child) throw new Error(`the cloud session has no child ${input.to}`);
        child.send(input.event);
      }
      fail(errors);
      const result: CloudResult = { state: persist(actor, CLOUD_IRRELEVANT, withoutAttempt), ends: io.ends, writes: io.writes };
      memo.set(key, result);
      return result;
    } finally {
      io = null;
    }
  }

  return { initial, step, timers: timersByNode(machine), linkTimers: timersByNode(socketLinkMachine) };
}
