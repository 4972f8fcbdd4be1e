/**
 * Issue 3, "bad input on both sockets": every kind of bad frame or credential gets its coded
 * error (`connection_error` / `tpa_connection_error`) or close code, and a warn-level log line
 * with that code — while a second user's session keeps streaming, untouched, the whole time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createCoreToken, verifyCoreToken } from '../../src/cloud/glassesAuth.js';
import { SimulatedGlasses, SimulatedGlassesError } from '../../src/sim/glassesClient.js';
import type { AppSession } from '../../src/sdk/index.js';
import { RecordingApp, startTestCloud, type LogLine } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';
import { startRawWebhookServer, type RawWebhookServer } from '../support/rawWebhookServer.js';

const PKG_A = 'com.example.alpha';
const PKG_B = 'com.example.beta';
const USER_A = 'alice';
const USER_B = 'bob';
const TWO_MB = 2 * 1024 * 1024;
/** pino's `warn`. */
const WARN = 40;

type Harness = Awaited<ReturnType<typeof startTestCloud>>;

let h: Harness;
let keyA: string;
let keyB: string;
let appB: RecordingApp;
let sessionB: AppSession;
let glassesB: SimulatedGlasses;
let streaming: NodeJS.Timeout | undefined;
const lifecycleB: string[] = [];
/** Generation the cloud gave B's glasses socket; it must never change. */
let cloudGenB: number;
let rawApps: RawWebhookServer;

/** Transcripts B's app has received so far. */
const receivedByB = () => appB.transcripts.length;

/** Waits until B's app has received `more` transcripts beyond `before`. */
async function expectBStillStreaming(before: number, more = 5): Promise<void> {
  await waitFor(() => receivedByB() >= before + more, {
    timeoutMs: 3000,
    message: `B's app stopped receiving (had ${before}, now ${receivedByB()})`,
  });
  expect(glassesB.closeEvents).toEqual([]);
  expect(glassesB.state).toBe('open');
  expect(lifecycleB).toEqual([]);
}

/** Index into `h.lines` to look for lines logged from now on. */
const mark = () => h.lines.length;

/** A warn-or-worse log line with `code` logged since `from`. */
async function expectLogged(code: string, from: number): Promise<LogLine> {
  return waitFor(() => h.lines.slice(from).find((line) => line.code === code && (line.level ?? 0) >= WARN), {
    timeoutMs: 2000,
    message: `no log line with code ${code}`,
  });
}

/** What a raw app socket saw: parsed frames and its close. */
interface RawAppSocket {
  ws: WebSocket;
  frames: Array<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

/** A raw `ws` client on `/app-ws`: no SDK, so nothing is retried and every frame is visible. */
async function openRawApp(): Promise<RawAppSocket> {
  const ws = new WebSocket(`${h.cloud.url.replace(/^http/, 'ws')}/app-ws`, { perMessageDeflate: false });
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
  // Writing a 2 MB frame into a socket the cloud is closing may end in EPIPE/ECONNRESET.
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, frames, closed };
}

/** Sends `data` as the first frame of a fresh app socket; resolves with what came back. */
async function refusedAppFrame(data: string | Buffer) {
  const socket = await openRawApp();
  socket.ws.send(data);
  const close = await withTimeout(socket.closed, 3000, 'app socket was not closed');
  return { frames: socket.frames, close };
}

const init = (fields: { sessionId: string; packageName: string; apiKey: string }) =>
  JSON.stringify({ type: 'tpa_connection_init', ...fields });

