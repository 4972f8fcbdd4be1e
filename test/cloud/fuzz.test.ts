/**
 * Issue 10, build 1: property-based fuzzing of the cloud's three doors — the glasses socket, the
 * app socket and the HTTP API — with arbitrary and mutated-valid input, on one real cloud, while
 * a second user streams to a Tether SDK app throughout. The properties: every refusal carries a
 * registered error code (never INTERNAL_ERROR, which means a handler threw), every close the
 * cloud starts uses a code of the close-code table, the cloud answers `/health` after every run,
 * no HTTP answer is a 5xx, and the streaming user loses nothing.
 *
 * Fixed seed and bounded runs, so a counterexample replays: fast-check prints the seed, the
 * path and the shrunk input.
 */
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GLASSES_STREAM_EVENT_TYPES } from '../../src/protocol/glassesToCloud.js';
import { AppToCloudMessageType } from '../../src/protocol/appToCloud.js';
import { GlassesToCloudMessageType } from '../../src/protocol/glassesToCloud.js';
import { isErrorCode } from '../../src/protocol/errors.js';
import { MAX_MESSAGE_BYTES } from '../../src/protocol/limits.js';
import { parseMessage } from '../../src/protocol/parse.js';
import type { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { sleep, waitFor } from '../support/net.js';
import { openRawPeer, type RawPeer, type RawPeerClose } from '../support/rawPeer.js';
import { startRawWebhookServer, type RawWebhookServer } from '../support/rawWebhookServer.js';

const SEED = 20261202;
fc.configureGlobal({ seed: SEED });

/** Runs per property, and the longest one run may take (ms) before it counts as a failure. */
const RUNS = 150;
const RUN_TIMEOUT_MS = 5_000;

const RAW = 'com.example.fuzzraw';
const STREAM = 'com.example.stream';
const REG = 'com.example.fuzzreg';
const FUZZER = 'fuzzer';
const FRESH = 'fresh';
const STREAMS = [...GLASSES_STREAM_EVENT_TYPES.filter((t) => t !== 'local_transcription'), 'transcription:en-US'];

/**
 * Close codes the cloud (or `ws` on its behalf) may end a socket with: the close-code table, plus
 * 1002/1007 that `ws` sends for a frame that breaks the protocol or is not UTF-8. Never 1006:
 * the only server-side 1006 is a heartbeat timeout, which these timings rule out.
 */
const SERVER_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1002, 1007, 1008, 1009, 1011, 1012, 1013, 4001, 4003]);

type Harness = Awaited<ReturnType<typeof startTestCloud>>;
let h: Harness;
let rawApps: RawWebhookServer;
let rawKey: string;
let regKey: string;
let freshToken: string;
let appSessionId: string;
let streamApp: RecordingApp;
let streamer: SimulatedGlasses;
let streaming: NodeJS.Timeout | undefined;
let sent = 0;
let glasses: RawPeer | undefined;
let app: RawPeer | undefined;
/** Every peer the file opened, so `afterAll` can close what a failed run left open. */
const peers: RawPeer[] = [];

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** JSON text spliced in verbatim when a frame is written: nests deeper than JSON.stringify likes, or huge strings. */
class RawJson {
  constructor(readonly text: string) {}
}

/** One frame to put on a socket. */
interface Frame {
  data: string | Uint8Array;
  binary: boolean;
}

const text = (data: string): Frame => ({ data, binary: false });

/** `value` as JSON text, with every {@link RawJson} inside it written verbatim. */
function serialize(value: unknown): string {
  const raws: string[] = [];
  const out = JSON.stringify(value, (_key, v: unknown) => {
    if (!(v instanceof RawJson)) return v;
    raws.push(v.text);
    return `\u0001RAW${raws.length - 1}\u0001`;
  });
  return raws.reduce((acc, raw, i) => acc.replace(`"\\u0001RAW${i}\\u0001"`, () => raw), out ?? 'null');
}

