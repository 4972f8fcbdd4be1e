/**
 * Turns a machine definition (`machine.toJSON()` of XState v5) into an ELK graph: one node per
 * state, compound nodes for nesting (parallel regions flagged so the view dashes them), an
 * initial-state dot in each compound state, and one edge per (source, target) pair labelled
 * with every transition it carries — `event [guard]`, `after <delay>`, `always [guard]`.
 * Pure and DOM-free: text widths come from the `measure` function the caller passes.
 *
 * @typedef {import('./types.js').StateDef} StateDef
 * @typedef {import('./types.js').TransitionDef} TransitionDef
 * @typedef {import('./types.js').ElkNode} ElkNode
 * @typedef {{ kind: 'state', def: StateDef, parallelRegion: boolean, depth: number }
 *   | { kind: 'initial' }} NodeInfo
 * @typedef {{ source: string, target: string, lines: string[], initial: boolean }} EdgeInfo
 */

const FONT = '12px system-ui, sans-serif';
const LABEL_FONT = '11px system-ui, sans-serif';
const LINE_HEIGHT = 14;
const MAX_LABEL_LINES = 4;
/** Label lines longer than this put their guard on a line of its own. */
const SPLIT_LINE_CHARS = 26;

/**
 * @param {StateDef} definition
 * @param {(text: string, font: string) => number} measure text width in px
 * @returns {{ graph: ElkNode & { layoutOptions: Record<string, string> }, nodes: Map<string, NodeInfo>, edges: Map<string, EdgeInfo> }}
 */
export function toElkGraph(definition, measure) {
  /** @type {Map<string, NodeInfo>} */
  const nodes = new Map();
  /** @type {Map<string, EdgeInfo>} */
  const edges = new Map();
  /** @type {Map<string, { source: string, target: string, lines: string[] }>} */
  const pairs = new Map();

  const top = stateNode(definition, false, 0);
  for (const { source, target, lines } of pairs.values()) addEdge(source, target, lines, false);

  const graph = {
    id: '__graph',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.edgeRouting': 'SPLINES',
      'elk.layered.spacing.nodeNodeBetweenLayers': '48',
      'elk.spacing.nodeNode': '24',
      'elk.spacing.edgeLabel': '4',
      'elk.spacing.edgeNode': '14',
      'elk.layered.spacing.edgeNodeBetweenLayers': '14',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
    },
    children: [top],
    edges: [...edges.entries()].map(([id, edge]) => ({
      id,
      sources: [edge.source],
      targets: [edge.target],
      labels: edge.lines.length
        ? [{ id: `${id}.label`, text: edge.lines.join('\n'), width: Math.ceil(Math.max(...edge.lines.map((l) => measure(l, LABEL_FONT)))) + 8, height: edge.lines.length * LINE_HEIGHT + 4 }]
        : [],
    })),
  };
  return { graph, nodes, edges };

  /**
   * @param {StateDef} def
   * @param {boolean} parallelRegion whether `def` is a region of a parallel state
   * @param {number} depth
   * @returns {ElkNode}
   */
  function stateNode(def, parallelRegion, depth) {
    nodes.set(def.id, { kind: 'state', def, parallelRegion, depth });
    collectTransitions(def);
    const childDefs = Object.values(def.states ?? {});
    const title = def.key + (def.type === 'parallel' ? '  ∥' : '');
    const titleWidth = measure(title, FONT) + 28;
    const tags = Array.isArray(def.tags) && def.tags.length ? def.tags.join(' · ') : '';
    const tagWidth = tags ? measure(tags, LABEL_FONT) + 20 : 0;
    if (childDefs.length === 0) {
      return {
        id: def.id,
        width: Math.ceil(Math.max(64, titleWidth, tagWidth)),
        height: tags ? 42 : 30,
      };
    }
    /** @type {ElkNode[]} */
    const children = childDefs.map((child) => stateNode(child, def.type === 'parallel', depth + 1));
    const initialTarget = def.type !== 'parallel' ? firstTarget(def.initial) : undefined;
    if (initialTarget) {
      const dot = `${def.id}.__initial`;
      nodes.set(dot, { kind: 'initial' });
      children.unshift({ id: dot, width: 10, height: 10 });
      addEdge(dot, initialTarget, [], true);
    }
    return {
      id: def.id,
      layoutOptions: {
        'elk.padding': `[top=${tags ? 44 : 32},left=14,bottom=14,right=14]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${Math.ceil(Math.max(titleWidth, tagWidth) + 16)}, 40)`,
      },
      children,
    };
  }

  /** @param {StateDef} def */
  function collectTransitions(def) {
    for (const transition of transitionsOf(def)) {
      const target = firstTarget(transition);
      if (!target) continue; // targetless: handled in place, no edge to draw
      const key = `${def.id}\u0000${target}`;
      const pair = pairs.get(key) ?? { source: def.id, target, lines: /** @type {string[]} */ ([]) };
      const line = transitionLabel(transition);
      if (!pair.lines.includes(line)) pair.lines.push(line);
      pairs.set(key, pair);
    }
  }

  /**
   * @param {string} source
   * @param {string} target
   * @param {string[]} lines
   * @param {boolean} initial
   */
  function addEdge(source, target, lines, initial) {
    const capped = lines.length > MAX_LABEL_LINES ? [...lines.slice(0, MAX_LABEL_LINES - 1), `+${lines.length - MAX_LABEL_LINES + 1} more`] : lines;
    // A long `event [guard]` takes two lines: narrower labels make a much narrower layout.
    const shown = capped.flatMap((line) => {
      const at = line.indexOf(' [');
      return line.length > SPLIT_LINE_CHARS && at > 0 ? [line.slice(0, at), line.slice(at + 1)] : [line];
    });
    edges.set(`edge${edges.size}`, { source, target, lines: shown, initial });
  }
}

