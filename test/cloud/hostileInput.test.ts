/**
 * Issue 10: frames, bursts and stalled sockets that used to hurt everybody now cost only their
 * own socket — deep nesting is refused at parse time, a flood over its budget is closed 1013, and
 * an app socket that stops reading is congested (its frames wait in the replay buffer and go out
 * in order when it drains, or it is closed 1013 once congested too long) — while a second user
 * streams throughout and loses nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CloseCode } from '../../src/protocol/closeCodes.js';
import type { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';
import { startRawWebhookServer, type RawWebhookServer } from '../support/rawWebhookServer.js';

const RAW = 'com.example.raw';
const STREAM = 'com.example.stream';
const HIGH_WATER = 64 * 1024;
const CONGESTION_LIMIT_MS = 1500;

type Harness = Awaited<ReturnType<typeof startTestCloud>>;
let h: Harness;
let rawApps: RawWebhookServer;
let rawKey: string;
let streamApp: RecordingApp;
let streamer: SimulatedGlasses;
let streaming: NodeJS.Timeout | undefined;
let sent = 0;

/** `depth` nested arrays around a number: valid JSON, fatal to any recursive walk. */
const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

/** A raw app socket for the session the cloud just started for `userId`, subscribed to `streams`. */
async function rawAppFor(userId: string, streams: string[]) {
  const request = await waitFor(() => rawApps.requests.find((r) => r.type === 'session_request' && r.sessionId === `${userId}-${RAW}`), {
    timeoutMs: 3000,
  });
  const ws = new WebSocket(request.mentraOSWebsocketUrl, { perMessageDeflate: false });
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve) => ws.once('open', () => resolve()));
  ws.send(JSON.stringify({ type: 'tpa_connection_init', sessionId: request.sessionId, packageName: RAW, apiKey: rawKey }));
  await waitFor(() => frames.some((f) => f.type === 'tpa_connection_ack'), { timeoutMs: 3000 });
  ws.send(JSON.stringify({ type: 'subscription_update', packageName: RAW, sessionId: request.sessionId, subscriptions: streams }));
  return { ws, frames, closed, dataFrames: () => frames.filter((f) => f.type === 'data_stream') };
}

/** The second user's app has received everything its glasses sent so far (give it a moment). */
async function expectStreamerWhole(): Promise<void> {
  const target = sent;
  await waitFor(() => streamApp.transcripts.length >= target, {
    timeoutMs: 3000,
    message: `the streaming user lost frames (${streamApp.transcripts.length} of ${target})`,
  });
  expect(streamer.closeEvents).toEqual([]);
}

beforeAll(async () => {
  h = await startTestCloud({
    settings: {
      // Pings every 500 ms, and a socket that stops reading (no pongs) is not dead before 20 s:
      // congestion, not the heartbeat, must be what ends it here.
      heartbeatIntervalMs: 500,
      heartbeatTimeoutMs: 20_000,
      socketHighWaterBytes: HIGH_WATER,
      congestionLimitMs: CONGESTION_LIMIT_MS,
      socketMessagesPerSecond: 400,
    },
  });
  rawApps = await startRawWebhookServer();
  rawKey = (await h.cloud.registerApp({ packageName: RAW, name: 'Raw', webhookUrl: rawApps.url })).apiKey;
  const served = await h.serveApp(STREAM, (apiKey) => new RecordingApp({ packageName: STREAM, apiKey }));
  streamApp = served.server as RecordingApp;
  streamer = await h.glassesFor('streamer', [STREAM]);
  await streamer.connect();
  await waitFor(() => streamApp.sessions.length === 1, { timeoutMs: 3000 });
  await new Promise((resolve) => setTimeout(resolve, 200)); // its subscription lands
  streaming = setInterval(() => {
    if (streamer.transcribe(`line ${sent}`, { isFinal: true })) sent++;
  }, 20);
});

afterAll(async () => {
  clearInterval(streaming);
  await rawApps?.close();
  await h?.close();
});

