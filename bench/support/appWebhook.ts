/**
 * An app server's webhook for the socket benchmarks: on `session_request` it opens the app
 * WebSocket to the `mentraOSWebsocketUrl` of the body, sends `tpa_connection_init { sessionId,
 * packageName, apiKey }`, waits for `tpa_connection_ack`, sends `subscription_update []` (as
 * `@mentra/sdk` does) and answers 200 `{ status: 'success' }`; on `stop_request` it closes the
 * session's socket. It can also drop a session's socket and open a new one for it, as an SDK
 * reconnecting by itself does.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeAll, openAcked, type ClientSocket } from './clients.js';

/** A started {@link startAppWebhook}. */
export interface AppWebhook {
  readonly url: string;
  /** App sockets acked so far (reconnects included). */
  readonly acked: number;
  /** `stop_request`s answered so far. */
  readonly stopped: number;
  /** `data_stream` frames received so far, over all its sockets. */
  readonly dataFrames: number;
  /** The key its app sockets authenticate with; set once the app is registered. */
  apiKey: string;
  readonly sockets: ClientSocket[];
  /**
   * Drops the socket of `sessionId` (no close frame: 1006 for the cloud) and opens a new one
   * with the same init; resolves once it is acked.
   */
  reconnect(sessionId: string): Promise<void>;
  /** Called with each session id as its socket is acked (reconnects included). */
  onAck: ((sessionId: string) => void) | undefined;
  /** `session_request`s received so far. */
  readonly sessionRequests: number;
  /**
   * A restart of the app server: every socket dropped (1006 for the cloud), the HTTP server
   * down (connections refused) for `downMs`, then listening again on the same port.
   */
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startAppWebhook}. */
export interface AppWebhookOptions {
  /**
   * Where each session's socket goes, from the URL the `session_request` named: by default that
   * URL. The cluster benchmark sends apps to another node than the one that called them, to
   * measure the relayed path.
   */
  routeSocket?: (url: string, sessionId: string) => string;
}

/** Starts the webhook of `packageName` on 127.0.0.1 (any free port), subscribing to `subscriptions` (none by default). */
export async function startAppWebhook(packageName: string, subscriptions: readonly string[] = [], options: AppWebhookOptions = {}): Promise<AppWebhook> {
  const sockets: ClientSocket[] = [];
  const bySession = new Map<string, { socket: ClientSocket; url: string }>();
  const connect = async (sessionId: string, url: string) => {
    const socket = await openAcked(url, { type: 'tpa_connection_init', sessionId, packageName, apiKey: hook.apiKey }, 'tpa_connection_ack');
    socket.ws.send(JSON.stringify({ type: 'subscription_update', packageName, subscriptions }));
    socket.ws.on('message', (data: Buffer) => {
      // Only a cheap look: every frame after the ack is data or a heartbeat here.
      if (data.includes('"data_stream"')) hook.dataFrames++;
    });
    sockets.push(socket);
    bySession.set(sessionId, { socket, url });
    hook.acked++;
    hook.onAck?.(sessionId);
  };
  const hook = {
    url: '',
    acked: 0,
    stopped: 0,
    dataFrames: 0,
    apiKey: '',
    sessionRequests: 0,
    onAck: undefined as ((sessionId: string) => void) | undefined,
    sockets,
    async restart(downMs: number) {
      closeAll(sockets);
      sockets.length = 0;
      bySession.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async reconnect(sessionId: string) {
      const held = bySession.get(sessionId);
      if (!held) throw new Error(`no socket for ${sessionId}`);
      held.socket.ws.terminate();
      await connect(sessionId, held.url);
    },
    close: async () => {
      closeAll(sockets);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  const server: HttpServer = createServer((req, res) => {
    void readJson(req).then(async (body) => {
      const answer = (status: number, payload: object) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      const { type, sessionId } = body as { type?: string; sessionId?: string };
      if (type === 'stop_request' && sessionId) {
        bySession.get(sessionId)?.socket.ws.close();
        bySession.delete(sessionId);
        hook.stopped++;
        return answer(200, { status: 'success' });
      }
      const url = (body as { mentraOSWebsocketUrl?: string }).mentraOSWebsocketUrl ?? (body as { augmentOSWebsocketUrl?: string }).augmentOSWebsocketUrl;
      if (type !== 'session_request' || !sessionId || !url) return answer(400, { status: 'error', message: 'Unknown webhook request type' });
      hook.sessionRequests++;
      try {
        await connect(sessionId, options.routeSocket ? options.routeSocket(url, sessionId) : url);
        answer(200, { status: 'success' });
      } catch {
        answer(500, { status: 'error', message: 'Failed to connect' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  hook.url = `http://127.0.0.1:${port}/webhook`;
  return hook;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString()) as unknown;
  } catch {
    return {};
  }
}
