/**
 * Admission of new connections: decides whether a new glasses or app upgrade may proceed, and
 * keeps the listening server inside its descriptor budget. Every refusal takes one path — an
 * HTTP answer where there is a request to answer (`503` over the pending cap, `429` over the
 * per-address rate, both with `Retry-After` and `Connection: close`), one count in
 * `tether_connections_refused_total{reason}`, and a log line that is itself rate-limited, so a
 * flood does not flood the log.
 *
 * Descriptor exhaustion: when `accept()` fails with `EMFILE`/`ENFILE`, libuv (Node 20) closes a
 * descriptor it keeps in reserve, accepts and closes every waiting connection, and reopens the
 * reserve — without telling JavaScript. Those clients see a bare close, and nothing can log or
 * count it. So the server is kept below the limit instead: `server.maxConnections` leaves
 * {@link descriptorReserve} descriptors to everything else (store, outbound webhooks, logs), and
 * Node reports each connection over it with a `drop` event, which is counted. An `EMFILE` or
 * `ENFILE` that still reaches the server as an `error` (libuv could not reopen its reserve, or
 * the system table is full) is counted and logged instead of ending the process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Logger } from '../../logger.js';
import { createRateLimiter, hit, retryAfterSeconds } from '../../util/rateLimit.js';
import type { CloudMetrics } from '../metrics.js';

/** Why a connection was refused: the `reason` label of `tether_connections_refused_total`. */
export type RefusalReason = 'pending' | 'address' | 'connections' | 'emfile' | 'enfile';

/** The code of each reason's log line. */
const REFUSAL_CODE: Record<RefusalReason, string> = {
  pending: 'PENDING_SOCKET_LIMIT',
  address: 'ADDRESS_RATE_LIMITED',
  connections: 'CONNECTION_LIMIT',
  emfile: 'EMFILE',
  enfile: 'ENFILE',
};

/** `Retry-After` of a refusal over the pending cap, in ms: pending sockets settle within a handshake. */
const PENDING_RETRY_AFTER_MS = 5_000;
/** Window of the per-address limit, in ms. */
const ADDRESS_WINDOW_MS = 60_000;
/** Time a refused socket is given to read its answer and close before it is destroyed, in ms. */
const REFUSAL_LINGER_MS = 1_000;
/** At most one log line per reason per this many ms; the next one carries how many were left out. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** Longest pause between two checks of the headers deadline, in ms (Node's default is 30 s). */
const MAX_HEADERS_CHECK_INTERVAL_MS = 1_000;

/** Settings of {@link Admission} (see `config.ts`). */
export interface AdmissionSettings {
  /** Most sockets upgraded but not yet authenticated (count); 0 = no cap. */
  maxPendingSockets: number;
  /** New upgrades allowed per remote address per minute (count); 0 = no limit. */
  connectionsPerAddressPerMinute: number;
  /** Most open connections of the server (count); 0 = derived from the descriptor limit. */
  maxConnections: number;
  /** Time a new connection has to send its request headers (an upgrade included), in ms. */
  headersTimeoutMs: number;
}

/** Options of {@link Admission}. */
export interface AdmissionOptions {
  settings: AdmissionSettings;
  metrics: CloudMetrics;
  logger: Logger;
  /** Monotonic clock of the log throttle, in ms (default `performance.now`). */
  now?: () => number;
}

/** A socket admitted by {@link Admission.admit}: it counts as pending until it authenticates or closes. */
export interface PendingSocket {
  /** Binds the WebSocket the upgrade produced, so {@link socketAuthenticated} can release it. */
  upgraded(ws: object): void;
}

// Keyed by the WebSocket, so the handshake releases a socket without knowing who admitted it.
const pendingReleases = new WeakMap<object, () => void>();

/**
 * The socket authenticated: it stops counting against the pending cap. Idempotent, and a no-op
 * for a socket that was not admitted by an {@link Admission}.
 */
export function socketAuthenticated(ws: object): void {
  const release = pendingReleases.get(ws);
  pendingReleases.delete(ws);
  release?.();
}

/**
 * Options of the HTTP server that bound the time before an upgrade: a connection that has not
 * sent its complete request headers within `headersTimeoutMs` is answered 408 and closed. Node
 * checks the deadline every `connectionsCheckingInterval` (30 s by default, which with its 60 s
 * default kept a slow partial upgrade about 87 s), so the check runs at least every second.
 */
export function serverOptionsOf(settings: Pick<AdmissionSettings, 'headersTimeoutMs'>): ServerOptions {
  const { headersTimeoutMs } = settings;
  return {
    headersTimeout: headersTimeoutMs,
    connectionsCheckingInterval: Math.max(10, Math.min(MAX_HEADERS_CHECK_INTERVAL_MS, Math.floor(headersTimeoutMs / 4))),
  };
}