describe('issue 10: hostile frames cost only their own socket', () => {
  it('refuses a stream event nested 6,000 deep with INVALID_FIELDS; the subscribed app and the process live on', async () => {
    const glasses = await h.glassesFor('deep', [RAW]);
    await glasses.connect();
    const app = await rawAppFor('deep', ['phone_notification']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    glasses.sendRaw(`{"type":"phone_notification","app":"x","title":"t","content":"c","extra":${nested(6000)}}`);
    const refusedWith = (code: string) =>
      glasses.received.some((f) => f.message.type === 'connection_error' && (f.message as { code?: string }).code === code);
    await waitFor(() => refusedWith('INVALID_FIELDS'), { timeoutMs: 2000 });
    glasses.notify({ app: 'x', title: 'after', content: 'still here' });
    await waitFor(() => app.dataFrames().length === 1, { timeoutMs: 2000 });
    expect(app.dataFrames()[0]).toMatchObject({ streamType: 'phone_notification', data: { title: 'after' } });
    await expectStreamerWhole();
    app.ws.terminate();
  });

  it("refuses an app's display_event nested 6,000 deep with INVALID_FIELDS and keeps its socket", async () => {
    const glasses = await h.glassesFor('deepdisplay', [RAW]);
    await glasses.connect();
    const app = await rawAppFor('deepdisplay', []);
    app.ws.send(`{"type":"display_event","packageName":"${RAW}","sessionId":"","view":"main","layout":{"layoutType":"text_wall","text":${nested(6000)}}}`);
    await waitFor(() => app.frames.some((f) => f.type === 'tpa_connection_error' && f.code === 'INVALID_FIELDS'), { timeoutMs: 2000 });
    expect(app.ws.readyState).toBe(WebSocket.OPEN);
    expect(glasses.closeEvents).toEqual([]);
    await expectStreamerWhole();
    app.ws.terminate();
  });

  it('closes a glasses socket that floods past its budget with RATE_LIMITED and 1013, and only that one', async () => {
    const glasses = await h.glassesFor('flood');
    await glasses.connect();
    const flood = JSON.stringify({ type: 'button_press', buttonId: 'main', pressType: 'short' });
    for (let i = 0; i < 2000; i++) glasses.sendRaw(flood);
    await waitFor(() => glasses.closeEvents.length > 0, { timeoutMs: 3000 });
    expect(glasses.closeEvents[0]?.code).toBe(CloseCode.TRY_AGAIN_LATER);
    expect(glasses.received.some((f) => f.message.type === 'connection_error' && (f.message as { code?: string }).code === 'RATE_LIMITED')).toBe(
      true,
    );
    expect(await h.cloud.metrics.render()).toMatch(/tether_rate_limited_total\{side="glasses",scope="socket"\} 1/);
    await expectStreamerWhole();
  });
});

describe('issue 10: an app socket that stops reading', () => {
  /** Glasses of `userId` sending 20 KB notifications, numbered, every `everyMs`. */
  function pour(glasses: SimulatedGlasses, everyMs: number) {
    const body = 'x'.repeat(20 * 1024);
    let n = 0;
    const timer = setInterval(() => {
      if (glasses.notify({ app: 'pour', title: String(n), content: body })) n++;
    }, everyMs);
    return { stop: () => clearInterval(timer), count: () => n };
  }

  /** `userId`'s glasses pouring into its raw app, whose TCP reads are paused. */
  async function stalledAppOf(userId: string) {
    const glasses = await h.glassesFor(userId, [RAW]);
    await glasses.connect();
    const app = await rawAppFor(userId, ['phone_notification']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const socket = (app.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    return { glasses, app, socket, source: pour(glasses, 10) };
  }

  it('holds its frames while congested and delivers every one, in order, once it reads again', async () => {
    const { app, socket, source } = await stalledAppOf('slow');
    await waitFor(async () => /tether_socket_congestion_total\{side="app",event="congested"\} [1-9]/.test(await h.cloud.metrics.render()), {
      timeoutMs: 3000,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    source.stop();
    // Nothing past the high-water mark (plus what the kernel took) was queued in the cloud.
    const entry = [...h.cloud.sockets.values()].find((e) => e.kind === 'app' && e.userId === 'slow');
    expect(entry?.ws.bufferedAmount ?? 0).toBeLessThan(HIGH_WATER + 64 * 1024);
    socket.resume();
    const total = source.count();
    await waitFor(() => app.dataFrames().length === total, { timeoutMs: 5000, message: `got ${app.dataFrames().length} of ${total}` });
    const seqs = app.dataFrames().map((f) => f.seq as number);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    expect(app.dataFrames().map((f) => (f.data as { title: string }).title)).toEqual(Array.from({ length: total }, (_, i) => String(i)));
    expect(await h.cloud.metrics.render()).toMatch(/tether_socket_congestion_total\{side="app",event="drained"\} [1-9]/);
    await expectStreamerWhole();
    app.ws.terminate();
  });

  it('closes it 1013 once it has stayed congested past the limit; the app session waits for it to come back', async () => {
    const { glasses, app, socket, source } = await stalledAppOf('stalled');
    await waitFor(async () => /tether_socket_congestion_total\{side="app",event="closed"\} [1-9]/.test(await h.cloud.metrics.render()), {
      timeoutMs: CONGESTION_LIMIT_MS + 3000,
    });
    source.stop();
    expect(h.cloud.sessions.appSession('stalled', `stalled-${RAW}`)?.getSnapshot().value).toBe('resurrecting');
    socket.resume();
    expect(await app.closed).toBe(CloseCode.TRY_AGAIN_LATER);
    expect(glasses.closeEvents).toEqual([]);
    await expectStreamerWhole();
  });
});
