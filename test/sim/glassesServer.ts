/**
 * A tiny stand-in for the cloud's `/glasses-ws`, for testing the glasses simulator before the
 * cloud exists: a real `ws` server on 127.0.0.1 (ephemeral port) that acks `connection_init`,
 * answers `heartbeat`, records every frame, pong and close per connection, and keeps one
 * ordered log of what it saw across connections (`open#0`, `init#0`, `ack#0`, `close#0:1000`).
 *
 * It speaks raw JSON on purpose: it is the independent other side, so it shares no code with
 * `src/protocol`.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import { frameText } from '../../src/protocol/parse.js';

const HOST = '127.0.0.1';
const PATH = '/glasses-ws';
const CLOSE_AUTH_FAILED = 4001;
const CLOSE_REPLACED = 4003;

/** How the server answers a `connection_init`. */
export type InitReply =
  | { kind: 'ack' }
  | { kind: 'silent' }
  | { kind: 'refuse'; code: string; message: string };

/** Options of {@link startGlassesServer}. */
export interface GlassesServerOptions {
  /** Answer to `connection_init`, or a function of the connection's index (default ack). */
  reply?: InitReply | ((index: number) => InitReply);
  /** Delay before the ack, in ms (default 0). */
  ackDelayMs?: number;
  /** On a new init, close every other open connection with 4003, as the cloud does. */
  replaceOld?: boolean;
}

/** One accepted connection, server side. */
export interface ServerConnection {
  readonly index: number;
  readonly socket: WebSocket;
  /** The upgrade's `Authorization` header. */
  readonly authorization: string | undefined;
  /** Every text frame, parsed as JSON (or the raw text when it is not JSON). */
  readonly frames: unknown[];
  /** Pongs received, with their arrival time (`performance.now()`). */
  readonly pongs: number[];
  /** Set once the server saw the close. */
  closed: { code: number; reason: string } | undefined;
  /** Resolves on close. */
  readonly whenClosed: Promise<{ code: number; reason: string }>;
}

/** The running server. */
export interface GlassesServer {
  readonly url: string;
  readonly connections: ServerConnection[];
  /** Ordered log of opens, inits, acks and closes, across connections. */
  readonly log: string[];
  /** Concurrent connections seen open but not yet acked, at most (for concurrency checks). */
  readonly maxPending: number;
  stop(): Promise<void>;
}

/** Starts the server; `stop()` terminates every connection and closes the listener. */
export async function startGlassesServer(options: GlassesServerOptions = {}): Promise<GlassesServer> {
  const replyTo = (index: number): InitReply => {
    const reply = options.reply ?? { kind: 'ack' };
    return typeof reply === 'function' ? reply(index) : reply;
  };
  const wss = new WebSocketServer({ host: HOST, port: 0, path: PATH });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const { port } = wss.address() as AddressInfo;
  const connections: ServerConnection[] = [];
  const log: string[] = [];
  let pending = 0;
  let maxPending = 0;

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const index = connections.length;
    let markClosed!: (close: { code: number; reason: string }) => void;
    const connection: ServerConnection = {
      index,
      socket,
      authorization: request.headers.authorization,
      frames: [],
      pongs: [],
      closed: undefined,
      whenClosed: new Promise((resolve) => {
        markClosed = resolve;
      }),
    };
    connections.push(connection);
    log.push(`open#${index}`);
    pending += 1;
    maxPending = Math.max(maxPending, pending);
    let acked = false;
    const settlePending = () => {
      if (!acked) {
        acked = true;
        pending -= 1;
      }
    };

    socket.on('pong', () => connection.pongs.push(performance.now()));
    socket.on('error', () => {});
    socket.on('close', (code, reason) => {
      settlePending();
      connection.closed = { code, reason: reason.toString() };
      log.push(`close#${index}:${code}`);
      markClosed(connection.closed);
    });
    socket.on('message', (data: RawData) => {
      const text = frameText(data);
      let frame: unknown = text;
      try {
        frame = JSON.parse(text);
      } catch {
        // kept as raw text
      }
      connection.frames.push(frame);
      const type = typeof frame === 'object' && frame !== null ? (frame as { type?: unknown }).type : undefined;
      if (type === 'connection_init') {
        log.push(`init#${index}`);
        if (options.replaceOld) {
          for (const other of connections) {
            if (other !== connection && other.closed === undefined) other.socket.close(CLOSE_REPLACED, 'replaced');
          }
        }
        const reply = replyTo(index);
        if (reply.kind === 'refuse') {
          socket.send(JSON.stringify({ type: 'connection_error', code: reply.code, message: reply.message }));
          socket.close(CLOSE_AUTH_FAILED, reply.message);
        } else if (reply.kind === 'ack') {
          const ack = () => {
            if (socket.readyState !== socket.OPEN) return;
            settlePending();
            log.push(`ack#${index}`);
            socket.send(JSON.stringify({ type: 'connection_ack', sessionId: `session-${index}` }));
          };
          if (options.ackDelayMs) setTimeout(ack, options.ackDelayMs);
          else ack();
        }
      } else if (type === 'heartbeat') {
        socket.send(JSON.stringify({ type: 'heartbeat_ack' }));
      }
    });
  });

  return {
    url: `ws://${HOST}:${port}${PATH}`,
    connections,
    log,
    get maxPending() {
      return maxPending;
    },
    async stop() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
