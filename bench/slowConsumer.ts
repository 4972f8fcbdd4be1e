/**
 * Slow consumer (issue 10): an app socket whose reads are paused while its glasses stream
 * 2 MB/s (100 × 20 KB notifications a second). Measured against a baseline round in the same run
 * where the same app reads normally:
 * - the cloud process's RSS growth during the stream (target: under 50 MB with the pause);
 * - a second user's latency, glasses → app, p50 / p99 (target: unchanged);
 * - what the paused app gets once it reads again and reconnects with its `lastSeq`: everything
 *   still in the replay window, or a `resume_gap` naming what was not.
 *
 * `npx tsx bench/slowConsumer.ts [--quick]` (quick: a 15 s pause instead of 60 s). Cloud and
 * clients share this process, so the RSS figure includes the clients' (small, constant) share;
 * the baseline round carries the same share.
 */
import { WebSocket } from 'ws';
import { createCloud, type Cloud } from '../src/cloud/index.js';
import { startRawWebhookServer, type RawWebhookServer } from '../test/support/rawWebhookServer.js';
import { isMain, parseFlags, writeResult, type BenchFigures } from './support/report.js';

const RAW = 'com.example.slowbench';
const FRAME_CONTENT = 'x'.repeat(20 * 1024);
const FRAMES_PER_SECOND = 100;
const RSS_TARGET_MB = 50;

interface RoundResult {
  rssGrowthMb: number;
  otherP50Ms: number;
  otherP99Ms: number;
  otherLost: number;
  sent: number;
  /** What the slow app got after it resumed: frames in order after its lastSeq, and any gap. */
  resumed: { frames: number; gapLost: number; closeCode: number | undefined };
}

interface RawApp {
  ws: WebSocket;
  frames: Array<Record<string, unknown>>;
  closed: Promise<number>;
}

async function openApp(url: string, init: object, subscriptions: string[]): Promise<RawApp> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data: Buffer) => frames.push({ ...(JSON.parse(data.toString()) as Record<string, unknown>), receivedAt: performance.now() }));
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify(init));
  await until(() => frames.some((f) => f.type === 'tpa_connection_ack'), 5000);
  ws.send(JSON.stringify({ type: 'subscription_update', subscriptions }));
  return { ws, frames, closed };
}

async function openGlasses(cloud: Cloud, userId: string, runningApps: string[]): Promise<WebSocket> {
  const ws = new WebSocket(cloud.glassesUrl, { perMessageDeflate: false });
  const acked = new Promise<void>((resolve) => ws.on('message', (data: Buffer) => {
    if ((JSON.parse(data.toString()) as { type?: string }).type === 'connection_ack') resolve();
  }));
  await new Promise<void>((resolve) => ws.once('open', () => resolve()));
  ws.send(JSON.stringify({ type: 'connection_init', coreToken: await cloud.createGlassesToken(userId), runningApps }));
  await acked;
  return ws;
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('slowConsumer: timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function runRound(pauseMs: number, paused: boolean, round: number): Promise<RoundResult> {
  const webhooks: RawWebhookServer = await startRawWebhookServer();
  const cloud = await createCloud({
    overrides: { port: 0, dbPath: ':memory:', logLevel: 'error' },
    inspector: false,
    restore: false,
  });
  const { apiKey } = await cloud.registerApp({ packageName: RAW, name: 'slow bench', webhookUrl: webhooks.url });
  const session = (userId: string) => ({ type: 'tpa_connection_init', sessionId: `${userId}-${RAW}`, packageName: RAW, apiKey, extensions: ['resume'] });
  const slowUser = `slow${round}`;
  const otherUser = `other${round}`;
  const slowGlasses = await openGlasses(cloud, slowUser, [RAW]);
  const otherGlasses = await openGlasses(cloud, otherUser, [RAW]);
  await until(() => webhooks.requests.length >= 2, 5000);
  const appUrl = webhooks.requests[0]!.mentraOSWebsocketUrl;
  const slowApp = await openApp(appUrl, session(slowUser), ['phone_notification']);
  const otherApp = await openApp(appUrl, session(otherUser), ['phone_notification']);
  await new Promise((resolve) => setTimeout(resolve, 300));

  const tcp = (slowApp.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  if (paused) tcp.pause();
  globalThis.gc?.();
  const rssStart = process.memoryUsage().rss;
  let rssPeak = rssStart;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 250);

  let sent = 0;
  let otherSent = 0;
  const slowSender = setInterval(() => {
    for (let i = 0; i < FRAMES_PER_SECOND / 100; i++) {
      slowGlasses.send(JSON.stringify({ type: 'phone_notification', app: 'bench', title: String(sent++), content: FRAME_CONTENT }));
    }
  }, 10);
  const otherSender = setInterval(() => {
    otherGlasses.send(JSON.stringify({ type: 'phone_notification', app: 'bench', title: String(performance.now()), content: String(otherSent++) }));
  }, 20);
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
  clearInterval(slowSender);
  clearInterval(otherSender);
  await new Promise((resolve) => setTimeout(resolve, 500));
  clearInterval(sampler);

  const latencies: number[] = [];
  for (const frame of otherApp.frames) {
    if (frame.type !== 'data_stream') continue;
    const data = frame.data as { title: string };
    const receivedAt = (frame as { receivedAt?: number }).receivedAt;
    if (receivedAt !== undefined) latencies.push(receivedAt - Number(data.title));
  }
  const otherReceived = otherApp.frames.filter((f) => f.type === 'data_stream').length;

  // The paused app reads again; if the cloud closed it for staying congested, it comes back with its lastSeq.
  tcp.resume();
  let resumed: RoundResult['resumed'] = { frames: 0, gapLost: 0, closeCode: undefined };
  const seqs = () => slowApp.frames.filter((f) => f.type === 'data_stream').map((f) => f.seq as number);
  if (paused) {
    const code = await Promise.race([slowApp.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 35_000))]);
    const lastSeq = seqs().at(-1) ?? 0;
    if (code !== undefined) {
      const again = await openApp(appUrl, { ...session(slowUser), lastSeq }, ['phone_notification']);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const gap = again.frames.find((f) => f.type === 'resume_gap') as { lost?: number } | undefined;
      const replayed = again.frames.filter((f) => f.type === 'data_stream').map((f) => f.seq as number);
      if (replayed.some((seq, i) => seq !== (replayed[0] ?? 0) + i)) throw new Error('slowConsumer: replay out of order');
      resumed = { frames: replayed.length, gapLost: gap?.lost ?? 0, closeCode: code };
      again.ws.terminate();
    } else {
      resumed = { frames: seqs().length, gapLost: 0, closeCode: undefined };
    }
  }

  slowApp.ws.terminate();
  otherApp.ws.terminate();
  slowGlasses.terminate();
  otherGlasses.terminate();
  await cloud.close({ persist: false });
  await webhooks.close();
  return {
    rssGrowthMb: (rssPeak - rssStart) / 1024 / 1024,
    otherP50Ms: percentile(latencies, 50),
    otherP99Ms: percentile(latencies, 99),
    otherLost: otherSent - otherReceived,
    sent,
    resumed,
  };
}

