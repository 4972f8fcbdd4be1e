/**
 * Which socket wins when one app session has two, and what the loser is told. Found by the chaos
 * suite at 500 users: an `@mentra/sdk` session whose connect timed out on its side opens another
 * socket, while the cloud still completes the first; that late one used to be authenticated last,
 * so it took the session and the live socket was closed 4003 — on which the stock SDK reconnects,
 * replacing the other one, whose 4003 made it reconnect again, for good. Now a socket's generation
 * is taken at accept time (the abandoned socket is the older one and is refused), and a stock
 * client's replaced socket is closed 1008, on which it does not reconnect (nor call `onStop`).
 */
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { replacedCloseCode } from '../../src/protocol/closeCodes.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';
import { startRawWebhookServer, type RawWebhookServer } from '../support/rawWebhookServer.js';

const PKG = 'com.example.replaced';

/** A raw app socket that has not sent its init yet. */
async function openAppSocket(url: string): Promise<{ ws: WebSocket; frames: Array<Record<string, unknown>>; closed: Promise<number> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  await new Promise<void>((resolve) => ws.once('open', () => resolve()));
  return { ws, frames, closed };
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function sessionWithTwoSockets(extensions?: string[]) {
  const h = await startTestCloud();
  cleanup.push(() => h.close());
  const hooks: RawWebhookServer = await startRawWebhookServer();
  cleanup.push(() => hooks.close());
  const apiKey = (await h.cloud.registerApp({ packageName: PKG, name: 'Replaced', webhookUrl: hooks.url })).apiKey;
  const glasses = await h.glassesFor('u1', [PKG]);
  await glasses.connect();
  const request = await waitFor(() => hooks.requests.find((r) => r.type === 'session_request'), { timeoutMs: 3000 });
  const init = JSON.stringify({ type: 'tpa_connection_init', sessionId: request.sessionId, packageName: PKG, apiKey, ...(extensions ? { extensions } : {}) });
  return { h, init, url: request.mentraOSWebsocketUrl };
}

describe('a session with two app sockets', () => {
  it('keeps the socket opened last when the one opened first authenticates late', async () => {
    const { init, url } = await sessionWithTwoSockets();
    // The client gave up waiting on `abandoned` and opened `live`; the cloud hears `abandoned` last.
    const abandoned = await openAppSocket(url);
    const live = await openAppSocket(url);
    live.ws.send(init);
    await waitFor(() => live.frames.some((f) => f.type === 'tpa_connection_ack'), { timeoutMs: 3000 });
    abandoned.ws.send(init);
    // The late one is refused as older, in the code a stock SDK does not reconnect on.
    expect(await abandoned.closed).toBe(1008);
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    live.ws.close();
  });

  it('closes a replaced stock socket 1008 and a Tether one 4003', async () => {
    expect(replacedCloseCode(false)).toBe(1008);
    expect(replacedCloseCode(true)).toBe(4003);
    for (const [extensions, expected] of [[undefined, 1008], [['resume'], 4003]] as const) {
      expect(replacedCloseCode(extensions !== undefined)).toBe(expected);
      const { init, url } = await sessionWithTwoSockets(extensions ? [...extensions] : undefined);
      const first = await openAppSocket(url);
      first.ws.send(init);
      await waitFor(() => first.frames.some((f) => f.type === 'tpa_connection_ack'), { timeoutMs: 3000 });
      // The first socket stops reading (its peer is gone): it cannot answer the cloud's probe.
      const tcp = (first.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      if (!extensions) tcp.pause();
      const second = await openAppSocket(url);
      second.ws.send(init);
      await waitFor(() => second.frames.some((f) => f.type === 'tpa_connection_ack'), { timeoutMs: 3000 });
      tcp.resume();
      // A stock socket that stopped reading never reads its 1008 in time: the cloud ends it (1006).
      expect(await first.closed).toBe(extensions ? expected : 1006);
      await waitFor(() => second.frames.some((f) => f.type === 'tpa_connection_ack'), { timeoutMs: 3000 });
      second.ws.close();
      for (const step of cleanup.splice(0).reverse()) await step();
    }
  });

  it('keeps a live stock socket and refuses 1008 a second one of its session (an orphan reconnecting)', async () => {
    const { init, url } = await sessionWithTwoSockets();
    const live = await openAppSocket(url);
    live.ws.send(init);
    await waitFor(() => live.frames.some((f) => f.type === 'tpa_connection_ack'), { timeoutMs: 3000 });
    const orphan = await openAppSocket(url);
    orphan.ws.send(init);
    expect(await orphan.closed).toBe(1008);
    expect(orphan.frames.some((f) => f.type === 'tpa_connection_ack')).toBe(false);
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    live.ws.close();
  });
});
