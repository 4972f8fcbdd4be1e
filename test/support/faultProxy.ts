/**
 * A TCP proxy on 127.0.0.1 that breaks the connections through it the ways networks do, for the
 * fault tests and the chaos suite. Each connection is switchable at any time between
 * - `pass`: bytes flow (with the proxy's backpressure: a side that stops reading stalls the other);
 * - `delay`: every chunk is held `ms` before it is written, order kept;
 * - `blackhole`: bytes are read and dropped both ways, and nothing is closed: a half-open link,
 *   open for both ends and silent, as after a radio vanished (only a heartbeat can tell);
 * - `throttle`: at most `bytesPerSecond` each way;
 * - `cutAfter`: `bytes` more bytes pass (both directions together), then both ends are dropped;
 * and can be `reset` (an RST to both ends: each WebSocket sees 1006 at once) or `drop`ped (a FIN
 * to both). The proxy as a whole can `refuse` new connections for a while (a server that is
 * unreachable: each connect fails at once) and `cut` everything.
 *
 * Written by hand: the chaos-proxy libraries (toxiproxy and kin) run as separate servers with an
 * HTTP control API; a test here wants per-connection control from the same process, in-line,
 * with no binary to install.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/** What a connection does with the bytes through it. */
export type FaultMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'blackhole' }
  | { readonly kind: 'throttle'; readonly bytesPerSecond: number }
  | { readonly kind: 'cutAfter'; readonly bytes: number };

const PASS: FaultMode = { kind: 'pass' };
/** Granularity of throttling, in ms: each tick lets a tick's share of the rate through. */
const THROTTLE_TICK_MS = 50;

/** One proxied connection. */
export interface ProxiedConnection {
  /** Sequential id, from 1, in accept order. */
  readonly id: number;
  /** When the proxy accepted it (`performance.now()`). */
  readonly openedAt: number;
  /** Its current mode. */
  readonly mode: FaultMode;
  /** Whether the proxy still holds the connection (a black-holed one may have lost its target end). */
  readonly open: boolean;
  /** Whether the target's end is open: what the server behind the proxy sees. */
  readonly targetOpen: boolean;
  /** Bytes forwarded so far, client → target and target → client. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Switches the mode; held bytes (delay, throttle) keep their order across switches. */
  setMode(mode: FaultMode): void;
  /** Sends an RST to both ends and forgets the connection. */
  reset(): void;
  /** Closes both ends (FIN, no close frame) and forgets the connection. */
  drop(): void;
}

/** A running {@link startFaultProxy}. */
export interface FaultProxy {
  /** The port the proxy listens on. */
  readonly port: number;
  /** Where it forwards to on 127.0.0.1; settable, so the proxy can start before its target. */
  targetPort: number | undefined;
  /** Connections open now, in accept order. */
  readonly connections: readonly ProxiedConnection[];
  /** Connections accepted and forwarded so far. */
  readonly forwarded: number;
  /** Connections refused (during `refuse`/`cut`, before a target was set, or the target refused). */
  readonly refused: number;
  /** Called with every connection the proxy forwards, before any byte flows (e.g. to set its mode). */
  onConnection: ((connection: ProxiedConnection) => void) | undefined;
  /**
   * Refuses new connections for `ms` ms from now (an unreachable server), replacing an earlier
   * refusal; resolves when the refusal ends or is replaced.
   */
  refuse(ms: number): Promise<void>;
  /** Resets every open connection and refuses new ones for `ms` ms; resolves when the refusal ends. */
  cut(ms: number): Promise<void>;
  /** Ends every connection and stops listening; pending timers are cleared. */
  close(): Promise<void>;
}

/** Bytes waiting in one direction, with when each chunk may leave. */
interface Held {
  chunk: Buffer;
  dueAt: number;
}

/** One direction of a connection: reads `from`, writes `to`, as the mode says. */
class Direction {
  private readonly held: Held[] = [];
  private timer: NodeJS.Timeout | undefined;
  private budget = 0;
  private stalled = false;
  forwarded = 0;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly link: Link,
  ) {
    from.on('data', (chunk: Buffer) => this.take(chunk));
  }

  /** A chunk arrived from `from`. */
  private take(chunk: Buffer): void {
    const mode = this.link.mode;
    if (mode.kind === 'blackhole') return;
    const delay = mode.kind === 'delay' ? mode.ms : 0;
    if (mode.kind === 'pass' && this.held.length === 0) {
      this.write(chunk);
      return;
    }
    this.held.push({ chunk, dueAt: performance.now() + delay });
    this.pump();
  }

  /** Writes what is due, respecting the mode; schedules itself for the rest. */
  pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const mode = this.link.mode;
    if (mode.kind === 'blackhole') {
      this.held.length = 0;
      return;
    }
    const now = performance.now();
    while (this.held.length > 0 && !this.link.ended) {
      const next = this.held[0]!;
      if (next.dueAt > now) {
        this.schedule(next.dueAt - now);
        return;
      }
      if (mode.kind === 'throttle') {
        if (this.budget <= 0) {
          this.budget = Math.max(1, Math.floor((mode.bytesPerSecond * THROTTLE_TICK_MS) / 1000));
          this.schedule(THROTTLE_TICK_MS);
          return;
        }
        const part = next.chunk.subarray(0, this.budget);
        this.budget -= part.length;
        if (part.length === next.chunk.length) this.held.shift();
        else next.chunk = next.chunk.subarray(part.length);
        this.write(part);
        continue;
      }
      this.held.shift();
      this.write(next.chunk);
    }
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, ms));
  }

  private write(chunk: Buffer): void {
    const mode = this.link.mode;
    if (mode.kind === 'cutAfter') {
      const left = mode.bytes - this.link.bytesSinceCutArmed;
      if (left <= chunk.length) {
        if (left > 0) this.to.write(chunk.subarray(0, left));
        this.link.bytesSinceCutArmed += Math.max(0, left);
        this.link.end('drop');
        return;
      }
      this.link.bytesSinceCutArmed += chunk.length;
    }
    this.forwarded += chunk.length;
    // Backpressure: a reader that stops reading stalls its writer, as on a real path.
    if (!this.to.write(chunk) && !this.stalled) {
      this.stalled = true;
      this.from.pause();
      this.to.once('drain', () => {
        this.stalled = false;
        this.from.resume();
      });
    }
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.held.length = 0;
  }
}

