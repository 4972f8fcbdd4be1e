/**
 * Lays out a machine definition with ELK (the vendored `elk.bundled.js`, loaded as a classic
 * script that defines `window.ELK`). Layouts are cached per definition: switching between two
 * actors of the same machine costs no layout. For a panel much wider than tall the left-to-right
 * layout usually fits best, otherwise the top-down one may: both are tried when the first
 * leaves the panel badly used, and the one drawn larger wins.
 */

import { textWidth } from './dom.js';
import { toElkGraph } from './chartModel.js';

/** @type {Map<string, Promise<ChartLayout>>} */
const cache = new Map();
/** @type {import('./types.js').Elk | null} */
let elk = null;

/**
 * @typedef {import('./types.js').StateDef} StateDef
 * @typedef {{ graph: import('./types.js').LaidOutNode, nodes: Map<string, import('./chartModel.js').NodeInfo>,
 *   edges: Map<string, import('./chartModel.js').EdgeInfo>, width: number, height: number }} ChartLayout
 */

/**
 * @param {StateDef} definition
 * @param {{ width: number, height: number }} panel size of the drawing area, px
 * @returns {Promise<ChartLayout>}
 */
export function layoutDefinition(definition, panel) {
  const key = `${Math.round(panel.width / 200)}x${Math.round(panel.height / 200)}|${JSON.stringify(definition)}`;
  let layout = cache.get(key);
  if (!layout) {
    layout = bestLayout(definition, panel);
    cache.set(key, layout);
    layout.catch(() => cache.delete(key));
  }
  return layout;
}

/**
 * @param {StateDef} definition
 * @param {{ width: number, height: number }} panel
 */
async function bestLayout(definition, panel) {
  const right = await runLayout(definition, 'RIGHT');
  const fit = (/** @type {ChartLayout} */ l) => Math.min(panel.width / l.width, panel.height / l.height);
  if (fit(right) >= 0.8 || right.width / right.height < panel.width / panel.height) return right;
  const down = await runLayout(definition, 'DOWN');
  return fit(down) > fit(right) * 1.05 ? down : right;
}

/**
 * @param {StateDef} definition
 * @param {'RIGHT' | 'DOWN'} direction
 * @returns {Promise<ChartLayout>}
 */
async function runLayout(definition, direction) {
  const model = toElkGraph(definition, textWidth);
  model.graph.layoutOptions['elk.direction'] = direction;
  elk ??= new window.ELK();
  const graph = await elk.layout(model.graph);
  return { ...model, graph, width: graph.width, height: graph.height };
}
