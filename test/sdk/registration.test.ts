/**
 * The Tether SDK's registration with the cloud (seed 02 §3.1), against a fake cloud endpoint:
 * `AppServer.listen` registers and refreshes every `registrationRefreshMs` with one boot id,
 * a transient failure is retried at the next refresh, a 401 ends the refreshes, and `stop()`
 * leaves no timer behind.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AppServer } from '../../src/sdk/index.js';
import { REGISTRATION_PATH, RegistrationClient } from '../../src/sdk/registrationClient.js';
import { silentLogger } from '../../src/logger.js';
import { sleep, waitFor } from '../support/net.js';

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** A fake cloud: records each registration and answers with `answer(n)` (n = 1, 2, …). */
async function fakeCloud(answer: (n: number) => { status: number; body: unknown }) {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(raw) as Record<string, unknown> });
      const { status, body } = answer(received.length);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const accepted = (n: number) => ({ status: 200, body: { success: true, registrationId: 'reg-1', activeSessions: [`s${n}`] } });

/**
 * Timers that keep the process alive. The refresh timer is `unref`'d, so it never shows here;
 * that it is cleared shows in no request arriving after `stop()`. The request timeout is not.
 */
const pendingTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('AppServer registration', () => {
  it('registers when it starts listening and refreshes every registrationRefreshMs with one boot id', async () => {
    const cloud = await fakeCloud(accepted);
    cleanups.push(cloud.close);
    const server = new AppServer({
      packageName: 'com.example.sdkreg',
      apiKey: 'tk_key',
      cloudUrl: `${cloud.url}/`,
      registrationRefreshMs: 50,
      version: '2.0.0',
      capabilities: ['display'],
    });
    cleanups.push(() => server.stop());
    const port = await server.listen(0, '127.0.0.1');

    await waitFor(() => cloud.received.length >= 3, { timeoutMs: 2000 });
    const [first] = cloud.received;
    expect(first).toEqual({
      path: REGISTRATION_PATH,
      body: {
        packageName: 'com.example.sdkreg',
        apiKey: 'tk_key',
        serverUrl: `http://127.0.0.1:${port}`,
        version: '2.0.0',
        capabilities: ['display'],
        bootId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      },
    });
    expect(new Set(cloud.received.map((r) => r.body.bootId)).size).toBe(1);
    expect(server.registrationStatus()).toMatchObject({ state: 'registered', registrationId: 'reg-1', bootId: first!.body.bootId });

    // Another AppServer (another process, in practice) draws another boot id.
    const other = new AppServer({ packageName: 'com.example.sdkreg', apiKey: 'tk_key', cloudUrl: cloud.url, serverUrl: 'https://apps.example/reg' });
    cleanups.push(() => other.stop());
    await other.listen(0, '127.0.0.1');
    await waitFor(() => other.registrationStatus()?.state === 'registered');
    const mine = cloud.received.find((r) => r.body.bootId !== first!.body.bootId);
    expect(mine?.body.serverUrl).toBe('https://apps.example/reg');
  });

  it('leaves no refresh timer and sends nothing more once stopped', async () => {
    const cloud = await fakeCloud(accepted);
    cleanups.push(cloud.close);
    const before = pendingTimeouts();
    const server = new AppServer({ packageName: 'com.example.sdkreg', apiKey: 'tk_key', cloudUrl: cloud.url, registrationRefreshMs: 40 });
    await server.listen(0, '127.0.0.1');
    await waitFor(() => cloud.received.length >= 2, { timeoutMs: 2000 });
    await server.stop();
    const sent = cloud.received.length;
    expect(server.registrationStatus()?.state).toBe('stopped');
    await sleep(200);
    expect(cloud.received.length).toBe(sent);
    expect(pendingTimeouts()).toBeLessThanOrEqual(before);
  });

  it('does not register without a cloudUrl', async () => {
    const server = new AppServer({ packageName: 'com.example.sdkreg', apiKey: 'tk_key', cloudUrl: null });
    cleanups.push(() => server.stop());
    await server.listen(0, '127.0.0.1');
    expect(server.registrationStatus()).toBeUndefined();
  });
});

describe('RegistrationClient', () => {
  const client = (cloudUrl: string, refreshMs = 40) => {
    const c = new RegistrationClient({
      cloudUrl,
      packageName: 'com.example.sdkreg',
      apiKey: 'tk_key',
      serverUrl: 'http://127.0.0.1:7010',
      version: '1.0.0',
      refreshMs,
      logger: silentLogger,
    });
    cleanups.push(async () => c.stop());
    return c;
  };

  it('retries a failure at the next refresh, and never throws', async () => {
    const cloud = await fakeCloud((n) => (n === 1 ? { status: 503, body: { success: false } } : accepted(n)));
    cleanups.push(cloud.close);
    const c = client(cloud.url);
    expect(await c.start()).toMatchObject({ state: 'failing', lastError: 'HTTP_503', registrations: 0 });
    await waitFor(() => c.status.state === 'registered', { timeoutMs: 2000 });
    expect(c.status).toMatchObject({ registrations: 1, activeSessions: ['s2'] });
  });

  it('survives an unreachable cloud', async () => {
    const cloud = await fakeCloud(accepted);
    await cloud.close();
    const c = client(cloud.url);
    expect(await c.start()).toMatchObject({ state: 'failing', lastError: 'CONNECTION_FAILED' });
  });

  it('stops refreshing after a 401: the same credentials can never succeed', async () => {
    const cloud = await fakeCloud(() => ({
      status: 401,
      body: { success: false, error: { code: 'INVALID_API_KEY', category: 'auth', message: 'wrong key' } },
    }));
    cleanups.push(cloud.close);
    const c = client(cloud.url, 20);
    expect(await c.start()).toMatchObject({ state: 'rejected', lastError: 'INVALID_API_KEY' });
    await sleep(150);
    expect(cloud.received).toHaveLength(1);
  });
});