/** Both directions of one connection and its mode. */
class Link implements ProxiedConnection {
  mode: FaultMode = PASS;
  ended = false;
  private clientEnded = false;
  private targetEnded = false;
  bytesSinceCutArmed = 0;
  readonly openedAt = performance.now();
  private readonly up: Direction;
  private readonly down: Direction;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly target: Socket,
    private readonly onEnd: (link: Link) => void,
  ) {
    this.up = new Direction(client, target, this);
    this.down = new Direction(target, client, this);
    for (const socket of [client, target]) {
      socket.on('error', () => this.sideEnded(socket));
      socket.on('close', () => this.sideEnded(socket));
      socket.on('end', () => this.sideEnded(socket));
    }
  }

  /**
   * One end closed. Passed on at once, unless the link is black-holed: then the other end is
   * told nothing (its FIN is lost too) and stays open and silent until the link is switched
   * back, reset or dropped — or it gives up by itself.
   */
  private sideEnded(socket: Socket): void {
    if (this.ended) return;
    if (socket === this.client) this.clientEnded = true;
    else this.targetEnded = true;
    if (this.mode.kind !== 'blackhole' || (this.clientEnded && this.targetEnded)) this.end('drop');
    else socket.destroy();
  }

  get open(): boolean {
    return !this.ended;
  }
  /** Whether the target's end is still open (a black-holed link may hold a client whose target left). */
  get targetOpen(): boolean {
    return !this.ended && !this.targetEnded;
  }
  get bytesUp(): number {
    return this.up.forwarded;
  }
  get bytesDown(): number {
    return this.down.forwarded;
  }

  setMode(mode: FaultMode): void {
    if (this.ended) return;
    this.mode = mode;
    if (this.clientEnded || this.targetEnded) {
      this.end('drop');
      return;
    }
    if (mode.kind === 'cutAfter') this.bytesSinceCutArmed = 0;
    this.up.pump();
    this.down.pump();
  }

  reset(): void {
    this.end('reset');
  }

  drop(): void {
    this.end('drop');
  }

  end(how: 'reset' | 'drop'): void {
    if (this.ended) return;
    this.ended = true;
    this.up.clear();
    this.down.clear();
    for (const socket of [this.client, this.target]) {
      if (how === 'reset' && !socket.destroyed) socket.resetAndDestroy();
      else socket.destroy();
    }
    this.onEnd(this);
  }
}

/**
 * Starts a fault proxy on 127.0.0.1 (any free port).
 *
 * @param targetPort - port on 127.0.0.1 to forward to; may be set later
 */
export async function startFaultProxy(targetPort?: number): Promise<FaultProxy> {
  const links = new Map<number, Link>();
  let refusingUntil = 0;
  let closed = false;
  let nextId = 1;
  let forwarded = 0;
  let refused = 0;

  const refuseOne = (client: Socket) => {
    refused += 1;
    client.resetAndDestroy();
  };

  const server: Server = createServer((client) => {
    client.on('error', () => client.destroy());
    if (closed || proxy.targetPort === undefined || performance.now() < refusingUntil) {
      refuseOne(client);
      return;
    }
    // Nothing flows until the target has accepted: a refused target is a refused connection.
    client.pause();
    const target = connect(proxy.targetPort, '127.0.0.1');
    target.setNoDelay(true);
    client.setNoDelay(true);
    const onTargetError = () => {
      target.destroy();
      refuseOne(client);
    };
    target.once('error', onTargetError);
    target.once('connect', () => {
      target.off('error', onTargetError);
      if (client.destroyed) {
        target.destroy();
        return;
      }
      const link = new Link(nextId++, client, target, (ended) => links.delete(ended.id));
      links.set(link.id, link);
      forwarded += 1;
      proxy.onConnection?.(link);
      client.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  // The latest call decides: `refuse(0)` ends an earlier, longer refusal at once.
  let refusal: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  const endRefusal = () => {
    if (!refusal) return;
    clearTimeout(refusal.timer);
    refusal.resolve();
    refusal = undefined;
  };
  const refuseFor = (ms: number) => {
    endRefusal();
    refusingUntil = performance.now() + ms;
    return new Promise<void>((resolve) => {
      const current = {
        resolve,
        timer: setTimeout(() => {
          if (refusal === current) refusal = undefined;
          resolve();
        }, ms),
      };
      refusal = current;
    });
  };

  const proxy: FaultProxy = {
    port: (server.address() as AddressInfo).port,
    targetPort,
    onConnection: undefined,
    get connections() {
      return [...links.values()];
    },
    get forwarded() {
      return forwarded;
    },
    get refused() {
      return refused;
    },
    refuse: refuseFor,
    cut(ms) {
      const ended = refuseFor(ms);
      for (const link of [...links.values()]) link.reset();
      return ended;
    },
    async close() {
      closed = true;
      endRefusal();
      for (const link of [...links.values()]) link.drop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