/** Arrays or objects nested `1…6000` deep around a number: past the parse depth limit from 64 on. */
const deepValue = fc
  .tuple(fc.integer({ min: 1, max: 6000 }), fc.boolean())
  .map(([depth, arrays]) => new RawJson(arrays ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));

/** A string that brings its frame under, just under or just over the frame limit. */
const hugeString = fc
  .oneof(fc.integer({ min: MAX_MESSAGE_BYTES - 8192, max: MAX_MESSAGE_BYTES - 200 }), fc.integer({ min: MAX_MESSAGE_BYTES, max: MAX_MESSAGE_BYTES + 100 }))
  .map((n) => new RawJson(`"${'x'.repeat(n)}"`));

const fieldValue = fc.oneof(
  { weight: 20, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: deepValue },
  { weight: 1, arbitrary: hugeString },
);

type Path = readonly string[];
type Mutation = { op: 'set'; path: Path; value: unknown } | { op: 'delete'; path: Path };

/** Paths to every field of `value` up to two levels down (`layout.text`, `subscriptions`…). */
function pathsOf(value: Record<string, unknown>, prefix: Path = []): Path[] {
  const paths: Path[] = [];
  for (const [key, child] of Object.entries(value)) {
    paths.push([...prefix, key]);
    if (prefix.length === 0 && typeof child === 'object' && child !== null && !Array.isArray(child)) {
      paths.push(...pathsOf(child as Record<string, unknown>, [key]));
    }
  }
  return paths;
}

/** `base` with `mutations` applied; own properties throughout, so `__proto__` is a plain key. */
function applyMutations(base: Record<string, unknown>, mutations: readonly Mutation[]): Record<string, unknown> {
  const root = structuredClone(base);
  for (const m of mutations) {
    let target: Record<string, unknown> = root;
    for (const key of m.path.slice(0, -1)) {
      const next = Object.hasOwn(target, key) ? target[key] : undefined;
      if (typeof next !== 'object' || next === null) {
        const made: Record<string, unknown> = {};
        Object.defineProperty(target, key, { value: made, enumerable: true, writable: true, configurable: true });
        target = made;
      } else target = next as Record<string, unknown>;
    }
    const last = m.path[m.path.length - 1]!;
    if (m.op === 'delete') delete target[last];
    else Object.defineProperty(target, last, { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return root;
}

/** Valid messages from `bases`, each with one to three fields replaced, deleted or added, or its type swapped. */
function mutatedValid(bases: ReadonlyArray<Record<string, unknown>>, types: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.constantFrom(...bases).chain((base) => {
    const existing = pathsOf(base);
    const anyPath = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...existing) },
      { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((k): Path => [k]) },
      { weight: 1, arbitrary: fc.constantFrom<Path>(['__proto__'], ['constructor'], ['toString'], [''], ['type']) },
    );
    const mutation: fc.Arbitrary<Mutation> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), path: anyPath, value: fieldValue }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), path: fc.constantFrom(...existing) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('set' as const), path: fc.constant<Path>(['type']), value: fc.constantFrom(...types) }) },
    );
    return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => applyMutations(base, ms));
  });
}

/** Frames that are not messages at all: noise, bare JSON, binary, deep nests, odd types. */
const junkFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }).map(text),
  fc.json({ maxDepth: 4 }).map(text),
  fc.uint8Array({ maxLength: 200 }).map((data): Frame => ({ data, binary: true })),
  deepValue.map((v) => text(v.text)),
  deepValue.map((v) => text(`{"type":"heartbeat","extra":${v.text}}`)),
  fc
    .constantFrom('', ' ', '{}', 'null', '[]', '1e999', '{"type":null}', '{"type":"__proto__"}', '{"type":"constructor"}', '{"type":"toString"}', '{"type":1}', '{"type":"heartbeat"', '\u0000')
    .map(text),
);

/** Text frames whose bytes are arbitrary (mostly invalid UTF-8): `ws` ends those sockets 1007. */
const invalidTextFrame = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((data): Frame => ({ data, binary: false }));

