/**
 * Peers (issue 13 §7): the same network blip against other real-time stacks, side by side.
 *
 * A server streams numbered messages (`m1`, `m2`… at 50 per second for 6 s) to one client whose
 * connection runs through a fault proxy (`test/support/faultProxy.ts`). 1 s in, the proxy resets
 * every connection (both ends see the loss at once) and refuses new ones for 2 s. Per stack:
 * - `tether`: the cloud, with simulated glasses transcribing each message and a Tether SDK app
 *   subscribed to transcriptions, its app socket behind the proxy (`publicUrl` points at it);
 *   the SDK resumes with its last `seq`, the cloud replays what it missed;
 * - `mentra`: the same with an unmodified `@mentra/sdk` 2.1 app (served from its express app);
 * - `socket.io`: a Socket.IO 4 server with connection state recovery (`io.emit` per message) and a
 *   `socket.io-client` over WebSocket, default reconnection settings;
 * - `partysocket`: a bare `ws` server broadcasting each message to a `partysocket`
 *   ReconnectingWebSocket (reconnection delay 1–10 s: its default minimum is a random 1–5 s).
 * Figures: messages lost and duplicated (of 300), and the reconnect time — from the end of the
 * refusal to the first message that arrives after it. Medians over rounds, the stacks taking turns.
 *
 * Run alone: `npx tsx bench/peers.ts [--quick]`; writes `bench/results/peers.json`. Only the cut
 * is run: a restart of each server is left for later (see docs/PERFORMANCE.md).
 */
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
const STACKS = ['tether', 'mentra', 'socket.io', 'partysocket'] as const;
type Stack = (typeof STACKS)[number];

/** A running stack: how to send message `n`, and what the client has received (with when). */
interface Rig {
  send(n: number): void;
  received: Array<{ n: number; at: number }>;
  close(): Promise<void>;
}

/** One run's figures. */
interface RunFigures {
  lost: number;
  duplicates: number;
  /** From the end of the refusal to the first message after it, in ms. */
  reconnectMs: number;
}

/** Result of {@link runPeers}. */
export type PeersResult = BenchFigures & {
  params: { rounds: number; ratePerS: number; streamMs: number; cutAfterMs: number; cutMs: number; total: number };
  perStack: Record<Stack, { lost: number; duplicates: number; reconnectMs: number; rounds: RunFigures[] }>;
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

async function listen(http: HttpServer): Promise<number> {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return (http.address() as AddressInfo).port;
}

async function cloudRig(proxy: FaultProxy, stock: boolean): Promise<Rig> {
  // The production reconnect window: the SDKs come back by themselves before the webhook is re-sent.
  const h = await startTestCloud({ settings: { publicUrl: `ws://127.0.0.1:${proxy.port}`, appReconnectWindowMs: 5000 } });
  proxy.targetPort = h.cloud.port;
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
  return { send: (n) => glasses.transcribe(`m${n}`), received, close: () => h.close() };
}

async function socketIoRig(proxy: FaultProxy): Promise<Rig> {
  const http = createServer();
  const io = new SocketIoServer(http, { connectionStateRecovery: { maxDisconnectionDuration: 120_000 } });
  proxy.targetPort = await listen(http);
  const client = socketIoClient(`http://127.0.0.1:${proxy.port}`, { transports: ['websocket'] });
  const received: Rig['received'] = [];
  client.on('m', (n: number) => received.push({ n, at: performance.now() }));
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return {
    send: (n) => void io.emit('m', n),
    received,
    close: async () => {
      client.close();
      await io.close();
    },
  };
}

async function partySocketRig(proxy: FaultProxy): Promise<Rig> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  proxy.targetPort = await listen(http);
  const client = new PartySocket(`ws://127.0.0.1:${proxy.port}`, [], { WebSocket, minReconnectionDelay: 1000, maxReconnectionDelay: 10_000 });
  const received: Rig['received'] = [];
  client.addEventListener('message', (event) => received.push({ n: Number(String(event.data)), at: performance.now() }));
  await new Promise<void>((resolve) => client.addEventListener('open', () => resolve(), { once: true }));
  return {
    send: (n) => {
      for (const ws of wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(String(n));
    },
    received,
    close: async () => {
      client.close();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => http.close(() => resolve())));
    },
  };
}

