/**
 * Issue 10 "Outbound policy": webhook URLs and registered `serverUrl`s are checked when
 * registered and when dialled; link-local, metadata, private and (in production) loopback
 * addresses are refused; a failed dial reaches the glasses as a coded `WEBHOOK_FAILED` with a
 * generic message, the detail only in the log. No public name is ever resolved: unit tests
 * inject the lookup, integration tests use literal addresses.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  allows,
  checkOutboundHost,
  classifyAddress,
  type AddressClass,
  type HostLookup,
  type OutboundPolicy,
} from '../../src/cloud/outboundPolicy.js';
import { createWebhookClient, sessionRequestBody } from '../../src/cloud/webhookClient.js';
import { silentLogger } from '../../src/logger.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { freePort } from '../support/net.js';

const body = sessionRequestBody({ sessionId: 'alice-com.example.app', userId: 'alice', websocketUrl: 'ws://127.0.0.1:1/app-ws' });

describe('classifyAddress', () => {
  const table: Array<[string, AddressClass]> = [
    ['127.0.0.1', 'loopback'],
    ['127.9.9.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.1.1', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['not an address', 'reserved'],
    // IPv6 forms that carry an IPv4 address are judged by it.
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['2002:c0a8:0101::1', 'private'],
    ['[::1]', 'loopback'],
    ['93.184.215.14', 'public'],
    ['172.32.0.1', 'public'],
    ['2606:4700::1111', 'public'],
  ];
  it.each(table)('classifies %s as %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('allows loopback only from the loopback policy up, private only under private, link-local and metadata never', () => {
    const policies: OutboundPolicy[] = ['public', 'loopback', 'private'];
    const allowed = (c: AddressClass) => policies.filter((p) => allows(p, c));
    expect(allowed('public')).toEqual(policies);
    expect(allowed('loopback')).toEqual(['loopback', 'private']);
    expect(allowed('private')).toEqual(['private']);
    for (const never of ['linkLocal', 'metadata', 'unspecified', 'broadcast', 'multicast', 'reserved'] as const) {
      expect(allowed(never), never).toEqual([]);
    }
  });
});

describe('checkOutboundHost', () => {
  const lookupOf = (table: Record<string, string[]>): HostLookup & { calls: string[] } => {
    const calls: string[] = [];
    const lookup = async (hostname: string) => {
      calls.push(hostname);
      const found = table[hostname];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    return Object.assign(lookup, { calls });
  };

  it('refuses a name when any one of its addresses is refused', async () => {
    const lookup = lookupOf({ 'mixed.test': ['93.184.215.14', '10.0.0.5'], 'fine.test': ['93.184.215.14', '2606:4700::1111'] });
    expect(await checkOutboundHost('mixed.test', 'public', lookup)).toMatchObject({ ok: false, reason: 'forbidden', address: '10.0.0.5', addressClass: 'private' });
    expect(await checkOutboundHost('fine.test', 'public', lookup)).toMatchObject({ ok: true, addresses: [{ address: '93.184.215.14' }, { address: '2606:4700::1111' }] });
  });

  it('checks an IP literal without a lookup, and reports a name that does not resolve', async () => {
    const lookup = lookupOf({});
    expect(await checkOutboundHost('[fd00:ec2::254]', 'private', lookup)).toMatchObject({ ok: false, addressClass: 'metadata' });
    expect(await checkOutboundHost('127.0.0.1', 'public', lookup)).toMatchObject({ ok: false, addressClass: 'loopback' });
    expect(await checkOutboundHost('127.0.0.1', 'loopback', lookup)).toMatchObject({ ok: true });
    expect(lookup.calls).toEqual([]);
    expect(await checkOutboundHost('nowhere.test', 'private', lookup)).toMatchObject({ ok: false, reason: 'unresolved' });
  });
});

describe('webhook client under the outbound policy', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function webhookServer(): Promise<{ port: number; hosts: Array<IncomingHttpHeaders['host']> }> {
    const hosts: Array<IncomingHttpHeaders['host']> = [];
    const server = createHttpServer((req, res) => {
      hosts.push(req.headers.host);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    return { port: (server.address() as AddressInfo).port, hosts };
  }

  it('dials the address it checked, resolving the name once, and keeps the name as Host', async () => {
    const { port, hosts } = await webhookServer();
    const calls: string[] = [];
    // A rebinding resolver: the first answer passes the check, any later one points elsewhere.
    const lookup: HostLookup = async (hostname) => {
      calls.push(hostname);
      return [{ address: calls.length === 1 ? '127.0.0.1' : '169.254.169.254', family: 4 }];
    };
    const client = createWebhookClient({ logger: silentLogger, outboundPolicy: 'loopback', lookup });
    const result = await client.send(`http://rebind.test:${port}/webhook`, body, { correlationId: 'c1' });
    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(calls).toEqual(['rebind.test']);
    expect(hosts).toEqual([`rebind.test:${port}`]);
  });

  it('refuses before connecting when the name resolves to a refused address', async () => {
    const { port, hosts } = await webhookServer();
    const lookup: HostLookup = async () => [{ address: '127.0.0.1', family: 4 }];
    const client = createWebhookClient({ logger: silentLogger, outboundPolicy: 'public', lookup });
    const result = await client.send(`http://sneaky.test:${port}/webhook`, body, { correlationId: 'c2' });
    expect(result).toMatchObject({ ok: false, code: 'WEBHOOK_FAILED', reason: 'forbidden' });
    const literal = await client.send(`http://127.0.0.1:${port}/webhook`, body, { correlationId: 'c3' });
    expect(literal).toMatchObject({ ok: false, reason: 'forbidden' });
    const metadata = await createWebhookClient({ logger: silentLogger, outboundPolicy: 'private' }).send('http://169.254.169.254/latest/meta-data', body, {
      correlationId: 'c4',
    });
    expect(metadata).toMatchObject({ ok: false, reason: 'forbidden' });
    expect(hosts).toEqual([]);
  });
});

const production = {
  nodeEnv: 'production',
  jwtSecret: 'production-jwt-secret-for-outbound-tests-0123',
  adminToken: 'production-admin-token-0123',
};

type Harness = Awaited<ReturnType<typeof startTestCloud>>;

describe('registration under the outbound policy', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const postApp = (harness: Harness, webhookUrl: string, packageName: string) =>
    fetch(`${harness.cloud.url}/api/apps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${harness.cloud.config.adminToken}` },
      body: JSON.stringify({ packageName, name: 'Probe', webhookUrl }),
    });

  const refusedUrls = [
    'http://10.0.0.5/webhook',
    'http://172.16.3.4:8080/webhook',
    'http://192.168.1.10/webhook',
    'http://100.64.0.1/webhook',
    'http://169.254.169.254/latest/meta-data',
    'http://[fd00:ec2::254]/webhook',
    'http://[fe80::1]/webhook',
    'http://[::ffff:10.0.0.1]/webhook',
    'http://0.0.0.0:6379/webhook',
  ];

  it('refuses private, link-local and metadata webhook URLs in the admin API with OUTBOUND_FORBIDDEN', async () => {
    h = await startTestCloud();
    for (const [i, url] of refusedUrls.entries()) {
      const res = await postApp(h, url, `com.example.probe${i}`);
      expect(res.status, url).toBe(400);
      const answer = (await res.json()) as { error?: { code?: string; message?: string } };
      expect(answer.error?.code, url).toBe('OUTBOUND_FORBIDDEN');
      expect(await h.cloud.store.getApp(`com.example.probe${i}`), url).toBeUndefined();
    }
    // Development allows loopback: apps run beside the cloud.
    expect((await postApp(h, 'http://127.0.0.1:7010/webhook', 'com.example.local')).status).toBe(201);
    expect((await postApp(h, 'http://localhost:7010/webhook', 'com.example.named')).status).toBe(201);
  });

  it('refuses loopback webhook URLs in production', async () => {
    h = await startTestCloud({ settings: production });
    const res = await postApp(h, 'http://127.0.0.1:7010/webhook', 'com.example.local');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('OUTBOUND_FORBIDDEN');
  });

  it('refuses a registration whose serverUrl is private, link-local or metadata, and leaves the webhook where it was', async () => {
    h = await startTestCloud();
    const { apiKey } = await h.cloud.registerApp({ packageName: 'com.example.reg', name: 'Reg', webhookUrl: 'http://127.0.0.1:7010/webhook' });
    const register = (serverUrl: string, bootId: string) =>
      fetch(`${h!.cloud.url}/api/tpa/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ packageName: 'com.example.reg', apiKey, serverUrl, version: '1.0.0', bootId }),
      });
    for (const [i, url] of ['http://10.0.0.5:7010', 'http://169.254.169.254', 'http://[fd00:ec2::254]', 'http://[fe80::1]:7010'].entries()) {
      const res = await register(url, `boot-000${i}`);
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code, url).toBe('OUTBOUND_FORBIDDEN');
    }
    expect((await h.cloud.store.getApp('com.example.reg'))?.webhookUrl).toBe('http://127.0.0.1:7010/webhook');
    expect(await h.cloud.store.listRegistrations('com.example.reg')).toEqual([]);
    expect((await register('http://127.0.0.1:7011', 'boot-0100')).status).toBe(200);
  });
});

describe('a webhook dial that fails, as the glasses see it', () => {
  let h: Harness | undefined;
  let tcp: TcpServer | undefined;
  const raw: Socket[] = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const socket of raw.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => (tcp ? tcp.close(() => resolve()) : resolve()));
    tcp = undefined;
  });

  async function appStateError(harness: Harness, packageName: string) {
    const glasses = await harness.glassesFor('alice');
    await glasses.connect();
    glasses.startApp(packageName);
    const change = await glasses.waitFor((m) => m.type === 'app_state_change' && m.error !== undefined, { timeoutMs: 10_000 });
    return change.type === 'app_state_change' ? change.error : undefined;
  }

  const noNetworkDetail = (message: string | undefined) => {
    expect(message).toBeDefined();
    expect(message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|connect|HTTP\/1\.1|protocol|fetch failed|\d{4,5}/i);
  };

  it('shows WEBHOOK_FAILED with a generic message for a refused connection; the detail goes to the log', async () => {
    h = await startTestCloud({ session: { webhookRetry: { baseDelayMs: 20, maxDelayMs: 40 }, appConnectTimeoutMs: 2000, appPatienceMs: 0 } });
    const port = await freePort();
    await h.cloud.registerApp({ packageName: 'com.example.gone', name: 'Gone', webhookUrl: `http://127.0.0.1:${port}/webhook` });
    const error = await appStateError(h, 'com.example.gone');
    expect(error?.code).toBe('WEBHOOK_FAILED');
    noNetworkDetail(error?.message);
    expect(h.lines.some((l) => l.msg === 'webhook failed' && /ECONNREFUSED/.test(String(l.err)))).toBe(true);
  });

  it('shows the same generic message for a server that does not speak HTTP', async () => {
    tcp = createTcpServer((socket) => {
      raw.push(socket);
      socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n');
    });
    await new Promise<void>((resolve) => tcp!.listen(0, '127.0.0.1', resolve));
    const port = (tcp.address() as AddressInfo).port;
    h = await startTestCloud({ session: { webhookRetry: { baseDelayMs: 20, maxDelayMs: 40 }, appConnectTimeoutMs: 2000, appPatienceMs: 0 } });
    await h.cloud.registerApp({ packageName: 'com.example.ssh', name: 'Ssh', webhookUrl: `http://127.0.0.1:${port}/webhook` });
    const error = await appStateError(h, 'com.example.ssh');
    expect(error?.code).toBe('WEBHOOK_FAILED');
    noNetworkDetail(error?.message);
  });

  it('does not dial a loopback webhook in production, and says so only in the log', async () => {
    let dialled = 0;
    tcp = createTcpServer((socket) => {
      dialled++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => tcp!.listen(0, '127.0.0.1', resolve));
    const port = (tcp.address() as AddressInfo).port;
    h = await startTestCloud({
      settings: production,
      session: { webhookRetry: { baseDelayMs: 20, maxDelayMs: 40 }, appConnectTimeoutMs: 2000, appPatienceMs: 0 },
    });
    // Stored directly, as a URL registered before the policy was tightened would be.
    await h.cloud.registerApp({ packageName: 'com.example.inside', name: 'Inside', webhookUrl: `http://127.0.0.1:${port}/webhook` });
    const error = await appStateError(h, 'com.example.inside');
    expect(error?.code).toBe('WEBHOOK_FAILED');
    noNetworkDetail(error?.message);
    expect(dialled).toBe(0);
    expect(h.lines.some((l) => l.msg === 'webhook failed' && l.reason === 'forbidden')).toBe(true);
  });
});
