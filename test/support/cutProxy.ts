/**
 * A TCP proxy on 127.0.0.1 that can cut the connections through it, for tests that need an app
 * socket to drop the way a network does: `cut(ms)` destroys every connection at once (no close
 * frame; each WebSocket end sees 1006) and refuses new ones for `ms` milliseconds (a reconnect
 * attempt fails at once, like a refused connection).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A running {@link startCutProxy}. */
export interface CutProxy {
  /** The port the proxy listens on. */
  readonly port: number;
  /** Where it forwards to; settable, so the proxy can start before its target. */
  targetPort: number | undefined;
  /** Connections accepted and forwarded so far. */
  readonly forwarded: number;
  /** Connections refused (during a cut, or before a target was set). */
  readonly refused: number;
  /** Connections open now. */
  readonly open: number;
  /** Cuts every open connection and refuses new ones for `ms` ms; resolves when the refusal ends. */
  cut(ms: number): Promise<void>;
  /** Cuts everything and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts a cut proxy on 127.0.0.1 (any free port).
 *
 * @param targetPort - port on 127.0.0.1 to forward to; may be set later
 */
export async function startCutProxy(targetPort?: number): Promise<CutProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let refusingUntil = 0;
  let forwarded = 0;
  let refused = 0;
  let endCut: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  const server: Server = createServer((client) => {
    client.on('error', () => client.destroy());
    if (proxy.targetPort === undefined || performance.now() < refusingUntil) {
      refused += 1;
      client.destroy();
      return;
    }
    const upstream = connect(proxy.targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    forwarded += 1;
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  const cutAll = () => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      for (const socket of pair) socket.destroy();
    }
  };

  const proxy: CutProxy = {
    port: (server.address() as AddressInfo).port,
    targetPort,
    get forwarded() {
      return forwarded;
    },
    get refused() {
      return refused;
    },
    get open() {
      return pairs.size;
    },
    cut(ms) {
      refusingUntil = performance.now() + ms;
      cutAll();
      if (endCut) {
        clearTimeout(endCut.timer);
        endCut.resolve();
      }
      return new Promise<void>((resolve) => {
        endCut = {
          resolve,
          timer: setTimeout(() => {
            endCut = undefined;
            resolve();
          }, ms),
        };
      });
    },
    async close() {
      if (endCut) {
        clearTimeout(endCut.timer);
        endCut.resolve();
        endCut = undefined;
      }
      refusingUntil = Number.POSITIVE_INFINITY;
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
