/**
 * The data plane's corked writes (`writeDataFrame`): frames written in one tick leave together
 * once the tick ends, in order with any other frame to the same socket, and count as unsent
 * bytes (the write gate's measure) until then. Real `ws` sockets on 127.0.0.1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { writeDataFrame, writeFrame } from '../../src/cloud/link/writePath.js';
import { waitFor } from '../support/net.js';

type RawSocket = { writableCorked: number };
const rawOf = (ws: WebSocket) => (ws as unknown as { _socket: RawSocket })._socket;

let http: Server | undefined;
let client: WebSocket | undefined;

afterEach(async () => {
  client?.terminate();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  http = undefined;
  client = undefined;
});

/** A server socket and a client that records every text frame it gets. */
async function connected(): Promise<{ server: WebSocket; received: string[] }> {
  http = createServer();
  const wss = new WebSocketServer({ server: http });
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on('message', (data: Buffer) => received.push(data.toString()));
  await new Promise((resolve) => client!.once('open', resolve));
  return { server: await accepted, received };
}

describe('writeDataFrame', () => {
  it('holds the frames of one tick back until it ends, counted as unsent, then delivers them in order', async () => {
    const { server, received } = await connected();
    const frames = Array.from({ length: 50 }, (_, seq) => ({ type: 'data_stream', seq }));
    for (const frame of frames.slice(0, 25)) expect(writeDataFrame(server, frame)).toBe(true);
    // A control frame in the same tick goes behind the data already written, not ahead of it.
    expect(writeFrame(server, { type: 'heartbeat_ack' })).toBe(true);
    for (const frame of frames.slice(25)) writeDataFrame(server, frame);
    expect(rawOf(server).writableCorked).toBe(1);
    expect(server.bufferedAmount).toBeGreaterThan(50 * 20);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(rawOf(server).writableCorked).toBe(0);
    await waitFor(() => received.length === 51);
    const expected = [...frames.slice(0, 25), { type: 'heartbeat_ack' }, ...frames.slice(25)].map((f) => JSON.stringify(f));
    expect(received).toEqual(expected);
  });

  it('writes nothing to a socket that is not open', async () => {
    const { server } = await connected();
    server.terminate();
    await waitFor(() => server.readyState === WebSocket.CLOSED);
    expect(writeDataFrame(server, { type: 'data_stream', seq: 1 })).toBe(false);
  });

  it('does not cork a socket twice in one tick, and corks it again in the next', async () => {
    const { server, received } = await connected();
    writeDataFrame(server, { seq: 1 });
    writeDataFrame(server, { seq: 2 });
    expect(rawOf(server).writableCorked).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    writeDataFrame(server, { seq: 3 });
    expect(rawOf(server).writableCorked).toBe(1);
    await waitFor(() => received.length === 3);
    expect(rawOf(server).writableCorked).toBe(0);
  });
});
