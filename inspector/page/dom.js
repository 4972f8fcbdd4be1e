/**
 * Tiny DOM helpers shared by the views: element and SVG element builders, and a time formatter.
 * No framework: each view owns its subtree and updates it in place.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Creates an HTML element.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined>} [attrs] `class`, `text` and data-/aria- attributes included
 * @param {Array<Node | string>} [children]
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  for (const child of children) el.append(child);
  return el;
}

/**
 * Creates an SVG element.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined>} [attrs]
 * @param {Array<Node | string>} [children]
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, children = []) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  for (const child of children) el.append(child);
  return el;
}

/**
 * @param {Element} el
 * @param {Record<string, string | number | boolean | undefined>} attrs
 */
function applyAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === 'text') el.textContent = String(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
}

/**
 * Wall time as `HH:MM:SS.mmm` (local time), for logs and axes.
 * @param {number} t ms since the epoch
 */
export function clockTime(t) {
  const d = new Date(t);
  const pad = (/** @type {number} */ n, /** @type {number} */ w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/**
 * Width of `text` in px in the given CSS font, measured once per (font, text).
 * @param {string} text
 * @param {string} font e.g. `12px system-ui`
 */
export function textWidth(text, font) {
  const key = `${font}\u0000${text}`;
  let width = widthCache.get(key);
  if (width === undefined) {
    measureContext.font = font;
    width = measureContext.measureText(text).width;
    widthCache.set(key, width);
  }
  return width;
}

/** @type {Map<string, number>} */
const widthCache = new Map();
const measureContext = /** @type {CanvasRenderingContext2D} */ (document.createElement('canvas').getContext('2d'));
