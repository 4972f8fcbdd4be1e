/**
 * Issue 10, "connection limits": a cap on sockets that have not authenticated, a per-address
 * limit on new upgrades, a bound on slow partial requests, and a connection cap that keeps the
 * process inside its descriptor limit — each refusal answered, counted and logged, while a
 * second user streams throughout and loses nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Admission } from '../../src/cloud/link/admission.js';
import { createCloudMetrics } from '../../src/cloud/metrics.js';
import type { CloudSettings } from '../../src/cloud/config.js';
import type { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { RecordingApp, startTestCloud, type LogLine } from '../support/cloudHarness.js';
import { sleep, waitFor } from '../support/net.js';

const PKG = 'com.example.stream';
const STREAMER = 'streamer';
/** pino's `warn`. */
const WARN = 40;

type Harness = Awaited<ReturnType<typeof startTestCloud>>;

/** A user whose glasses stream transcripts to its app every 20 ms, from start to {@link stop}. */
interface Streamer {
  /** Waits for more transcripts, and checks the user's sockets never closed. */
  expectStreaming(): Promise<void>;
  /** Stops sending and checks the app received every transcript, in order. */
  stop(): Promise<void>;
}

async function startStreamer(h: Harness): Promise<Streamer> {
  const served = await h.serveApp(PKG, (apiKey) => new RecordingApp({ packageName: PKG, apiKey }));
  const app = served.server as RecordingApp;
  const glasses: SimulatedGlasses = await h.glassesFor(STREAMER, [PKG]);
  await glasses.connect();
  await waitFor(() => app.sessions.length === 1, { timeoutMs: 3000 });
  const lifecycle: string[] = [];
  const session = app.sessions[0]!;
  session.events.onDisconnected((info) => lifecycle.push(`disconnected ${info.code}`));
  session.events.onReconnecting(() => lifecycle.push('reconnecting'));
  await waitFor(() => h.cloud.sessions.appSession(STREAMER, `${STREAMER}-${PKG}`)?.getSnapshot().context.subscriptions.includes('transcription:en-US'));
  const sent: string[] = [];
  const timer = setInterval(() => {
    const text = `t-${sent.length}`;
    sent.push(text);
    glasses.transcribe(text);
  }, 20);
  await waitFor(() => app.transcripts.length >= 3, { timeoutMs: 3000 });
  const healthy = () => {
    expect(glasses.closeEvents).toEqual([]);
    expect(glasses.state).toBe('open');
    expect(lifecycle).toEqual([]);
  };
  return {
    async expectStreaming() {
      const before = app.transcripts.length;
      await waitFor(() => app.transcripts.length >= before + 3, { timeoutMs: 3000, message: 'the streaming user stopped receiving' });
      healthy();
    },
    async stop() {
      clearInterval(timer);
      await waitFor(() => app.transcripts.length >= sent.length, { timeoutMs: 3000, message: 'the streaming user lost transcripts' });
      expect(app.transcripts).toEqual(sent);
      healthy();
    },
  };
}

/** What a WebSocket upgrade came to: an open socket, or the HTTP answer that refused it. */
type Upgrade = { ws: WebSocket; status?: undefined; headers?: undefined } | { ws?: undefined; status: number; headers: Record<string, string | string[] | undefined> };

function upgrade(h: Harness, path = '/glasses-ws'): Promise<Upgrade> {
  const ws = new WebSocket(`${h.cloud.url.replace(/^http/, 'ws')}${path}`, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** Sends `connection_init` with `token` and resolves with the first frame's type. */
function authenticate(ws: WebSocket, token: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data: Buffer) => resolve((JSON.parse(data.toString()) as { type: string }).type));
    ws.send(JSON.stringify({ type: 'connection_init', coreToken: token }));
  });
}

function closeAll(sockets: Array<WebSocket | undefined>): Promise<void> {
  return Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (!ws || ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.terminate();
        }),
    ),
  ).then(() => undefined);
}

