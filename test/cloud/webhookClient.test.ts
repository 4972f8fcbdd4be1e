import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/logger.js';
import { createCloudMetrics } from '../../src/cloud/metrics.js';
import {
  MAX_WEBHOOK_RESPONSE_BYTES,
  createWebhookClient,
  sessionRequestBody,
  stopRequestBody,
} from '../../src/cloud/webhookClient.js';
import { activeResourceCounts, freePort, sleep } from '../support/net.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP server on 127.0.0.1 whose behaviour each test sets. */
class TestServer {
  readonly received: Received[] = [];
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success"}');
  };
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      this.handler(req, res, body);
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhook`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function timeouts(): number {
  return activeResourceCounts()['Timeout'] ?? 0;
}

const body = sessionRequestBody({ sessionId: 'alice-com.example.app', userId: 'alice', websocketUrl: 'ws://127.0.0.1:1/app-ws' });

describe('webhook client', () => {
  let server: TestServer;
  let url: string;
  beforeEach(async () => {
    server = new TestServer();
    url = await server.start();
  });
  afterEach(() => server.stop());

  it('POSTs JSON with content-type and x-correlation-id and returns the parsed answer', async () => {
    const client = createWebhookClient({ logger: silentLogger });
    const result = await client.send(url, body, { correlationId: 'corr-1' });
    expect(result).toMatchObject({ ok: true, status: 200, body: { status: 'success' } });
    expect(result.latencyMs).toBeGreaterThan(0);
    const [request] = server.received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/webhook');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['x-correlation-id']).toBe('corr-1');
    expect(JSON.parse(request?.body ?? '')).toEqual(body);
  });

  it('reports a non-2xx answer as WEBHOOK_FAILED with its status and body', async () => {
    server.handler = (_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"status":"error","message":"Failed to connect"}');
    };
    const client = createWebhookClient({ logger: silentLogger });
    const result = await client.send(url, body, { correlationId: 'corr-2' });
    expect(result).toMatchObject({
      ok: false,
      code: 'WEBHOOK_FAILED',
      reason: 'http_status',
      status: 500,
      body: { status: 'error', message: 'Failed to connect' },
    });
  });

  it('does not follow redirects', async () => {
    server.handler = (_req, res) => {
      res.writeHead(307, { location: 'http://127.0.0.1:1/elsewhere' }).end();
    };
    const result = await createWebhookClient({ logger: silentLogger }).send(url, body, { correlationId: 'c' });
    expect(result).toMatchObject({ ok: false, code: 'WEBHOOK_FAILED', reason: 'http_status', status: 307 });
    expect(server.received).toHaveLength(1);
  });

  it('reports a refused connection as a network failure', async () => {
    const port = await freePort();
    const client = createWebhookClient({ logger: silentLogger });
    const result = await client.send(`http://127.0.0.1:${port}/webhook`, body, { correlationId: 'corr-3' });
    expect(result).toMatchObject({ ok: false, code: 'WEBHOOK_FAILED', reason: 'network' });
    expect(result).not.toHaveProperty('status');
  });

  it('times out a slow endpoint and leaves no timer behind', async () => {
    server.handler = () => {
      // never answers; the server's afterEach closes the connection
    };
    const client = createWebhookClient({ logger: silentLogger, timeoutMs: 100 });
    const baseline = timeouts();
    const result = await client.send(url, body, { correlationId: 'corr-4' });
    expect(result).toMatchObject({ ok: false, code: 'WEBHOOK_FAILED', reason: 'timeout' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(95);
    expect(result.latencyMs).toBeLessThan(2_000);
    expect(timeouts()).toBeLessThanOrEqual(baseline);
  });

  it('times out a body that trickles in too slowly', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":');
    };
    const client = createWebhookClient({ logger: silentLogger, timeoutMs: 100 });
    const result = await client.send(url, body, { correlationId: 'corr-5' });
    expect(result).toMatchObject({ ok: false, reason: 'timeout' });
  });

  it('clears its timer after a successful answer', async () => {
    const client = createWebhookClient({ logger: silentLogger, timeoutMs: 60_000 });
    const baseline = timeouts();
    const result = await client.send(url, body, { correlationId: 'corr-6' });
    expect(result.ok).toBe(true);
    expect(timeouts()).toBeLessThanOrEqual(baseline);
  });

  it("stops when the caller's signal aborts", async () => {
    server.handler = () => {};
    const client = createWebhookClient({ logger: silentLogger, timeoutMs: 5_000 });
    const controller = new AbortController();
    const baseline = timeouts();
    const pending = client.send(url, body, { correlationId: 'corr-7', signal: controller.signal });
    await sleep(20);
    controller.abort();
    expect(await pending).toMatchObject({ ok: false, code: 'WEBHOOK_FAILED', reason: 'aborted' });
    expect(timeouts()).toBeLessThanOrEqual(baseline);
    const already = await client.send(url, body, { correlationId: 'corr-8', signal: controller.signal });
    expect(already).toMatchObject({ ok: false, reason: 'aborted' });
  });

  it('refuses a URL that is not http(s) without sending', async () => {
    const client = createWebhookClient({ logger: silentLogger });
    for (const bad of ['not a url', 'ftp://127.0.0.1/webhook', 'ws://127.0.0.1/webhook']) {
      expect(await client.send(bad, body, { correlationId: 'c' })).toMatchObject({
        ok: false,
        code: 'WEBHOOK_FAILED',
        reason: 'invalid_request',
      });
    }
    expect(server.received).toHaveLength(0);
  });

  it('returns text bodies as text and caps large bodies', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(MAX_WEBHOOK_RESPONSE_BYTES * 4));
    };
    const result = await createWebhookClient({ logger: silentLogger }).send(url, body, { correlationId: 'c' });
    expect(result.ok).toBe(true);
    expect((result as { body: unknown }).body).toBe('x'.repeat(MAX_WEBHOOK_RESPONSE_BYTES));
  });

  it('records latency and failures by type and outcome', async () => {
    const metrics = createCloudMetrics();
    const client = createWebhookClient({ logger: silentLogger, metrics });
    await client.send(url, body, { correlationId: 'c1' });
    server.handler = (_req, res) => res.writeHead(503).end();
    await client.send(url, stopRequestBody({ sessionId: 's', userId: 'u', reason: 'user_disabled' }), { correlationId: 'c2' });
    const text = await metrics.render();
    expect(text).toContain('tether_webhook_latency_seconds_count{type="session_request",outcome="ok"} 1');
    expect(text).toContain('tether_webhook_latency_seconds_count{type="stop_request",outcome="http_status"} 1');
    const failures = (await metrics.webhookFailures.get()).values;
    expect(failures).toEqual([{ labels: { type: 'stop_request', outcome: 'http_status' }, value: 1 }]);
  });

  it('logs a failure with its correlation id', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (line) => void lines.push(line) } });
    server.handler = (_req, res) => res.writeHead(500).end();
    await createWebhookClient({ logger }).send(url, body, { correlationId: 'corr-log' });
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries).toContainEqual(
      expect.objectContaining({ msg: 'webhook failed', correlationId: 'corr-log', reason: 'http_status', status: 500 }),
    );
  });

  it('uses an injected fetch', async () => {
    const calls: string[] = [];
    const fakeFetch: typeof fetch = async (input) => {
      calls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return new Response('{"status":"success"}', { status: 200 });
    };
    const result = await createWebhookClient({ logger: silentLogger, fetch: fakeFetch }).send('http://app.invalid/webhook', body, {
      correlationId: 'c',
    });
    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(calls).toEqual(['http://app.invalid/webhook']);
  });
});