function framesOf(messages: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Frame> {
  return fc.oneof(
    { weight: 12, arbitrary: messages.map((m) => text(serialize(m))) },
    { weight: 5, arbitrary: junkFrame },
    { weight: 1, arbitrary: invalidTextFrame },
  );
}

const glassesTypes = Object.values(GlassesToCloudMessageType);
const appTypes = Object.values(AppToCloudMessageType);

/** Valid glasses messages; start/stop name an unregistered app, so no run starts or stops a real one. */
const glassesBases = (): Array<Record<string, unknown>> => [
  { type: 'connection_init', runningApps: [RAW] },
  { type: 'start_app', packageName: 'com.example.nothing' },
  { type: 'stop_app', packageName: 'com.example.nothing' },
  { type: 'button_press', buttonId: 'main', pressType: 'short' },
  { type: 'head_position', position: 'up' },
  { type: 'phone_notification', notificationId: 'n1', app: 'mail', title: 't', content: 'c', priority: 'high' },
  { type: 'local_transcription', text: 'hello', isFinal: true, transcribeLanguage: 'en-US', startTime: 1, endTime: 2 },
  { type: 'glasses_battery_update', level: 80, charging: false, timeRemaining: 60 },
  { type: 'location_update', lat: 1.5, lng: 2.5, accuracy: 3 },
  { type: 'VAD', status: true },
  { type: 'heartbeat' },
];

/** Valid app messages for the fuzzed session. */
const appBases = (): Array<Record<string, unknown>> => [
  { type: 'tpa_connection_init', sessionId: appSessionId, packageName: RAW, apiKey: rawKey, extensions: ['resume'], lastSeq: 0 },
  { type: 'subscription_update', packageName: RAW, sessionId: appSessionId, subscriptions: STREAMS },
  { type: 'display_event', packageName: RAW, sessionId: '', view: 'main', layout: { layoutType: 'text_wall', text: 'hi' }, durationMs: 1000 },
  { type: 'display_event', packageName: RAW, sessionId: '', layout: { layoutType: 'reference_card', title: 't', text: 'x' } },
  { type: 'display_event', packageName: RAW, view: 'dashboard', layout: { layoutType: 'bitmap_animation', frames: ['a'], interval: 10, repeat: true } },
  { type: 'heartbeat' },
  { type: 'dashboard_content_update', packageName: RAW, sessionId: appSessionId, content: 'x', modes: ['main'] },
  { type: 'audio_play_request', packageName: RAW, requestId: 'r', audioUrl: 'http://127.0.0.1:1/a.mp3' },
  { type: 'photo_request', packageName: RAW, requestId: 'p' },
  { type: 'location_poll_request', packageName: RAW, accuracy: 'high', correlationId: 'c' },
  { type: 'rgb_led_control', packageName: RAW, requestId: 'l', action: 'on', color: 'red' },
  { type: 'app_room_join', packageName: RAW, roomId: 'room' },
  { type: 'app_broadcast_message', packageName: RAW, payload: { n: 1 }, messageId: 'b' },
  { type: 'rtmp_stream_request', packageName: RAW, rtmpUrl: 'rtmp://127.0.0.1:1/x' },
];

// ---------------------------------------------------------------------------------------------
// Checks

/** Every error frame among `frames` carries a registered code, and none says a handler threw. */
function expectCodedErrors(frames: ReadonlyArray<Record<string, unknown>>, errorType: string): void {
  for (const frame of frames) {
    if (frame.type !== errorType) continue;
    expect(isErrorCode(frame.code), `error frame without a registered code: ${JSON.stringify(frame).slice(0, 300)}`).toBe(true);
    expect(frame.code, `a handler threw: ${JSON.stringify(frame).slice(0, 300)}`).not.toBe('INTERNAL_ERROR');
  }
}

/** A close the cloud started uses a code from the table. */
function expectTableClose(close: RawPeerClose | undefined): void {
  if (!close || close.byTest) return;
  expect(SERVER_CLOSE_CODES.has(close.code), `server closed with ${close.code} (${close.reason})`).toBe(true);
}

/** Every text the cloud sent on `peer` since `from` is a well-formed message of `side`. */
function expectWellFormed(peer: RawPeer, side: 'cloudToGlasses' | 'cloudToApp', from = 0): void {
  for (const raw of peer.texts.slice(from)) {
    const parsed = parseMessage(side, raw);
    const why = parsed.ok ? '' : `${parsed.error.code} ${parsed.error.message}`;
    expect(parsed.ok, `cloud sent a frame its own ${side} schema refuses (${why}): ${raw.slice(0, 300)}`).toBe(true);
  }
}

async function expectHealthy(): Promise<void> {
  const res = await fetch(`${h.cloud.url}/health`, { signal: AbortSignal.timeout(2000) });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

/** Sends `frame` then a heartbeat, and waits for the heartbeat's ack (everything the frame caused came before it) or a close. */
async function sendThenBarrier(peer: RawPeer, frame: Frame): Promise<Array<Record<string, unknown>>> {
  const from = peer.frames.length;
  peer.send(frame.data, frame.binary);
  peer.send('{"type":"heartbeat"}');
  await waitFor(() => peer.closed ?? peer.frames.slice(from).some((f) => f.type === 'heartbeat_ack'), {
    timeoutMs: 3000,
    message: 'no heartbeat_ack and no close after a fuzzed frame',
  });
  return peer.frames.slice(from);
}

// ---------------------------------------------------------------------------------------------
// Peers

async function track(peer: Promise<RawPeer>): Promise<RawPeer> {
  const opened = await peer;
  peers.push(opened);
  return opened;
}

/** The fuzzer's authenticated glasses socket, opened again if the cloud closed the last one. */
async function glassesPeer(): Promise<RawPeer> {
  if (glasses && !glasses.closed) return glasses;
  if (glasses) expectWellFormed(glasses, 'cloudToGlasses');
  const token = await h.cloud.createGlassesToken(FUZZER);
  const peer = await track(openRawPeer(h.cloud.glassesUrl, { authorization: `Bearer ${token}` }));
  peer.send(JSON.stringify({ type: 'connection_init', runningApps: [RAW] }));
  await waitFor(() => peer.frames.some((f) => f.type === 'connection_ack'), { timeoutMs: 3000, message: 'fuzzer glasses got no ack' });
  glasses = peer;
  return peer;
}

/** The fuzzed session's authenticated app socket, subscribed to every stream; opened again when needed. */
async function appPeer(): Promise<RawPeer> {
  if (app && !app.closed) return app;
  if (app) expectWellFormed(app, 'cloudToApp');
  await glassesPeer();
  const deadline = performance.now() + 4000;
  for (;;) {
    const request = rawApps.requests.findLast((r) => r.type === 'session_request' && r.sessionId === appSessionId);
    if (request) {
      const peer = await track(openRawPeer(request.mentraOSWebsocketUrl));
      peer.send(JSON.stringify({ type: 'tpa_connection_init', sessionId: appSessionId, packageName: RAW, apiKey: rawKey }));
      await waitFor(() => peer.closed ?? peer.frames.some((f) => f.type === 'tpa_connection_ack' || f.type === 'tpa_connection_error'), {
        timeoutMs: 3000,
      });
      if (peer.frames.some((f) => f.type === 'tpa_connection_ack')) {
        peer.send(JSON.stringify({ type: 'subscription_update', packageName: RAW, sessionId: appSessionId, subscriptions: STREAMS }));
        app = peer;
        return peer;
      }
      await peer.close();
    }
    if (performance.now() > deadline) throw new Error('could not reconnect the fuzzed app socket');
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  h = await startTestCloud({
    settings: {
      // A raw peer answers pings itself; a loaded machine must not turn a slow pong into a 1006.
      heartbeatIntervalMs: 500,
      heartbeatTimeoutMs: 20_000,
      // A fuzzed app socket the cloud closed is reopened by the test, not by a webhook.
      appReconnectWindowMs: 10_000,
    },
  });
  rawApps = await startRawWebhookServer();
  rawKey = (await h.cloud.registerApp({ packageName: RAW, name: 'Raw', webhookUrl: rawApps.url })).apiKey;
  regKey = (await h.cloud.registerApp({ packageName: REG, name: 'Reg', webhookUrl: rawApps.url })).apiKey;
  freshToken = await h.cloud.createGlassesToken(FRESH);
  appSessionId = `${FUZZER}-${RAW}`;

  const served = await h.serveApp(STREAM, (apiKey) => new RecordingApp({ packageName: STREAM, apiKey }));
  streamApp = served.server as RecordingApp;
  streamer = await h.glassesFor('streamer', [STREAM]);
  await streamer.connect();
  await waitFor(() => streamApp.sessions.length === 1, { timeoutMs: 3000 });
  await sleep(200); // its subscription lands
  streaming = setInterval(() => {
    if (streamer.transcribe(`line ${sent}`, { isFinal: true })) sent++;
  }, 20);

  await waitFor(() => rawApps.requests.some((r) => r.sessionId === appSessionId), { timeoutMs: 3000 }).catch(() => undefined);
  await appPeer();
});

afterAll(async () => {
  clearInterval(streaming);
  for (const peer of peers) await peer.terminate();
  await rawApps?.close();
  await h?.close();
});

describe('issue 10: fuzzing the glasses socket', () => {
  it('answers arbitrary and mutated-valid frames on an authenticated socket with coded errors only', async () => {
    await fc.assert(
      fc.asyncProperty(framesOf(mutatedValid(glassesBases(), glassesTypes)), async (frame) => {
        const peer = await glassesPeer();
        const replies = await sendThenBarrier(peer, frame);
        expectCodedErrors(replies, 'connection_error');
        expectTableClose(peer.closed);
        await expectHealthy();
      }),
      { numRuns: RUNS, timeout: RUN_TIMEOUT_MS },
    );
    expectWellFormed(await glassesPeer(), 'cloudToGlasses');
  });

  it('answers any first frame of a fresh socket with an ack or a coded refusal and a table close', async () => {
    const initBases = [
      { type: 'connection_init' },
      { type: 'connection_init', runningApps: [] },
      { type: 'connection_init', coreToken: freshToken, runningApps: ['com.example.nothing'] },
    ];
    const firstFrame = fc.oneof(framesOf(mutatedValid(glassesBases(), glassesTypes)), framesOf(mutatedValid(initBases, glassesTypes)));
    const auth = fc.constantFrom<Record<string, string>>(
      {},
      { authorization: `Bearer ${freshToken}` },
      { authorization: 'Bearer not.a.jwt' },
      { authorization: `Basic ${freshToken}` },
    );
    await fc.assert(
      fc.asyncProperty(firstFrame, auth, async (frame, headers) => {
        const peer = await track(openRawPeer(h.cloud.glassesUrl, headers));
        peer.send(frame.data, frame.binary);
        await waitFor(() => peer.closed ?? peer.frames.some((f) => f.type === 'connection_ack' || f.type === 'connection_error'), {
          timeoutMs: 3000,
          message: 'a first frame got neither an ack, nor an error, nor a close',
        });
        // After an ack, an error frame reports a problem (an unknown running app) and the socket stays.
        if (!peer.frames.some((f) => f.type === 'connection_ack') && peer.frames.some((f) => f.type === 'connection_error')) {
          await waitFor(() => peer.closed, { timeoutMs: 2000, message: `refused but not closed: ${peer.texts.join(' | ').slice(0, 600)}` });
        }
        expectCodedErrors(peer.frames, 'connection_error');
        expectTableClose(peer.closed);
        expectWellFormed(peer, 'cloudToGlasses');
        await peer.close();
        await expectHealthy();
      }),
      { numRuns: RUNS, timeout: RUN_TIMEOUT_MS },
    );
  });
});

describe('issue 10: fuzzing the app socket', () => {
  it('answers arbitrary and mutated-valid frames on an authenticated socket with coded errors only', async () => {
    await fc.assert(
      fc.asyncProperty(framesOf(mutatedValid(appBases(), appTypes)), async (frame) => {
        await glassesPeer(); // so display events have somewhere to go
        const peer = await appPeer();
        const replies = await sendThenBarrier(peer, frame);
        expectCodedErrors(replies, 'tpa_connection_error');
        expectTableClose(peer.closed);
        await expectHealthy();
      }),
      { numRuns: RUNS, timeout: RUN_TIMEOUT_MS },
    );
    expectWellFormed(await appPeer(), 'cloudToApp');
    expectWellFormed(await glassesPeer(), 'cloudToGlasses');
  });

  it('answers any first frame of a fresh app socket with an ack or a coded refusal and a table close', async () => {
    const initBases = appBases().filter((b) => b.type === 'tpa_connection_init');
    initBases.push({ type: 'tpa_connection_init', sessionId: appSessionId, packageName: RAW, apiKey: 'wrong' });
    initBases.push({ type: 'tpa_connection_init', sessionId: `${FRESH}-${RAW}`, packageName: RAW, apiKey: rawKey });
    const firstFrame = fc.oneof(framesOf(mutatedValid(appBases(), appTypes)), framesOf(mutatedValid(initBases, appTypes)));
    const url = `${h.cloud.url.replace(/^http/, 'ws')}/app-ws`;
    await fc.assert(
      fc.asyncProperty(firstFrame, async (frame) => {
        const peer = await track(openRawPeer(url));
        peer.send(frame.data, frame.binary);
        await waitFor(() => peer.closed ?? peer.frames.some((f) => f.type === 'tpa_connection_ack' || f.type === 'tpa_connection_error'), {
          timeoutMs: 3000,
          message: 'a first frame got neither an ack, nor an error, nor a close',
        });
        if (!peer.frames.some((f) => f.type === 'tpa_connection_ack') && peer.frames.some((f) => f.type === 'tpa_connection_error')) {
          await waitFor(() => peer.closed, { timeoutMs: 2000, message: 'refused but not closed' });
        }
        expectCodedErrors(peer.frames, 'tpa_connection_error');
        expectTableClose(peer.closed);
        expectWellFormed(peer, 'cloudToApp');
        // An accepted socket took over the session: drop it as a dead app would (1006), never with
        // 1000, which would stop the session; the next run's main socket takes it back.
        await peer.terminate();
        await expectHealthy();
      }),
      { numRuns: RUNS, timeout: RUN_TIMEOUT_MS },
    );
    await appPeer();
  });
});

describe('issue 10: frames near the size limit', () => {
  // Finding 1: a glasses stream event just under the frame limit (MAX_MESSAGE_BYTES) is accepted
  // and forwarded wrapped in a data_stream a few hundred bytes larger — over the limit of the
  // Tether SDK's socket (`maxPayload: MAX_MESSAGE_BYTES` in src/sdk/appSocket.ts), which closes
  // 1009, reconnects, is replayed the same frame, and ends its session (`closed`) within about 3 s.
  // Found by the authenticated-glasses property (a phone_notification with a field of
  // MAX_MESSAGE_BYTES − 400 characters). Turn into `it` (and widen `hugeString`) once fixed.
  it('never forwards a data_stream larger than the frame limit', async () => {
    const peer = await appPeer();
    const from = peer.texts.length;
    (await glassesPeer()).send(JSON.stringify({ type: 'local_transcription', text: 'x'.repeat(MAX_MESSAGE_BYTES - 200), isFinal: true }));
    await waitFor(() => peer.texts.slice(from).some((t) => t.startsWith('{"type":"data_stream"')), { timeoutMs: 3000 }).catch(() => undefined);
    const sizes = peer.texts.slice(from).map((t) => Buffer.byteLength(t));
    expect(sizes.filter((n) => n > MAX_MESSAGE_BYTES)).toEqual([]);
  });
});

describe('issue 10: fuzzing the HTTP API', () => {
  interface HttpCase {
    method: string;
    path: string;
    body: Uint8Array;
    contentType: string | null;
    encoding: string | null;
    auth: string | null;
  }

  const REGISTER = ['/api/tpa/register', '/api/app/register'];

  const bodyFor = (path: string): fc.Arbitrary<Uint8Array> => {
    const bases: Array<Record<string, unknown>> =
      path === '/api/apps'
        ? [{ packageName: 'com.fuzz.app', name: 'Fuzz', webhookUrl: rawApps.url }]
        : [{ packageName: REG, apiKey: regKey, serverUrl: rawApps.url.replace(/\/webhook$/, ''), version: '1.0.0', capabilities: ['x'], bootId: 'boot-fuzz-0001' }];
    const json = (s: string) => new Uint8Array(Buffer.from(s));
    return fc.oneof(
      { weight: 6, arbitrary: mutatedValid(bases, ['x']).map((m) => json(serialize(m))) },
      { weight: 2, arbitrary: fc.constantFrom(...bases).map((b) => json(JSON.stringify(b))) },
      { weight: 2, arbitrary: fc.json({ maxDepth: 4 }).map(json) },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map(json) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
      { weight: 1, arbitrary: deepValue.map((v) => json(v.text)) },
      { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 80_000 }).map((n) => json(JSON.stringify({ name: 'x'.repeat(n) }))) },
    );
  };

  const printable = fc.string({ unit: fc.constantFrom(...' !#$%&()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~'), maxLength: 40 });
  const target = fc.oneof(
    fc.constantFrom(
      { method: 'POST', path: '/api/apps' },
      { method: 'POST', path: '/api/tpa/register' },
      { method: 'POST', path: '/api/app/register' },
      { method: 'GET', path: '/metrics' },
      { method: 'GET', path: '/health' },
    ),
    fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      path: fc.oneof(fc.constantFrom('/api/apps', '/api/tpa/register', '/metrics', '/health', '/', '/glasses-ws', '/app-ws', '/api', '/api/apps/x', '//', '//x/../', '/%zz'), fc.webPath()),
    }),
  );
  const httpCase: fc.Arbitrary<HttpCase> = target.chain(({ method, path }) =>
    fc.record({
      method: fc.constant(method),
      // Paths starting with `//` included: `GET //` once threw ERR_INVALID_URL uncaught and ended
      // the process (src/util/requestUrl.ts).
      path: fc.constant(path),
      body: bodyFor(path),
      contentType: fc.option(
        fc.oneof(
          fc.constantFrom(
            'application/json',
            'application/json; charset=utf-8',
            'application/json; charset=utf-16',
            'application/vnd.api+json',
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
          ),
          printable,
        ),
      ),
      encoding: fc.option(fc.constantFrom('gzip-valid', 'identity')),
      auth: fc.option(fc.oneof(fc.constant(`Bearer ${h.cloud.config.adminToken}`), fc.constant('Bearer '), printable.map((s) => `Bearer ${s}`), printable)),
    }),
  );

  /** Sends `c` over a fresh connection; resolves with the status and body. */
  function send(c: HttpCase): Promise<{ status: number; body: string; contentType: string | undefined }> {
    const headers: Record<string, string> = {};
    let body = Buffer.from(c.body);
    if (c.contentType !== null) headers['content-type'] = c.contentType;
    if (c.encoding === 'gzip-valid') {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    } else if (c.encoding !== null) headers['content-encoding'] = c.encoding;
    if (c.auth !== null) headers.authorization = c.auth;
    headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${h.cloud.url}${c.path}`, { method: c.method, headers, agent: false, timeout: 3000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), contentType: res.headers['content-type'] }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer to ${c.method} ${c.path} in 3000 ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  // Finding 2: body-parser's own client errors reach the catch-all handler of httpApi.ts, which
  // answers INTERNAL_ERROR 500 (and logs "http handler failed" at error level) — on every path,
  // /health included, since express.json runs before the routes. Found by this property:
  // {"method":"HEAD","path":"/","body":[],"contentType":"application/json","encoding":"gzip"}.
  // Turn into `it` (and widen `encoding` above) once fixed.
  it('answers a body it cannot decode (bad gzip, unknown encoding or charset) with a 4xx, not a 500', async () => {
    const statuses = [];
    for (const c of [
      { encoding: 'gzip', contentType: 'application/json' },
      { encoding: 'x-bogus', contentType: 'application/json' },
      { encoding: null, contentType: 'application/json; charset=x-bogus' },
    ]) {
      const res = await send({ method: 'POST', path: '/api/apps', body: new Uint8Array(Buffer.from('{"a":1}')), auth: null, ...c });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  });

  // Finding 3: a registration body that is not JSON is refused by the generic handler as
  // `{ error: { code: 'INVALID_JSON' } }`, without the `success: false` of every other registration
  // refusal. Found by the property below (POST /api/tpa/register, charset=utf-16).
  // Known and left as is (minor): the generic body-parser refusal answers registration paths in
  // the admin shape `{ error }`, not `{ success: false, error }`. Pinned until it is changed.
  it.fails('refuses a registration body that is not JSON in the registration shape ({ success: false })', async () => {
    const res = await send({ method: 'POST', path: '/api/tpa/register', body: new Uint8Array(Buffer.from('{')), contentType: 'application/json', encoding: null, auth: null });
    expect(JSON.parse(res.body)).toMatchObject({ success: false, error: { code: 'INVALID_JSON' } });
  });

  it('answers arbitrary requests without a 5xx, and every refusal with a registered code', async () => {
    await fc.assert(
      fc.asyncProperty(httpCase, async (c) => {
        const res = await send(c);
        expect(res.status, `${c.method} ${c.path} → ${res.status} ${res.body.slice(0, 300)}`).toBeLessThan(500);
        if (res.status >= 300 && c.method !== 'HEAD') {
          expect(res.contentType ?? '').toMatch(/^application\/json/);
          const body = JSON.parse(res.body) as { success?: unknown; error?: { code?: unknown } };
          expect(isErrorCode(body.error?.code), `${c.method} ${c.path} → ${res.status} ${res.body.slice(0, 300)}`).toBe(true);
          // Body-parser refusals skip the registration handler and lack `success` (finding 3, pinned below).
          const parserRefusal = body.error?.code === 'INVALID_JSON' || body.error?.code === 'MESSAGE_TOO_LARGE';
          if (c.method === 'POST' && REGISTER.includes(c.path) && !parserRefusal) expect(body.success).toBe(false);
        }
        await expectHealthy();
      }),
      { numRuns: RUNS, timeout: RUN_TIMEOUT_MS },
    );
  });
});

describe('issue 10: after the fuzzing', () => {
  it('the streaming user lost nothing, its sockets never closed, and no frame handler threw', async () => {
    const target = sent;
    await waitFor(() => streamApp.transcripts.length >= target, {
      timeoutMs: 3000,
      message: `the streaming user lost frames (${streamApp.transcripts.length} of ${target})`,
    });
    expect(target).toBeGreaterThan(0);
    expect(streamer.closeEvents).toEqual([]);
    const state = streamApp.sessions[0]?.state;
    expect(typeof state === 'object' && state !== null ? Object.keys(state) : state).toEqual(['open']);
    expect(await h.cloud.metrics.render()).not.toMatch(/tether_socket_faults_total\{[^}]*\} [1-9]/);
    expect(h.lines.filter((l) => l.msg === 'frame handling failed')).toEqual([]);
  });
});
