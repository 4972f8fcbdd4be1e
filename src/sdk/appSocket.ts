/**
 * The `ws` implementation of the app socket port (`machines/ports.ts`). It translates socket
 * events into the machine's fact events and carries out its commands; it decides nothing.
 * Data frames bypass the machine: they go to `onMessage`, and the session writes data frames
 * through `link` while the machine is `canSend`.
 */
import { WebSocket } from 'ws';
import { fromCallback } from 'xstate';
import type { AppSocketCommand, AppSocketInput } from '../../machines/ports.js';
import { CloseCode } from '../protocol/closeCodes.js';
import { MAX_MESSAGE_BYTES } from '../protocol/limits.js';
import { parseMessage, type ParseError } from '../protocol/parse.js';
import type { CloudToAppMessage } from '../protocol/cloudToApp.js';
import type { Logger } from '../logger.js';

/** The socket the session may write data frames to; replaced on every generation. */
export interface SocketLink {
  socket: WebSocket | null;
  gen: number;
}

/** What the adapter needs from its session. */
export interface AppSocketOptions {
  link: SocketLink;
  log: Logger;
  /** Every parsed frame that is not part of the handshake. */
  onMessage(message: CloudToAppMessage): void;
  /** A frame that could not be parsed; the connection stays up. */
  onBadFrame(error: ParseError): void;
  /** Binary frames (audio), delivered as they come. */
  onBinary?(data: Buffer): void;
  /**
   * The `lastSeq` to stamp on each `tpa_connection_init` (the machine builds the init, purely;
   * the delivered position is the session's), or undefined to send none.
   */
  lastSeq?(): number | undefined;
}

function stamp(message: object): string {
  // @mentra/sdk stamps every frame; the cloud's logs line up better when we do too.
  return JSON.stringify({ ...message, timestamp: new Date().toISOString() });
}

/**
 * The `appSocket` actor logic of the SDK: one for every session, each socket reaching its own
 * session through `input.socketContext`, which must return the session's {@link AppSocketOptions}.
 * A function rather than the object, so tools that serialise the machine's context (the
 * inspector) see `[function]` instead of walking into the session's live socket.
 */
export const sdkAppSocket = fromCallback<AppSocketCommand, AppSocketInput>(({ input, sendBack, receive }) => {
  const options = (input.socketContext as () => AppSocketOptions)();
  const { link, log } = options;
  const { gen } = input;
  const socket = new WebSocket(input.url, { maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: 30_000 });
  let awaitingSignOfLife = false;
  const signOfLife = () => {
    if (!awaitingSignOfLife) return;
    awaitingSignOfLife = false;
    sendBack({ type: 'socket.alive', gen });
  };

  socket.on('open', () => {
    link.socket = socket;
    link.gen = gen;
    sendBack({ type: 'socket.opened', gen });
  });
  socket.on('pong', signOfLife);
  socket.on('message', (data, isBinary) => {
    signOfLife();
    if (isBinary) {
      options.onBinary?.(data as Buffer);
      return;
    }
    const parsed = parseMessage('cloudToApp', data as Buffer);
    if (!parsed.ok) {
      options.onBadFrame(parsed.error);
      return;
    }
    const message = parsed.message;
    if (message.type === 'tpa_connection_ack') sendBack({ type: 'ack.received', gen, ack: message });
    else if (message.type === 'tpa_connection_error') {
      sendBack({ type: 'connectionError.received', gen, code: message.code ?? 'CONNECTION_FAILED', message: message.message ?? '' });
    } else options.onMessage(message);
  });
  socket.on('error', (error) => log.debug({ gen, err: error.message }, 'app socket error'));
  socket.on('close', (code, reason) => {
    sendBack({ type: 'socket.closed', gen, code, reason: reason.toString(), wasClean: code !== CloseCode.ABNORMAL });
  });

  receive((command) => {
    switch (command.type) {
      case 'socket.send': {
        if (socket.readyState !== WebSocket.OPEN) break;
        const lastSeq = command.message.type === 'tpa_connection_init' ? options.lastSeq?.() : undefined;
        socket.send(stamp(lastSeq === undefined ? command.message : { ...command.message, lastSeq }));
        break;
      }
      case 'socket.ping':
        awaitingSignOfLife = true;
        if (socket.readyState === WebSocket.OPEN) socket.ping();
        break;
      case 'socket.close':
        if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(command.code, command.reason);
        break;
      case 'socket.terminate':
        socket.terminate();
        break;
    }
  });

  return () => {
    if (link.socket === socket) link.socket = null;
    socket.removeAllListeners();
    // A late error from a socket nobody listens to must not crash the process.
    socket.on('error', () => {});
    if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
    else if (socket.readyState === WebSocket.OPEN) socket.close(CloseCode.NORMAL, 'App disconnected');
  };
});
