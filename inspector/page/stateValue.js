/**
 * XState state values (`'grace'`, `{ connected: 'pinging' }`, `{ open: { heartbeat: 'waiting', … } }`)
 * as text, and as the set of state node ids they activate in a machine definition.
 */

/**
 * Compact text of a state value: `connected.pinging`; parallel regions in parentheses:
 * `open(heartbeat.waiting, liveness.watching)`.
 * @param {unknown} value
 * @returns {string}
 */
export function formatStateValue(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'object') return '';
  const entries = Object.entries(/** @type {Record<string, unknown>} */ (value));
  if (entries.length === 0) return '';
  if (entries.length === 1) {
    const [key, child] = /** @type {[string, unknown]} */ (entries[0]);
    const rest = formatStateValue(child);
    if (!rest) return key;
    return rest.startsWith('(') ? `${key}${rest}` : `${key}.${rest}`;
  }
  return `(${entries.map(([key, child]) => {
    const rest = formatStateValue(child);
    return rest ? (rest.startsWith('(') ? `${key}${rest}` : `${key}.${rest}`) : key;
  }).join(', ')})`;
}

/**
 * The top-level state of a value: `connected` for `{ connected: 'pinging' }`.
 * @param {unknown} value
 * @returns {string}
 */
export function topState(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') return Object.keys(value)[0] ?? '';
  return '';
}

/**
 * Ids of every state node the value makes active (the root included), read from a definition
 * as `machine.toJSON()` gives it.
 * @param {import('./types.js').StateDef | null} definition
 * @param {unknown} value
 * @returns {Set<string>}
 */
export function activeStateIds(definition, value) {
  /** @type {Set<string>} */
  const ids = new Set();
  if (!definition) return ids;
  ids.add(definition.id);
  walk(definition, value, ids);
  return ids;
}

/**
 * @param {import('./types.js').StateDef} node
 * @param {unknown} value
 * @param {Set<string>} ids
 */
function walk(node, value, ids) {
  const states = node.states ?? {};
  if (typeof value === 'string') {
    const child = states[value];
    if (child) ids.add(child.id);
    return;
  }
  if (!value || typeof value !== 'object') return;
  for (const [key, childValue] of Object.entries(value)) {
    const child = states[key];
    if (!child) continue;
    ids.add(child.id);
    walk(child, childValue, ids);
  }
}

/**
 * Ids of the deepest active states only (those the user is "in").
 * @param {import('./types.js').StateDef | null} definition
 * @param {Set<string>} active
 * @returns {Set<string>}
 */
export function leafStateIds(definition, active) {
  /** @type {Set<string>} */
  const leaves = new Set();
  (function visit(/** @type {import('./types.js').StateDef | null} */ node) {
    if (!node || !active.has(node.id)) return;
    const children = Object.values(node.states ?? {});
    const activeChildren = children.filter((child) => active.has(child.id));
    if (activeChildren.length === 0) leaves.add(node.id);
    else activeChildren.forEach(visit);
  })(definition);
  return leaves;
}