/**
 * Descriptors kept for everything but inbound connections (count): an eighth of the limit, at
 * least 32.
 *
 * @param limit the process's soft limit on open files (count)
 */
function descriptorReserve(limit: number): number {
  return Math.max(32, Math.floor(limit / 8));
}

/**
 * The connection cap derived from the descriptor limit: the soft limit on open files, less the
 * descriptors open now and {@link descriptorReserve}; at least 1. Undefined where the limit cannot
 * be read (it is read from `/proc/self`, Linux only) or is unlimited.
 */
function derivedMaxConnections(): number | undefined {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    if (soft === undefined) return undefined;
    const limit = Number(soft);
    // The directory read itself holds one descriptor, counted here as one in use.
    const open = readdirSync('/proc/self/fd').length;
    return Math.max(1, limit - open - descriptorReserve(limit));
  } catch {
    return undefined;
  }
}

/** Decides whether new connections and upgrades may proceed; one per cloud. */
export class Admission {
  private pending = 0;
  private readonly limiter: RateLimiterMemory | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly lastLogged = new Map<RefusalReason, { at: number; suppressed: number }>();

  constructor(private readonly options: AdmissionOptions) {
    const perMinute = options.settings.connectionsPerAddressPerMinute;
    this.limiter = perMinute > 0 ? createRateLimiter(perMinute, ADDRESS_WINDOW_MS) : undefined;
    this.log = options.logger.child({ component: 'admission' });
    this.now = options.now ?? (() => performance.now());
  }

  /** Sockets upgraded but not yet authenticated, now (count). */
  get pendingSockets(): number {
    return this.pending;
  }

  /**
   * Decides on one upgrade request before `handleUpgrade`. Resolves with its pending ticket when
   * it may proceed; otherwise the socket has been answered (503 or 429), counted and logged, and
   * it resolves with `undefined`. Every attempt counts against its address, refused ones too.
   */
  async admit(req: IncomingMessage, socket: Duplex): Promise<PendingSocket | undefined> {
    const address = req.socket.remoteAddress ?? 'unknown';
    const waitMs = this.limiter ? await hit(this.limiter, address) : undefined;
    if (socket.destroyed) return undefined;
    if (waitMs !== undefined) return this.refuse(socket, 'address', address, '429 Too Many Requests', waitMs);
    const { maxPendingSockets } = this.options.settings;
    if (maxPendingSockets > 0 && this.pending >= maxPendingSockets) {
      return this.refuse(socket, 'pending', address, '503 Service Unavailable', PENDING_RETRY_AFTER_MS);
    }
    this.pending += 1;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.pending -= 1;
    };
    socket.once('close', release);
    return {
      upgraded: (ws) => {
        if (held) pendingReleases.set(ws, release);
      },
    };
  }

  /**
   * Guards the listening server: caps its connections (explicit, or derived from the descriptor
   * limit) and counts what Node drops over the cap and the accept errors it reports. Call once
   * the server listens, so a listen error still rejects the start.
   */
  guard(server: Server): void {
    const cap = this.options.settings.maxConnections || derivedMaxConnections();
    if (cap !== undefined) server.maxConnections = cap;
    server.on('drop', (data?: { remoteAddress?: string }) => this.refused('connections', data?.remoteAddress));
    server.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EMFILE' || error.code === 'ENFILE') return this.refused(error.code === 'EMFILE' ? 'emfile' : 'enfile', undefined);
      this.log.error({ code: error.code, err: error.message }, 'server error');
    });
    this.log.debug({ maxConnections: cap }, 'connection cap');
  }

  private refuse(socket: Duplex, reason: RefusalReason, address: string, status: string, retryAfterMs: number): undefined {
    this.refused(reason, address);
    socket.end(`HTTP/1.1 ${status}\r\nRetry-After: ${retryAfterSeconds(retryAfterMs)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    // A client that never closes its side must not keep the descriptor.
    const linger = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    socket.once('close', () => clearTimeout(linger));
    return undefined;
  }

  private refused(reason: RefusalReason, remoteAddress: string | undefined): void {
    this.options.metrics.connectionsRefused.inc({ reason });
    const now = this.now();
    const last = this.lastLogged.get(reason);
    if (last && now - last.at < REFUSAL_LOG_INTERVAL_MS) {
      last.suppressed += 1;
      return;
    }
    this.lastLogged.set(reason, { at: now, suppressed: 0 });
    this.log.warn({ code: REFUSAL_CODE[reason], remoteAddress, suppressed: last?.suppressed ?? 0 }, 'connection refused');
  }
}
