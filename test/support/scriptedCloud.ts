/**
 * A scripted cloud for tests: a real `ws` server on 127.0.0.1 that speaks the app half of the
 * MentraOS protocol (`tpa_connection_init` → `tpa_connection_ack` / `tpa_connection_error`,
 * `subscription_update`, ws ping/pong) and can be told to misbehave (drop TCP, close with a
 * code, go silent, refuse keys, restart on the same port).
 *
 * It speaks raw JSON on purpose: it is the independent other side an SDK is tested against, so
 * it shares no code with `src/protocol`. Wire facts come from MENTRA-SDK-WIRE.md §2, §3, §5, §6.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';

const HOST = '127.0.0.1';
const DEFAULT_PATH = '/app-ws';
const DEFAULT_WAIT_MS = 5000;

const CLOSE_GOING_AWAY = 1001;
const CLOSE_POLICY_VIOLATION = 1008;
const CLOSE_SERVICE_RESTART = 1012;
/** A close reason is at most 123 bytes (RFC 6455 §5.5: 125-byte control payload minus the code). */
const MAX_CLOSE_REASON_BYTES = 123;

/** How long `restart`/`stop` wait for close handshakes before dropping the remaining sockets, ms. */
const CLOSE_GRACE_MS = 1000;
/** `restart` retries binding its port this many times, this many ms apart, if it is briefly taken. */
const REBIND_ATTEMPTS = 40;
const REBIND_RETRY_MS = 25;

const INVALID_API_KEY = { code: 'INVALID_API_KEY', message: 'Invalid API key' } as const;
const UNKNOWN_PACKAGE = { code: 'UNKNOWN_PACKAGE', message: 'Unknown package' } as const;
type Refusal = typeof INVALID_API_KEY | typeof UNKNOWN_PACKAGE;

/** Options of {@link startScriptedCloud}. */
export interface ScriptedCloudOptions {
  /** TCP port to listen on; 0 (the default) picks an ephemeral port. */
  port?: number;
  /** Upgrade path; the query string is ignored when matching (default `/app-ws`). */
  path?: string;
  /**
   * Valid key per package name. When given, an init for another package gets `UNKNOWN_PACKAGE`
   * and a wrong key `INVALID_API_KEY`. When absent, any key is accepted.
   */
  apiKeys?: Record<string, string>;
  /** Milliseconds between receiving `tpa_connection_init` and sending the ack (default 0). */
  ackDelayMs?: number;
  /** `false` never acks an init (default `true`); see {@link ScriptedCloud.setAck}. */
  ack?: boolean;
  /** Answer ws pings with pongs (default `true`). Black-holed connections never answer. */
  autoPong?: boolean;
}

/** One frame received from an app. */
export interface ReceivedFrame {
  /** Index of the connection it arrived on, as in {@link ScriptedCloud.connections}. */
  readonly connectionIndex: number;
  /** The `type` field, or `undefined` when the frame is not a JSON object with a string type. */
  readonly type: string | undefined;
  /** The parsed frame, or `undefined` when it is not a JSON object (or is binary). */
  readonly message: Readonly<Record<string, unknown>> | undefined;
  /** The frame as text; binary frames are given in base64. */
  readonly raw: string;
  /** Whether it was a binary frame. */
  readonly binary: boolean;
  /** Receive time in ms on the `performance.now()` clock. */
  readonly receivedAt: number;
}

