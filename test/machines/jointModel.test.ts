/**
 * Joint model check (issue 11, item 7): the SDK's `appConnection` and the cloud's
 * `appSession` — the real machines, restored from their persisted snapshots at every step —
 * composed over a network that delays, reorders, cuts (half-open sockets) and duplicates,
 * with every timer a step of its own (test/support/jointSystem.ts). Every reachable global
 * state is explored within a bound, and three properties are checked in all of them:
 *
 * - no dead end: every state that is not an accepted end (the cloud session ended, no SDK
 *   session running, no socket end left open) has a next step other than the user's stop;
 * - one live socket: never two different sockets that the cloud's adopted link holds or that
 *   an open SDK connection writes to;
 * - termination: from the moment a stop is requested, no run goes round a cycle and every run
 *   ends accepted, with the cloud session `stopped` and the SDK connection `closed`.
 *
 * Each bound is small on purpose: three connections let a reconnect race a stale socket; two
 * SDK sessions let the app server replace one, also on a webhook request that arrives after
 * the cloud stopped waiting for it; one duplicated frame tests every endpoint's handling of
 * repeats. A failure prints the shortest trace that leads to it.
 */
import { describe, expect, it } from 'vitest';
import { appConnectionMachine } from '../../machines/appConnection.js';
import { appSessionMachine } from '../../machines/appSession.js';
import { describeStep, jointSystem, type JointBounds, type JointMachines, type Step } from '../support/jointSystem.js';
import { explore, findNonTermination, findState, type StateGraph, type TraceFormat } from '../support/stateGraph.js';

/** Far above what any bound below reaches: a machine change that blows the state space up fails fast. */
const STATE_LIMIT = 100_000;
const REAL: JointMachines = { sdk: appConnectionMachine, cloud: appSessionMachine };
const WEBHOOK_ATTEMPTS = 4;

interface Model {
  system: ReturnType<typeof jointSystem>;
  graph: StateGraph<Step>;
  format: TraceFormat<Step>;
}

const explored = new Map<string, Model>();
/** The model of `machines` within `bounds`, explored once and shared by the tests that name it. */
function model(name: string, machines: JointMachines, bounds: JointBounds, stopAt?: (system: Model['system'], state: string) => boolean): Model {
  let found = explored.get(name);
  if (!found) {
    const system = jointSystem(machines, bounds);
    const graph = explore(system, STATE_LIMIT, stopAt && ((state) => stopAt(system, state)));
    found = { system, graph, format: { step: describeStep, state: system.describeState } };
    explored.set(name, found);
  }
  return found;
}

/** Fails with the trace as the message, so that it reads one step a line. */
function holds(violation: string | null): void {
  if (violation !== null) throw new Error(`\n${violation}`);
}

/** Why `state` has two live sockets, or null. */
function liveProblem(system: Model['system'], state: string): string | null {
  const { cloud, sdk } = system.liveSockets(state);
  const live = new Set([...cloud, ...sdk]);
  return live.size > 1 ? `two live sockets: the cloud holds s${cloud.join(', s')}, the SDK writes to s${sdk.join(', s')}` : null;
}

function twoLiveSockets({ system, graph, format }: Model): string | null {
  return findState(graph, (state) => liveProblem(system, state), format);
}

function deadEnd({ system, graph, format }: Model): string | null {
  return findState(
    graph,
    (state) => {
      if (system.truncated(state)) return null;
      const moves = graph.edges.get(state)!.filter((e) => e.step.type !== 'stop.requested');
      const why = moves.length === 0 ? system.notEnded(state) : null;
      return why && `a dead end: ${why}`;
    },
    format,
  );
}

function nonTermination({ system, graph, format }: Model): string | null {
  return findNonTermination(
    graph,
    system.stopRequested,
    (state) => {
      if (system.truncated(state)) return null;
      const outcome = system.cloudOutcome(state);
      return system.notEnded(state) ?? (outcome === 'stopped' ? null : `the cloud session ended ${outcome} after a stop`);
    },
    format,
  );
}

