/**
 * The `ws` implementation of the session socket ports (`machines/sessionPorts.ts`), for glasses
 * and app sockets alike. It translates socket events into the machine's facts and carries out
 * its commands; it decides nothing. Data frames never pass through it.
 */
import { WebSocket } from 'ws';
import { fromCallback } from 'xstate';
import type { SessionSocketCommand } from '../../machines/sessionPorts.js';
import { CloseCode, CloseReason } from '../protocol/closeCodes.js';
import type { SocketEntry, SocketTable } from './socketTable.js';

/** How one kind of socket names its facts and acknowledges its handshake. */
export interface SessionSocketKind {
  alive: 'glasses.alive' | 'app.alive';
  closed: 'glasses.closed' | 'app.closed';
  /** The handshake acknowledgement written on `socket.accept`. */
  ack(entry: SocketEntry): object;
  /**
   * Runs right after the ack was written, in the same call, so nothing can come between the two
   * (the replay of missed data frames, `deliveryLog.ts`).
   */
  afterAck?(entry: SocketEntry): void;
  /** Called when the machine terminates the socket for missing its heartbeat. */
  onHeartbeatTimeout?(): void;
}

/** Builds the actor logic for one kind of socket over the cloud's socket table. */
export function createSessionSocket<Input extends { gen: number }>(table: SocketTable, kind: SessionSocketKind) {
  return fromCallback<SessionSocketCommand, Input>(({ input, sendBack, receive }) => {
    const { gen } = input;
    const entry = table.get(gen);
    if (!entry || entry.ws.readyState !== WebSocket.OPEN) {
      // A restored snapshot names a socket of a previous process: it is gone.
      sendBack({ type: kind.closed, gen, code: CloseCode.ABNORMAL, reason: '' });
      return () => {};
    }
    const { ws } = entry;
    let awaitingSignOfLife = false;
    const signOfLife = () => {
      if (!awaitingSignOfLife) return;
      awaitingSignOfLife = false;
      sendBack({ type: kind.alive, gen });
    };
    const onClose = (code: number, reason: Buffer) => {
      table.remove(entry);
      sendBack({
        type: kind.closed,
        gen,
        code,
        reason: reason.toString(),
        ...(entry.kind === 'app' ? { ownershipReleased: entry.ownershipReleased } : {}),
      });
    };
    ws.on('pong', signOfLife);
    ws.on('message', signOfLife);
    ws.on('close', onClose);
    entry.report = (fact) => sendBack(fact);

    receive((command) => {
      switch (command.type) {
        case 'socket.accept':
          if (send(ws, kind.ack(entry))) kind.afterAck?.(entry);
          break;
        case 'socket.ping':
          awaitingSignOfLife = true;
          if (ws.readyState === WebSocket.OPEN) ws.ping();
          break;
        case 'socket.send':
          send(ws, command.message);
          break;
        case 'socket.close':
          if (ws.readyState === WebSocket.OPEN) ws.close(command.code, command.reason);
          break;
        case 'socket.terminate':
          if (command.reason === CloseReason.HEARTBEAT_TIMEOUT) kind.onHeartbeatTimeout?.();
          ws.terminate();
          break;
      }
    });

    return () => {
      ws.off('pong', signOfLife);
      ws.off('message', signOfLife);
      ws.off('close', onClose);
      if (entry.report) delete entry.report;
      table.remove(entry);
      // An open socket nobody owns any more is cut; a close handshake under way is left alone.
      if (ws.readyState === WebSocket.OPEN) ws.terminate();
    };
  });
}

/** Writes a JSON frame if the socket is open; a closed socket is never written to (seed 03). */
export function send(ws: WebSocket, message: object): boolean {
  if (ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(message));
  return true;
}
