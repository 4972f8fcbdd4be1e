/**
 * The checks of the joint model check (stateGraph.ts) on systems small enough to know by
 * heart, so that each kind of failure is seen to be found and traced.
 */
import { describe, expect, it } from 'vitest';
import { explore, findNonTermination, findState, type SteppedSystem } from './stateGraph.js';

type Move = { type: 'up' } | { type: 'back' } | { type: 'stay' };

/** A counter 0…top: `up` adds one, `back` (from `loopFrom` on) returns to `loopFrom - 1`, `stay` changes nothing. */
function counter(top: number, loopFrom = Infinity): SteppedSystem<Move> {
  return {
    initial: () => '0',
    steps: (state) => {
      const n = Number(state);
      const out: Move[] = [{ type: 'stay' }];
      if (n < top) out.push({ type: 'up' });
      if (n >= loopFrom) out.push({ type: 'back' });
      return out;
    },
    next: (state, step) => {
      const n = Number(state);
      return String(step.type === 'up' ? n + 1 : step.type === 'back' ? loopFrom - 1 : n);
    },
  };
}

const format = { step: (m: Move) => m.type, state: (s: string) => `n=${s}` };

describe('stateGraph', () => {
  it('explores every reachable state and traces the shortest way to one', () => {
    const graph = explore(counter(4), 100);
    expect([...graph.edges.keys()]).toEqual(['0', '1', '2', '3', '4']);
    expect(findState(graph, (s) => (s === '3' ? 'three' : null), format)).toBe(
      ['three', '   0. (start)  n=0', '   1. up  ⇒  n=1', '   2. up  ⇒  n=2', '   3. up  ⇒  n=3'].join('\n'),
    );
    expect(findState(graph, () => null, format)).toBeNull();
  });

  it('fails fast past its limit, and stops at the first state asked for', () => {
    expect(() => explore(counter(1000), 10)).toThrow(/more than 10 states/);
    const graph = explore(counter(1000), 10, (s) => s === '5');
    expect(graph.edges.get('5')).toEqual([]);
    expect(graph.edges.has('6')).toBe(false);
  });

  it('accepts runs that all end in an accepted state, however they stutter', () => {
    const graph = explore(counter(3), 100);
    expect(findNonTermination(graph, () => true, (s) => (s === '3' ? null : 'not at the top'), format)).toBeNull();
  });

  it('reports a run that ends where it should not', () => {
    const graph = explore(counter(3), 100);
    expect(findNonTermination(graph, () => true, () => 'nothing is accepted', format)).toMatch(
      /^a run ends in a state that is not an accepted end: nothing is accepted\n {3}0\. \(start\) {2}n=0\n(.*\n){2}.*n=3$/,
    );
  });

  it('reports a cycle with the way into it and once around it', () => {
    const graph = explore(counter(4, 2), 100);
    const found = findNonTermination(graph, (s) => Number(s) >= 1, () => null, format);
    expect(found).toBe(
      [
        'a run can go round a cycle forever',
        '   0. (start)  n=0',
        '   1. up  ⇒  n=1',
        '   ↻ up  ⇒  n=2',
        '   ↻ up  ⇒  n=3',
        '   ↻ up  ⇒  n=4',
        '   ↻ back  ⇒  n=1',
      ].join('\n'),
    );
    // Only states in the region count: the same cycle is fine before the region starts.
    expect(findNonTermination(graph, (s) => Number(s) >= 3, () => null, format)).toBeNull();
  });
});
