/**
 * Logs every state change of the cloud's session actors, once and centrally, from XState's
 * inspection stream (STYLE.md): the machines themselves never log.
 */
import type { InspectionEvent } from 'xstate';
import { systemIdOf } from '../../machines/sessionApi.js';
import type { Logger } from '../logger.js';

/** An inspection observer that logs each change of a named actor's state value. */
export function createStateLog(logger: Logger): (event: InspectionEvent) => void {
  const last = new WeakMap<object, { nodes: unknown; value: string }>();
  return (event) => {
    if (event.type !== '@xstate.snapshot') return;
    const snapshot = event.snapshot as { value?: unknown; status?: string; _nodes?: unknown };
    const previous = last.get(event.actorRef);
    // XState keeps the same `_nodes` array while the active states do not change (a heartbeat
    // re-entry, an assign): most snapshots are settled here without serialising anything.
    if (previous && snapshot._nodes !== undefined && previous.nodes === snapshot._nodes && snapshot.status === 'active') return;
    const systemId = systemIdOf(event.actorRef);
    if (!systemId || snapshot.value === undefined) return;
    const value = JSON.stringify(snapshot.value);
    last.set(event.actorRef, { nodes: snapshot._nodes, value });
    if (previous?.value === value) return;
    logger.info({ actor: systemId, from: previous ? JSON.parse(previous.value) : null, to: snapshot.value, event: event.event.type, status: snapshot.status }, 'state changed');
  };
}

/** One inspection observer that feeds several. */
export function combineInspectors(
  ...observers: Array<((event: InspectionEvent) => void) | undefined>
): (event: InspectionEvent) => void {
  const live = observers.filter((o): o is (event: InspectionEvent) => void => o !== undefined);
  return (event) => {
    for (const observe of live) observe(event);
  };
}