async function refusedCount(h: Harness, reason: string): Promise<number> {
  const text = await (await fetch(`${h.cloud.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`tether_connections_refused_total{reason="${reason}"}`));
  return line ? Number(line.split(' ')[1]) : 0;
}

const warnings = (h: Harness, code: string): LogLine[] => h.lines.filter((line) => line.code === code && (line.level ?? 0) >= WARN);

async function startCloudWithStreamer(settings: Partial<CloudSettings>) {
  const h = await startTestCloud({ settings });
  return { h, streamer: await startStreamer(h) };
}

describe('pending sockets and slow requests', () => {
  let h: Harness;
  let streamer: Streamer;

  beforeAll(async () => {
    ({ h, streamer } = await startCloudWithStreamer({ maxPendingSockets: 4, headersTimeoutMs: 300 }));
  }, 15_000);
  afterAll(async () => {
    await h?.close();
  });

  it('refuses the socket over the pending cap with 503 and Retry-After, and the others still authenticate', async () => {
    // The streaming user's two authenticated sockets do not count: four more may wait.
    const waiting = await Promise.all([1, 2, 3, 4].map(() => upgrade(h)));
    expect(waiting.map((u) => u.status)).toEqual([undefined, undefined, undefined, undefined]);
    const extra = await upgrade(h);
    expect(extra.status).toBe(503);
    expect(extra.headers?.['retry-after']).toMatch(/^\d+$/);
    expect(extra.headers?.connection).toBe('close');
    expect(warnings(h, 'PENDING_SOCKET_LIMIT')).toEqual([expect.objectContaining({ remoteAddress: '127.0.0.1' })]);
    expect(await refusedCount(h, 'pending')).toBe(1);

    // A waiting socket still authenticates; then it no longer counts, and one more is let in.
    expect(await authenticate(waiting[0]!.ws!, await h.cloud.createGlassesToken('pending-user'))).toBe('connection_ack');
    const next = await upgrade(h);
    expect(next.status).toBeUndefined();
    await streamer.expectStreaming();

    // Closing releases too.
    await closeAll([...waiting.slice(1).map((u) => u.ws), next.ws]);
    const again = await Promise.all([1, 2, 3, 4].map(() => upgrade(h)));
    expect(again.map((u) => u.status)).toEqual([undefined, undefined, undefined, undefined]);
    await closeAll([waiting[0]!.ws, ...again.map((u) => u.ws)]);
  });

  it('closes a connection that sends half an upgrade request within the headers timeout', async () => {
    const started = performance.now();
    const socket: Socket = connect(h.cloud.port, '127.0.0.1');
    socket.on('error', () => {});
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.write('GET /glasses-ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the partial upgrade is still open')), 2000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    }).finally(() => socket.destroy());
    expect(performance.now() - started).toBeLessThan(1500);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    await streamer.expectStreaming();
  });

  it('lets the streaming user lose nothing', async () => {
    await streamer.stop();
  });
});

describe('new connections per address', () => {
  let h: Harness;
  let streamer: Streamer;

  beforeAll(async () => {
    // The streaming user's glasses and app sockets are two of the five.
    ({ h, streamer } = await startCloudWithStreamer({ connectionsPerAddressPerMinute: 5 }));
  }, 15_000);
  afterAll(async () => {
    await h?.close();
  });

  it('refuses upgrades over the limit with 429 and Retry-After, and logs one line for a burst', async () => {
    const allowed = await Promise.all([1, 2, 3].map(() => upgrade(h, '/app-ws')));
    expect(allowed.map((u) => u.status)).toEqual([undefined, undefined, undefined]);
    const refused = await Promise.all([1, 2, 3].map(() => upgrade(h)));
    expect(refused.map((u) => u.status)).toEqual([429, 429, 429]);
    const retryAfter = Number(refused[0]!.headers?.['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await refusedCount(h, 'address')).toBe(3);
    expect(warnings(h, 'ADDRESS_RATE_LIMITED')).toEqual([expect.objectContaining({ remoteAddress: '127.0.0.1' })]);
    await closeAll(allowed.map((u) => u.ws));
    await streamer.expectStreaming();
    await streamer.stop();
  });
});

describe('accept errors', () => {
  it('counts an EMFILE the server reports and logs it once per interval, without throwing', async () => {
    const lines: LogLine[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
    const metrics = createCloudMetrics();
    const admission = new Admission({
      settings: { maxPendingSockets: 0, connectionsPerAddressPerMinute: 0, maxConnections: 10, headersTimeoutMs: 1000 },
      metrics,
      logger,
    });
    const server = new EventEmitter() as unknown as Server;
    admission.guard(server);
    expect(server.maxConnections).toBe(10);
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
    server.emit('error', emfile);
    server.emit('error', emfile);
    server.emit('error', Object.assign(new Error('accept ENFILE'), { code: 'ENFILE', syscall: 'accept' }));
    const text = await metrics.render();
    expect(text).toContain('tether_connections_refused_total{reason="emfile"} 2');
    expect(text).toContain('tether_connections_refused_total{reason="enfile"} 1');
    expect(lines.filter((l) => l.code === 'EMFILE')).toHaveLength(1);
    expect(lines.filter((l) => l.code === 'ENFILE')).toHaveLength(1);
    metrics.close();
  });
});

interface ChildReady {
  type: 'ready';
  url: string;
  glassesUrl: string;
  port: number;
  tokens: { early: string; late: string };
}

describe('descriptor exhaustion (child process, ulimit -n 128)', () => {
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.stdin?.end();
    const timer = setTimeout(() => child?.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  });

  it('refuses connections over the descriptor budget, counts and logs them, and keeps existing sessions', async () => {
    const fixture = new URL('./fixtures/lowFdCloud.ts', import.meta.url).pathname;
    child = spawn('sh', ['-c', `ulimit -n 128 && exec "${process.execPath}" --import tsx "${fixture}"`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines: LogLine[] = [];
    let ready: ChildReady | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as LogLine & Partial<ChildReady>;
      if (parsed.type === 'ready') ready = parsed as ChildReady;
      else lines.push(parsed);
    });
    const up = await waitFor(() => ready, { timeoutMs: 10_000, message: 'the child cloud did not start' });

    // A user authenticated before the flood.
    const early = new WebSocket(up.glassesUrl, { perMessageDeflate: false });
    await new Promise((resolve, reject) => early.once('open', resolve).once('error', reject));
    expect(await authenticate(early, up.tokens.early)).toBe('connection_ack');

    // The flood: far more connections than the child has descriptors.
    const flood: Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const socket = connect(up.port, '127.0.0.1');
      socket.on('error', () => {});
      flood.push(socket);
    }
    await waitFor(() => lines.find((l) => l.code === 'CONNECTION_LIMIT' && (l.level ?? 0) >= WARN), {
      timeoutMs: 5000,
      message: 'no CONNECTION_LIMIT line from the child',
    });
    // A flood of refusals is a handful of lines, not one per connection.
    expect(lines.filter((l) => l.code === 'CONNECTION_LIMIT').length).toBeLessThan(5);

    // The early session still answers, in the middle of the flood.
    const acks: string[] = [];
    early.on('message', (data: Buffer) => acks.push((JSON.parse(data.toString()) as { type: string }).type));
    for (let i = 0; i < 3; i++) {
      early.send(JSON.stringify({ type: 'heartbeat' }));
      await waitFor(() => acks.filter((t) => t === 'heartbeat_ack').length > i, { timeoutMs: 2000, message: 'no heartbeat_ack during the flood' });
      await sleep(20);
    }

    // After the flood, new users connect again.
    for (const socket of flood) socket.destroy();
    const late = await waitFor(
      async () => {
        const ws = new WebSocket(up.glassesUrl, { perMessageDeflate: false });
        ws.on('error', () => {});
        const opened = await new Promise<boolean>((resolve) => {
          ws.once('open', () => resolve(true));
          ws.once('close', () => resolve(false));
        });
        return opened ? ws : undefined;
      },
      { timeoutMs: 5000, intervalMs: 100, message: 'no new user could connect after the flood' },
    );
    expect(await authenticate(late, up.tokens.late)).toBe('connection_ack');

    const metrics = await (await fetch(`${up.url}/metrics`)).text();
    const dropped = /^tether_connections_refused_total\{reason="connections"\} (\d+)$/m.exec(metrics)?.[1];
    expect(Number(dropped)).toBeGreaterThan(0);
    expect(child.exitCode).toBeNull();
    expect(early.readyState).toBe(WebSocket.OPEN);
    await closeAll([early, late]);
  }, 30_000);
});