describe('webhook bodies', () => {
  it('builds a session_request with both websocket URL fields and an ISO timestamp', () => {
    expect(
      sessionRequestBody({ sessionId: 'alice-com.example.app', userId: 'alice', websocketUrl: 'ws://h:8002/app-ws', now: 0 }),
    ).toEqual({
      type: 'session_request',
      sessionId: 'alice-com.example.app',
      userId: 'alice',
      timestamp: '1970-01-01T00:00:00.000Z',
      mentraOSWebsocketUrl: 'ws://h:8002/app-ws',
      augmentOSWebsocketUrl: 'ws://h:8002/app-ws',
    });
  });

  it('builds a stop_request with its reason', () => {
    expect(stopRequestBody({ sessionId: 's', userId: 'u', reason: 'user_disabled', now: 1_000 })).toEqual({
      type: 'stop_request',
      sessionId: 's',
      userId: 'u',
      reason: 'user_disabled',
      timestamp: '1970-01-01T00:00:01.000Z',
    });
  });

  it('stamps the current time by default', () => {
    const before = Date.now();
    const stamped = Date.parse(stopRequestBody({ sessionId: 's', userId: 'u', reason: 'system_stop' }).timestamp);
    expect(stamped).toBeGreaterThanOrEqual(before);
    expect(stamped).toBeLessThanOrEqual(Date.now());
  });
});
