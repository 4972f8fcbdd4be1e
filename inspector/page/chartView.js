/**
 * Draws a laid-out statechart as SVG and keeps the active states highlighted: states are
 * `<g data-state-id>` groups (class `active` when in the current configuration, `leaf` for
 * the deepest), compound states are boxes holding their children, regions of a parallel state
 * are dashed boxes, transitions are arrows with their labels. Highlighting never re-lays out.
 * Wheel zooms, drag pans, double-click fits.
 */

import { h, s } from './dom.js';
import { layoutDefinition } from './chartLayout.js';
import { activeStateIds, leafStateIds } from './stateValue.js';

/** Largest zoom used to fit a small chart, so three states do not fill a screen. */
const MAX_FIT_SCALE = 1.35;
/**
 * Smallest zoom a chart opens at: a chart that would need less to fit opens at this zoom
 * around its active state (and follows it), readable; double-click shows all of it.
 */
const MIN_OPEN_SCALE = 0.72;

/**
 * @param {{ root: HTMLElement }} options
 */
export function createChartView({ root }) {
  const svg = /** @type {SVGSVGElement} */ (s('svg', { 'data-testid': 'chart', class: 'chart', role: 'img', 'aria-label': 'Statechart' }));
  const empty = h('div', { class: 'chart-empty', text: 'Select an actor to draw its statechart.' });
  const legend = h('div', { class: 'chart-legend' });
  root.append(svg, empty, legend);

  /** @type {import('./types.js').StateDef | null} */
  let definition = null;
  /** @type {string | null} */
  let actorId = null;
  /** @type {unknown} */
  let value;
  let drawToken = 0;
  /** @type {Map<string, SVGElement>} */
  let stateEls = new Map();
  /** @type {{ x: number, y: number, w: number, h: number } | null} */
  let view = null;
  /** @type {{ x: number, y: number, w: number, h: number } | null} */
  let fitted = null;
  /** Whether the view moves to keep the active state visible (until the user pans or zooms). */
  let following = false;
  /** Size of the laid-out chart. */
  let bounds = { w: 0, h: 0 };

  installZoom();

  /**
   * Shows `def` for actor `id` (re-laid out only when the definition changes).
   * @param {string | null} id
   * @param {import('./types.js').StateDef | null} def
   * @param {unknown} stateValue
   * @returns {Promise<void>} settles once drawn
   */
  async function show(id, def, stateValue) {
    value = stateValue;
    const sameChart = def === definition || (def && definition && JSON.stringify(def) === JSON.stringify(definition));
    actorId = id;
    svg.dataset.actorId = id ?? '';
    if (sameChart && stateEls.size > 0) {
      definition = def;
      highlight();
      svg.dataset.renderedFor = id ?? '';
      return;
    }
    definition = def;
    const token = ++drawToken;
    if (!def) {
      svg.replaceChildren();
      stateEls = new Map();
      empty.hidden = false;
      empty.textContent = id ? 'This actor has no machine definition (a socket or webhook actor).' : 'Select an actor to draw its statechart.';
      legend.textContent = '';
      svg.dataset.renderedFor = id ?? '';
      return;
    }
    empty.hidden = true;
    const panel = { width: root.clientWidth || 800, height: root.clientHeight || 400 };
    const layout = await layoutDefinition(def, panel);
    if (token !== drawToken) return; // a newer selection won
    draw(layout);
    highlight();
    legend.replaceChildren(
      h('span', { class: 'machine-name', text: def.id }),
      h('span', { class: 'hint', text: 'wheel: zoom · drag: pan · double-click: fit all' }),
    );
    svg.dataset.machineId = def.id;
    svg.dataset.renderedFor = id ?? '';
  }

  /** @param {unknown} stateValue */
  function setValue(stateValue) {
    value = stateValue;
    highlight();
  }

  function highlight() {
    const active = activeStateIds(definition, value);
    const leaves = leafStateIds(definition, active);
    for (const [id, el] of stateEls) {
      const isActive = active.has(id);
      el.classList.toggle('active', isActive);
      el.classList.toggle('leaf', leaves.has(id));
    }
    svg.dataset.active = [...leaves].join(' ');
    if (following) follow(leaves);
  }

  /**
   * Recentres a zoomed-in view on the active leaves when they left it.
   * @param {Set<string>} leaves
   */
  function follow(leaves) {
    if (!view) return;
    const boxes = [...leaves].map((id) => stateEls.get(id)?.querySelector('rect')).filter(Boolean).map((r) => /** @type {SVGGraphicsElement} */ (r).getBBox());
    if (boxes.length === 0) return;
    const x1 = Math.min(...boxes.map((b) => b.x));
    const y1 = Math.min(...boxes.map((b) => b.y));
    const x2 = Math.max(...boxes.map((b) => b.x + b.width));
    const y2 = Math.max(...boxes.map((b) => b.y + b.height));
    const inside = x1 >= view.x && y1 >= view.y && x2 <= view.x + view.w && y2 <= view.y + view.h;
    if (!inside) setView(clamp({ ...view, x: (x1 + x2) / 2 - view.w / 2, y: (y1 + y2) / 2 - view.h / 2 }));
  }

  /**
   * Keeps a followed view on the chart: centred on an axis where the whole chart fits, else
   * never showing past its edges.
   * @param {{ x: number, y: number, w: number, h: number }} box
   */
  function clamp(box) {
    const axis = (/** @type {number} */ pos, /** @type {number} */ size, /** @type {number} */ total) =>
      size >= total ? (total - size) / 2 : Math.min(Math.max(pos, 0), total - size);
    return { ...box, x: axis(box.x, box.w, bounds.w), y: axis(box.y, box.h, bounds.h) };
  }

  /** @param {import('./chartLayout.js').ChartLayout} layout */
  function draw(layout) {
    const { graph, nodes, edges } = layout;
    const nodeLayer = s('g', { class: 'nodes' });
    const edgeLayer = s('g', { class: 'edges' });
    const labelLayer = s('g', { class: 'edge-labels' });
    stateEls = new Map();

    /** @param {import('./types.js').LaidOutNode} node */
    const visit = (node) => {
      const info = nodes.get(node.id);
      if (info?.kind === 'initial') {
        nodeLayer.append(s('circle', { class: 'initial', cx: node.x + 5, cy: node.y + 5, r: 5 }));
      } else if (info?.kind === 'state') {
        const el = drawState(node, info);
        stateEls.set(node.id, el);
        nodeLayer.append(el);
      }
      for (const child of node.children ?? []) visit(child);
    };
    for (const child of graph.children ?? []) visit(child);

    for (const edge of graph.edges ?? []) {
      const info = edges.get(edge.id);
      for (const section of edge.sections ?? []) {
        edgeLayer.append(s('path', { class: info?.initial ? 'edge initial-edge' : 'edge', d: pathOf(section), 'marker-end': 'url(#arrow)' }));
      }
      for (const label of edge.labels ?? []) {
        const lines = label.text.split('\n');
        const text = s('text', { class: 'edge-label', x: label.x + 4, y: label.y + 13 });
        lines.forEach((line, i) => text.append(s('tspan', { x: label.x + 4, dy: i === 0 ? 0 : 14, class: line.startsWith('[') ? 'guard' : undefined, text: line })));
        labelLayer.append(text);
      }
    }

    const defs = s('defs', {}, [
      s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, [
        s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }),
      ]),
    ]);
    svg.replaceChildren(defs, nodeLayer, edgeLayer, labelLayer);
    bounds = { w: layout.width, h: layout.height };
    fitted = fitBox(layout.width, layout.height);
    const pw = root.clientWidth || layout.width;
    const fitScale = pw / fitted.w;
    following = fitScale < MIN_OPEN_SCALE;
    if (following) {
      const ph = root.clientHeight || layout.height;
      setView(clamp({ x: 0, y: 0, w: pw / MIN_OPEN_SCALE, h: ph / MIN_OPEN_SCALE }));
    } else {
      setView(fitted);
    }
  }

  /**
   * @param {import('./types.js').LaidOutNode} node
   * @param {Extract<import('./chartModel.js').NodeInfo, { kind: 'state' }>} info
   */
  function drawState(node, info) {
    const { def } = info;
    const compound = (node.children ?? []).length > 0;
    const classes = ['state', `type-${def.type}`, compound ? 'compound' : 'simple'];
    if (info.parallelRegion) classes.push('region');
    if (info.depth === 0) classes.push('machine');
    const g = s('g', { class: classes.join(' '), 'data-state-id': def.id, 'data-type': def.type });
    const tooltip = [def.id, def.description, def.tags?.length ? `tags: ${def.tags.join(', ')}` : ''].filter(Boolean).join('\n');
    g.append(s('title', { text: tooltip }));
    g.append(s('rect', { x: node.x, y: node.y, width: node.width, height: node.height, rx: compound ? 10 : 8 }));
    if (def.type === 'final') {
      g.append(s('rect', { class: 'final-inner', x: node.x + 3, y: node.y + 3, width: node.width - 6, height: node.height - 6, rx: 6 }));
    }
    const title = def.key + (def.type === 'parallel' ? '  ∥' : '');
    const tags = Array.isArray(def.tags) && def.tags.length ? def.tags.join(' · ') : '';
    if (compound) {
      g.append(s('text', { class: 'state-title', x: node.x + 12, y: node.y + 20, text: title }));
      if (tags) g.append(s('text', { class: 'state-tags', x: node.x + 12, y: node.y + 35, text: tags }));
    } else {
      const cx = node.x + node.width / 2;
      g.append(s('text', { class: 'state-title', x: cx, y: node.y + (tags ? 18 : 19), 'text-anchor': 'middle', text: title }));
      if (tags) g.append(s('text', { class: 'state-tags', x: cx, y: node.y + 33, 'text-anchor': 'middle', text: tags }));
    }
    return g;
  }

  /**
   * @param {number} width
   * @param {number} height
   */
  function fitBox(width, height) {
    const pw = root.clientWidth || width;
    const ph = root.clientHeight || height;
    const scale = Math.min(MAX_FIT_SCALE, pw / width, ph / height);
    const w = pw / scale;
    const hh = ph / scale;
    return { x: (width - w) / 2, y: (height - hh) / 2, w, h: hh };
  }

  /** @param {{ x: number, y: number, w: number, h: number }} box */
  function setView(box) {
    view = box;
    svg.setAttribute('viewBox', `${box.x} ${box.y} ${box.w} ${box.h}`);
  }

  function installZoom() {
    svg.addEventListener('wheel', (event) => {
      if (!view) return;
      event.preventDefault();
      following = false;
      const rect = svg.getBoundingClientRect();
      const factor = Math.exp(event.deltaY * 0.0015);
      const px = view.x + ((event.clientX - rect.left) / rect.width) * view.w;
      const py = view.y + ((event.clientY - rect.top) / rect.height) * view.h;
      setView({ x: px - (px - view.x) * factor, y: py - (py - view.y) * factor, w: view.w * factor, h: view.h * factor });
    }, { passive: false });
    /** @type {{ x: number, y: number, view: { x: number, y: number, w: number, h: number } } | null} */
    let drag = null;
    svg.addEventListener('pointerdown', (event) => {
      if (!view) return;
      drag = { x: event.clientX, y: event.clientY, view };
      svg.setPointerCapture(event.pointerId);
    });
    svg.addEventListener('pointermove', (event) => {
      if (!drag) return;
      following = false;
      const rect = svg.getBoundingClientRect();
      const k = drag.view.w / rect.width;
      setView({ ...drag.view, x: drag.view.x - (event.clientX - drag.x) * k, y: drag.view.y - (event.clientY - drag.y) * k });
    });
    svg.addEventListener('pointerup', () => {
      drag = null;
    });
    svg.addEventListener('dblclick', () => {
      following = false;
      if (fitted) setView(fitted);
    });
  }

  return {
    show,
    setValue,
    /** The id of the actor drawn. */
    get actorId() {
      return actorId;
    },
    /** Refits after the panel was resized. */
    refit() {
      if (!definition || !svg.firstChild) return;
      const box = svg.querySelector('.machine rect');
      if (box) {
        const bb = /** @type {SVGGraphicsElement} */ (box).getBBox();
        fitted = fitBox(bb.width + bb.x + 8, bb.height + bb.y + 8);
        setView(fitted);
      }
    },
  };
}

