/**
 * The page's model of every actor the feed (or an imported trace) describes: the latest
 * `ActorSummary` of each, and a short history of its state values for the timeline. Listeners
 * are told what changed; they schedule their own rendering.
 *
 * @typedef {{
 *   id: string, systemId?: string, parentId?: string, source: string, machineId?: string,
 *   value: unknown, status: 'active' | 'done' | 'error' | 'stopped', tags: string[],
 *   userId?: string, packageName?: string, updatedAt: number
 * }} ActorSummary
 * @typedef {{ t: number, value: unknown, status?: string }} ValueChange
 */

import { formatStateValue } from './stateValue.js';

/** How long state history is kept for the timeline, in ms. */
export const HISTORY_WINDOW_MS = 5 * 60_000;
/** Most state changes kept per actor (older ones are dropped first). */
const HISTORY_LIMIT = 200;

export class ActorStore {
  /** @type {Map<string, ActorSummary>} */
  actors = new Map();
  /** @type {Map<string, ValueChange[]>} */
  #history = new Map();
  /** @type {Set<(change: { structure: boolean, ids: string[] }) => void>} */
  #listeners = new Set();
  /** Server time minus page time, in ms: the feed's clocks are the server's. */
  clockOffset = 0;

  /** Current time on the server's clock, in ms since the epoch. */
  now() {
    return Date.now() + this.clockOffset;
  }

  /**
   * Replaces everything (a `hello`, or a replay step's base state).
   * @param {ActorSummary[]} summaries
   * @param {number} [serverNow] the server's clock at sending, ms
   */
  reset(summaries, serverNow) {
    if (typeof serverNow === 'number') this.clockOffset = serverNow - Date.now();
    const previous = this.#history;
    this.actors = new Map();
    this.#history = new Map();
    for (const summary of summaries) {
      const kept = previous.get(summary.id);
      if (kept) this.#history.set(summary.id, kept);
      this.#put(summary);
    }
    this.#emit(true, summaries.map((a) => a.id));
  }

  /**
   * Applies one `actors` batch.
   * @param {ActorSummary[]} upserts
   * @param {string[]} removed
   */
  apply(upserts, removed) {
    let structure = removed.length > 0;
    for (const summary of upserts) {
      const before = this.actors.get(summary.id);
      if (!before || before.parentId !== summary.parentId || before.userId !== summary.userId || before.packageName !== summary.packageName) {
        structure = true;
      }
      this.#put(summary);
    }
    for (const id of removed) {
      this.actors.delete(id);
      this.#history.delete(id);
    }
    this.#emit(structure, [...upserts.map((a) => a.id), ...removed]);
  }

  /**
   * Adds state changes known more precisely than from summaries (the selected actor's records).
   * @param {string} id
   * @param {ValueChange[]} changes
   */
  addHistory(id, changes) {
    const list = this.#history.get(id) ?? [];
    for (const change of changes) {
      if (list.some((c) => c.t === change.t && formatStateValue(c.value) === formatStateValue(change.value))) continue;
      list.push(change);
    }
    list.sort((a, b) => a.t - b.t);
    this.#history.set(id, trim(list, this.now()));
    this.#emit(false, [id]);
  }

  /**
   * State changes of `id`, oldest first.
   * @param {string} id
   * @returns {ValueChange[]}
   */
  history(id) {
    return this.#history.get(id) ?? [];
  }

  /**
   * @param {(change: { structure: boolean, ids: string[] }) => void} listener
   * @returns {() => void} unsubscribe
   */
  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** @param {ActorSummary} summary */
  #put(summary) {
    this.actors.set(summary.id, summary);
    const list = this.#history.get(summary.id) ?? [];
    const last = list.at(-1);
    if (!last || formatStateValue(last.value) !== formatStateValue(summary.value) || last.status !== summary.status) {
      list.push({ t: summary.updatedAt ?? this.now(), value: summary.value, status: summary.status });
      this.#history.set(summary.id, trim(list, this.now()));
    }
  }

  /**
   * @param {boolean} structure
   * @param {string[]} ids
   */
  #emit(structure, ids) {
    for (const listener of this.#listeners) listener({ structure, ids });
  }
}

/**
 * Drops what is older than the window (keeping the change in force at its start) and over the limit.
 * @param {ValueChange[]} list
 * @param {number} now
 */
function trim(list, now) {
  const from = now - HISTORY_WINDOW_MS;
  let first = 0;
  while (first + 1 < list.length && /** @type {ValueChange} */ (list[first + 1]).t <= from) first++;
  const kept = first > 0 ? list.slice(first) : list;
  return kept.length > HISTORY_LIMIT ? kept.slice(kept.length - HISTORY_LIMIT) : kept;
}