const bounds = {
  'three connections, one SDK session': { sockets: 3, instances: 1, duplicates: 0, webhookAttempts: WEBHOOK_ATTEMPTS, lateWebhooks: false },
  'two connections, two SDK sessions, late webhooks': { sockets: 2, instances: 2, duplicates: 0, webhookAttempts: WEBHOOK_ATTEMPTS, lateWebhooks: true },
  'two connections, one duplicated frame': { sockets: 2, instances: 1, duplicates: 1, webhookAttempts: WEBHOOK_ATTEMPTS, lateWebhooks: false },
} satisfies Record<string, JointBounds>;
const duplicated = 'two connections, one duplicated frame';
const reconnects = 'three connections, one SDK session';

describe('appConnection × appSession over a network that delays, reorders, cuts and duplicates', () => {
  for (const [name, bound] of Object.entries(bounds)) {
    describe(name, () => {
      const get = () => model(name, REAL, bound);

      it('explores every reachable state within the bound, from the first webhook to the stop', () => {
        const { graph, system } = get();
        const states = [...graph.edges.keys()];
        expect(states.length).toBeGreaterThan(1000);
        // The app running: both sides on one socket.
        expect(states.some((state) => {
          const { cloud, sdk } = system.liveSockets(state);
          return cloud.length === 1 && sdk.length === 1 && cloud[0] === sdk[0];
        })).toBe(true);
        expect(states.some((state) => system.stopRequested(state) && system.notEnded(state) === null)).toBe(true);
      });

      it('reaches no dead end', () => {
        holds(deadEnd(get()));
      });

      it('never has two live sockets for the session', () => {
        holds(twoLiveSockets(get()));
      });

      it('ends in closed and stopped once a stop is requested', () => {
        holds(nonTermination(get()));
      });
    });
  }

  it('reaches half-open sockets both ways, and every kind of step', () => {
    const all = Object.entries(bounds).map(([name, bound]) => model(name, REAL, bound));
    const halfOpen = new Set(all.flatMap(({ system, graph }) => [...graph.edges.keys()].flatMap(system.halfOpen)));
    expect([...halfOpen].sort()).toEqual(['cloud', 'sdk']);
    const kinds = new Set(all.flatMap(({ graph }) => [...graph.edges.values()].flatMap((out) => out.map((e) => e.step.type))));
    const everyKind: Step['type'][] = [
      'stop.requested',
      'sdk.timer',
      'cloud.timer',
      'link.silent',
      'webhook.reached',
      'webhook.answered',
      'webhook.failed',
      'webhook.refused',
      'lateWebhook.reached',
      'dial.accepted',
      'dial.refused',
      'frame.delivered',
      'frame.duplicated',
      'direction.cut',
      'close.timedOut',
      'handshake.timedOut',
    ];
    expect([...kinds].sort()).toEqual([...everyKind].sort());
  });

  describe('catches broken variants', () => {
    const small = { sockets: 2, instances: 1, duplicates: 0, webhookAttempts: WEBHOOK_ATTEMPTS, lateWebhooks: false };

    // The gateway numbers sockets as it accepts them, so a socket the SDK abandoned with its
    // init still in flight arrives older than the one it uses; only the session's refusal of
    // an older generation keeps it from taking over (a stale init race).
    it('a session that takes an older socket lets a stale init replace the live one', () => {
      const cloud = appSessionMachine.provide({
        guards: { isNewerGen: ({ context, event }) => event.type === 'app.connected' && event.gen !== context.gen, isOlderGen: () => false },
      });
      const broken = model('takes an older socket', { ...REAL, cloud }, bounds[reconnects], (system, state) => liveProblem(system, state) !== null);
      const found = twoLiveSockets(broken);
      expect(found).toMatch(/^two live sockets/);
      expect(found).toContain('SDK timer connectTimeout fires');
      expect(twoLiveSockets(model(reconnects, REAL, bounds[reconnects]))).toBeNull();
    });

    it('a session that never takes a socket leaves it open with nobody to close it', () => {
      const cloud = appSessionMachine.provide({ guards: { isNewerGen: () => false } });
      const found = deadEnd(model('never adopts', { ...REAL, cloud }, small));
      expect(found).toMatch(/^a dead end: socket s\d is still open at one end/);
      expect(deadEnd(model(duplicated, REAL, bounds[duplicated]))).toBeNull();
    });
  });
});

