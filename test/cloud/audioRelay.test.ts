/**
 * Issue 12 §2 and its done-when: the glasses' binary audio (16 kHz 16-bit mono, 100 ms frames of
 * 3200 bytes, 32 KB/s per user) reaches each user's app subscribed to `audio_chunk` as binary
 * frames, byte-exact and in order — 100 users at once, half of them on `@mentra/sdk` 2.1.29 and
 * half on the Tether SDK — and an app socket that stops reading loses audio (counted) instead of
 * making the cloud queue it, while its JSON events wait and other users lose nothing.
 */
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { appSocketGenOf } from '../../machines/sessionApi.js';
import { AppServer as TetherAppServer, type AppSession as TetherAppSession } from '../../src/sdk/index.js';
import type { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { pcmFrames } from '../../src/sim/streamEvents.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { serveMentraApp } from '../support/mentraApp.js';
import { waitFor } from '../support/net.js';
import { startRawWebhookServer, type RawWebhookServer } from '../support/rawWebhookServer.js';

const MENTRA = 'com.example.audio.mentra';
const TETHER = 'com.example.audio.tether';
const USERS = 100;
/** 3 s of audio per user: 30 frames of 100 ms. */
const FRAMES = 30;
const FRAME_BYTES = 3200;

/** User `user`'s audio: a tone whose frames carry (user, frame index) in their first 4 bytes, so a swap or a mix-up shows. */
function audioOf(user: number, count = FRAMES): Buffer[] {
  return pcmFrames(count, { frequencyHz: 300 + user }).map((frame, index) => {
    frame.writeUInt16LE(user, 0);
    frame.writeUInt16LE(index, 2);
    return frame;
  });
}

/** The chunks each user's app received, by user id. */
type Chunks = Map<string, Buffer[]>;

function recordAudio(chunks: Chunks, userId: string) {
  const received: Buffer[] = [];
  chunks.set(userId, received);
  return (chunk: { arrayBuffer: ArrayBufferLike }) => void received.push(Buffer.from(chunk.arrayBuffer));
}

class MentraAudioApp extends MentraAppServer {
  readonly chunks: Chunks = new Map();
  readonly live = new Map<string, MentraAppSession>();
  protected override async onSession(session: MentraAppSession, sessionId: string, userId: string): Promise<void> {
    this.live.set(sessionId, session);
    session.events.onAudioChunk(recordAudio(this.chunks, userId));
  }
}

class TetherAudioApp extends TetherAppServer {
  readonly chunks: Chunks = new Map();
  protected override async onSession(session: TetherAppSession, _sessionId: string, userId: string): Promise<void> {
    session.events.onAudioChunk(recordAudio(this.chunks, userId));
  }
}

let harness: Awaited<ReturnType<typeof startTestCloud>> | undefined;
let rawApps: RawWebhookServer | undefined;
afterEach(async () => {
  await rawApps?.close();
  rawApps = undefined;
  await harness?.close();
  harness = undefined;
});

/**
 * Whether every app session of `users` runs (audio is live: an app still starting gets none) and
 * has told the cloud it listens to `audio_chunk`.
 */
function subscribed(h: NonNullable<typeof harness>, users: Array<{ userId: string; packageName: string }>): boolean {
  return users.every(({ userId, packageName }) => {
    const app = h.cloud.sessions.appSession(userId, `${userId}-${packageName}`)?.getSnapshot();
    return app !== undefined && appSocketGenOf(app) !== undefined && app.context.subscriptions.includes('audio_chunk');
  });
}

/** The value of `tether_audio_frames_total{outcome}` in the cloud's metrics. */
async function audioFrames(h: NonNullable<typeof harness>, outcome: string): Promise<number> {
  const match = new RegExp(`tether_audio_frames_total\\{outcome="${outcome}"\\} (\\d+)`).exec(await h.cloud.metrics.render());
  return match ? Number(match[1]) : 0;
}

describe('glasses audio', () => {
  it('reaches 100 users’ subscribed apps byte-exact and in order, on both SDKs', async () => {
    // 200 clients and the cloud share one event loop here: the harness's 300 ms heartbeat timeout
    // would call the busiest sockets dead while 100 sessions start at once.
    const h = (harness = await startTestCloud({ settings: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 10_000 } }));
    const { app: mentra } = await h.serveWebhook(MENTRA, (apiKey) => serveMentraApp(() => new MentraAudioApp({ packageName: MENTRA, apiKey, port: 0 })));
    const { server: tether } = await h.serveApp(TETHER, (apiKey) => new TetherAudioApp({ packageName: TETHER, apiKey }));
    const users = Array.from({ length: USERS }, (_, i) => ({ userId: `listener-${i}`, packageName: i % 2 === 0 ? MENTRA : TETHER }));
    const glasses: SimulatedGlasses[] = await Promise.all(users.map(({ userId, packageName }) => h.glassesFor(userId, [packageName])));
    await Promise.all(glasses.map((g) => g.connect()));
    await waitFor(() => subscribed(h, users), { timeoutMs: 10_000, message: 'not every app subscribed to audio_chunk' });

    const audio = users.map((_, i) => audioOf(i));
    expect(audio[0]![0]!.length).toBe(FRAME_BYTES);
    // Frame by frame across all users, yielding between rounds as real phones interleave.
    for (let frame = 0; frame < FRAMES; frame++) {
      glasses.forEach((g, i) => expect(g.sendAudio(audio[i]![frame]!)).toBe(true));
      await new Promise((resolve) => setImmediate(resolve));
    }

    const chunksOf = (userId: string, packageName: string) =>
      (packageName === MENTRA ? mentra.app.chunks : (tether as TetherAudioApp).chunks).get(userId) ?? [];
    await waitFor(() => users.every(({ userId, packageName }) => chunksOf(userId, packageName).length >= FRAMES), {
      timeoutMs: 10_000,
      message: 'not every app received all its audio',
    });
    users.forEach(({ userId, packageName }, i) => {
      const received = chunksOf(userId, packageName);
      expect(received.length, userId).toBe(FRAMES);
      // Byte-exact and in order: every frame equals the one sent at its position.
      received.forEach((chunk, frame) => expect(chunk.equals(audio[i]![frame]!), `${userId} frame ${frame}`).toBe(true));
    });
    expect(await audioFrames(h, 'relayed')).toBe(USERS * FRAMES);
    expect(await audioFrames(h, 'congested')).toBe(0);
    // Binary frames are audio, not malformed JSON.
    expect(h.lines.filter((line) => line.code === 'INVALID_JSON')).toEqual([]);
    expect(glasses.every((g) => g.badFrames.length === 0 && g.closeEvents.length === 0)).toBe(true);
  }, 30_000);

  it('drops audio for an app socket that stops reading, counted, while its events wait and another user loses nothing', async () => {
    const HIGH_WATER = 64 * 1024;
    const h = (harness = await startTestCloud({
      // No inbound budget: the glasses must be able to outpace what loopback's TCP buffers take.
      settings: { socketHighWaterBytes: HIGH_WATER, heartbeatTimeoutMs: 20_000, heartbeatIntervalMs: 500, socketMessagesPerSecond: 0, socketBytesPerSecond: 0, userMessagesPerSecond: 0, userBytesPerSecond: 0 },
    }));
    const RAW = 'com.example.audio.raw';
    rawApps = await startRawWebhookServer();
    const rawKey = (await h.cloud.registerApp({ packageName: RAW, name: 'Raw', webhookUrl: rawApps.url })).apiKey;
    const { server } = await h.serveApp(TETHER, (apiKey) => new TetherAudioApp({ packageName: TETHER, apiKey }));
    const healthy = server as TetherAudioApp;

    // The slow user's app: a raw socket subscribed to audio and button presses.
    const slowGlasses = await h.glassesFor('slow', [RAW]);
    await slowGlasses.connect();
    const requests = rawApps;
    const request = await waitFor(() => requests.requests.find((r) => r.type === 'session_request' && r.sessionId === `slow-${RAW}`), {
      timeoutMs: 3000,
    });
    const ws = new WebSocket(request.mentraOSWebsocketUrl, { perMessageDeflate: false });
    const binary: Buffer[] = [];
    const texts: Array<Record<string, unknown>> = [];
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) binary.push(data);
      else texts.push(JSON.parse(data.toString()) as Record<string, unknown>);
    });
    ws.on('error', () => {});
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    ws.send(JSON.stringify({ type: 'tpa_connection_init', sessionId: request.sessionId, packageName: RAW, apiKey: rawKey }));
    await waitFor(() => texts.some((f) => f.type === 'tpa_connection_ack'), { timeoutMs: 3000 });
    ws.send(JSON.stringify({ type: 'subscription_update', packageName: RAW, sessionId: request.sessionId, subscriptions: ['audio_chunk', 'button_press'] }));

    const fastGlasses = await h.glassesFor('fast', [TETHER]);
    await fastGlasses.connect();
    await waitFor(() => subscribed(h, [{ userId: 'slow', packageName: RAW }, { userId: 'fast', packageName: TETHER }]), { timeoutMs: 3000 });

    // The raw app stops reading: its TCP window fills, then the cloud's send queue.
    const tcp = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    const frames = 4000; // 400 s of audio, 12.8 MB: far more than loopback's TCP buffers and the high-water mark hold
    const slowAudio = audioOf(1, frames);
    const fastAudio = audioOf(7).slice(0, 20);
    for (let i = 0; i < frames; i++) {
      slowGlasses.sendAudio(slowAudio[i]!);
      if (i < fastAudio.length) fastGlasses.sendAudio(fastAudio[i]!);
      if (i === 2000) slowGlasses.pressButton('main', 'long');
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(async () => (await audioFrames(h, 'congested')) > 0, { timeoutMs: 3000, message: 'no audio was dropped' });
    const entry = [...h.cloud.sockets.values()].find((e) => e.kind === 'app' && e.userId === 'slow');
    // The cloud queued no more than the high-water mark and one frame over it.
    expect(entry?.ws.bufferedAmount ?? 0).toBeLessThanOrEqual(HIGH_WATER + FRAME_BYTES);
    const dropped = await audioFrames(h, 'congested');
    expect(h.lines.filter((line) => line.msg === 'audio dropped for a congested app socket')).toHaveLength(1);

    // The other user heard everything.
    await waitFor(() => (healthy.chunks.get('fast')?.length ?? 0) === fastAudio.length, { timeoutMs: 3000 });
    healthy.chunks.get('fast')!.forEach((chunk, i) => expect(chunk.equals(fastAudio[i]!)).toBe(true));

    // Reading again: what was not dropped arrives, in order, and the button press waited for the drain.
    tcp.resume();
    await waitFor(() => texts.some((f) => f.type === 'data_stream' && f.streamType === 'button_press'), { timeoutMs: 3000 });
    await waitFor(async () => binary.length + (await audioFrames(h, 'congested')) === frames, { timeoutMs: 3000 });
    expect(binary.length + dropped).toBeLessThanOrEqual(frames);
    const positions = binary.map((chunk) => chunk.readUInt16LE(2));
    expect(positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1]!))).toBe(true);
    // After the drain, audio flows again.
    const more = binary.length;
    slowGlasses.sendAudio(slowAudio[0]!);
    await waitFor(() => binary.length === more + 1, { timeoutMs: 3000 });
    ws.terminate();
  });

  it('sends no audio to an app that did not subscribe to it', async () => {
    const h = (harness = await startTestCloud());
    const RAW = 'com.example.audio.deaf';
    rawApps = await startRawWebhookServer();
    const rawKey = (await h.cloud.registerApp({ packageName: RAW, name: 'Deaf', webhookUrl: rawApps.url })).apiKey;
    const glasses = await h.glassesFor('deaf', [RAW]);
    await glasses.connect();
    const requests = rawApps;
    const request = await waitFor(() => requests.requests.find((r) => r.type === 'session_request'), { timeoutMs: 3000 });
    const ws = new WebSocket(request.mentraOSWebsocketUrl, { perMessageDeflate: false });
    const received: Array<{ isBinary: boolean; data: Buffer }> = [];
    ws.on('message', (data: Buffer, isBinary: boolean) => received.push({ isBinary, data }));
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    ws.send(JSON.stringify({ type: 'tpa_connection_init', sessionId: request.sessionId, packageName: RAW, apiKey: rawKey }));
    ws.send(JSON.stringify({ type: 'subscription_update', packageName: RAW, sessionId: request.sessionId, subscriptions: ['button_press'] }));
    await waitFor(() => subscribedTo(h, 'deaf', `deaf-${RAW}`, 'button_press'), { timeoutMs: 3000 });
    for (const frame of pcmFrames(5)) glasses.sendAudio(frame);
    glasses.pressButton();
    // The press comes after the audio on the same glasses socket: once it is here, the audio was handled.
    await waitFor(() => received.some((m) => !m.isBinary && m.data.toString().includes('"button_press"')), { timeoutMs: 3000 });
    expect(received.filter((m) => m.isBinary)).toEqual([]);
    expect(await audioFrames(h, 'relayed')).toBe(0);
    ws.terminate();
  });
});

function subscribedTo(h: NonNullable<typeof harness>, userId: string, sessionId: string, stream: string): boolean {
  return (h.cloud.sessions.appSession(userId, sessionId)?.getSnapshot().context.subscriptions ?? []).includes(stream);
}
