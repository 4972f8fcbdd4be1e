/**
 * The inspector's HTTP and WebSocket endpoints, mounted on the cloud's server:
 * - `GET /inspector/…`: the page's static files (`inspector/page/`, no CDN);
 * - `GET /inspector/export?actor=<id>` or `?userId=<id>`: a recorded trace as JSON;
 * - `/inspector/ws`: the page feed (see `protocol.ts`);
 * - `/inspector/ingest`: inspection streams from other processes.
 *
 * When a token is configured every one of them requires it — `?token=`, `Authorization:
 * Bearer`, or the cookie the page gets when it is opened with `?token=` (so its scripts and its
 * WebSocket are authorized too) — and answers 401 otherwise. The page feed also refuses a
 * browser connection from another origin, so a web page the developer visits cannot read it.
 */
import { requestUrl } from '../src/util/requestUrl.js';
import { createHmac, createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express, type Request, type Response } from 'express';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode } from '../src/protocol/closeCodes.js';
import { frameText } from '../src/protocol/parse.js';
import type { Logger } from '../src/logger.js';
import { closeSocket } from '../src/util/closeSocket.js';
import { sendError } from '../src/util/httpError.js';
import type { InspectorHub } from './hub.js';
import { acceptIngestSocket, sourceNameOf } from './ingest.js';
import { INSPECTOR_PATHS } from './protocol.js';

/** Default directory of the page's static files. */
export const DEFAULT_PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));

/**
 * Directory of the page's third-party scripts, served at `/inspector/vendor/`: the graph layout
 * library (`elkjs`) from its installed package, so the page needs no network. Undefined when
 * the package is missing.
 */
export const DEFAULT_VENDOR_DIR = ((): string | undefined => {
  try {
    return dirname(createRequire(import.meta.url).resolve('elkjs/lib/elk.bundled.js'));
  } catch {
    return undefined;
  }
})();

/** Name of the cookie that carries the page's authorization. */
export const INSPECTOR_COOKIE = 'tether_inspector';

/** Options of {@link createInspectorServer}. */
export interface InspectorServerOptions {
  hub: InspectorHub;
  /** Token every request must carry; none = open (development). */
  token?: string | undefined;
  /** Directory of the page's static files (default `inspector/page/`). */
  pageDir?: string;
  /** Directory served at `/inspector/vendor/` (default {@link DEFAULT_VENDOR_DIR}). */
  vendorDir?: string;
  /** Largest ingest frame, in bytes (default 1 MiB). */
  maxIngestBytes?: number;
  /** Interval of the pings that find dead page and ingest sockets, in ms (default 30 000). */
  heartbeatIntervalMs?: number;
  logger?: Logger;
}

/** The inspector's endpoints. */
export interface InspectorServer {
  /** Wraps the server's request handler: `/inspector…` is served here, the rest by `next`. */
  wrap(next: RequestListener): RequestListener;
  /** Whether an upgrade to `path` is the inspector's. */
  handles(path: string): boolean;
  /** Completes (or refuses with 401/403) an upgrade for which {@link handles} was true. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Page feeds currently open. */
  readonly pages: number;
  /** Ingest connections currently open. */
  readonly ingests: number;
  /** Closes every page and ingest socket (1001). Idempotent. */
  close(): Promise<void>;
}