/**
 * An SVG path through an ELK edge section, with small rounded corners at bends.
 * @param {{ startPoint: { x: number, y: number }, endPoint: { x: number, y: number }, bendPoints?: Array<{ x: number, y: number }> }} section
 */
function pathOf(section) {
  const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
  let d = `M ${points[0]?.x} ${points[0]?.y}`;
  for (let i = 1; i < points.length; i++) {
    const p = /** @type {{ x: number, y: number }} */ (points[i]);
    const prev = /** @type {{ x: number, y: number }} */ (points[i - 1]);
    const next = points[i + 1];
    if (!next) {
      d += ` L ${p.x} ${p.y}`;
      continue;
    }
    const r = Math.min(6, dist(prev, p) / 2, dist(p, next) / 2);
    const a = toward(p, prev, r);
    const b = toward(p, next, r);
    d += ` L ${a.x} ${a.y} Q ${p.x} ${p.y} ${b.x} ${b.y}`;
  }
  return d;
}

/**
 * @param {{ x: number, y: number }} a
 * @param {{ x: number, y: number }} b
 */
function dist(a, b) {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/**
 * The point at distance `r` from `from` toward `to`.
 * @param {{ x: number, y: number }} from
 * @param {{ x: number, y: number }} to
 * @param {number} r
 */
function toward(from, to, r) {
  const d = dist(from, to) || 1;
  return { x: from.x + ((to.x - from.x) * r) / d, y: from.y + ((to.y - from.y) * r) / d };
}
