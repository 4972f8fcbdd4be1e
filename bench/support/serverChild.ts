/**
 * The server side of the socket benchmarks, run in a child process of its own so that its CPU
 * time and memory are measured alone (the clients live in the parent). Started by
 * `startServerChild` (`children.ts`) as `node --import tsx --expose-gc serverChild.ts <json>`,
 * where the JSON is a {@link ServerChildOptions}; it answers the parent's {@link ChildRequest}s
 * over IPC and exits when the parent goes away or its lifetime runs out.
 *
 * Two kinds of server:
 * - `tether`: the real cloud, built with `createCloud` and configuration overrides only (its
 *   public surface), on 127.0.0.1, an in-memory store, the inspector off, logging at `error`;
 * - `baseline`: a bare `ws` server that acks `connection_init` and `tpa_connection_init` with
 *   the frames the cloud sends, and pings each socket from a `setInterval` of its own, started
 *   at a random offset in the first interval (the `ws` README's heartbeat: a socket that has not
 *   answered the previous ping by the next one is terminated).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { WebSocketServer, type WebSocket } from 'ws';
import { createCloud, type Cloud } from '../../src/cloud/index.js';

/** What the parent asks of the child (argv[2], as JSON). */
export interface ServerChildOptions {
  kind: 'tether' | 'baseline';
  /** Time between pings on each socket, in ms. */
  heartbeatIntervalMs: number;
  /** Silence after which a socket is terminated (tether only; the baseline uses one interval), in ms. */
  heartbeatTimeoutMs: number;
  /** The child exits by itself after this long, whatever happens, in ms. */
  lifetimeMs: number;
  /** SQLite file of the cloud (tether only); in memory by default. */
  dbPath?: string;
  /** Whether the cloud writes sessions through as they change (tether only; default true). */
  writeThrough?: boolean;
  /**
   * Baseline only: relay each binary frame of a glasses socket to its user's app socket (paired
   * by the user id in the fake token and the app's `<userId>-<package>` session id), skipping a
   * socket with more than this many unsent bytes, as the cloud's write gate does. Absent: no relay.
   */
  relayAudioHighWaterBytes?: number;
  /**
   * Baseline only: relay each JSON stream event of a glasses socket to every app socket of its
   * user as a `data_stream` (parsed once, serialized per app, since each frame names its app's
   * session), skipping a socket over this many unsent bytes. Absent: no JSON relay.
   */
  relayJsonHighWaterBytes?: number;
  /**
   * Baseline only: cork each app socket until the end of the tick in which the JSON relay first
   * writes to it, as the cloud's data plane does, so that one read's frames leave in one write.
   */
  relayJsonCork?: boolean;
  /**
   * Tether only: per-socket and per-user frame limits (per second), raised for a saturation run
   * so that the limiter still runs on every frame but never closes a socket.
   */
  messagesPerSecond?: { socket: number; user: number };
  /** Tether only: the `recoveryConcurrency` setting (default: the cloud's). */
  recoveryConcurrency?: number;
  /**
   * Tether only: run the cloud as a node of a cluster (`TETHER_NATS_URL`, `TETHER_NODE_ID`,
   * `TETHER_LEASE_MS`) on the PostgreSQL database `dbUrl`, instead of alone on SQLite.
   */
  cluster?: { natsUrl: string; dbUrl: string; nodeId: string; leaseMs: number };
}

/** Where the child's server listens, sent once it does. */
export interface ChildReady {
  type: 'ready';
  /** `ws://127.0.0.1:<port>/glasses-ws`. */
  glassesUrl: string;
  /** The app WebSocket URL (`…/app-ws`). */
  appUrl: string;
}

/** What the parent can ask of the child. */
export type ChildCall =
  | { op: 'tokens'; userIds: string[] }
  | { op: 'registerApp'; packageName: string; webhookUrl: string }
  | { op: 'measureStart' }
  | { op: 'measureStop' }
  | { op: 'memory' }
  | { op: 'heapSnapshot'; path: string }
  | { op: 'persistence' }
  | { op: 'flushForShutdown' }
  | { op: 'close' };

