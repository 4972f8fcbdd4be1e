/**
 * Exhaustive exploration of a system given as pure steps over serialized states, and the
 * checks a model checker makes over the result: an invariant in every state, and termination
 * from a set of states on (no cycle, every end an accepted one). Every failure comes back as
 * the shortest trace from the initial state, one step a line.
 *
 * The traversal is a plain breadth-first search rather than @xstate/graph's
 * `getAdjacencyMap`: that one queues every edge, not every new state, in an array it consumes
 * with `shift()`, which at the 10⁵ edges of the joint model took over a third of the run
 * (measured), and it keeps no predecessors, which the traces need.
 */
import type { EventObject } from 'xstate';

/** A system as the explorer sees it: states are strings, steps are events. */
export interface SteppedSystem<E extends EventObject> {
  initial(): string;
  steps(state: string): E[];
  next(state: string, step: E): string;
}

/** The reachable states and, for each, its steps and where they lead. */
export interface StateGraph<E extends EventObject> {
  initial: string;
  /** Every reachable state, in breadth-first order, with its outgoing edges. */
  edges: Map<string, { step: E; to: string }[]>;
  /** Each state's predecessor on a shortest path from `initial` (absent for `initial`). */
  parent: Map<string, { from: string; step: E }>;
}

/**
 * Explores every state reachable from the system's initial one. Throws once more than
 * `limit` states are found, so a bound that is too loose fails fast instead of running on.
 * With `stopAt`, stops at the first state found that satisfies it (the nearest, breadth
 * first), left without edges: the graph then serves only to trace that state.
 */
export function explore<E extends EventObject>(system: SteppedSystem<E>, limit: number, stopAt?: (state: string) => boolean): StateGraph<E> {
  const initial = system.initial();
  const edges = new Map<string, { step: E; to: string }[]>();
  const parent = new Map<string, { from: string; step: E }>();
  const queue = [initial];
  const seen = new Set(queue);
  for (let i = 0; i < queue.length; i++) {
    const from = queue[i]!;
    const out = system.steps(from).map((step) => ({ step, to: system.next(from, step) }));
    edges.set(from, out);
    for (const { step, to } of out) {
      if (seen.has(to)) continue;
      if (seen.size >= limit) throw new Error(`more than ${limit} states: the bound is too loose`);
      seen.add(to);
      parent.set(to, { from, step });
      if (stopAt?.(to)) {
        edges.set(to, []);
        return { initial, edges, parent };
      }
      queue.push(to);
    }
  }
  return { initial, edges, parent };
}

/** How a trace names steps and states. */
export interface TraceFormat<E> {
  step(step: E): string;
  state(state: string): string;
}

/** The shortest path from the initial state to `target`, then `tail` (a cycle), one line a step. */
function traceTo<E extends EventObject>(graph: StateGraph<E>, target: string, format: TraceFormat<E>, tail: E[] = []): string {
  const steps: { step: E; to: string }[] = [];
  for (let at = target; at !== graph.initial; ) {
    const p = graph.parent.get(at);
    if (!p) throw new Error('state not reachable');
    steps.unshift({ step: p.step, to: at });
    at = p.from;
  }
  const lines = [`   0. (start)  ${format.state(graph.initial)}`];
  steps.forEach(({ step, to }, i) => lines.push(`${String(i + 1).padStart(4)}. ${format.step(step)}  ⇒  ${format.state(to)}`));
  let at = target;
  for (const step of tail) {
    at = graph.edges.get(at)!.find((e) => e.step === step)!.to;
    lines.push(`   ↻ ${format.step(step)}  ⇒  ${format.state(at)}`);
  }
  return lines.join('\n');
}

/** The first state (nearest the start) where `problem` finds something, with its trace. */
export function findState<E extends EventObject>(
  graph: StateGraph<E>,
  problem: (state: string) => string | null,
  format: TraceFormat<E>,
): string | null {
  for (const state of graph.edges.keys()) {
    const found = problem(state);
    if (found) return `${found}\n${traceTo(graph, state, format)}`;
  }
  return null;
}

/**
 * Termination from every state in `from`: no cycle through such states (a step back to the
 * same state does not count: nothing changed), and every state with no step is `accepted`.
 * Returns null, or the trace of a dead end or of a path into a cycle and around it.
 */
export function findNonTermination<E extends EventObject>(
  graph: StateGraph<E>,
  from: (state: string) => boolean,
  accepted: (state: string) => string | null,
  format: TraceFormat<E>,
): string | null {
  const region = [...graph.edges.keys()].filter(from);
  const inRegion = new Set(region);
  for (const state of region) {
    if (graph.edges.get(state)!.every((e) => e.to === state)) {
      const why = accepted(state);
      if (why) return `a run ends in a state that is not an accepted end: ${why}\n${traceTo(graph, state, format)}`;
    }
  }
  // Iterative depth-first search with colours: grey = on the current path.
  const colour = new Map<string, 'grey' | 'black'>();
  for (const root of region) {
    if (colour.has(root)) continue;
    const path: { state: string; via: E | null; next: number }[] = [{ state: root, via: null, next: 0 }];
    colour.set(root, 'grey');
    while (path.length > 0) {
      const top = path[path.length - 1]!;
      const out = graph.edges.get(top.state)!;
      if (top.next >= out.length) {
        colour.set(top.state, 'black');
        path.pop();
        continue;
      }
      const edge = out[top.next++]!;
      if (edge.to === top.state || !inRegion.has(edge.to)) continue;
      const c = colour.get(edge.to);
      if (c === 'grey') {
        const start = path.findIndex((p) => p.state === edge.to);
        const cycle = [...path.slice(start + 1).map((p) => p.via!), edge.step];
        return `a run can go round a cycle forever\n${traceTo(graph, edge.to, format, cycle)}`;
      }
      if (c === undefined) {
        colour.set(edge.to, 'grey');
        path.push({ state: edge.to, via: edge.step, next: 0 });
      }
    }
  }
  return null;
}
