/**
 * Model-based test: @xstate/graph explores the machine's reachable states, every event is
 * tried from every state, and each resulting path is replayed on a real actor. The transitions
 * the actors actually took must be every transition the machine defines.
 */
import { getShortestPaths } from '@xstate/graph';
import { createActor, fromCallback, SimulatedClock, type AnyStateNode } from 'xstate';
import { describe, expect, it } from 'vitest';
import { appConnectionMachine, type AppConnectionEvent } from '../../machines/appConnection.js';
import type { AppSocketCommand, AppSocketInput } from '../../machines/ports.js';
import { testConfig } from '../support/appConnectionHarness.js';
import { allStateNodes, allTransitions, delayedEventTypes, transitionsTaken } from '../support/modelCoverage.js';

const input = { config: { ...testConfig, maxReconnectAttempts: 2 }, random: () => 0.5 };
const machine = appConnectionMachine.provide({
  actors: { appSocket: fromCallback<AppSocketCommand, AppSocketInput>(() => () => {}) },
});

type Snapshot = ReturnType<typeof machine.transition>;

function eventsFor(snapshot: Snapshot): AppConnectionEvent[] {
  const gen = snapshot.context.gen;
  return [
    { type: 'connect.requested', sessionId: 'user-com.example.test' },
    { type: 'disconnect.requested' },
    { type: 'subscriptions.changed', subscriptions: ['button_press'] },
    { type: 'send.requested', message: { type: 'custom' } },
    { type: 'socket.opened', gen },
    { type: 'ack.received', gen, ack: { type: 'tpa_connection_ack' } },
    { type: 'socket.alive', gen },
    { type: 'socket.closed', gen, code: 1000, reason: '', wasClean: true },
    { type: 'socket.closed', gen, code: 1008, reason: '', wasClean: true },
    { type: 'socket.closed', gen, code: 1006, reason: '', wasClean: false },
    { type: 'connectionError.received', gen, code: 'INVALID_API_KEY', message: 'refused' },
    { type: 'connectionError.received', gen, code: 'INTERNAL_ERROR', message: 'busy' },
    ...delayedEventTypes(machine).map((type) => ({ type }) as unknown as AppConnectionEvent),
  ];
}

describe('appConnection: model-based coverage', () => {
  it('covers every state and every transition of the machine', () => {
    const serializeState = (s: Snapshot) => JSON.stringify([s.value, s.context.attempt, s.context.everOpened]);
    const reachable = getShortestPaths(machine, { input, events: eventsFor, serializeState });

    const taken = new Set<unknown>();
    const statesSeen = new Set<AnyStateNode>();
    for (const path of reachable) {
      for (const event of eventsFor(path.state)) {
        const actor = createActor(machine, {
          input,
          clock: new SimulatedClock(),
          inspect: transitionsTaken(taken),
        });
        actor.start();
        // The first step is the initial `xstate.init`, which the started actor has already taken.
        for (const step of path.steps.slice(1)) actor.send(step.event);
        // A final state takes no more events; XState would only warn.
        if (actor.getSnapshot().status === 'active') actor.send(event);
        for (const node of actor.getSnapshot()._nodes) statesSeen.add(node);
        actor.stop();
      }
    }

    const defined = allTransitions(machine);
    const missing = defined.filter((t) => !taken.has(t)).map((t) => `${t.source.id} on ${t.eventType}`);
    expect(missing).toEqual([]);
    expect(taken.size).toBe(defined.length);
    expect(statesSeen.size).toBe(allStateNodes(machine).length);
  });
});