/** Close code and reason as seen by the cloud (1006 when the TCP connection dropped). */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** One accepted app WebSocket, open or closed. */
export interface CloudConnection {
  /** 0-based position in {@link ScriptedCloud.connections}. */
  readonly index: number;
  /** The server side of the socket, for anything the switches do not cover. */
  readonly socket: WebSocket;
  /** Path and query of the upgrade request, verbatim (`/app-ws?token=abc`). */
  readonly requestUrl: string;
  /** Headers of the upgrade request. */
  readonly headers: IncomingHttpHeaders;
  /** `sessionId` of the latest `tpa_connection_init`, if it had a string one. */
  readonly sessionId?: string;
  /** `packageName` of the latest `tpa_connection_init`, if it had a string one. */
  readonly packageName?: string;
  /** Whether a `tpa_connection_ack` has been sent on this connection. */
  readonly acked: boolean;
  /** Whether {@link ScriptedCloud.blackholeAll} silenced this connection. */
  readonly blackholed: boolean;
  /** The list of the latest `subscription_update` (strings or `{ stream, rate }`); `[]` before any. */
  readonly subscriptions: unknown[];
  /** Frames received on this connection, in order. */
  readonly frames: readonly ReceivedFrame[];
  /** Upgrade time, ack time and close time in ms on the `performance.now()` clock. */
  readonly openedAt: number;
  readonly ackedAt?: number;
  readonly closedAt?: number;
  /** How the socket closed; `undefined` while it is open. */
  readonly closeInfo?: CloseInfo;
  /** Resolves once the socket is closed; never rejects. */
  readonly closed: Promise<CloseInfo>;
  /** Sends `msg` as JSON. A no-op when the socket is not open or the connection is black-holed. */
  send(msg: object): void;
  /** Sends a text or binary frame as is (malformed frames, audio). Same no-op rules as `send`. */
  sendRaw(data: string | Buffer): void;
}

/** A running scripted cloud; see {@link startScriptedCloud}. */
export interface ScriptedCloud {
  /** `ws://127.0.0.1:<port><path>`; unchanged by {@link restart}. */
  readonly url: string;
  /** The TCP port; unchanged by {@link restart}. */
  readonly port: number;
  /** Every connection ever accepted, in order (across restarts). */
  readonly connections: readonly CloudConnection[];
  /** The connections whose socket has not closed yet. */
  readonly open: readonly CloudConnection[];
  /** All frames received from apps, in order, optionally only those of one `type`. */
  frames(filter?: { type?: string }): ReceivedFrame[];
  /**
   * Resolves with the `count`-th connection (1-based) once it has been acked; rejects after
   * `timeoutMs` (default 5000 ms) or when the cloud stops.
   */
  waitForConnection(count: number, timeoutMs?: number): Promise<CloudConnection>;
  /**
   * Resolves with the first frame, already received or still to come, that matches `predicate`;
   * rejects after `timeoutMs` (default 5000 ms) or when the cloud stops. Filter on
   * `connectionIndex` or `receivedAt` to wait for a new one.
   */
  waitForFrame(predicate: (f: ReceivedFrame) => boolean, timeoutMs?: number): Promise<ReceivedFrame>;
  /** Destroys every open TCP connection without a close frame: the client sees 1006. */
  terminateAll(): void;
  /**
   * Closes every open connection with `code` and `reason` (at most 123 bytes). Black-holed
   * connections are dropped instead (a dead peer sends no close frame). Throws on a code that
   * cannot be sent (1004–1006, 1015, outside 1000–4999); use {@link terminateAll} for 1006.
   */
  closeAll(code: number, reason?: string): void;
  /**
   * Silences every connection open now, as a half-open TCP connection would be: no pongs, no
   * acks, nothing sent, received frames dropped (not recorded), while the socket stays open.
   * Connections accepted later behave normally.
   */
  blackholeAll(): void;
  /** While on, every init gets `tpa_connection_error` `INVALID_API_KEY`, then close 1008. */
  refuseKeys(on: boolean): void;
  /** Whether inits received from now on are acked (acks already scheduled still go out). */
  setAck(on: boolean): void;
  /** Sends `message` as JSON to every open, not black-holed connection. */
  broadcast(message: object): void;
  /**
   * Stops listening, closes every socket with 1012 (black-holed ones are dropped), waits
   * `downMs` (default 0 ms) during which connections are refused, then listens again on the
   * same port.
   */
  restart(options?: { downMs?: number }): Promise<void>;
  /**
   * Closes every socket with 1001 and the server, cancels every timer and rejects pending waits.
   * Resolves when everything is closed; idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Starts a {@link ScriptedCloud} listening on 127.0.0.1.
 *
 * @param options - port (0 = ephemeral), path, API keys, ack delay in ms, ack and pong switches
 */
export async function startScriptedCloud(options: ScriptedCloudOptions = {}): Promise<ScriptedCloud> {
  const cloud = new ScriptedCloudServer(options);
  await cloud.start(options.port ?? 0);
  return cloud;
}

class Connection implements CloudConnection {
  sessionId: string | undefined;
  packageName: string | undefined;
  acked = false;
  blackholed = false;
  subscriptions: unknown[] = [];
  readonly frames: ReceivedFrame[] = [];
  ackedAt: number | undefined;
  closedAt: number | undefined;
  closeInfo: CloseInfo | undefined;
  readonly closed: Promise<CloseInfo>;
  /** Pending ack timers, cancelled when the socket closes or goes silent. */
  private readonly timers = new Set<NodeJS.Timeout>();
  private resolveClosed!: (info: CloseInfo) => void;

