/**
 * Traces as files: saving one the server exported as a JSON download, and reading one back
 * (checked enough that replay can trust its shape).
 *
 * @typedef {{ t: number, value: unknown, context?: unknown }} TraceSnapshot
 * @typedef {{ summary: import('./actorStore.js').ActorSummary, definition: import('./types.js').StateDef | null,
 *   records: import('./eventLog.js').TraceRecord[], snapshots: TraceSnapshot[] }} TraceActor
 * @typedef {{ version: 1, exportedAt: number, actors: TraceActor[] }} Trace
 */

/**
 * Offers `trace` as a file download named after what it holds.
 * @param {Trace} trace
 * @param {string} name e.g. a user id or system id
 */
export function downloadTrace(trace, name) {
  const blob = new Blob([JSON.stringify(trace, null, 2)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const stamp = new Date(trace.exportedAt ?? Date.now()).toISOString().replace(/[:.]/g, '-');
  const link = document.createElement('a');
  link.href = url;
  link.download = `tether-trace-${name.replace(/[^\w.-]+/g, '_')}-${stamp}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Parses a trace file.
 * @param {string} text
 * @returns {Trace}
 * @throws {Error} with a message a person can act on
 */
export function parseTrace(text) {
  /** @type {unknown} */
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error('This file is not JSON.');
  }
  if (!isObject(data) || data.version !== 1 || !Array.isArray(data.actors)) {
    throw new Error('This is not a Tether inspector trace (expected version 1 with an actors list).');
  }
  for (const actor of /** @type {unknown[]} */ (data.actors)) {
    if (!isObject(actor) || !isObject(actor.summary) || !actor.summary.id || !Array.isArray(actor.snapshots)) {
      throw new Error('A trace actor lacks its summary id or snapshots.');
    }
    actor.records = Array.isArray(actor.records) ? actor.records : [];
    actor.snapshots = /** @type {unknown[]} */ (actor.snapshots).filter(isTimed).sort((a, b) => a.t - b.t);
  }
  return /** @type {Trace} */ (data);
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isObject(value) {
  return typeof value === 'object' && value !== null;
}

/**
 * @param {unknown} snap
 * @returns {snap is TraceSnapshot}
 */
function isTimed(snap) {
  return isObject(snap) && typeof snap.t === 'number';
}
