/**
 * One colour per top-level state name, shared by the actor list and the timeline: healthy
 * states green, transitional ones amber, ended ones grey; other names get a stable hue.
 */

const KNOWN = /** @type {Record<string, string>} */ ({
  connected: '#2f9e6e',
  running: '#2f9e6e',
  open: '#2f9e6e',
  grace: '#d9912b',
  resurrecting: '#d9912b',
  reconnecting: '#d9912b',
  connecting: '#5b8def',
  starting: '#5b8def',
  idle: '#8a94a6',
  stopping: '#7d8aa8',
  disposed: '#a3a9b5',
  stopped: '#a3a9b5',
  closed: '#a3a9b5',
});

/**
 * @param {string} state top-level state name
 * @returns {string} CSS colour
 */
export function stateColor(state) {
  const known = KNOWN[state];
  if (known) return known;
  let hash = 0;
  for (let i = 0; i < state.length; i++) hash = (hash * 31 + state.charCodeAt(i)) | 0;
  return `hsl(${Math.abs(hash) % 360} 45% 52%)`;
}