/** A request from the parent; the child answers `{ id, ok, result }` or `{ id, ok: false, error }`. */
export type ChildRequest = { id: number } & ChildCall;

/** Answer to `measureStop`: what the child spent since `measureStart`. */
export interface CpuWindow {
  /** CPU time of the whole process (every thread: GC helpers included), in ms. */
  cpuMs: number;
  /** Wall time of the window, in ms. */
  elapsedMs: number;
  /**
   * Event-loop delay beyond the 10 ms sampling interval of `monitorEventLoopDelay`, in ms: how
   * late a timer due now would run.
   */
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  /** Longest and total GC pause in the window, in ms (a stall that is the GC's shows here too). */
  gcMaxPauseMs: number;
  gcTotalPauseMs: number;
  /**
   * Times the kernel took the CPU from the process in the window: other load on the machine
   * (the stalls it causes are not the server's).
   */
  involuntaryContextSwitches: number;
}

/** Answer to `memory`, after two full GCs; bytes. */
export interface MemoryFigures {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Answer to `persistence` (tether only): the cloud's write-through counters. */
export interface PersistenceFigures {
  /** Transactions written. */
  batches: number;
  /** Session rows saved and deleted. */
  saved: number;
  removed: number;
}

/** Answer to `flushForShutdown`: what the shutdown's flush (a SIGTERM) took. */
export interface ShutdownFlush {
  /** Sessions the store holds afterwards. */
  sessions: number;
  /** Rows the flush itself wrote. */
  rows: number;
  /** Time the flush took, in ms. */
  ms: number;
}

/** Sampling interval of the event-loop delay histogram, in ms. */
const EVENT_LOOP_RESOLUTION_MS = 10;

interface Server {
  glassesUrl: string;
  appUrl: string;
  tokens(userIds: string[]): Promise<string[]>;
  registerApp(packageName: string, webhookUrl: string): Promise<string>;
  persistence(): PersistenceFigures;
  flushForShutdown(): Promise<ShutdownFlush>;
  close(): Promise<void>;
}

async function startTether(options: ServerChildOptions): Promise<Server> {
  const cloud: Cloud = await createCloud({
    host: '127.0.0.1',
    overrides: {
      port: 0,
      dbPath: options.cluster?.dbUrl ?? options.dbPath ?? ':memory:',
      ...(options.cluster ? { natsUrl: options.cluster.natsUrl, nodeId: options.cluster.nodeId, leaseMs: options.cluster.leaseMs } : {}),
      logLevel: 'error',
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      // Thousands of sockets from one address, opened in batches: the connection limits are off.
      maxPendingSockets: 0,
      connectionsPerAddressPerMinute: 0,
      ...(options.messagesPerSecond
        ? { socketMessagesPerSecond: options.messagesPerSecond.socket, userMessagesPerSecond: options.messagesPerSecond.user }
        : {}),
      ...(options.recoveryConcurrency === undefined ? {} : { recoveryConcurrency: options.recoveryConcurrency }),
    },
    inspector: false,
    restore: false,
    ...(options.writeThrough === undefined ? {} : { writeThrough: options.writeThrough }),
  });
  // A renamed setting would leave the default in place and measure the wrong thing.
  if (cloud.config.heartbeatIntervalMs !== options.heartbeatIntervalMs || cloud.config.heartbeatTimeoutMs !== options.heartbeatTimeoutMs) {
    throw new Error('the cloud did not take the heartbeat overrides');
  }
  return {
    glassesUrl: cloud.glassesUrl,
    appUrl: cloud.appUrl,
    tokens: (userIds) => Promise.all(userIds.map((userId) => cloud.createGlassesToken(userId))),
    registerApp: async (packageName, webhookUrl) => (await cloud.registerApp({ packageName, name: packageName, webhookUrl })).apiKey,
    persistence: () => ({ ...cloud.sessions.persistenceStats }),
    flushForShutdown: async () => {
      const saved = cloud.sessions.persistenceStats.saved;
      const started = performance.now();
      const sessions = await cloud.sessions.persistAll();
      return { sessions, rows: cloud.sessions.persistenceStats.saved - saved, ms: performance.now() - started };
    },
    close: () => cloud.close({ persist: false }),
  };
}

async function startBaseline(options: ServerChildOptions): Promise<Server> {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http });
  const interval = options.heartbeatIntervalMs;
  const appOfUser = new Map<string, WebSocket>();
  const highWater = options.relayAudioHighWaterBytes;
  const jsonHighWater = options.relayJsonHighWaterBytes;
  /** Each user's app sockets with their session ids, for the JSON relay. */
  const appsOfUser = new Map<string, Array<{ ws: WebSocket; sessionId: string }>>();
  let seq = 0;
  const cork = options.relayJsonCork === true;
  const corked = new WeakSet<object>();
  const holdUntilTickEnd = (ws: WebSocket) => {
    const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!socket || corked.has(socket)) return;
    corked.add(socket);
    socket.cork();
    process.nextTick(() => {
      corked.delete(socket);
      socket.uncork();
    });
  };
  wss.on('connection', (ws: WebSocket) => {
    let relayTo: string | undefined;
    let alive = true;
    let timer: NodeJS.Timeout;
    const tick = () => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    };
    timer = setTimeout(() => {
      tick();
      timer = setInterval(tick, interval);
    }, Math.floor(Math.random() * interval));
    ws.on('pong', () => (alive = true));
    ws.on('close', () => clearTimeout(timer));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      alive = true;
      if (isBinary) {
        // The whole relay: one map lookup, one backpressure check, one send of the same buffer.
        const app = relayTo === undefined ? undefined : appOfUser.get(relayTo);
        if (app && highWater !== undefined && app.bufferedAmount <= highWater) app.send(data, { binary: true });
        return;
      }
      let message: { type?: unknown; sessionId?: unknown; coreToken?: unknown };
      try {
        message = JSON.parse(data.toString()) as typeof message;
      } catch {
        return;
      }
      if (jsonHighWater !== undefined && relayTo !== undefined && message.type !== 'connection_init') {
        // The whole JSON relay: one parse (above), one lookup, then per app a backpressure
        // check and the app's own frame.
        const apps = appsOfUser.get(relayTo);
        if (!apps) return;
        const { type, ...data } = message as Record<string, unknown>;
        for (const app of apps) {
          if (app.ws.bufferedAmount > jsonHighWater) continue;
          if (cork) holdUntilTickEnd(app.ws);
          app.ws.send(JSON.stringify({ type: 'data_stream', sessionId: app.sessionId, streamType: type, data, seq: ++seq }));
        }
        return;
      }
      if (message.type === 'connection_init') {
        // The fake token is `baseline.<userId>.xxx…` (see `tokens` below).
        if (typeof message.coreToken === 'string') relayTo = message.coreToken.split('.')[1];
        ws.send(JSON.stringify({ type: 'connection_ack', sessionId: 'user', userId: 'user' }));
      } else if (message.type === 'tpa_connection_init') {
        if (highWater !== undefined && typeof message.sessionId === 'string') appOfUser.set(message.sessionId.split('-')[0] ?? '', ws);
        if (jsonHighWater !== undefined && typeof message.sessionId === 'string') {
          const userId = message.sessionId.split('-')[0] ?? '';
          const apps = appsOfUser.get(userId) ?? [];
          apps.push({ ws, sessionId: message.sessionId });
          appsOfUser.set(userId, apps);
        }
        ws.send(JSON.stringify({ type: 'tpa_connection_ack', sessionId: message.sessionId, settings: [], mentraosSettings: {}, capabilities: null }));
      }
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    glassesUrl: `ws://127.0.0.1:${port}/glasses-ws`,
    appUrl: `ws://127.0.0.1:${port}/app-ws`,
    // The same length as a real core token, so the frames weigh the same.
    tokens: async (userIds) => userIds.map((userId) => `baseline.${userId}.`.padEnd(180, 'x')),
    registerApp: async () => 'baseline-api-key',
    persistence: () => {
      throw new Error('the baseline server persists nothing');
    },
    flushForShutdown: () => {
      throw new Error('the baseline server persists nothing');
    },
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as ServerChildOptions;
  const lifetime = setTimeout(() => process.exit(3), options.lifetimeMs);
  lifetime.unref();
  // The parent gone (crashed, killed), nothing is left to measure for.
  process.on('disconnect', () => process.exit(0));

  const server = options.kind === 'tether' ? await startTether(options) : await startBaseline(options);
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  let windowStart = { cpu: process.cpuUsage(), at: performance.now(), switches: 0 };
  let gcPauses: Array<{ startTime: number; duration: number }> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauses.push({ startTime: entry.startTime, duration: entry.duration });
  });
  const collect = (globalThis as { gc?: () => void }).gc;

  const answer = async (request: ChildRequest): Promise<unknown> => {
    switch (request.op) {
      case 'tokens':
        return server.tokens(request.userIds);
      case 'registerApp':
        return await server.registerApp(request.packageName, request.webhookUrl);
      case 'measureStart':
        // No forced GC here: with one, a 35–60 ms GC pause of V8's own landed inside the
        // window a few seconds later (measured, heartbeats off). The settle time is what lets
        // the connect storm's garbage go.
        delay.reset();
        delay.enable();
        gcPauses = [];
        gcObserver.observe({ entryTypes: ['gc'] });
        windowStart = { cpu: process.cpuUsage(), at: performance.now(), switches: process.resourceUsage().involuntaryContextSwitches };
        return {};
      case 'measureStop': {
        const cpu = process.cpuUsage(windowStart.cpu);
        const stoppedAt = performance.now();
        const switches = process.resourceUsage().involuntaryContextSwitches - windowStart.switches;
        delay.disable();
        // GC entries are delivered on a later tick: wait for those of the window, outside it.
        await new Promise((resolve) => setTimeout(resolve, 50));
        gcObserver.disconnect();
        const pauses = gcPauses.filter((p) => p.startTime >= windowStart.at && p.startTime <= stoppedAt).map((p) => p.duration);
        const beyond = (ns: number) => Math.max(0, ns / 1e6 - EVENT_LOOP_RESOLUTION_MS);
        return {
          cpuMs: (cpu.user + cpu.system) / 1000,
          elapsedMs: stoppedAt - windowStart.at,
          eventLoopP99Ms: beyond(delay.percentile(99)),
          eventLoopMaxMs: beyond(delay.max),
          gcMaxPauseMs: Math.max(0, ...pauses),
          gcTotalPauseMs: pauses.reduce((sum, d) => sum + d, 0),
          involuntaryContextSwitches: switches,
        } satisfies CpuWindow;
      }
      case 'memory': {
        if (!collect) throw new Error('start the child with --expose-gc');
        collect();
        // A second pass collects what the first one's finalizers released.
        await new Promise((resolve) => setImmediate(resolve));
        collect();
        const m = process.memoryUsage();
        return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers } satisfies MemoryFigures;
      }
      case 'heapSnapshot':
        // For a person taking memory apart (Chrome DevTools → Memory → Load, "Comparison").
        return writeHeapSnapshot(request.path);
      case 'persistence':
        return server.persistence();
      case 'flushForShutdown':
        return server.flushForShutdown();
      case 'close':
        await server.close();
        setImmediate(() => process.exit(0));
        return {};
    }
  };

  process.on('message', (request: ChildRequest) => {
    answer(request).then(
      (result) => process.send?.({ id: request.id, ok: true, result }),
      (error: unknown) => process.send?.({ id: request.id, ok: false, error: String((error as Error)?.stack ?? error) }),
    );
  });
  process.send?.({ type: 'ready', glassesUrl: server.glassesUrl, appUrl: server.appUrl } satisfies ChildReady);
}

main().catch((error: unknown) => {
  console.error('bench server child failed:', error);
  process.exit(2);
});