async function measureRun(stack: Stack): Promise<RunFigures> {
  const proxy = await startFaultProxy();
  let rig: Rig | undefined;
  try {
    rig =
      stack === 'tether' || stack === 'mentra' ? await cloudRig(proxy, stack === 'mentra') : stack === 'socket.io' ? await socketIoRig(proxy) : await partySocketRig(proxy);
    const start = performance.now();
    let cut: Promise<void> | undefined;
    let cutEndedAt = 0;
    for (let n = 1; n <= TOTAL; n++) {
      const wait = start + ((n - 1) * 1000) / RATE_PER_S - performance.now();
      if (wait > 0) await sleep(wait);
      if (!cut && performance.now() - start >= CUT_AFTER_MS) cut = proxy.cut(CUT_MS).then(() => void (cutEndedAt = performance.now()));
      rig.send(n);
    }
    await cut;
    const received = rig.received;
    // What can still come (a replay, a late reconnect) has a few seconds to.
    await until(() => received.some((r) => r.n === TOTAL), 12_000, () => `${stack}: the last message never arrived`).catch(() => undefined);
    await sleep(500);
    const distinct = new Set(received.map((r) => r.n));
    const firstAfter = received.find((r) => r.at >= cutEndedAt);
    return {
      lost: TOTAL - distinct.size,
      duplicates: received.length - distinct.size,
      reconnectMs: firstAfter ? firstAfter.at - cutEndedAt : Number.POSITIVE_INFINITY,
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
  const runs = Object.fromEntries(STACKS.map((s) => [s, [] as RunFigures[]])) as Record<Stack, RunFigures[]>;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [...STACKS] : [...STACKS].reverse();
    for (const stack of order) {
      const figures = await measureRun(stack);
      runs[stack].push(figures);
      log(`round ${round + 1}/${rounds} ${stack}: lost ${figures.lost}, duplicates ${figures.duplicates}, reconnect ${fixed(figures.reconnectMs)} ms`);
    }
  }
  const summary = (stack: Stack) => ({
    lost: median(runs[stack].map((r) => r.lost)),
    duplicates: median(runs[stack].map((r) => r.duplicates)),
    reconnectMs: median(runs[stack].map((r) => r.reconnectMs)),
    rounds: runs[stack],
  });
  const perStack = Object.fromEntries(STACKS.map((s) => [s, summary(s)])) as PeersResult['perStack'];
  return {
    name: 'peers',
    params: { rounds, ratePerS: RATE_PER_S, streamMs: STREAM_MS, cutAfterMs: CUT_AFTER_MS, cutMs: CUT_MS, total: TOTAL },
    tether: perStack.tether.reconnectMs,
    baseline: perStack['socket.io'].reconnectMs,
    ratio: perStack.tether.reconnectMs / perStack['socket.io'].reconnectMs,
    unit: 'ms from the end of a 2 s cut to the first message after it (baseline: Socket.IO 4 with connection state recovery)',
    perStack,
  };
}

/** The result as a short plain-text table. */
export function formatPeers(result: PeersResult): string {
  return [
    `${TOTAL} messages at ${RATE_PER_S}/s, the client's connection reset and refused for ${CUT_MS} ms after ${CUT_AFTER_MS} ms; medians over ${result.params.rounds} rounds`,
    table([
      ['stack', 'lost', 'duplicates', 'reconnect after the cut (ms)'],
      ...STACKS.map((s) => [s, fixed(result.perStack[s].lost), fixed(result.perStack[s].duplicates), fixed(result.perStack[s].reconnectMs)]),
    ]),
  ].join('\n');
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const result = await withDeadline('peers', 300_000, () => runPeers({ rounds: flags.quick ? 1 : 3, log: (line) => console.log(`  ${line}`) }));
  console.log('\n' + formatPeers(result));
  console.log(`\nwrote ${writeResult(result)}`);
  process.exit(0);
}