/** Mounts nothing itself: call {@link InspectorServer.wrap} and route upgrades to it. */
export function createInspectorServer(options: InspectorServerOptions): InspectorServer {
  const { hub, logger } = options;
  const token = options.token === '' ? undefined : options.token;
  const auth = createAuth(token);
  const pageDir = options.pageDir ?? DEFAULT_PAGE_DIR;
  const heartbeatMs = options.heartbeatIntervalMs ?? 30_000;
  const feedWss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const ingestWss = new WebSocketServer({ noServer: true, maxPayload: options.maxIngestBytes ?? 1_048_576 });
  let closing: Promise<void> | undefined;

  const app: Express = express();
  app.disable('x-powered-by');
  const router = express.Router();
  router.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // The page may be opened with ?token=: never leak it to another site.
    res.setHeader('Referrer-Policy', 'no-referrer');
    const verdict = auth.check(req, false);
    if (!verdict.ok) {
      logger?.warn({ path: req.path }, 'inspector request refused');
      res.setHeader('WWW-Authenticate', 'Bearer realm="tether-inspector"');
      return sendError(res, 'UNAUTHORIZED', 'A valid inspector token is required');
    }
    if (verdict.via === 'query' && auth.cookie) {
      res.setHeader('Set-Cookie', `${INSPECTOR_COOKIE}=${auth.cookie}; Path=${INSPECTOR_PATHS.page}; HttpOnly; SameSite=Strict`);
    }
    next();
  });
  router.get('/export', (req: Request, res: Response) => {
    const actor = typeof req.query.actor === 'string' ? req.query.actor : undefined;
    const userId = typeof req.query.userId === 'string' ? req.query.userId : undefined;
    if (actor === undefined && userId === undefined) {
      return sendError(res, 'BAD_REQUEST', 'Give ?actor=<id> or ?userId=<id>');
    }
    const trace = hub.exportTrace(actor !== undefined ? { id: actor } : { userId });
    if (trace.actors.length === 0) return sendError(res, 'NOT_FOUND', 'No recorded actor matches');
    const name = (actor ?? `user-${userId}`).replace(/[^\w.@-]+/g, '_');
    res.setHeader('Content-Disposition', `attachment; filename="tether-trace-${name}.json"`);
    res.setHeader('Cache-Control', 'no-store');
    res.json(trace);
  });
  const vendorDir = options.vendorDir ?? DEFAULT_VENDOR_DIR;
  if (vendorDir) router.use('/vendor', express.static(vendorDir, { index: false, dotfiles: 'ignore', fallthrough: true }));
  router.use(express.static(pageDir, { index: 'index.html', dotfiles: 'ignore', fallthrough: true }));
  router.use((_req, res) => sendError(res, 'NOT_FOUND', 'No such inspector resource'));
  app.use(INSPECTOR_PATHS.page, router);

  const isInspectorPath = (path: string) => path === INSPECTOR_PATHS.page || path.startsWith(`${INSPECTOR_PATHS.page}/`);

  const refuse = (socket: Duplex, status: string) => {
    const extra = status.startsWith('401') ? 'WWW-Authenticate: Bearer realm="tether-inspector"\r\n' : '';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n${extra}Content-Length: 0\r\n\r\n`);
  };

  const keepAlive = (ws: WebSocket) => {
    let alive = true;
    ws.on('pong', () => {
      alive = true;
    });
    const timer = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, heartbeatMs);
    timer.unref();
    ws.once('close', () => clearInterval(timer));
  };

  const acceptPage = (ws: WebSocket) => {
    keepAlive(ws);
    const connection = hub.connect(
      (message) => {
        if (ws.readyState !== ws.OPEN) return;
        let text: string;
        try {
          text = JSON.stringify(message);
        } catch {
          return;
        }
        ws.send(text);
      },
      {
        // A page that does not read (a background tab, a slow link) gets coalesced batches later.
        congested: () => ws.bufferedAmount > 8 * 1024 * 1024,
        onClose: () => {
          if (ws.readyState === ws.OPEN) ws.close(CloseCode.GOING_AWAY, 'inspector closed');
        },
      },
    );
    ws.on('message', (data) => connection.receive(frameText(data)));
    ws.on('close', () => connection.close());
    ws.on('error', () => connection.close());
  };

  return {
    wrap(next) {
      return (req: IncomingMessage, res: ServerResponse) => {
        const path = requestUrl(req.url).pathname;
        if (isInspectorPath(path)) app(req, res);
        else next(req, res);
      };
    },
    handles: (path) => path === INSPECTOR_PATHS.feed || path === INSPECTOR_PATHS.ingest,
    handleUpgrade(req, socket, head) {
      const path = requestUrl(req.url).pathname;
      if (closing) return refuse(socket, '503 Service Unavailable');
      const verdict = auth.check(req, true);
      if (!verdict.ok) {
        logger?.warn({ path }, 'inspector upgrade refused');
        return refuse(socket, '401 Unauthorized');
      }
      if (path === INSPECTOR_PATHS.feed) {
        if (!sameOrigin(req)) {
          logger?.warn({ path, origin: req.headers.origin }, 'inspector upgrade from another origin refused');
          return refuse(socket, '403 Forbidden');
        }
        feedWss.handleUpgrade(req, socket, head, acceptPage);
      } else if (path === INSPECTOR_PATHS.ingest) {
        const name = sourceNameOf(req.url);
        ingestWss.handleUpgrade(req, socket, head, (ws) => {
          keepAlive(ws);
          acceptIngestSocket(ws, hub, name);
          logger?.info({ source: name }, 'inspector ingest connected');
        });
      } else refuse(socket, '404 Not Found');
    },
    get pages() {
      return feedWss.clients.size;
    },
    get ingests() {
      return ingestWss.clients.size;
    },
    close() {
      return (closing ??= (async () => {
        await Promise.all(
          [...feedWss.clients, ...ingestWss.clients].map((ws) => closeSocket(ws, CloseCode.GOING_AWAY, 'Server shutting down')),
        );
        feedWss.close();
        ingestWss.close();
      })());
    },
  };
}

/**
 * Whether a browser's upgrade comes from a page of this server. Clients that send no `Origin`
 * (Node programs, curl) are not browsers and pass.
 */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

interface Verdict {
  ok: boolean;
  via?: 'none' | 'query' | 'header' | 'cookie';
}

/** Token checks; `cookie` is the value of the page's cookie (derived from the token, not the token). */
function createAuth(token: string | undefined): { check(req: IncomingMessage, upgrade: boolean): Verdict; cookie: string | undefined } {
  if (token === undefined) return { check: () => ({ ok: true, via: 'none' }), cookie: undefined };
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const expected = digest(token);
  const matches = (given: string | undefined | null) => !!given && timingSafeEqual(digest(given), expected);
  const cookie = createHmac('sha256', token).update('tether-inspector-cookie').digest('base64url');
  const cookieDigest = digest(cookie);
  return {
    cookie,
    check(req, upgrade) {
      const url = requestUrl(req.url);
      if (matches(url.searchParams.get('token'))) return { ok: true, via: 'query' };
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (matches(bearer)) return { ok: true, via: 'header' };
      const given = cookieValue(req.headers.cookie, INSPECTOR_COOKIE);
      // A cookie rides along with any request the browser makes, so on an upgrade it counts
      // only from this server's own pages.
      if (given && timingSafeEqual(digest(given), cookieDigest) && (!upgrade || sameOrigin(req))) {
        return { ok: true, via: 'cookie' };
      }
      return { ok: false };
    },
  };
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
