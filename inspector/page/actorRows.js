/**
 * Orders actors as the tree the page shows — cloud → users → app sessions, then each attached
 * SDK process with its actors — and applies the filter. Pure: summaries in, rows out.
 *
 * @typedef {import('./actorStore.js').ActorSummary} ActorSummary
 * @typedef {{ kind: 'group', key: string, label: string, count: number }
 *   | { kind: 'actor', key: string, actor: ActorSummary, depth: number, label: string, role: string }} Row
 */

/** Machines the cloud and SDK run, in the order siblings are listed. */
const ROLE_ORDER = ['userSession', 'appSession', 'appConnection'];

/** Prefix of a cloud node's source name (protocol.ts `nodeSource`). */
const NODE_PREFIX = 'node:';

/** A group's heading: the cloud, a node of a cluster (the sessions it owns), or an SDK process. */
function sourceLabel(/** @type {string} */ source) {
  if (source === 'cloud') return 'cloud';
  return source.startsWith(NODE_PREFIX) ? `node · ${source.slice(NODE_PREFIX.length)}` : `sdk · ${source}`;
}

/**
 * @param {Iterable<ActorSummary>} actors
 * @param {{ filter?: string, showHelpers?: boolean }} options `showHelpers`: also list actors
 *   without a machine (socket and webhook actors the machines invoke)
 * @returns {Row[]}
 */
export function buildRows(actors, { filter = '', showHelpers = false } = {}) {
  /** @type {Map<string, ActorSummary>} */
  const byId = new Map();
  for (const actor of actors) {
    if (showHelpers || actor.machineId) byId.set(actor.id, actor);
  }
  /** @type {Map<string, ActorSummary[]>} */
  const children = new Map();
  /** @type {Map<string, ActorSummary[]>} source → root actors */
  const roots = new Map();
  for (const actor of byId.values()) {
    const parent = actor.parentId && byId.has(actor.parentId) ? actor.parentId : undefined;
    if (parent) push(children, parent, actor);
    else push(roots, actor.source || 'cloud', actor);
  }

  const needle = filter.trim().toLowerCase();
  /** @param {ActorSummary} a */
  const matches = (a) =>
    !needle ||
    [a.userId, a.packageName, a.systemId, a.id].some((field) => typeof field === 'string' && field.toLowerCase().includes(needle));

  /** @type {Row[]} */
  const rows = [];
  // The cloud first, then the nodes of a cluster (`node:<id>`, protocol.ts nodeSource), then SDK processes.
  const rank = (/** @type {string} */ source) => (source === 'cloud' ? 0 : source.startsWith(NODE_PREFIX) ? 1 : 2);
  const sources = [...roots.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const source of sources) {
    /** @type {Row[]} */
    const groupRows = [];
    for (const root of sortActors(roots.get(source) ?? [])) collect(root, 0, false, groupRows);
    if (groupRows.length === 0) continue;
    rows.push({ kind: 'group', key: `group:${source}`, label: sourceLabel(source), count: groupRows.length });
    rows.push(...groupRows);
  }
  return rows;

  /**
   * Adds `actor` and its descendants when it, an ancestor or a descendant matches.
   * @param {ActorSummary} actor
   * @param {number} depth
   * @param {boolean} ancestorMatched
   * @param {Row[]} out
   * @returns {boolean} whether anything was added
   */
  function collect(actor, depth, ancestorMatched, out) {
    const self = ancestorMatched || matches(actor);
    const mark = out.length;
    out.push({ kind: 'actor', key: actor.id, actor, depth, label: labelOf(actor), role: roleOf(actor) });
    let any = self;
    for (const child of sortActors(children.get(actor.id) ?? [])) {
      if (collect(child, depth + 1, self, out)) any = true;
    }
    if (!any) out.length = mark;
    return any;
  }
}

/**
 * What an actor is, for styling and ordering: its machine id, or `helper`.
 * @param {ActorSummary} actor
 */
function roleOf(actor) {
  return actor.machineId ?? 'helper';
}

/**
 * The name a person looks for: the user id for a user session, the package for an app session
 * or connection, else the system id or actor id.
 * @param {ActorSummary} actor
 */
export function labelOf(actor) {
  const role = roleOf(actor);
  if (role === 'userSession' && actor.userId) return actor.userId;
  if ((role === 'appSession' || role === 'appConnection') && actor.packageName) {
    return role === 'appConnection' && actor.userId ? `${actor.packageName} · ${actor.userId}` : actor.packageName;
  }
  return actor.systemId ?? actor.id;
}

/** @param {ActorSummary[]} list */
function sortActors(list) {
  return list.sort((a, b) => {
    const ra = rank(roleOf(a));
    const rb = rank(roleOf(b));
    if (ra !== rb) return ra - rb;
    return labelOf(a).localeCompare(labelOf(b), undefined, { numeric: true });
  });
}

/** @param {string} role */
function rank(role) {
  const index = ROLE_ORDER.indexOf(role);
  return index === -1 ? ROLE_ORDER.length : index;
}

/**
 * @template T
 * @param {Map<string, T[]>} map
 * @param {string} key
 * @param {T} value
 */
function push(map, key, value) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