/**
 * Every transition of a state node: the definition's flat `transitions` list when present,
 * else `on`, `after` and `always` (shapes differ across XState versions).
 * @param {StateDef} def
 * @returns {TransitionDef[]}
 */
function transitionsOf(def) {
  if (Array.isArray(def.transitions)) return [...def.transitions, ...(Array.isArray(def.always) ? def.always : [])];
  const list = [];
  for (const group of Object.values(def.on ?? {})) if (Array.isArray(group)) list.push(...group);
  if (Array.isArray(def.after)) list.push(...def.after);
  if (Array.isArray(def.always)) list.push(...def.always);
  return list;
}

/**
 * The label of one transition: `socket.closed [isCurrentGen]`, `after heartbeatTimeout`,
 * `always [canRetry]`, `done: appSession.x`.
 * @param {TransitionDef} transition
 */
function transitionLabel(transition) {
  const guard = guardName(transition.guard);
  return guard ? `${eventName(transition)} [${guard}]` : eventName(transition);
}

/** @param {TransitionDef} transition */
function eventName(transition) {
  if (transition.delay !== undefined) {
    return typeof transition.delay === 'number' ? `after ${transition.delay} ms` : `after ${transition.delay}`;
  }
  return eventLabel(transition.eventType ?? transition.event ?? '');
}

/**
 * How an event type reads for a person: XState's internal ones shortened
 * (`xstate.after.gracePeriod.userSession.grace` → `after gracePeriod`, `''` → `always`).
 * @param {string | null} type
 */
export function eventLabel(type) {
  if (type === '' || type === null) return 'always';
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after) return /^\d+$/.test(after[1] ?? '') ? `after ${after[1]} ms` : `after ${after[1]}`;
  const done = /^xstate\.(done|error)\.actor\.(.+)$/.exec(type);
  if (done) return `${done[1]}: ${done[2]}`;
  if (type.startsWith('xstate.done.state.')) return 'done';
  return type;
}

/**
 * @param {import('./types.js').GuardDef | undefined} guard
 * @returns {string}
 */
function guardName(guard) {
  if (guard === undefined || guard === null) return '';
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof guard.type === 'string') {
    // Composite guards (`and`, `or`, `not`) when the definition kept their operands.
    const operands = Array.isArray(guard.guards) ? guard.guards.map(guardName) : undefined;
    const op = guard.type.replace(/^xstate\./, '');
    if (operands && op === 'not') return `!${operands[0]}`;
    if (operands && (op === 'and' || op === 'or')) return `(${operands.join(op === 'and' ? ' && ' : ' || ')})`;
    return guard.type;
  }
  return 'guard';
}

/**
 * The first target id of a transition or initial config, without its `#`.
 * @param {TransitionDef | undefined} transition
 * @returns {string | undefined}
 */
function firstTarget(transition) {
  const target = Array.isArray(transition?.target) ? transition.target[0] : transition?.target;
  if (typeof target !== 'string' || target === '') return undefined;
  return target.startsWith('#') ? target.slice(1) : target;
}
