/**
 * A small TCP load balancer for tests, benchmarks and `npm run cluster` (a deployment uses
 * HAProxy: README "Many nodes"). Each connection goes to one backend: the node its request line
 * names with `tether_node=<nodeId>` (the owner hint of the app URL the cloud hands out in its
 * webhooks) if that node takes connections, else the next one round-robin; a backend that refuses
 * the connection is skipped, as HAProxy's `option redispatch` does.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** One node behind the balancer. */
export interface Backend {
  readonly nodeId: string;
  readonly port: number;
}

/** A running balancer. */
export interface LocalBalancer {
  readonly port: number;
  /** The nodes connections may go to; replace it to add or remove one (a rolling deploy). */
  backends: Backend[];
  /** Connections per node so far. */
  readonly routed: ReadonlyMap<string, number>;
  /** Stops listening and ends every connection. */
  close(): Promise<void>;
}

/** Longest request line read for the hint; beyond it the connection is routed without one. */
const MAX_HEAD_BYTES = 4096;

/** Starts a balancer on an ephemeral port of 127.0.0.1. */
export async function startBalancer(backends: Backend[]): Promise<LocalBalancer> {
  const sockets = new Set<Socket>();
  const routed = new Map<string, number>();
  let next = 0;
  const state: { backends: Backend[] } = { backends };

  const pick = (hint: string | undefined, tried: ReadonlySet<string>): Backend | undefined => {
    const live = state.backends.filter((b) => !tried.has(b.nodeId));
    const hinted = hint === undefined ? undefined : live.find((b) => b.nodeId === hint);
    if (hinted) return hinted;
    if (live.length === 0) return undefined;
    return live[next++ % live.length];
  };

  const forward = (client: Socket, head: Buffer, hint: string | undefined, tried: Set<string>) => {
    const backend = pick(hint, tried);
    if (!backend) return void client.destroy();
    tried.add(backend.nodeId);
    const upstream = connect(backend.port, '127.0.0.1');
    sockets.add(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      routed.set(backend.nodeId, (routed.get(backend.nodeId) ?? 0) + 1);
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    upstream.once('error', () => {
      upstream.destroy();
      sockets.delete(upstream);
      // Refused (the node is down, or draining): the next node gets the connection.
      if (!connected && !client.destroyed) forward(client, head, undefined, tried);
      else client.destroy();
    });
  };

  const server: Server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n');
      if (end === -1 && head.length < MAX_HEAD_BYTES) return;
      client.off('data', onData);
      client.pause();
      const line = head.subarray(0, end === -1 ? head.length : end).toString('latin1');
      const hint = /[?&]tether_node=([A-Za-z0-9_-]+)/.exec(line)?.[1];
      forward(client, head, hint, new Set());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get backends() {
      return state.backends;
    },
    set backends(value: Backend[]) {
      state.backends = value;
    },
    routed,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
