/**
 * Closing a `ws` socket on shutdown without waiting on a peer that never answers.
 */
import type { WebSocket } from 'ws';

/**
 * How long a peer gets to answer a close frame before its socket is cut, in ms. The shutdown
 * waits this long whenever one peer does not answer, and among thousands of glasses some always
 * are dead and not yet found by the heartbeat: a restart is out of service for it every time.
 * A cut peer has had the close frame for this long already; if it missed it, it sees 1006 and
 * reconnects just the same (both SDKs and the glasses do).
 */
export const CLOSE_ANSWER_TIMEOUT_MS = 250;

/**
 * Closes `ws` with `code` and `reason` and resolves once it is closed. A socket still connecting
 * cannot send a close frame, so it is cut at once; one already closing is left to finish; any
 * socket whose peer has not completed the close within {@link CLOSE_ANSWER_TIMEOUT_MS} is cut.
 */
export function closeSocket(ws: WebSocket, code: number, reason: string): Promise<void> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const cut = setTimeout(() => ws.terminate(), CLOSE_ANSWER_TIMEOUT_MS);
    ws.once('close', () => {
      clearTimeout(cut);
      resolve();
    });
    if (ws.readyState === ws.OPEN) ws.close(code, reason);
    else if (ws.readyState === ws.CONNECTING) ws.terminate();
  });
}
