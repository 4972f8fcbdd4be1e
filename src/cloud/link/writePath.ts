/**
 * The one write path every frame to a glasses or app socket takes: handshake acks and errors,
 * control messages, data frames, replays. A closed socket is never written to (seed 03), and a
 * frame that cannot be serialised is dropped with `false` instead of throwing into the caller
 * (the router's loop over every subscribed app). Backpressure and per-socket limits belong here.
 */
import { WebSocket } from 'ws';

/**
 * Writes `message` as one JSON text frame if the socket is open. Returns whether it was
 * written; `false` means the socket was not open or the message could not be serialised.
 */
export function writeFrame(ws: WebSocket, message: object): boolean {
  if (ws.readyState !== WebSocket.OPEN) return false;
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
