/**
 * A small TCP load balancer for tests, benchmarks and `npm run cluster` (a deployment uses
 * HAProxy: README "Many nodes"). Each connection goes to one backend: the node its request line
 * names with `tether_node=<nodeId>` (the owner hint of the app URL the cloud hands out in its
 * webhooks) if that node takes connections; else, for a request with an `Authorization` header
 * (glasses), the node that header hashes to (rendezvous hashing: a user's glasses keep landing
 * on one node, and only the users of a node that leaves move); else the next one round-robin. A
 * backend that refuses the connection is skipped, as HAProxy's `option redispatch` does.
 */
import { createHash } from 'node:crypto';
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

/**
 * Told of every WebSocket frame a backend sends through the balancer: the node, the frame's
 * opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong) and when (`performance.now()`). The
 * tests' oracle of which node delivered what, and when.
 */
export type ServerFrameTap = (nodeId: string, opcode: number, at: number) => void;

/** Longest request head read for the hint and the key; beyond it the connection is routed without them. */
const MAX_HEAD_BYTES = 8192;

/** Rendezvous weight of `node` for `key`: the live node with the highest weight takes the key. */
function weight(key: string, node: string): number {
  return createHash('md5').update(key).update('\u0000').update(node).digest().readUInt32BE(0);
}

/** Starts a balancer on an ephemeral port of 127.0.0.1. */
export async function startBalancer(backends: Backend[], options: { tap?: ServerFrameTap } = {}): Promise<LocalBalancer> {
  const sockets = new Set<Socket>();
  const routed = new Map<string, number>();
  let next = 0;
  const state: { backends: Backend[] } = { backends };

  const pick = (hint: string | undefined, key: string | undefined, tried: ReadonlySet<string>): Backend | undefined => {
    const live = state.backends.filter((b) => !tried.has(b.nodeId));
    const hinted = hint === undefined ? undefined : live.find((b) => b.nodeId === hint);
    if (hinted) return hinted;
    if (live.length === 0) return undefined;
    if (key !== undefined) return live.reduce((best, b) => (weight(key, b.nodeId) > weight(key, best.nodeId) ? b : best));
    return live[next++ % live.length];
  };

  const forward = (client: Socket, head: Buffer, hint: string | undefined, key: string | undefined, tried: Set<string>) => {
    const backend = pick(hint, key, tried);
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
      if (options.tap) upstream.on('data', frameReader(backend.nodeId, options.tap));
      client.resume();
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    upstream.once('error', () => {
      upstream.destroy();
      sockets.delete(upstream);
      // Refused (the node is down, or draining): the next node gets the connection.
      if (!connected && !client.destroyed) forward(client, head, undefined, key, tried);
      else client.destroy();
    });
  };

  const server: Server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1 && head.length < MAX_HEAD_BYTES) return;
      client.off('data', onData);
      client.pause();
      const headers = head.subarray(0, end === -1 ? head.length : end).toString('latin1');
      const lineEnd = headers.indexOf('\r\n');
      const line = lineEnd === -1 ? headers : headers.slice(0, lineEnd);
      const hint = /[?&]tether_node=([A-Za-z0-9_-]+)/.exec(line)?.[1];
      const key = /\r\nauthorization:\s*([^\r\n]+)/i.exec(headers)?.[1];
      forward(client, head, hint, key, new Set());
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

/**
 * Reads the frames of a server's side of a WebSocket connection (after its HTTP response; server
 * frames are never masked) and reports each one's opcode as its header arrives.
 */
function frameReader(nodeId: string, tap: ServerFrameTap): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let headerDone = false;
  /** Payload bytes of the current frame still to skip. */
  let skip = 0;
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (!headerDone) {
      const end = pending.indexOf('\r\n\r\n');
      if (end === -1) return;
      headerDone = true;
      pending = pending.subarray(end + 4);
    }
    for (;;) {
      if (skip > 0) {
        const taken = Math.min(skip, pending.length);
        skip -= taken;
        pending = pending.subarray(taken);
        if (skip > 0) return;
      }
      if (pending.length < 2) return;
      const short = pending[1]! & 0x7f;
      const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0;
      if (pending.length < 2 + lengthBytes) return;
      const length = short === 126 ? pending.readUInt16BE(2) : short === 127 ? Number(pending.readBigUInt64BE(2)) : short;
      tap(nodeId, pending[0]! & 0x0f, performance.now());
      pending = pending.subarray(2 + lengthBytes);
      skip = length;
    }
  };
}
