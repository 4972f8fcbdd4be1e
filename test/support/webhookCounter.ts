/**
 * An HTTP proxy on 127.0.0.1 in front of an app server's webhook that counts each
 * `session_request` by session id, whatever SDK the app server runs (both answer only once their
 * socket is acked, so counting there would miss a request that failed). Everything is forwarded
 * unchanged and answered with the app server's answer.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A started {@link countWebhooks} proxy. */
export interface WebhookCounter {
  /** `http://127.0.0.1:<port>/webhook`: point the app's webhook here. */
  readonly url: string;
  /** `session_request`s received so far, by session id. */
  readonly sessionRequests: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

/**
 * Starts a counting proxy to the app server listening on 127.0.0.1 at the port `targetPort()`
 * returns when a request comes (so the app can be created with the proxy's URL before it listens).
 */
export async function countWebhooks(targetPort: () => number): Promise<WebhookCounter> {
  const sessionRequests = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        const parsed = JSON.parse(body.toString()) as { type?: unknown; sessionId?: unknown };
        if (parsed.type === 'session_request' && typeof parsed.sessionId === 'string') {
          sessionRequests.set(parsed.sessionId, (sessionRequests.get(parsed.sessionId) ?? 0) + 1);
        }
      } catch {
        // Not JSON: forwarded as it is; the app server answers it.
      }
      const upstream = request(
        { host: '127.0.0.1', port: targetPort(), method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
    sessionRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
