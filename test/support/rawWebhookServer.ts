/**
 * A webhook endpoint for tests that drive app sockets by hand: it answers every request 200 at
 * once and records each body, so a test can open a raw socket for a session the cloud started.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook endpoint that answers every request 200 at once and records `session_request`s, so
 * a test can connect a raw socket for a session the cloud really started.
 */
export interface RawWebhookServer {
  url: string;
  requests: Array<{ type: string; sessionId: string; mentraOSWebsocketUrl: string }>;
  close(): Promise<void>;
}

export async function startRawWebhookServer(): Promise<RawWebhookServer> {
  const requests: RawWebhookServer['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      requests.push(JSON.parse(body) as RawWebhookServer['requests'][number]);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