/** A `SimulatedGlasses` connect that must fail; resolves with its error. */
async function refusedGlasses(glasses: SimulatedGlasses): Promise<SimulatedGlassesError> {
  try {
    await glasses.connect();
  } catch (error) {
    expect(error).toBeInstanceOf(SimulatedGlassesError);
    return error as SimulatedGlassesError;
  } finally {
    await glasses.destroy();
  }
  throw new Error('glasses connected with bad credentials');
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/** POST /api/apps with `body` (a string is sent as is) and `token` as the admin bearer. */
async function postApp(body: unknown, token = h.cloud.config.adminToken) {
  const res = await fetch(`${h.cloud.url}/api/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string }; apiKey?: string; packageName?: string } };
}

beforeAll(async () => {
  h = await startTestCloud();
  rawApps = await startRawWebhookServer();
  // Package A's key is used below against sessions it has no right to; A is served raw.
  keyA = (await h.cloud.registerApp({ packageName: PKG_A, name: 'Alpha', webhookUrl: rawApps.url })).apiKey;
  const served = await h.serveApp(PKG_B, (apiKey) => new RecordingApp({ packageName: PKG_B, apiKey }));
  keyB = served.apiKey;
  appB = served.server as RecordingApp;

  glassesB = await h.glassesFor(USER_B, [PKG_B]);
  await glassesB.connect();
  await waitFor(() => appB.sessions.length === 1, { timeoutMs: 3000 });
  sessionB = appB.sessions[0]!;
  sessionB.events.onDisconnected((info) => lifecycleB.push(`disconnected ${info.code}`));
  sessionB.events.onReconnecting(() => lifecycleB.push('reconnecting'));
  sessionB.events.onReconnected(() => lifecycleB.push('reconnected'));
  await waitFor(() => h.cloud.sessions.appSession(USER_B, `${USER_B}-${PKG_B}`)?.getSnapshot().context.subscriptions.includes('transcription:en-US'));
  cloudGenB = h.cloud.sessions.get(USER_B)!.getSnapshot().context.gen;

  let n = 0;
  streaming = setInterval(() => glassesB.transcribe(`b-${n++}`), 20);
  await waitFor(() => receivedByB() >= 5, { timeoutMs: 3000 });
}, 15_000);

afterAll(async () => {
  clearInterval(streaming);
  await h?.close();
  await rawApps?.close();
});

describe('bad input on the glasses socket', () => {
  let glassesA: SimulatedGlasses;

  beforeAll(async () => {
    glassesA = await h.glassesFor(USER_A);
    await glassesA.connect();
  });

  it.each([
    ['invalid JSON', '{"type": "local_transcription", "text": ', 'INVALID_JSON'],
    ['a frame with no type', '{"text":"hello","isFinal":true}', 'MISSING_TYPE'],
    ['an unknown type', '{"type":"teleport","to":"mars"}', 'UNKNOWN_TYPE'],
  ])('answers %s after authentication with connection_error and keeps the socket open', async (_what, frame, code) => {
    const before = receivedByB();
    const from = mark();
    const since = glassesA.received.length;
    expect(glassesA.sendRaw(frame)).toBe(true);
    const error = await glassesA.waitFor((m) => m.type === 'connection_error', { since, timeoutMs: 2000 });
    expect(error).toMatchObject({ type: 'connection_error', code });
    const line = await expectLogged(code, from);
    expect(line).toMatchObject({ userId: USER_A, side: 'glasses' });
    // Still open and still served: a heartbeat is answered on the same socket.
    expect(glassesA.heartbeat()).toBe(true);
    await glassesA.waitFor('heartbeat_ack', { since, timeoutMs: 2000 });
    expect(glassesA.closeEvents).toEqual([]);
    await expectBStillStreaming(before);
  });

  it('refuses invalid JSON as the first frame with connection_error and 1008', async () => {
    const before = receivedByB();
    const from = mark();
    // A raw socket: SimulatedGlasses.connect() would send connection_init first.
    const ws = new WebSocket(h.cloud.glassesUrl);
    const got: Array<Record<string, unknown>> = [];
    ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString()) as Record<string, unknown>));
    const close = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    ws.send('not json at all');
    expect(await withTimeout(close, 3000, 'glasses socket was not closed')).toBe(1008);
    expect(got).toEqual([expect.objectContaining({ type: 'connection_error', code: 'INVALID_JSON' })]);
    await expectLogged('INVALID_JSON', from);
    await expectBStillStreaming(before);
  });

  it('closes the socket with 1009 on a 2 MB frame', async () => {
    const before = receivedByB();
    const from = mark();
    const glasses = await h.glassesFor('carol');
    await glasses.connect();
    expect(glasses.sendRaw(Buffer.alloc(TWO_MB, 0x61))).toBe(true);
    await waitFor(() => glasses.closeEvents.length === 1, { timeoutMs: 3000 });
    expect(glasses.closeEvents[0]).toMatchObject({ code: 1009, initiatedBy: 'server' });
    expect(await expectLogged('MESSAGE_TOO_LARGE', from)).toMatchObject({ userId: 'carol', side: 'glasses' });
    await expectBStillStreaming(before);
  });

  it('refuses a token with a bad signature with INVALID_TOKEN and 4001', async () => {
    const before = receivedByB();
    const from = mark();
    // Signed with another secret: well-formed, but not ours.
    const forged = await createCoreToken(USER_B, 'x'.repeat(48));
    const error = await refusedGlasses(new SimulatedGlasses({ url: h.cloud.glassesUrl, token: forged }));
    expect(error).toMatchObject({ code: 'INVALID_TOKEN', closeCode: 4001 });
    await expectLogged('INVALID_TOKEN', from);

    // One of ours with its signature tampered with, sent in connection_init rather than the header.
    // (The first character of the signature: the last one of a base64url HS256 signature
    // carries two padding bits, so changing it may not change the signature at all.)
    const [header, payload, signature] = (await h.cloud.createGlassesToken(USER_B)).split('.') as [string, string, string];
    const tampered = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(await verifyCoreToken(tampered, h.cloud.config.jwtSecret)).toMatchObject({ ok: false, code: 'INVALID_TOKEN' });
    const from2 = mark();
    const error2 = await refusedGlasses(new SimulatedGlasses({ url: h.cloud.glassesUrl, token: tampered, tokenIn: 'init' }));
    expect(error2).toMatchObject({ code: 'INVALID_TOKEN', closeCode: 4001 });
    await expectLogged('INVALID_TOKEN', from2);
    // The forged tokens named B: B's own session is not disturbed.
    expect(h.cloud.sockets.get(cloudGenB)?.userId).toBe(USER_B);
    await expectBStillStreaming(before);
  });

  it('refuses an expired token with TOKEN_EXPIRED and 4001', async () => {
    const before = receivedByB();
    const from = mark();
    const issuedAt = Date.now() - 3_600_000;
    const expired = await createCoreToken(USER_B, h.cloud.config.jwtSecret, { expiresInSeconds: 1, now: () => issuedAt });
    // Its signature is good: at the time it was issued it verifies, so only its age is wrong.
    expect(await verifyCoreToken(expired, h.cloud.config.jwtSecret, { now: () => issuedAt })).toEqual({ ok: true, userId: USER_B });
    const error = await refusedGlasses(new SimulatedGlasses({ url: h.cloud.glassesUrl, token: expired }));
    expect(error).toMatchObject({ code: 'TOKEN_EXPIRED', closeCode: 4001 });
    await expectLogged('TOKEN_EXPIRED', from);
    await expectBStillStreaming(before);
  });

  it('refuses a connection without a token with INVALID_TOKEN and 4001', async () => {
    const before = receivedByB();
    const from = mark();
    const error = await refusedGlasses(new SimulatedGlasses({ url: h.cloud.glassesUrl }));
    expect(error).toMatchObject({ code: 'INVALID_TOKEN', closeCode: 4001 });
    await expectLogged('INVALID_TOKEN', from);
    await expectBStillStreaming(before);
  });
});

describe('bad input on the app socket', () => {
  it.each([
    ['invalid JSON', '{"type":"tpa_connection_init",', 'INVALID_JSON'],
    ['a frame with no type', '{"sessionId":"x","packageName":"y","apiKey":"z"}', 'MISSING_TYPE'],
    ['an unknown type', '{"type":"tpa_self_destruct"}', 'UNKNOWN_TYPE'],
  ])('refuses %s as the first frame with tpa_connection_error and 1008', async (_what, frame, code) => {
    const before = receivedByB();
    const from = mark();
    const { frames, close } = await refusedAppFrame(frame);
    expect(frames).toEqual([expect.objectContaining({ type: 'tpa_connection_error', code })]);
    expect(close.code).toBe(1008);
    await expectLogged(code, from);
    await expectBStillStreaming(before);
  });

  it("refuses a wrong API key for B's live session with INVALID_API_KEY and 1008", async () => {
    const before = receivedByB();
    const from = mark();
    const { frames, close } = await refusedAppFrame(
      init({ sessionId: `${USER_B}-${PKG_B}`, packageName: PKG_B, apiKey: `${keyB.slice(0, -4)}zzzz` }),
    );
    expect(frames).toEqual([expect.objectContaining({ type: 'tpa_connection_error', code: 'INVALID_API_KEY' })]);
    expect(close.code).toBe(1008);
    await expectLogged('INVALID_API_KEY', from);

    // Another app's valid key, for B's package and session, is just as wrong.
    const { frames: frames2 } = await refusedAppFrame(init({ sessionId: `${USER_B}-${PKG_B}`, packageName: PKG_B, apiKey: keyA }));
    expect(frames2).toEqual([expect.objectContaining({ code: 'INVALID_API_KEY' })]);
    await expectBStillStreaming(before);
  });

  it('refuses an unknown package with UNKNOWN_PACKAGE and 1008', async () => {
    const before = receivedByB();
    const from = mark();
    const { frames, close } = await refusedAppFrame(init({ sessionId: `${USER_B}-com.example.nope`, packageName: 'com.example.nope', apiKey: keyA }));
    expect(frames).toEqual([expect.objectContaining({ type: 'tpa_connection_error', code: 'UNKNOWN_PACKAGE' })]);
    expect(close.code).toBe(1008);
    await expectLogged('UNKNOWN_PACKAGE', from);
    await expectBStillStreaming(before);
  });

  it.each([
    ["B's live session of another package", `${USER_B}-${PKG_B}`],
    ['a session id of package B under user A', `${USER_A}-${PKG_B}`],
    ['a well-formed session id of a user who has no such session', `mallory-${PKG_A}`],
  ])('refuses a valid key with %s with SESSION_NOT_FOUND and 1008', async (_what, sessionId) => {
    const before = receivedByB();
    const from = mark();
    const { frames, close } = await refusedAppFrame(init({ sessionId, packageName: PKG_A, apiKey: keyA }));
    expect(frames).toEqual([expect.objectContaining({ type: 'tpa_connection_error', code: 'SESSION_NOT_FOUND' })]);
    expect(close.code).toBe(1008);
    await expectLogged('SESSION_NOT_FOUND', from);
    await expectBStillStreaming(before);
  });

  it('closes the socket with 1009 on a 2 MB frame', async () => {
    const before = receivedByB();
    const from = mark();
    const { frames, close } = await refusedAppFrame(Buffer.alloc(TWO_MB, 0x61));
    expect(frames).toEqual([]);
    expect(close.code).toBe(1009);
    await expectLogged('MESSAGE_TOO_LARGE', from);
    await expectBStillStreaming(before);
  });

  it('answers bad frames on an authenticated app socket with tpa_connection_error and keeps it open', async () => {
    const before = receivedByB();
    // A session the cloud really started for package A: the same key that was refused above
    // for other sessions is accepted here, so those refusals were about the session id.
    const glassesA2 = await h.glassesFor('dave', [PKG_A]);
    await glassesA2.connect();
    const request = await waitFor(() => rawApps.requests.find((r) => r.type === 'session_request' && r.sessionId === `dave-${PKG_A}`), { timeoutMs: 3000 });
    const socket = await openRawApp();
    socket.ws.send(init({ sessionId: request.sessionId, packageName: PKG_A, apiKey: keyA }));
    await waitFor(() => socket.frames.find((f) => f.type === 'tpa_connection_ack'), { timeoutMs: 2000 });

    for (const [frame, code] of [
      ['{oops', 'INVALID_JSON'],
      ['{"subscriptions":[]}', 'MISSING_TYPE'],
      ['{"type":"warp_drive"}', 'UNKNOWN_TYPE'],
    ] as const) {
      const from = mark();
      const seen = socket.frames.length;
      socket.ws.send(frame);
      await waitFor(() => socket.frames.slice(seen).find((f) => f.type === 'tpa_connection_error' && f.code === code), { timeoutMs: 2000 });
      await expectLogged(code, from);
    }
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    socket.ws.send(JSON.stringify({ type: 'heartbeat' }));
    await waitFor(() => socket.frames.find((f) => f.type === 'heartbeat_ack'), { timeoutMs: 2000 });
    socket.ws.close(1000);
    await withTimeout(socket.closed, 2000, 'raw app socket did not close');
    await glassesA2.close();
    await expectBStillStreaming(before);
  });
});

describe('bad input on the admin API', () => {
  const newApp = (packageName: string) => ({ packageName, name: 'Gamma', webhookUrl: rawApps.url });

  it('refuses a wrong bearer with 401 UNAUTHORIZED', async () => {
    const before = receivedByB();
    const res = await postApp(newApp('com.example.gamma'), 'not-the-admin-token');
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED', category: 'system' } } });
    await expectBStillStreaming(before);
  });

  it('refuses malformed JSON with 400 INVALID_JSON', async () => {
    const res = await postApp('{"packageName": "com.example.gamma",');
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
  });

  it('refuses missing fields with 400 INVALID_FIELDS', async () => {
    const res = await postApp({ packageName: 'com.example.gamma' });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'INVALID_FIELDS' } } });
  });

  it('refuses a duplicate package with 409 ALREADY_EXISTS', async () => {
    const res = await postApp(newApp(PKG_B));
    expect(res).toMatchObject({ status: 409, body: { error: { code: 'ALREADY_EXISTS' } } });
  });

  it('registers a valid app with 201 and a key that then authenticates', async () => {
    const before = receivedByB();
    const res = await postApp(newApp('com.example.gamma'));
    expect(res.status).toBe(201);
    expect(res.body.packageName).toBe('com.example.gamma');
    const apiKey = res.body.apiKey;
    expect(typeof apiKey).toBe('string');

    const glasses = await h.glassesFor('erin', ['com.example.gamma']);
    await glasses.connect();
    const request = await waitFor(() => rawApps.requests.find((r) => r.sessionId === 'erin-com.example.gamma'), { timeoutMs: 3000 });
    const socket = await openRawApp();
    socket.ws.send(init({ sessionId: request.sessionId, packageName: 'com.example.gamma', apiKey: apiKey! }));
    const ack = await waitFor(() => socket.frames.find((f) => f.type === 'tpa_connection_ack' || f.type === 'tpa_connection_error'), { timeoutMs: 2000 });
    expect(ack.type).toBe('tpa_connection_ack');
    socket.ws.close(1000);
    await withTimeout(socket.closed, 2000, 'raw app socket did not close');
    await glasses.close();
    await expectBStillStreaming(before);
  });
});

describe('after all of it', () => {
  it('counts every refused code in tether_bad_messages_total on /metrics', async () => {
    const text = await (await fetch(`${h.cloud.url}/metrics`)).text();
    const count = (side: string, code: string) => {
      const match = new RegExp(`^tether_bad_messages_total\\{side="${side}",code="${code}"\\} (\\d+)$`, 'm').exec(text);
      return match ? Number(match[1]) : 0;
    };
    for (const code of ['INVALID_JSON', 'MISSING_TYPE', 'UNKNOWN_TYPE', 'MESSAGE_TOO_LARGE', 'INVALID_TOKEN', 'TOKEN_EXPIRED']) {
      expect(count('glasses', code), `glasses ${code}`).toBeGreaterThanOrEqual(1);
    }
    for (const code of ['INVALID_JSON', 'MISSING_TYPE', 'UNKNOWN_TYPE', 'MESSAGE_TOO_LARGE', 'INVALID_API_KEY', 'UNKNOWN_PACKAGE', 'SESSION_NOT_FOUND']) {
      expect(count('app', code), `app ${code}`).toBeGreaterThanOrEqual(1);
    }
    expect(count('glasses', 'INVALID_TOKEN')).toBeGreaterThanOrEqual(3);
    expect(count('app', 'SESSION_NOT_FOUND')).toBe(3);
  });

  it("kept B's session streaming on the same sockets throughout", async () => {
    const before = receivedByB();
    await expectBStillStreaming(before);
    expect(glassesB.gen).toBe(1);
    expect(h.cloud.sessions.get(USER_B)?.getSnapshot().context.gen).toBe(cloudGenB);
    expect(h.cloud.sockets.get(cloudGenB)?.userId).toBe(USER_B);
    expect(sessionB.isConnectionHealthy()).toBe(true);
    expect(appB.sessions).toHaveLength(1);
    expect(h.cloud.sessions.appSession(USER_B, `${USER_B}-${PKG_B}`)?.getSnapshot().matches('running')).toBe(true);
    // Bad input is answered, never an internal failure.
    expect(h.lines.filter((line) => (line.level ?? 0) >= 50)).toEqual([]);
    // Every transcript arrived once and in order: nothing B sent was lost to the bad input.
    const expected = appB.transcripts.map((_, i) => `b-${i}`);
    expect(appB.transcripts).toEqual(expected);
  });
});
