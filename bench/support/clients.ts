/**
 * Client sockets for the socket benchmarks, over real `ws` to 127.0.0.1: glasses that send
 * `connection_init` and wait for `connection_ack`, opened in paced batches so that the connect
 * storm is over before anything is measured. `ws` answers every ping with a pong by itself.
 */
import { WebSocket } from 'ws';

/** Longest one socket may take from opening to its ack, in ms. */
const ACK_TIMEOUT_MS = 30_000;

/** An idle client socket, and what it has seen since it was acked. */
export interface ClientSocket {
  readonly ws: WebSocket;
  /** Pings received since the last {@link countPings} reset. */
  pings: number;
  /** Whether it closed after its ack. */
  closed: boolean;
}

/**
 * Opens a socket to `url`, sends `init`, and resolves once a frame of type `ackType` came back
 * (rejects on a close, an error or after {@link ACK_TIMEOUT_MS}).
 */
export function openAcked(url: string, init: object, ackType: string): Promise<ClientSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const client: ClientSocket = { ws, pings: 0, closed: false };
    let acked = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no ${ackType} within ${ACK_TIMEOUT_MS} ms`));
    }, ACK_TIMEOUT_MS);
    ws.on('open', () => ws.send(JSON.stringify(init)));
    ws.on('ping', () => client.pings++);
    ws.on('message', (data: Buffer) => {
      if (acked) return;
      let type: unknown;
      try {
        type = (JSON.parse(data.toString()) as { type?: unknown }).type;
      } catch {
        return;
      }
      if (type !== ackType) return;
      acked = true;
      clearTimeout(timer);
      resolve(client);
    });
    ws.on('error', (error) => {
      if (acked) return;
      clearTimeout(timer);
      reject(error);
    });
    ws.on('close', (code) => {
      client.closed = true;
      if (acked) return;
      clearTimeout(timer);
      reject(new Error(`closed with ${code} before ${ackType}`));
    });
  });
}

/**
 * Opens one glasses socket per token, `batch` at a time (each batch acked before the next one
 * opens), each sending `connection_init { coreToken, runningApps? }`.
 */
export async function openGlasses(
  url: string,
  tokens: readonly string[],
  options: { batch: number; runningApps?: readonly string[]; onBatch?: (opened: number) => Promise<void> | void },
): Promise<ClientSocket[]> {
  const sockets: ClientSocket[] = [];
  for (let start = 0; start < tokens.length; start += options.batch) {
    const batch = tokens.slice(start, start + options.batch);
    const opened = await Promise.allSettled(
      batch.map((coreToken) =>
        openAcked(url, { type: 'connection_init', coreToken, ...(options.runningApps ? { runningApps: options.runningApps } : {}) }, 'connection_ack'),
      ),
    );
    for (const result of opened) if (result.status === 'fulfilled') sockets.push(result.value);
    const failed = opened.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) {
      closeAll(sockets);
      throw new Error(`glasses socket ${start + opened.indexOf(failed)} failed: ${String(failed.reason)}`);
    }
    await options.onBatch?.(sockets.length);
  }
  return sockets;
}

/** Resets every socket's ping count. */
export function countPings(sockets: readonly ClientSocket[]): void {
  for (const socket of sockets) socket.pings = 0;
}

/** Drops every socket's TCP connection (no close handshake: the server child is about to go). */
export function closeAll(sockets: readonly ClientSocket[]): void {
  for (const socket of sockets) socket.ws.terminate();
}
