/**
 * The Tether statecharts: pure machines with their event, emitted-event and I/O contracts.
 * `src/sdk` runs `appConnection`; `src/cloud` runs `userSession`, `appSession` and
 * `socketLink`, and reads them only through `sessionApi`.
 */
export * from './appConnection.js';
export * from './appSession.js';
export * from './userSession.js';
export * from './socketLink.js';
export * from './sessionApi.js';
export * from './ports.js';
export * from './sessionPorts.js';
export * from './policy/backoff.js';
export * from './policy/closePolicy.js';
export * from './policy/sessionConfig.js';
