/**
 * The selected actor's event log: time, event and, for transitions, from → to. An event record
 * immediately followed by the transition it caused is shown as one row. Newest first.
 *
 * @typedef {{ t: number, kind: 'event' | 'transition', event: unknown, from?: unknown, to?: unknown, data?: unknown }} TraceRecord
 */

import { clockTime, h } from './dom.js';
import { eventLabel } from './chartModel.js';
import { formatStateValue } from './stateValue.js';

/** Most rows drawn; the feed keeps up to 1,000 records per actor. */
const MAX_ROWS = 200;
/** Shortest time between two renders of the log, in ms (rows are rebuilt each time). */
const MIN_RENDER_GAP_MS = 250;

/**
 * @param {{ root: HTMLElement }} options
 */
export function createEventLog({ root }) {
  const tbody = h('tbody');
  const table = h('table', { class: 'event-log', 'data-testid': 'event-log' }, [
    h('thead', {}, [h('tr', {}, [h('th', { text: 'time' }), h('th', { text: 'event' }), h('th', { text: 'from → to' })])]),
    tbody,
  ]);
  const onlyTransitions = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', 'data-testid': 'transitions-only' }));
  root.closest('.panel')?.querySelector('.panel-title')?.append(h('label', { class: 'panel-option' }, [onlyTransitions, ' transitions only']));
  root.append(table);
  let lastKey = '';
  /** @type {TraceRecord[]} */
  let lastRecords = [];
  /** @type {string | null} */
  let lastOwner = null;
  onlyTransitions.addEventListener('change', () => {
    lastKey = '';
    render(lastRecords, lastOwner);
  });

  let lastRenderAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let trailing;

  /**
   * Shows `records`; a busy actor re-renders the log at most every {@link MIN_RENDER_GAP_MS}.
   * @param {TraceRecord[]} records oldest first
   * @param {string | null} [owner] whose records they are: another owner renders at once
   */
  function render(records, owner = null) {
    const sameActor = owner === lastOwner;
    lastOwner = owner;
    lastRecords = records;
    const wait = lastRenderAt + MIN_RENDER_GAP_MS - performance.now();
    if (sameActor && wait > 0) {
      trailing ??= setTimeout(() => {
        trailing = undefined;
        render(lastRecords, lastOwner);
      }, wait);
      return;
    }
    lastRenderAt = performance.now();
    const key = `${records.length}|${records.at(-1)?.t}|${records[0]?.t}`;
    if (key === lastKey) return;
    lastKey = key;
    const merged = mergeRecords(records);
    const rows = onlyTransitions.checked ? merged.filter((row) => row.to !== undefined) : merged;
    const shown = rows.slice(-MAX_ROWS).reverse();
    tbody.replaceChildren(
      ...shown.map((row) =>
        h('tr', { class: row.to !== undefined ? 'transition' : 'event' }, [
          h('td', { class: 'time', text: clockTime(row.t) }),
          h('td', { class: 'event-type', text: eventLabel(eventType(row.event)), title: eventTitle(row.event, row.data) }),
          h('td', { class: 'change' }, row.to !== undefined
            ? [h('span', { class: 'from', text: formatStateValue(row.from) }), ' → ', h('span', { class: 'to', text: formatStateValue(row.to) })]
            : [h('span', { class: 'muted', text: '—' })]),
        ]),
      ),
    );
    if (rows.length === 0) tbody.append(h('tr', {}, [h('td', { colspan: 3, class: 'muted', text: 'No events recorded yet.' })]));
  }

  return { render };
}

/**
 * Folds an `event` record into the `transition` record that follows it for the same event.
 * @param {TraceRecord[]} records
 * @returns {Array<{ t: number, event: unknown, from?: unknown, to?: unknown, data?: unknown }>}
 */
function mergeRecords(records) {
  /** @type {Array<{ t: number, event: unknown, from?: unknown, to?: unknown, data?: unknown }>} */
  const rows = [];
  for (let i = 0; i < records.length; i++) {
    const record = /** @type {TraceRecord} */ (records[i]);
    const next = records[i + 1];
    if (record.kind === 'event' && next?.kind === 'transition' && eventType(next.event) === eventType(record.event) && Math.abs(next.t - record.t) < 50) {
      rows.push({ t: record.t, event: record.event, data: record.data, from: next.from, to: next.to });
      i++;
    } else if (record.kind === 'transition') {
      rows.push({ t: record.t, event: record.event, from: record.from, to: record.to });
    } else {
      rows.push({ t: record.t, event: record.event, data: record.data });
    }
  }
  return rows;
}

/** @param {unknown} event */
function eventType(event) {
  if (typeof event === 'string') return event;
  if (event && typeof event === 'object' && 'type' in event) return String(/** @type {{ type: unknown }} */ (event).type);
  return '?';
}

/**
 * The hover text of an event: its payload, when it has one.
 * @param {unknown} event
 * @param {unknown} data payload the feed sends apart from the type
 */
function eventTitle(event, data) {
  const payload = data ?? (event && typeof event === 'object' ? event : undefined);
  if (payload === undefined) return eventType(event);
  try {
    return `${eventType(event)}\n${JSON.stringify(payload, null, 1).slice(0, 2000)}`;
  } catch {
    return eventType(event);
  }
}
