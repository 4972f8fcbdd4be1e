/**
 * Model-based test of `socketLink`: @xstate/graph explores the machine's reachable states for
 * each role, every event is tried from every state, and each resulting path is replayed on a
 * real actor with a simulated clock — a heartbeat tick by advancing the clock to it, with the
 * socket last heard from as long ago as the model event says. The transitions the actors took
 * must be every transition the machine defines, and every state node must be visited.
 */
import { getShortestPaths } from '@xstate/graph';
import { createActor, SimulatedClock, transition, type AnyActorRef, type AnyStateNode } from 'xstate';
import { describe, expect, it } from 'vitest';
import { CloseCode, CloseReason } from '../../machines/policy/closePolicy.js';
import { socketLinkMachine, type SocketLinkEvent, type SocketLinkInput } from '../../machines/socketLink.js';
import { allStateNodes, allTransitions, delayedEventTypes, transitionsTaken } from '../support/modelCoverage.js';
import { advanceTo } from '../support/sessionMachineHarness.js';

const INTERVAL_MS = 15_000;
const TIMEOUT_MS = 45_000;
const GEN = 3;
const inputs: SocketLinkInput[] = [
  { kind: 'glasses', gen: GEN, role: 'adopted', heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS },
  {
    kind: 'app',
    gen: GEN,
    role: 'retiring',
    closeCode: CloseCode.NORMAL,
    closeReason: CloseReason.APP_STOPPED,
    heartbeatIntervalMs: INTERVAL_MS,
    heartbeatTimeoutMs: TIMEOUT_MS,
  },
];

/** The heartbeat tick: the link's one delayed event. */
const [TICK] = delayedEventTypes(socketLinkMachine) as [string];
/** A tick, with how long the socket has been silent when it fires (ms) and whether its writes are stuck. */
type Tick = { type: typeof TICK; silentMs: number; congested?: boolean };
type ModelEvent = SocketLinkEvent | Tick;

const noIo = {
  attachSocket: () => {},
  detachSocket: () => {},
  acceptSocket: () => {},
  pingSocket: () => {},
  terminateSocket: () => {},
  closeSocket: () => {},
  closeCongestedSocket: () => {},
  writeMessage: () => {},
};

/** The model: the silence each tick reads is the one its event carries. */
const model = socketLinkMachine.provide({
  actions: noIo,
  guards: {
    isSilent: ({ event }) => ((event as Partial<Tick>).silentMs ?? 0) >= TIMEOUT_MS,
    isCongested: ({ event }) => (event as Partial<Tick>).congested === true,
  },
});

/** The wire the real actors measure silence on; each replay starts a fresh one. */
const wire = { clock: new SimulatedClock(), heardAt: 0, congested: false };
const machine = socketLinkMachine.provide({
  actions: noIo,
  guards: {
    isSilent: ({ context }) => wire.clock.now() - wire.heardAt >= context.heartbeatTimeoutMs,
    isCongested: () => wire.congested,
  },
});

type Snapshot = ReturnType<typeof model.transition>;

function eventsFor(snapshot: Snapshot): ModelEvent[] {
  const events: ModelEvent[] = [
    { type: 'socket.closed', gen: GEN, code: CloseCode.NORMAL, reason: 'bye' },
    { type: 'socket.closed', gen: GEN, code: 1005, reason: '', ownershipRelease: 'switching_clouds' },
    { type: 'socket.closed', gen: GEN, code: CloseCode.ABNORMAL, reason: '' },
    { type: 'socket.closed', gen: GEN + 1, code: CloseCode.ABNORMAL, reason: '' },
    { type: 'link.send', message: { type: 'user_reconnected' } },
  ];
  // The tick's timer only runs while the link waits for it.
  if (snapshot.matches({ open: 'watching' })) {
    for (const silentMs of [0, TIMEOUT_MS - 1, TIMEOUT_MS, TIMEOUT_MS + INTERVAL_MS - 1]) {
      events.push({ type: TICK, silentMs });
    }
    events.push({ type: TICK, silentMs: 0, congested: true });
  }
  return events;
}

/**
 * Delivers `event` to the real actor. The clock moves only on ticks, each of which re-arms the
 * next one, so the next tick is always one interval away.
 */
function deliver(actor: AnyActorRef, event: ModelEvent): void {
  if (event.type === TICK) {
    const due = wire.clock.now() + INTERVAL_MS;
    wire.heardAt = due - (event as Tick).silentMs;
    wire.congested = (event as Tick).congested === true;
    advanceTo(wire.clock, due);
  } else {
    actor.send(event);
  }
}

/** Names a transition by its state, event and branch, for failure messages. */
function describeTransition(t: ReturnType<typeof allTransitions>[number]): string {
  // `eventType` of an untyped machine's transition is `any`; here it is the event's name.
  const eventType: string = t.eventType;
  const branches = (eventType ? t.source.transitions.get(eventType) : t.source.always) ?? [];
  return `${t.source.id} on ${eventType || '(always)'}${branches.length > 1 ? ` [${branches.indexOf(t)}]` : ''}`;
}

const observed = (s: { status: string; value: unknown; output?: unknown }) => [s.status, s.value, s.output];

describe('socketLink: model-based coverage', () => {
  it('covers every state and every transition of the machine on a real actor, for both roles', () => {
    const serializeState = (s: Snapshot) => JSON.stringify([s.value, s.status, s.output?.cause ?? null]);
    const taken = new Set<unknown>();
    const statesSeen = new Set<AnyStateNode>();

    for (const input of inputs) {
      const reachable = getShortestPaths(model, { input, events: eventsFor as never, serializeState });
      for (const path of reachable) {
        for (const event of eventsFor(path.state)) {
          wire.clock = new SimulatedClock();
          wire.heardAt = 0;
          wire.congested = false;
          const actor = createActor(machine, { input, clock: wire.clock, inspect: transitionsTaken(taken) });
          actor.start();
          // The first step is the initial `xstate.init`, which the started actor has already taken.
          for (const step of path.steps.slice(1)) deliver(actor, step.event);
          expect(observed(actor.getSnapshot())).toEqual(observed(path.state));
          // A final state takes no more events.
          if (actor.getSnapshot().status === 'active') {
            const [next] = transition(model, path.state, event as never);
            deliver(actor, event);
            expect(observed(actor.getSnapshot()), event.type).toEqual(observed(next));
          }
          for (const node of actor.getSnapshot()._nodes) statesSeen.add(node);
          actor.stop();
        }
      }
    }

    const defined = allTransitions(machine);
    const missing = defined.filter((t) => !taken.has(t)).map(describeTransition);
    expect(missing).toEqual([]);
    expect(taken.size).toBe(defined.length);
    // `starting` is left by an eventless transition within the step that entered
    // it, so no snapshot shows it: the transitions taken out of it show it was visited.
    for (const t of taken) statesSeen.add((t as (typeof defined)[number]).source);
    expect(allStateNodes(machine).filter((node) => !statesSeen.has(node)).map((node) => node.id)).toEqual([]);
    expect(statesSeen.size).toBe(allStateNodes(machine).length);
  });
});
