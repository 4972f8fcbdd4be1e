/**
 * The actor list: a virtualized view of the rows `buildRows` produces. Only the rows in the
 * viewport (plus a small margin) exist in the DOM, recycled as the list scrolls, so 1,000 users
 * and their app sessions cost as much as forty rows.
 */

import { h } from './dom.js';
import { buildRows } from './actorRows.js';
import { stateColor } from './stateColors.js';
import { formatStateValue, topState } from './stateValue.js';

/** Row height in px; must match `.tree-row` in inspector.css. */
const ROW_HEIGHT = 26;
/** Rows rendered above and below the viewport. */
const OVERSCAN = 8;

/**
 * @param {{
 *   root: HTMLElement,
 *   getActors: () => Iterable<import('./actorStore.js').ActorSummary>,
 *   getActor: (id: string) => import('./actorStore.js').ActorSummary | undefined,
 *   onSelect: (id: string) => void,
 * }} options
 */
export function createActorTree({ root, getActors, getActor, onSelect }) {
  const filterInput = /** @type {HTMLInputElement} */ (h('input', {
    type: 'search', class: 'filter', placeholder: 'Filter by user id or package', 'data-testid': 'filter', 'aria-label': 'Filter actors',
  }));
  const helpersBox = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', 'data-testid': 'show-helpers' }));
  const count = h('span', { class: 'tree-count', 'data-testid': 'actor-count' });
  const spacer = h('div', { class: 'tree-spacer' });
  const scroller = h('div', { class: 'tree-scroll', role: 'listbox', tabindex: 0, 'aria-label': 'Actors' }, [spacer]);
  root.append(
    h('div', { class: 'tree-tools' }, [filterInput, h('label', { class: 'helpers', title: 'Also list socket and webhook actors' }, [helpersBox, ' helpers'])]),
    h('div', { class: 'tree-head' }, [h('span', { text: 'Actors' }), count]),
    scroller,
  );

  /** @type {import('./actorRows.js').Row[]} */
  let rows = [];
  let structureDirty = true;
  /** @type {string | null} */
  let selectedId = null;
  /** @type {string | null} actor whose row is marked as the replay's current step */
  let steppingId = null;
  /** @type {HTMLElement[]} */
  const pool = [];
  /** @type {(() => void) | null} */
  let requestRender = null;

  filterInput.addEventListener('input', () => {
    structureDirty = true;
    requestRender?.();
  });
  helpersBox.addEventListener('change', () => {
    structureDirty = true;
    requestRender?.();
  });
  scroller.addEventListener('scroll', () => requestRender?.(), { passive: true });
  scroller.addEventListener('click', (event) => {
    const row = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest('[data-actor-id]'));
    if (row?.dataset.actorId) onSelect(row.dataset.actorId);
  });
  scroller.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    event.preventDefault();
    const actorRows = rows.filter((r) => r.kind === 'actor');
    const index = actorRows.findIndex((r) => r.key === selectedId);
    const next = actorRows[Math.max(0, Math.min(actorRows.length - 1, index + (event.key === 'ArrowDown' ? 1 : -1)))];
    if (next) {
      onSelect(next.key);
      scrollIntoView(next.key);
    }
  });

  /** @param {string} id */
  function scrollIntoView(id) {
    const index = rows.findIndex((r) => r.key === id);
    if (index < 0) return;
    const top = index * ROW_HEIGHT;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + ROW_HEIGHT - scroller.clientHeight;
  }

  function render() {
    if (structureDirty) {
      rows = buildRows(getActors(), { filter: filterInput.value, showHelpers: helpersBox.checked });
      structureDirty = false;
      spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
      const actorCount = rows.reduce((n, r) => n + (r.kind === 'actor' ? 1 : 0), 0);
      count.textContent = String(actorCount);
      count.dataset.count = String(actorCount);
    }
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const visible = Math.ceil((scroller.clientHeight || 600) / ROW_HEIGHT) + 2 * OVERSCAN;
    const last = Math.min(rows.length, first + visible);
    while (pool.length < last - first) {
      const el = h('div', { class: 'tree-row', role: 'option' });
      pool.push(el);
      spacer.append(el);
    }
    for (let i = 0; i < pool.length; i++) {
      const el = /** @type {HTMLElement} */ (pool[i]);
      const row = rows[first + i];
      if (!row || first + i >= last) {
        el.hidden = true;
        continue;
      }
      el.hidden = false;
      el.style.transform = `translateY(${(first + i) * ROW_HEIGHT}px)`;
      fillRow(el, row);
    }
  }

  /**
   * @param {HTMLElement} el
   * @param {import('./actorRows.js').Row} row
   */
  function fillRow(el, row) {
    if (row.kind === 'group') {
      if (el.dataset.key === row.key && el.dataset.count === String(row.count)) return;
      el.className = 'tree-row group';
      el.removeAttribute('data-testid');
      el.removeAttribute('data-actor-id');
      el.removeAttribute('data-system-id');
      el.removeAttribute('data-state');
      el.removeAttribute('data-top-state');
      el.removeAttribute('data-machine-id');
      el.removeAttribute('data-signature');
      el.removeAttribute('aria-selected');
      el.dataset.key = row.key;
      el.dataset.count = String(row.count);
      el.replaceChildren(h('span', { class: 'group-label', text: row.label }), h('span', { class: 'group-count', text: String(row.count) }));
      return;
    }
    // Rows are rebuilt only when the tree's shape changes; state comes from the latest summary.
    const actor = getActor(row.key) ?? row.actor;
    const state = formatStateValue(actor.value);
    const selected = actor.id === selectedId;
    const signature = `${actor.id}|${state}|${actor.status}|${selected}|${steppingId === actor.id}|${row.depth}|${row.label}`;
    if (el.dataset.signature === signature) return;
    el.dataset.signature = signature;
    el.dataset.key = row.key;
    el.className = `tree-row actor role-${row.role} status-${actor.status}${selected ? ' selected' : ''}${steppingId === actor.id ? ' stepping' : ''}`;
    el.dataset.testid = 'actor-row';
    el.dataset.actorId = actor.id;
    if (actor.systemId) el.dataset.systemId = actor.systemId;
    else el.removeAttribute('data-system-id');
    if (actor.machineId) el.dataset.machineId = actor.machineId;
    else el.removeAttribute('data-machine-id');
    el.dataset.state = state;
    el.dataset.topState = topState(actor.value);
    el.setAttribute('aria-selected', String(selected));
    el.title = `${actor.systemId ?? actor.id}\n${row.role} · ${actor.status}\n${state}`;
    el.style.setProperty('--depth', String(row.depth));
    el.style.setProperty('--state', stateColor(topState(actor.value)));
    el.replaceChildren(
      h('span', { class: 'role-badge', text: badge(row.role) }),
      h('span', { class: 'row-label', text: row.label }),
      h('span', { class: 'row-state', text: actor.status === 'active' ? state : `${state} · ${actor.status}` }),
    );
  }

  return {
    render,
    /** The set or shape of actors changed: rebuild the rows on the next render. */
    invalidateStructure() {
      structureDirty = true;
    },
    /** @param {() => void} fn how the tree asks for a render (the frame scheduler) */
    setRenderRequest(fn) {
      requestRender = fn;
    },
    /** @param {string | null} id */
    setSelected(id) {
      selectedId = id;
    },
    /** @param {string | null} id */
    setStepping(id) {
      steppingId = id;
    },
    /** @param {string} value */
    setFilter(value) {
      filterInput.value = value;
      structureDirty = true;
    },
    scrollIntoView,
  };
}

/** @param {string} role */
function badge(role) {
  switch (role) {
    case 'userSession':
      return 'U';
    case 'appSession':
      return 'A';
    case 'appConnection':
      return 'C';
    case 'helper':
      return '·';
    default:
      return 'M';
  }
}
