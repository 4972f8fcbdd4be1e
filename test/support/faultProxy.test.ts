/**
 * The fault proxy itself, over real TCP on 127.0.0.1 against an echo server: each mode does what
 * it says, in both directions, and closing it leaves nothing running. Delays here are a few
 * hundred milliseconds of real time: what is tested is the proxy's own use of the clock.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './faultProxy.js';
import { activeResourceCounts, resourcesAbove, sleep, waitFor } from './net.js';

let echo: Server;
let echoPort: number;
const serverSides = new Set<Socket>();
let proxy: FaultProxy;
const clients: Socket[] = [];

beforeAll(async () => {
  echo = createServer((socket) => {
    serverSides.add(socket);
    socket.on('close', () => serverSides.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of serverSides) s.destroy();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await proxy?.close();
});

/** A client through the proxy; collects what comes back and how it ended. */
async function client(): Promise<{ socket: Socket; received: () => Buffer; ended: Promise<string> }> {
  const forwardedBefore = proxy.forwarded;
  const socket = connect(proxy.port, '127.0.0.1');
  clients.push(socket);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<string>((resolve) => {
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    socket.once('close', () => resolve('close'));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await waitFor(() => proxy.forwarded > forwardedBefore || socket.destroyed, { timeoutMs: 2000 });
  return { socket, received: () => Buffer.concat(chunks), ended };
}

describe('fault proxy', () => {
  it('passes bytes both ways, and tells the connection to onConnection first', async () => {
    proxy = await startFaultProxy(echoPort);
    const seen: number[] = [];
    proxy.onConnection = (c) => seen.push(c.id);
    const c = await client();
    c.socket.write('hello');
    await waitFor(() => c.received().toString() === 'hello', { timeoutMs: 2000 });
    expect(seen).toEqual([1]);
    expect(proxy.connections[0]).toMatchObject({ bytesUp: 5, bytesDown: 5, open: true, targetOpen: true });
  });

  it('delays each chunk, keeping order, and flushes what it held when switched back to pass', async () => {
    proxy = await startFaultProxy(echoPort);
    const c = await client();
    proxy.connections[0]!.setMode({ kind: 'delay', ms: 150 });
    const sentAt = performance.now();
    c.socket.write('a');
    c.socket.write('b');
    await waitFor(() => c.received().toString() === 'ab', { timeoutMs: 2000, intervalMs: 5 });
    // Up and down are each delayed.
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(280);
    proxy.connections[0]!.setMode({ kind: 'pass' });
    c.socket.write('c');
    await waitFor(() => c.received().toString() === 'abc', { timeoutMs: 2000 });
  });

  it('black-holes both ways without closing anything, and hides the target’s close from the client', async () => {
    proxy = await startFaultProxy(echoPort);
    const c = await client();
    const link = proxy.connections[0]!;
    link.setMode({ kind: 'blackhole' });
    c.socket.write('lost');
    await sleep(100);
    expect(c.received().length).toBe(0);
    expect(serverSides.size).toBe(1);
    // The server gives up on the silent peer: the client is not told.
    for (const s of serverSides) s.destroy();
    await waitFor(() => !link.targetOpen, { timeoutMs: 2000 });
    await sleep(50);
    expect(c.socket.destroyed).toBe(false);
    expect(link.open).toBe(true);
    // The radio comes back: the path is gone, so the client learns it now.
    link.setMode({ kind: 'pass' });
    expect(await c.ended).toBe('close');
  });

  it('throttles to the given rate', async () => {
    proxy = await startFaultProxy(echoPort);
    const c = await client();
    proxy.connections[0]!.setMode({ kind: 'throttle', bytesPerSecond: 20_000 });
    const started = performance.now();
    c.socket.write(Buffer.alloc(8000, 7));
    await waitFor(() => c.received().length === 8000, { timeoutMs: 5000, intervalMs: 10 });
    // 8 kB up and 8 kB down at 20 kB/s each way: at least ~0.35 s.
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(c.received().equals(Buffer.alloc(8000, 7))).toBe(true);
  });

  it('cuts after N bytes', async () => {
    proxy = await startFaultProxy(echoPort);
    const c = await client();
    proxy.connections[0]!.setMode({ kind: 'cutAfter', bytes: 6 });
    c.socket.write('0123456789');
    expect(await c.ended).toBe('close');
    // 6 bytes in all crossed the proxy: all of them upstream, so nothing came back.
    expect(c.received().length).toBe(0);
    expect(proxy.connections).toHaveLength(0);
  });

  it('resets a connection: the client sees ECONNRESET', async () => {
    proxy = await startFaultProxy(echoPort);
    const c = await client();
    proxy.connections[0]!.reset();
    expect(await c.ended).toBe('ECONNRESET');
    await waitFor(() => serverSides.size === 0, { timeoutMs: 2000 });
  });

  it('refuses new connections while told to, and counts a target that refuses', async () => {
    proxy = await startFaultProxy(echoPort);
    const refusal = proxy.refuse(150);
    const refused = connect(proxy.port, '127.0.0.1');
    clients.push(refused);
    const outcome = await new Promise<string>((resolve) => {
      refused.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      refused.once('close', () => resolve('close'));
    });
    expect(['ECONNRESET', 'close']).toContain(outcome);
    await refusal;
    const c = await client();
    c.socket.write('back');
    await waitFor(() => c.received().toString() === 'back', { timeoutMs: 2000 });
    // A target that is down: the connect fails the same way.
    proxy.targetPort = 1;
    const dead = connect(proxy.port, '127.0.0.1');
    clients.push(dead);
    await new Promise<void>((resolve) => dead.once('close', () => resolve()).once('error', () => {}));
    expect(proxy.refused).toBe(2);
  });

  it('cut resets everything and refuses for a while; close leaves nothing running', async () => {
    const before = activeResourceCounts();
    proxy = await startFaultProxy(echoPort);
    const a = await client();
    const b = await client();
    proxy.connections[0]!.setMode({ kind: 'delay', ms: 10_000 });
    a.socket.write('held for ten seconds');
    void proxy.cut(10_000);
    expect(await a.ended).toBe('ECONNRESET');
    expect(await b.ended).toBe('ECONNRESET');
    await proxy.close();
    for (const c of clients.splice(0)) c.destroy();
    await waitFor(() => resourcesAbove(before).length === 0, { timeoutMs: 2000, message: 'resources left after close' });
  });
});
