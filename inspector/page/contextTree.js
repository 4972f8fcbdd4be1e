/**
 * The selected actor's context as a collapsible tree. Which branches are open survives updates
 * (kept by path); closed branches are rendered only when opened; values that changed since the
 * previous update flash once.
 */

import { h } from './dom.js';

/** Most entries of one object or array rendered (the rest summarized). */
const MAX_ENTRIES = 200;

/**
 * @param {{ root: HTMLElement }} options
 */
export function createContextTree({ root }) {
  const body = h('div', { class: 'context-tree', 'data-testid': 'context-tree' });
  root.append(body);
  /** @type {Set<string>} paths of open branches */
  const open = new Set(['$']);
  /** @type {Set<string>} paths the user closed (so the default does not reopen them) */
  const closed = new Set();
  let lastJson = '';
  /** @type {Map<string, string>} */
  let lastLeaves = new Map();
  /** @type {Map<string, string>} */
  let leaves = new Map();

  /**
   * @param {unknown} context
   */
  function render(context) {
    const json = safeJson(context);
    if (json === lastJson) return;
    lastJson = json;
    lastLeaves = leaves;
    leaves = new Map();
    if (context === undefined) {
      body.replaceChildren(h('div', { class: 'muted', text: 'No context.' }));
      return;
    }
    body.replaceChildren(...entriesOf(context, '$', 0));
  }

  /**
   * @param {unknown} value
   * @param {string} path
   * @param {number} depth
   * @returns {HTMLElement[]}
   */
  function entriesOf(value, path, depth) {
    if (!isBranch(value)) return [leaf('', value, path)];
    const entries = Array.isArray(value) ? value.map((v, i) => /** @type {[string, unknown]} */ ([String(i), v])) : Object.entries(value);
    const shown = entries.slice(0, MAX_ENTRIES).map(([key, child]) => node(key, child, `${path}.${key}`, depth));
    if (entries.length > MAX_ENTRIES) shown.push(h('div', { class: 'muted', text: `… ${entries.length - MAX_ENTRIES} more` }));
    return shown;
  }

  /**
   * @param {string} key
   * @param {unknown} value
   * @param {string} path
   * @param {number} depth
   */
  function node(key, value, path, depth) {
    if (!isBranch(value)) return leaf(key, value, path);
    const isOpen = open.has(path) || (depth < 1 && !closed.has(path) && size(value) <= 12);
    const details = /** @type {HTMLDetailsElement} */ (h('details', { class: 'branch', 'data-path': path }));
    details.open = isOpen;
    const summary = h('summary', {}, [h('span', { class: 'key', text: key }), h('span', { class: 'preview', text: preview(value) })]);
    const children = h('div', { class: 'children' });
    details.append(summary, children);
    let rendered = false;
    const fill = () => {
      if (rendered) return;
      rendered = true;
      children.append(...entriesOf(value, path, depth + 1));
    };
    if (isOpen) fill();
    details.addEventListener('toggle', () => {
      if (details.open) {
        open.add(path);
        closed.delete(path);
        fill();
      } else {
        open.delete(path);
        closed.add(path);
      }
    });
    return details;
  }

  /**
   * @param {string} key
   * @param {unknown} value
   * @param {string} path
   */
  function leaf(key, value, path) {
    const text = leafText(value);
    leaves.set(path, text);
    const changed = lastLeaves.size > 0 && lastLeaves.get(path) !== text;
    return h('div', { class: `leaf${changed ? ' changed' : ''}` }, [
      ...(key ? [h('span', { class: 'key', text: key })] : []),
      h('span', { class: `v v-${value === null ? 'null' : typeof value}`, text }),
    ]);
  }

  return { render };
}

/**
 * @param {unknown} value
 * @returns {value is object}
 */
function isBranch(value) {
  return typeof value === 'object' && value !== null && size(value) > 0;
}

/** @param {object} value */
function size(value) {
  return Array.isArray(value) ? value.length : Object.keys(value).length;
}

/** @param {object} value */
function preview(value) {
  return Array.isArray(value) ? `[${value.length}]` : `{${Object.keys(value).length}}`;
}

/** @param {unknown} value */
function leafText(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return '[]';
  if (typeof value === 'object' && value !== null) return '{}';
  return String(value);
}

/** @param {unknown} value */
function safeJson(value) {
  try {
    return JSON.stringify(value) ?? 'undefined';
  } catch {
    return String(Math.random());
  }
}
