/**
 * Helpers for model-based tests: enumerate what a machine defines (state nodes, transitions,
 * delayed-event types) and record which transitions an actor really took, from the
 * `@xstate.microstep` inspection events.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition, InspectionEvent } from 'xstate';

/** Every state node of the machine, the root included. */
export function allStateNodes(machine: AnyStateMachine): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const visit = (node: AnyStateNode) => {
    out.push(node);
    for (const child of Object.values(node.states) as AnyStateNode[]) visit(child);
  };
  visit(machine.root);
  return out;
}

/** Every transition definition: each guarded branch and each delayed transition counts once. */
export function allTransitions(machine: AnyStateMachine): AnyTransitionDefinition[] {
  return allStateNodes(machine).flatMap((node) => [
    ...[...node.transitions.values()].flat(),
    ...(node.always ?? []),
  ]) as AnyTransitionDefinition[];
}

/** The event types XState uses for the machine's `after` transitions. */
export function delayedEventTypes(machine: AnyStateMachine): string[] {
  return allStateNodes(machine).flatMap((node) => node.after.map((t: { eventType: string }) => t.eventType));
}

/** An `inspect` observer adding each transition taken to `into`. */
export function transitionsTaken(into: Set<unknown>) {
  return (event: InspectionEvent) => {
    if (event.type === '@xstate.microstep') {
      for (const t of (event as unknown as { _transitions: AnyTransitionDefinition[] })._transitions) into.add(t);
    }
  };
}