/** Runs a baseline round (the app reads) and a paused round, and reports them side by side. */
export async function runSlowConsumer(options: { pauseMs: number; log?: (line: string) => void }): Promise<BenchFigures & { rounds: RoundResult[] }> {
  const log = options.log ?? (() => {});
  const baseline = await runRound(options.pauseMs, false, 0);
  log(`baseline (app reads): rss +${baseline.rssGrowthMb.toFixed(1)} MB, other user p50 ${baseline.otherP50Ms.toFixed(1)} ms, p99 ${baseline.otherP99Ms.toFixed(1)} ms, lost ${baseline.otherLost}`);
  const paused = await runRound(options.pauseMs, true, 1);
  log(
    `paused ${options.pauseMs / 1000} s: rss +${paused.rssGrowthMb.toFixed(1)} MB, other user p50 ${paused.otherP50Ms.toFixed(1)} ms, p99 ${paused.otherP99Ms.toFixed(1)} ms, lost ${paused.otherLost}; ` +
      `slow app closed ${paused.resumed.closeCode ?? 'no'}, then replayed ${paused.resumed.frames} frames, resume_gap lost ${paused.resumed.gapLost} of ${paused.sent} sent`,
  );
  return {
    name: 'slowConsumer',
    params: { pauseMs: options.pauseMs, framesPerSecond: FRAMES_PER_SECOND, frameBytes: FRAME_CONTENT.length },
    tether: paused.rssGrowthMb,
    baseline: baseline.rssGrowthMb,
    ratio: baseline.rssGrowthMb > 0 ? paused.rssGrowthMb / baseline.rssGrowthMb : Number.NaN,
    unit: 'MB of RSS growth while streaming 2 MB/s (paused app vs reading app)',
    rounds: [baseline, paused],
  };
}

if (isMain(import.meta.url)) {
  const flags = parseFlags();
  const pauseMs = flags.quick ? 15_000 : 60_000;
  const result = await runSlowConsumer({ pauseMs, log: (line) => console.log(line) });
  const [base, paused] = result.rounds;
  console.log(`target RSS growth < ${RSS_TARGET_MB} MB: ${result.tether < RSS_TARGET_MB ? 'met' : 'MISSED'} (${result.tether.toFixed(1)} MB)`);
  console.log(`other user's p99: ${paused!.otherP99Ms.toFixed(1)} ms paused vs ${base!.otherP99Ms.toFixed(1)} ms baseline`);
  console.log(`wrote ${writeResult({ ...result, ...(flags.label ? { label: flags.label } : {}) })}`);
  process.exit(0);
}
