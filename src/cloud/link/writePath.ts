/**
 * The one write path every frame to a glasses or app socket takes: handshake acks and errors,
 * control messages, data frames, replays. A closed socket is never written to (seed 03), and a
 * frame that cannot be serialised is dropped with `false` instead of throwing into the caller
 * (the router's loop over every subscribed app). Backpressure and per-socket limits belong here,
 * and so does the fence of a cluster node that lost its lease (`outboundFence.ts`).
 */
import { WebSocket } from 'ws';
import { mayWriteTo } from './outboundFence.js';

/**
 * Writes `message` as one JSON text frame if the socket is open. Returns whether it was
 * written; `false` means the socket was not open or the message could not be serialised.
 */
export function writeFrame(ws: WebSocket, message: object): boolean {
  if (ws.readyState !== WebSocket.OPEN || !mayWriteTo(ws)) return false;
  let text: string;
  try {
    text = JSON.stringify(message);
  } catch {
    // Cyclic or too deeply nested to serialise: nothing on the wire, nothing thrown.
    return false;
  }
  ws.send(text);
  return true;
}

/** The TCP socket under a `ws` WebSocket (`ws` keeps it in `_socket`, without a public accessor). */
type Corkable = { cork(): void; uncork(): void; destroyed?: boolean };

/** Raw sockets corked until the end of the current tick. */
const heldUntilTickEnd = new WeakSet<Corkable>();

function release(socket: Corkable): void {
  heldUntilTickEnd.delete(socket);
  if (!socket.destroyed) socket.uncork();
}

/**
 * {@link writeFrame} for the data plane: the socket is corked until the end of the current tick,
 * so the frames written to it in one tick leave in one `writev` instead of one system call each.
 * With `ws` emitting every frame of a read synchronously, the frames one glasses read fans out
 * to an app socket become one write: that system call was 37% of the relay's CPU (`--cpu-prof`
 * of `bench/relay.ts`). Nothing waits longer than the tick, and `bufferedAmount` (hence the
 * write gate) counts corked bytes as it counts any unsent ones.
 */
export function writeDataFrame(ws: WebSocket, message: object): boolean {
  if (ws.readyState !== WebSocket.OPEN) return false;
  holdUntilTickEnd(ws);
  return writeFrame(ws, message);
}

/** {@link writeDataFrame} for a frame already serialised (the router's, whose data is serialised once per event). */
export function writeDataText(ws: WebSocket, text: string): boolean {
  if (ws.readyState !== WebSocket.OPEN || !mayWriteTo(ws)) return false;
  holdUntilTickEnd(ws);
  ws.send(text);
  return true;
}

function holdUntilTickEnd(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Corkable })._socket;
  if (!socket || heldUntilTickEnd.has(socket)) return;
  heldUntilTickEnd.add(socket);
  socket.cork();
  process.nextTick(release, socket);
}
