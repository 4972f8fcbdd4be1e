/**
 * Peers (issue 13 §7): the same network blip against other real-time stacks, side by side.
 *
 * A server streams numbered messages (`m1`, `m2`… at 50 per second for 6 s) to one client whose
 * connection runs through a fault proxy (`test/support/faultProxy.ts`). 1 s in comes one of two
 * blips:
 * - `cut`: the proxy resets every connection (both ends see the loss at once) and refuses new
 *   ones for 2 s;
 * - `restart`: the server shuts down as its stack does (the cloud: `close()`, state written to
 *   its SQLite file, sockets closed 1012; Socket.IO: `io.close()`; `ws`: every socket closed 1012)
 *   and a new one listens on the same port {@link RESTART_DOWN_MS} later (the cloud on the same
 *   database). A message counts only if the server accepted it: while it is down, or before the
 *   glasses are back (the cloud), nothing is sent.
 * Per stack:
 * - `tether`: the cloud, with simulated glasses transcribing each message and a Tether SDK app
 *   subscribed to transcriptions, its app socket behind the proxy (`publicUrl` points at it);
 *   the SDK resumes with its last `seq`, the cloud replays what it missed;
 * - `mentra`: the same with an unmodified `@mentra/sdk` 2.1 app (served from its express app);
 * - `socket.io`: a Socket.IO 4 server with connection state recovery (`io.emit` per message) and a
 *   `socket.io-client` over WebSocket, default reconnection settings;
 * - `partysocket`: a bare `ws` server broadcasting each message to a `partysocket`
 *   ReconnectingWebSocket (reconnection delay 1–10 s: its default minimum is a random 1–5 s).
 * Figures: messages lost (of those sent) and duplicated, and the reconnect time — from the end
 * of the refusal, or the new server listening, to the first message that arrives after it.
 * Medians over rounds, the stacks taking turns.
 *
 * Run alone: `npx tsx bench/peers.ts [--quick] [--label <text>]`; writes `bench/results/peers.json`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { WebSocket as PartySocket } from 'partysocket';
import { Server as SocketIoServer } from 'socket.io';
import { io as socketIoClient } from 'socket.io-client';
import WebSocket, { WebSocketServer } from 'ws';
import { AppServer, type AppSession } from '../src/sdk/index.js';
import { startTestCloud } from '../test/support/cloudHarness.js';
import { startFaultProxy, type FaultProxy } from '../test/support/faultProxy.js';
import { serveMentraApp } from '../test/support/mentraApp.js';
import { fixed, isMain, median, parseFlags, sleep, table, until, withDeadline, writeResult, type BenchFigures } from './support/report.js';

const RATE_PER_S = 50;
const STREAM_MS = 6000;
const CUT_AFTER_MS = 1000;
const CUT_MS = 2000;
const TOTAL = (STREAM_MS / 1000) * RATE_PER_S;
/** How long a restarted server is away: a process that stops and starts again quickly, in ms. */
const RESTART_DOWN_MS = 500;
const STACKS = ['tether', 'mentra', 'socket.io', 'partysocket'] as const;
type Stack = (typeof STACKS)[number];
const BLIPS = ['cut', 'restart'] as const;
type Blip = (typeof BLIPS)[number];

/** A running stack: how to send message `n`, what the client has received (with when), how to restart the server. */
interface Rig {
  /** Sends message `n` if the server can take it now; says whether it did. */
  send(n: number): boolean;
  received: Array<{ n: number; at: number }>;
  /** Stops the server, starts a new one on the same port `downMs` later; resolves with when it listens. */
  restart(downMs: number): Promise<number>;
  close(): Promise<void>;
}

/** One run's figures. */
interface RunFigures {
  sent: number;
  lost: number;
  duplicates: number;
  /** From the end of the refusal, or the new server listening, to the first message after it, in ms. */
  reconnectMs: number;
}

interface StackFigures {
  lost: number;
  duplicates: number;
  reconnectMs: number;
  rounds: RunFigures[];
}

/** Result of {@link runPeers}: the cut's figures per stack (`perStack`) and the restart's. */
export type PeersResult = BenchFigures & {
  params: { rounds: number; ratePerS: number; streamMs: number; cutAfterMs: number; cutMs: number; restartDownMs: number; total: number };
  perStack: Record<Stack, StackFigures>;
  restart: Record<Stack, StackFigures>;
};

class CountingTetherApp extends AppServer {
  readonly received: Array<{ n: number; at: number }> = [];
  protected override async onSession(session: AppSession): Promise<void> {
    session.events.onTranscription((t) => this.received.push({ n: Number(t.text.slice(1)), at: performance.now() }));
  }
}

class CountingMentraApp extends MentraAppServer {
  readonly received: Array<{ n: number; at: number }> = [];
  /** Sessions to disconnect at the end (`serveMentraApp` does). */
  readonly live = new Map<string, MentraAppSession>();
  protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
    this.live.set(sessionId, session);
    session.events.onTranscription((t) => this.received.push({ n: Number(t.text.slice(1)), at: performance.now() }));
  }
}

