/**
 * Asks whether an open socket still answers: one ping, and whether anything comes back (a pong
 * or any frame) within `timeoutMs`. Used before a stock-SDK app's second socket may replace the
 * one its session holds: `@mentra/sdk` gives no way to tell its live session object from an
 * orphan one (a connect it gave up on, reconnecting by itself), but an orphan's newcomer arrives
 * while the held socket still answers, and a real reconnect arrives after the held one died.
 */
import type { WebSocket } from 'ws';

/** Resolves `true` if `ws` shows a sign of life within `timeoutMs`, `false` otherwise (never rejects). */
export function probeLiveness(ws: WebSocket, timeoutMs: number): Promise<boolean> {
  if (ws.readyState !== ws.OPEN) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (alive: boolean) => {
      clearTimeout(timer);
      ws.off('pong', onAlive);
      ws.off('message', onAlive);
      ws.off('close', onClosed);
      resolve(alive);
    };
    const onAlive = () => done(true);
    const onClosed = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    ws.on('pong', onAlive);
    ws.on('message', onAlive);
    ws.on('close', onClosed);
    try {
      ws.ping();
    } catch {
      done(false);
    }
  });
}
