/**
 * An imported trace seen as a sequence of steps: every snapshot of every actor in it, in time
 * order. At step `i` each actor is in its latest snapshot taken at or before that step's time,
 * which is what the whole page shows while replaying (list, chart, context, log, timeline).
 */

/**
 * @param {import('./trace.js').Trace} trace
 */
export function createReplayModel(trace) {
  const actors = trace.actors;
  /** @type {Array<{ t: number, actorId: string, snapshotIndex: number }>} */
  const steps = [];
  for (const actor of actors) {
    actor.snapshots.forEach((snap, snapshotIndex) => steps.push({ t: snap.t, actorId: actor.summary.id, snapshotIndex }));
  }
  steps.sort((a, b) => a.t - b.t);
  const byId = new Map(actors.map((a) => [a.summary.id, a]));
  const times = steps.map((st) => st.t);
  const from = times[0] ?? trace.exportedAt;
  const to = Math.max(times.at(-1) ?? trace.exportedAt, from + 1000);

  /**
   * The snapshot of `actor` in force at time `t`, or undefined before its first.
   * @param {import('./trace.js').TraceActor} actor
   * @param {number} t
   */
  function snapshotAt(actor, t) {
    let found;
    for (const snap of actor.snapshots) {
      if (snap.t <= t) found = snap;
      else break;
    }
    return found;
  }

  return {
    trace,
    steps,
    from,
    to,
    /** @param {number} index */
    timeOf(index) {
      return steps[index]?.t ?? from;
    },
    /**
     * Every actor's summary as of step `index`; actors not born yet are listed as such.
     * @param {number} index
     * @returns {import('./actorStore.js').ActorSummary[]}
     */
    summariesAt(index) {
      const t = this.timeOf(index);
      return actors.map((actor) => {
        const snap = snapshotAt(actor, t);
        return {
          ...actor.summary,
          value: snap ? snap.value : '(not started)',
          status: snap ? (snap === actor.snapshots.at(-1) ? actor.summary.status : 'active') : 'stopped',
          updatedAt: snap ? snap.t : from,
        };
      });
    },
    /**
     * What the page shows for the selected actor at step `index`.
     * @param {string} id
     * @param {number} index
     */
    detailAt(id, index) {
      const actor = byId.get(id);
      if (!actor) return null;
      const t = this.timeOf(index);
      const snap = snapshotAt(actor, t) ?? actor.snapshots[0];
      return {
        id,
        definition: actor.definition ?? null,
        snapshot: { value: snap?.value, context: snap?.context, status: actor.summary.status, tags: actor.summary.tags ?? [] },
        records: actor.records.filter((r) => r.t <= t),
      };
    },
    /**
     * State changes of `id` over the whole trace, for the timeline.
     * @param {string} id
     */
    historyOf(id) {
      return (byId.get(id)?.snapshots ?? []).map((snap) => ({ t: snap.t, value: snap.value }));
    },
  };
}