async function listen(http: HttpServer, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  return (http.address() as AddressInfo).port;
}

async function cloudRig(proxy: FaultProxy, stock: boolean): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-bench-peers-'));
  // The production reconnect window: the SDKs come back by themselves before the webhook is re-sent.
  const settings = { dbPath: join(dir, 'tether.db'), publicUrl: `ws://127.0.0.1:${proxy.port}`, appReconnectWindowMs: 5000 };
  const h = await startTestCloud({ settings });
  proxy.targetPort = h.cloud.port;
  let cloud = h.cloud;
  const user = stock ? 'peer-mentra' : 'peer-tether';
  const pkg = stock ? 'com.example.peers.mentra' : 'com.example.peers.tether';
  let received: Rig['received'];
  if (stock) {
    const { app } = await h.serveWebhook(pkg, (apiKey) => serveMentraApp(() => new CountingMentraApp({ packageName: pkg, apiKey, port: 0 })));
    received = app.app.received;
  } else {
    const { server } = await h.serveApp(pkg, (apiKey) => new CountingTetherApp({ packageName: pkg, apiKey }));
    received = (server as CountingTetherApp).received;
  }
  const glasses = await h.glassesFor(user, [pkg]);
  await glasses.connect();
  const sessionId = `${user}-${pkg}`;
  await until(
    () => h.cloud.sessions.appSession(user, sessionId)?.getSnapshot().context.subscriptions.includes('transcription:en-US') === true,
    5000,
    () => `${stock ? 'mentra' : 'tether'} app never subscribed`,
  );
  let glassesBack = true;
  return {
    send: (n) => {
      if (!glassesBack || glasses.state !== 'open') return false;
      glasses.transcribe(`m${n}`);
      return true;
    },
    received,
    async restart(downMs) {
      glassesBack = false;
      await cloud.close();
      await sleep(downMs);
      cloud = (await startTestCloud({ settings: { ...settings, port: h.cloud.port } })).cloud;
      const listening = performance.now();
      // Glasses come back by themselves in real life; these retry at once until they are in.
      for (let tries = 0; glasses.state !== 'open' && tries < 100; tries++) await glasses.connect().catch(() => sleep(20));
      glassesBack = true;
      return listening;
    },
    async close() {
      await h.close();
      if (cloud !== h.cloud) await cloud.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function socketIoRig(proxy: FaultProxy): Promise<Rig> {
  const serve = async (port?: number) => {
    const http = createServer();
    const io = new SocketIoServer(http, { connectionStateRecovery: { maxDisconnectionDuration: 120_000 } });
    return { io, port: await listen(http, port) };
  };
  let server: Awaited<ReturnType<typeof serve>> | undefined = await serve();
  proxy.targetPort = server.port;
  const client = socketIoClient(`http://127.0.0.1:${proxy.port}`, { transports: ['websocket'] });
  const received: Rig['received'] = [];
  client.on('m', (n: number) => received.push({ n, at: performance.now() }));
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return {
    send: (n) => {
      if (!server) return false;
      server.io.emit('m', n);
      return true;
    },
    received,
    async restart(downMs) {
      const { io, port } = server as NonNullable<typeof server>;
      server = undefined;
      await io.close();
      await sleep(downMs);
      server = await serve(port);
      return performance.now();
    },
    close: async () => {
      client.close();
      await server?.io.close();
    },
  };
}

async function partySocketRig(proxy: FaultProxy): Promise<Rig> {
  const serve = async (port?: number) => {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    return { http, wss, port: await listen(http, port) };
  };
  const stop = async ({ http, wss }: Awaited<ReturnType<typeof serve>>) => {
    for (const ws of wss.clients) ws.close(1012);
    await new Promise<void>((resolve) => wss.close(() => http.close(() => resolve())));
  };
  let server: Awaited<ReturnType<typeof serve>> | undefined = await serve();
  proxy.targetPort = server.port;
  const client = new PartySocket(`ws://127.0.0.1:${proxy.port}`, [], { WebSocket, minReconnectionDelay: 1000, maxReconnectionDelay: 10_000 });
  const received: Rig['received'] = [];
  client.addEventListener('message', (event) => received.push({ n: Number(String(event.data)), at: performance.now() }));
  await new Promise<void>((resolve) => client.addEventListener('open', () => resolve(), { once: true }));
  return {
    send: (n) => {
      if (!server) return false;
      for (const ws of server.wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(String(n));
      return true;
    },
    received,
    async restart(downMs) {
      const old = server as NonNullable<typeof server>;
      server = undefined;
      await stop(old);
      await sleep(downMs);
      server = await serve(old.port);
      return performance.now();
    },
    close: async () => {
      client.close();
      if (server) {
        for (const ws of server.wss.clients) ws.terminate();
        await stop(server);
      }
    },
  };
}

async function measureRun(stack: Stack, blip: Blip): Promise<RunFigures> {
  const proxy = await startFaultProxy();
  let rig: Rig | undefined;
  try {
    rig =
      stack === 'tether' || stack === 'mentra' ? await cloudRig(proxy, stack === 'mentra') : stack === 'socket.io' ? await socketIoRig(proxy) : await partySocketRig(proxy);
    const start = performance.now();
    let blipped: Promise<void> | undefined;
    let backAt = 0;
    const sent = new Set<number>();
    for (let n = 1; n <= TOTAL; n++) {
      const wait = start + ((n - 1) * 1000) / RATE_PER_S - performance.now();
      if (wait > 0) await sleep(wait);
      if (!blipped && performance.now() - start >= CUT_AFTER_MS) {
        const current = rig;
        const ended = blip === 'cut' ? proxy.cut(CUT_MS).then(() => performance.now()) : current.restart(RESTART_DOWN_MS);
        blipped = ended.then((at) => void (backAt = at));
      }
      if (rig.send(n)) sent.add(n);
    }
    await blipped;
    const received = rig.received;
    const last = Math.max(...sent);
    // What can still come (a replay, a late reconnect) has a few seconds to.
    await until(() => received.some((r) => r.n === last), 12_000, () => `${stack}: the last message never arrived`).catch(() => undefined);
    await sleep(500);
    const distinct = new Set(received.map((r) => r.n));
    const firstAfter = received.find((r) => r.at >= backAt);
    return {
      sent: sent.size,
      lost: [...sent].filter((n) => !distinct.has(n)).length,
      duplicates: received.length - distinct.size,
      reconnectMs: firstAfter ? firstAfter.at - backAt : Number.POSITIVE_INFINITY,
    };
  } finally {
    await rig?.close();
    await proxy.close();
  }
}

/** Runs the benchmark; returns (and does not write) its result. */
export async function runPeers(options: { rounds?: number; log?: (line: string) => void } = {}): Promise<PeersResult> {
  const rounds = options.rounds ?? 3;
  const log = options.log ?? (() => {});
  const runs = Object.fromEntries(BLIPS.map((b) => [b, Object.fromEntries(STACKS.map((s) => [s, [] as RunFigures[]]))])) as Record<Blip, Record<Stack, RunFigures[]>>;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [...STACKS] : [...STACKS].reverse();
    for (const blip of BLIPS) {
      for (const stack of order) {
        const figures = await measureRun(stack, blip);
        runs[blip][stack].push(figures);
        log(`round ${round + 1}/${rounds} ${blip} ${stack}: lost ${figures.lost} of ${figures.sent}, duplicates ${figures.duplicates}, reconnect ${fixed(figures.reconnectMs)} ms`);
      }
    }
  }
  const summary = (blip: Blip, stack: Stack): StackFigures => ({
    lost: median(runs[blip][stack].map((r) => r.lost)),
    duplicates: median(runs[blip][stack].map((r) => r.duplicates)),
    reconnectMs: median(runs[blip][stack].map((r) => r.reconnectMs)),
    rounds: runs[blip][stack],
  });
  const perBlip = (blip: Blip) => Object.fromEntries(STACKS.map((s) => [s, summary(blip, s)])) as Record<Stack, StackFigures>;
  const perStack = perBlip('cut');
  return {
    name: 'peers',
    params: { rounds, ratePerS: RATE_PER_S, streamMs: STREAM_MS, cutAfterMs: CUT_AFTER_MS, cutMs: CUT_MS, restartDownMs: RESTART_DOWN_MS, total: TOTAL },
    tether: perStack.tether.reconnectMs,
    baseline: perStack['socket.io'].reconnectMs,
    ratio: perStack.tether.reconnectMs / perStack['socket.io'].reconnectMs,
    unit: 'ms from the end of a 2 s cut to the first message after it (baseline: Socket.IO 4 with connection state recovery)',
    perStack,
    restart: perBlip('restart'),
  };
}

/** The result as a short plain-text table. */
export function formatPeers(result: PeersResult): string {
  const rows = (figures: Record<Stack, StackFigures>) => STACKS.map((s) => [s, fixed(figures[s].lost), fixed(figures[s].duplicates), fixed(figures[s].reconnectMs)]);
  return [
    `${TOTAL} messages at ${RATE_PER_S}/s; after ${CUT_AFTER_MS} ms either the client's connection is reset and refused for ${CUT_MS} ms, ` +
      `or the server restarts (${RESTART_DOWN_MS} ms away); medians over ${result.params.rounds} rounds`,
    table([['2 s cut', 'lost', 'duplicates', 'reconnect after the cut (ms)'], ...rows(result.perStack)]),
    '',
    table([['server restart', 'lost of those sent', 'duplicates', 'first message after the new server listens (ms)'], ...rows(result.restart)]),
  ].join('\n');
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const result = await withDeadline('peers', 300_000, () => runPeers({ rounds: flags.quick ? 1 : 3, log: (line) => console.log(`  ${line}`) }));
  console.log('\n' + formatPeers(result));
  console.log(`\nwrote ${writeResult({ ...result, ...(flags.label ? { label: flags.label } : {}) })}`);
  process.exit(0);
}