  constructor(
    readonly index: number,
    readonly socket: WebSocket,
    readonly requestUrl: string,
    readonly headers: IncomingHttpHeaders,
    readonly openedAt: number,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  get isOpen(): boolean {
    return this.closeInfo === undefined;
  }

  send(msg: object): void {
    this.sendRaw(JSON.stringify(msg));
  }

  sendRaw(data: string | Buffer): void {
    if (this.blackholed || this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(data);
  }

  schedule(delayMs: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, delayMs);
    this.timers.add(timer);
  }

  cancelTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  markClosed(info: CloseInfo): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    this.closedAt = performance.now();
    this.cancelTimers();
    this.resolveClosed(info);
  }
}

interface Waiter {
  check(): void;
  fail(error: Error): void;
}

class ScriptedCloudServer implements ScriptedCloud {
  readonly path: string;
  port = 0;
  private readonly apiKeys: Record<string, string> | undefined;
  private readonly ackDelayMs: number;
  private readonly autoPong: boolean;
  private ackEnabled: boolean;
  private refusingKeys = false;

  // Pongs are sent by hand so that a black-holed socket can stay silent.
  private readonly wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    autoPong: false,
    perMessageDeflate: false,
  });
  private server: Server | undefined;
  /** Raw TCP sockets of the current server, upgraded or not, destroyed on shutdown. */
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly connectionList: Connection[] = [];
  private readonly allFrames: ReceivedFrame[] = [];
  private readonly waiters = new Set<Waiter>();

  /** Serialises restart and stop so they never interleave. */
  private lifecycle: Promise<void> = Promise.resolve();
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  /** Ends the current down-time sleep early (stop during restart). */
  private wakeSleeper: (() => void) | undefined;

  constructor(options: ScriptedCloudOptions) {
    this.path = options.path ?? DEFAULT_PATH;
    if (!this.path.startsWith('/')) throw new TypeError(`path must start with "/": ${this.path}`);
    this.apiKeys = options.apiKeys;
    this.ackDelayMs = options.ackDelayMs ?? 0;
    this.ackEnabled = options.ack ?? true;
    this.autoPong = options.autoPong ?? true;
  }

  get url(): string {
    return `ws://${HOST}:${this.port}${this.path}`;
  }

  get connections(): readonly CloudConnection[] {
    return this.connectionList;
  }

  get open(): readonly CloudConnection[] {
    return this.openConnections();
  }

  private openConnections(): Connection[] {
    return this.connectionList.filter((c) => c.isOpen);
  }

  async start(port: number): Promise<void> {
    this.port = await this.listen(port);
  }

  frames(filter: { type?: string } = {}): ReceivedFrame[] {
    const { type } = filter;
    return type === undefined ? [...this.allFrames] : this.allFrames.filter((f) => f.type === type);
  }

  waitForConnection(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<CloudConnection> {
    return this.waitUntil(
      () => {
        const conn = this.connectionList[count - 1];
        return conn?.acked ? conn : undefined;
      },
      timeoutMs,
      () =>
        `connection #${count} not acked within ${timeoutMs} ms ` +
        `(${this.connectionList.length} accepted, ${this.connectionList.filter((c) => c.acked).length} acked)`,
    );
  }

  waitForFrame(predicate: (f: ReceivedFrame) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedFrame> {
    return this.waitUntil(
      () => this.allFrames.find(predicate),
      timeoutMs,
      () => `no matching frame within ${timeoutMs} ms (${this.allFrames.length} frames received)`,
    );
  }

  terminateAll(): void {
    for (const conn of this.open) conn.socket.terminate();
  }

  closeAll(code: number, reason = ''): void {
    assertSendableClose(code, reason);
    for (const conn of this.openConnections()) closeOrDrop(conn, code, reason);
  }

  blackholeAll(): void {
    for (const conn of this.connectionList) {
      if (!conn.isOpen) continue;
      conn.blackholed = true;
      conn.cancelTimers();
    }
  }

  refuseKeys(on: boolean): void {
    this.refusingKeys = on;
  }

  setAck(on: boolean): void {
    this.ackEnabled = on;
  }

  broadcast(message: object): void {
    const data = JSON.stringify(message);
    for (const conn of this.connectionList) if (conn.isOpen) conn.sendRaw(data);
  }

  restart(options: { downMs?: number } = {}): Promise<void> {
    if (this.stopping) return Promise.reject(new Error('scripted cloud is stopped'));
    const downMs = options.downMs ?? 0;
    return this.serialise(async () => {
      if (this.stopping) return;
      await this.shutdown(CLOSE_SERVICE_RESTART, 'cloud restarting');
      if (downMs > 0) await this.sleep(downMs);
      await this.relisten();
    });
  }

  stop(): Promise<void> {
    if (!this.stopPromise) {
      this.stopping = true;
      this.wakeSleeper?.();
      this.stopPromise = this.serialise(async () => {
        await this.shutdown(CLOSE_GOING_AWAY, 'cloud stopping');
        const stopped = new Error('scripted cloud stopped');
        for (const waiter of [...this.waiters]) waiter.fail(stopped);
        await new Promise<void>((resolve) => this.wss.close(() => resolve()));
      });
    }
    return this.stopPromise;
  }

  // --- listening -------------------------------------------------------------------------

  private listen(port: number): Promise<number> {
    const server = createServer((_req, res) => {
      res.writeHead(426, { connection: 'close' }).end();
    });
    server.on('connection', (socket) => this.track(socket));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(server, req, socket, head));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: HOST }, () => {
        server.off('error', reject);
        // Errors after listening concern single connections, which have their own handlers.
        server.on('error', () => {});
        this.server = server;
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Binds the old port again. Node sets SO_REUSEADDR, so TIME_WAIT leftovers of the sockets
   * just closed do not block it; the retries cover the rare case where the port is briefly
   * used as the local port of another process's outgoing connection.
   */
  private async relisten(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) return;
      try {
        await this.listen(this.port);
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' || attempt >= REBIND_ATTEMPTS) throw error;
        await this.sleep(REBIND_RETRY_MS);
      }
    }
  }

  private track(socket: Socket | Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private onUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    if (this.server !== server) {
      socket.destroy();
      return;
    }
    const { pathname } = new URL(req.url ?? '/', `http://${HOST}`);
    if (pathname !== this.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.server !== server) {
        ws.terminate();
        return;
      }
      this.accept(ws, req);
    });
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const conn = new Connection(this.connectionList.length, ws, req.url ?? '', req.headers, performance.now());
    this.connectionList.push(conn);
    ws.on('message', (data, isBinary) => this.onFrame(conn, data, isBinary));
    ws.on('ping', (data) => {
      if (this.autoPong && !conn.blackholed && ws.readyState === ws.OPEN) ws.pong(data);
    });
    // An error is always followed by 'close', which is what the cloud records.
    ws.on('error', () => {});
    ws.on('close', (code, reason) => {
      conn.markClosed({ code, reason: reason.toString() });
      this.notify();
    });
    this.notify();
  }

  // --- protocol --------------------------------------------------------------------------

  private onFrame(conn: Connection, data: RawData, isBinary: boolean): void {
    if (conn.blackholed) return;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const raw = isBinary ? bytes.toString('base64') : bytes.toString('utf8');
    const message = isBinary ? undefined : parseObject(raw);
    const type = typeof message?.['type'] === 'string' ? message['type'] : undefined;
    const frame: ReceivedFrame = {
      connectionIndex: conn.index,
      type,
      message,
      raw,
      binary: isBinary,
      receivedAt: performance.now(),
    };
    conn.frames.push(frame);
    this.allFrames.push(frame);

    if (message && type === 'tpa_connection_init') this.onInit(conn, message);
    else if (message && type === 'subscription_update' && Array.isArray(message['subscriptions'])) {
      conn.subscriptions = [...(message['subscriptions'] as unknown[])];
    }
    this.notify();
  }

  private onInit(conn: Connection, init: Record<string, unknown>): void {
    conn.sessionId = stringField(init, 'sessionId');
    conn.packageName = stringField(init, 'packageName');
    const refusal = this.refusal(conn.packageName, stringField(init, 'apiKey'));
    if (refusal) {
      // That SDK never closes after an error frame; the cloud must (MENTRA-SDK-WIRE §3.3).
      conn.send({ type: 'tpa_connection_error', ...refusal, timestamp: new Date().toISOString() });
      conn.socket.close(CLOSE_POLICY_VIOLATION, refusal.message);
      return;
    }
    if (!this.ackEnabled) return;
    if (this.ackDelayMs > 0) conn.schedule(this.ackDelayMs, () => this.ack(conn));
    else this.ack(conn);
  }

  private refusal(packageName: string | undefined, apiKey: string | undefined): Refusal | undefined {
    if (this.refusingKeys) return INVALID_API_KEY;
    if (!this.apiKeys) return undefined;
    if (packageName === undefined || !Object.hasOwn(this.apiKeys, packageName)) return UNKNOWN_PACKAGE;
    return this.apiKeys[packageName] === apiKey ? undefined : INVALID_API_KEY;
  }

  private ack(conn: Connection): void {
    if (conn.blackholed || conn.socket.readyState !== conn.socket.OPEN) return;
    conn.send({
      type: 'tpa_connection_ack',
      sessionId: conn.sessionId,
      settings: [],
      mentraosSettings: {},
      capabilities: null,
    });
    conn.acked = true;
    conn.ackedAt = performance.now();
    this.notify();
  }

  // --- lifecycle -------------------------------------------------------------------------

  private serialise(step: () => Promise<void>): Promise<void> {
    const run = this.lifecycle.then(step);
    this.lifecycle = run.catch(() => {});
    return run;
  }

  /** Stops listening, closes the sockets with `code` (drops the rest after a grace period). */
  private async shutdown(code: number, reason: string): Promise<void> {
    const server = this.server;
    this.server = undefined;
    // Closing the listener first: nothing new gets in while the old sockets drain.
    const serverClosed = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();

    const live = this.openConnections();
    for (const conn of live) closeOrDrop(conn, code, reason);
    await this.within(CLOSE_GRACE_MS, Promise.all(live.map((c) => c.closed)));
    const stragglers = this.openConnections();
    for (const conn of stragglers) conn.socket.terminate();
    await Promise.all(stragglers.map((c) => c.closed));

    server?.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await serverClosed;
  }

  /** Resolves when `promise` settles or after `ms` milliseconds, whichever comes first. */
  private async within(ms: number, promise: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    try {
      await Promise.race([promise, elapsed]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sleeps `ms` milliseconds; `stop()` cuts it short. */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        if (this.wakeSleeper === wake) this.wakeSleeper = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakeSleeper = wake;
    });
  }

  // --- waiting ---------------------------------------------------------------------------

  private waitUntil<T>(probe: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
    const found = probe();
    if (found !== undefined) return Promise.resolve(found);
    if (this.stopping) return Promise.reject(new Error('scripted cloud is stopped'));
    return new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        check: () => {
          const value = probe();
          if (value === undefined) return;
          finish();
          resolve(value);
        },
        fail: (error) => {
          finish();
          reject(error);
        },
      };
      const timer = setTimeout(() => waiter.fail(new Error(describe())), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter.check();
  }
}

function closeOrDrop(conn: Connection, code: number, reason: string): void {
  // A black-holed peer is dead: it gets no close frame, its TCP connection just goes away.
  if (conn.blackholed) conn.socket.terminate();
  else conn.socket.close(code, reason);
}

function assertSendableClose(code: number, reason: string): void {
  const sendable =
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999));
  if (!sendable) throw new RangeError(`close code ${code} cannot be sent (use terminateAll() for 1006)`);
  if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(`close reason longer than ${MAX_CLOSE_REASON_BYTES} bytes`);
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function stringField(message: Record<string, unknown>, key: string): string | undefined {
  const value = message[key];
  return typeof value === 'string' ? value : undefined;
}
