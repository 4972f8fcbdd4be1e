/**
 * Swimlanes of state spans: one lane per actor (the selected user's session and its app
 * sessions, or the actors of one SDK process), over the last minutes. Each span is a top-level
 * state, coloured by `stateColor`; hovering shows the full value and duration.
 *
 * @typedef {{ id: string, label: string, changes: import('./actorStore.js').ValueChange[] }} Lane
 */

import { clockTime, s, textWidth } from './dom.js';
import { formatStateValue, topState } from './stateValue.js';
import { stateColor } from './stateColors.js';

const LANE_HEIGHT = 24;
const LABEL_WIDTH = 170;
const AXIS_HEIGHT = 20;
const SPAN_FONT = '11px system-ui, sans-serif';

/**
 * @param {{ root: HTMLElement }} options
 */
export function createTimeline({ root }) {
  const svg = /** @type {SVGSVGElement} */ (s('svg', { class: 'timeline', 'data-testid': 'timeline' }));
  root.append(svg);

  /**
   * @param {{ lanes: Lane[], from: number, to: number, cursor?: number, selectedId?: string | null }} data
   *   times in ms since the epoch (server clock); `cursor` marks the replay's current step
   */
  function render({ lanes, from, to, cursor, selectedId }) {
    const width = Math.max(320, root.clientWidth - 2);
    const height = AXIS_HEIGHT + Math.max(1, lanes.length) * LANE_HEIGHT + 6;
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const plot = width - LABEL_WIDTH - 8;
    const span = Math.max(1, to - from);
    const x = (/** @type {number} */ t) => LABEL_WIDTH + ((Math.min(Math.max(t, from), to) - from) / span) * plot;

    /** @type {SVGElement[]} */
    const parts = [];
    for (const tick of ticks(from, to)) {
      parts.push(s('line', { class: 'tick', x1: x(tick), x2: x(tick), y1: AXIS_HEIGHT - 4, y2: height }));
      parts.push(s('text', { class: 'tick-label', x: x(tick), y: AXIS_HEIGHT - 7, 'text-anchor': 'middle', text: clockTime(tick).slice(0, 8) }));
    }
    if (lanes.length === 0) {
      parts.push(s('text', { class: 'muted-text', x: LABEL_WIDTH, y: AXIS_HEIGHT + 16, text: 'Select an actor to see its state spans.' }));
    }
    lanes.forEach((lane, index) => {
      const y = AXIS_HEIGHT + index * LANE_HEIGHT;
      const g = s('g', { class: `lane${lane.id === selectedId ? ' selected' : ''}`, 'data-actor-id': lane.id });
      g.append(s('rect', { class: 'lane-bg', x: 0, y, width, height: LANE_HEIGHT }));
      g.append(s('text', { class: 'lane-label', x: 8, y: y + 16, text: clip(lane.label, LABEL_WIDTH - 16) }));
      const changes = byTopState(lane.changes);
      changes.forEach((change, i) => {
        const next = changes[i + 1];
        const start = change.t;
        const end = next ? next.t : to;
        if (end < from || start > to) return;
        const x1 = x(start);
        const x2 = Math.max(x1 + 1.5, x(end));
        const top = topState(change.value);
        const full = formatStateValue(change.value);
        const rect = s('rect', { class: 'span', x: x1, y: y + 4, width: x2 - x1, height: LANE_HEIGHT - 8, rx: 3, fill: stateColor(top), 'data-state': top });
        rect.append(s('title', { text: `${full}\n${clockTime(start)} → ${next ? clockTime(end) : 'now'} (${formatDuration(end - start)})` }));
        g.append(rect);
        if (x2 - x1 > textWidth(top, SPAN_FONT) + 10) g.append(s('text', { class: 'span-label', x: x1 + 5, y: y + 16, text: top }));
      });
      parts.push(g);
    });
    if (cursor !== undefined) parts.push(s('line', { class: 'cursor', x1: x(cursor), x2: x(cursor), y1: AXIS_HEIGHT - 4, y2: height }));
    svg.replaceChildren(...parts);
  }

  return { render };
}

/**
 * Keeps only the changes of top-level state: `connected.pinging` re-entered is still `connected`.
 * @param {import('./actorStore.js').ValueChange[]} changes
 */
function byTopState(changes) {
  return changes.filter((change, i) => i === 0 || topState(change.value) !== topState(changes[i - 1]?.value));
}

/**
 * Round times between `from` and `to` for the axis: 5 to 10 of them.
 * @param {number} from
 * @param {number} to
 */
function ticks(from, to) {
  const steps = [1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000];
  const step = steps.find((st) => (to - from) / st <= 10) ?? 600_000;
  const list = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) list.push(t);
  return list;
}

/** @param {number} ms */
function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/**
 * @param {string} text
 * @param {number} width px
 */
function clip(text, width) {
  if (textWidth(text, SPAN_FONT) <= width) return text;
  let cut = text;
  while (cut.length > 1 && textWidth(`${cut}…`, SPAN_FONT) > width) cut = cut.slice(0, -1);
  return `${cut}…`;
}

