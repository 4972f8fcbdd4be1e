/**
 * Issue 10 "Safe defaults": the cloud binds 127.0.0.1 unless told otherwise (`TETHER_HOST`); the
 * inspector, when the cloud listens beyond loopback, requires its token even in development; core
 * tokens have a maximum lifetime; failed authentications log the remote address; logged field
 * values are truncated.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { resolveCloudConfig } from '../../src/cloud/config.js';
import { createCoreToken, verifyCoreToken } from '../../src/cloud/glassesAuth.js';
import { createLogger, MAX_LOGGED_STRING } from '../../src/logger.js';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { startTestCloud, type LogLine } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';

type Harness = Awaited<ReturnType<typeof startTestCloud>>;
const SECRET = 'a-jwt-secret-of-at-least-32-bytes-0123456789';
const YEAR_S = 365 * 86_400;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('listen address', () => {
  it('defaults to 127.0.0.1 and is read from TETHER_HOST', () => {
    expect(resolveCloudConfig({ env: {} }).host).toBe('127.0.0.1');
    expect(resolveCloudConfig({ env: { TETHER_HOST: '0.0.0.0' } }).host).toBe('0.0.0.0');
  });

  it('feeds createCloud when no host is given in code', async () => {
    h = await startTestCloud({ host: undefined });
    expect(h.lines.find((l) => l.msg === 'cloud listening')).toMatchObject({ host: '127.0.0.1' });
  });
});

describe('inspector beyond loopback', () => {
  it('is not served without its token in development when the cloud listens on 0.0.0.0', async () => {
    h = await startTestCloud({ host: undefined, settings: { host: '0.0.0.0', nodeEnv: 'development' } });
    expect(h.lines.find((l) => l.msg === 'cloud listening')).toMatchObject({ host: '0.0.0.0' });
    expect(h.cloud.inspectorUrl).toBeUndefined();
    for (const path of ['/inspector/', '/inspector/export?userId=u']) {
      expect([401, 404], path).toContain((await fetch(`${h.cloud.url}${path}`)).status);
    }
  });

  it('requires the token in development when one is set and the cloud listens on 0.0.0.0', async () => {
    const token = 'inspector-token-0123456789';
    h = await startTestCloud({ host: '0.0.0.0', settings: { nodeEnv: 'development', inspectorToken: token } });
    expect((await fetch(`${h.cloud.url}/inspector/`)).status).toBe(401);
    expect((await fetch(`${h.cloud.url}/inspector/`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('is still served without a token in development on loopback', async () => {
    h = await startTestCloud({ settings: { nodeEnv: 'development' } });
    expect((await fetch(`${h.cloud.url}/inspector/`)).status).toBe(200);
  });
});

describe('token lifetime', () => {
  it('refuses a token whose lifetime exceeds the maximum with INVALID_TOKEN', async () => {
    const now = () => 1_700_000_000_000;
    const century = await createCoreToken('alice', SECRET, { expiresInSeconds: 100 * YEAR_S, now });
    expect(await verifyCoreToken(century, SECRET, { now })).toMatchObject({ ok: false, code: 'INVALID_TOKEN' });
    const month = await createCoreToken('alice', SECRET, { expiresInSeconds: 30 * 86_400, now });
    expect(await verifyCoreToken(month, SECRET, { now })).toEqual({ ok: true, userId: 'alice' });
    const day = await createCoreToken('alice', SECRET, { expiresInSeconds: 86_400, now });
    expect(await verifyCoreToken(day, SECRET, { now, maxLifetimeMs: 3_600_000 })).toMatchObject({ ok: false, code: 'INVALID_TOKEN' });
  });

  it('closes glasses presenting a 100-year token with INVALID_TOKEN', async () => {
    h = await startTestCloud();
    const glasses = new SimulatedGlasses({ url: h.cloud.glassesUrl, token: await h.cloud.createGlassesToken('alice', 100 * YEAR_S) });
    await expect(glasses.connect()).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    await glasses.destroy();
  });
});

describe('failed authentications', () => {
  const refusal = (lines: LogLine[], msg: string) => lines.find((l) => l.msg === msg);

  it('log the remote address of a bad glasses token, a bad app key, a bad admin token and a bad registration', async () => {
    h = await startTestCloud();
    const glasses = new SimulatedGlasses({ url: h.cloud.glassesUrl, token: 'not-a-token' });
    await expect(glasses.connect()).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    await glasses.destroy();
    expect(await waitFor(() => h!.lines.find((l) => l.msg === 'connection refused' && l.side === 'glasses'))).toMatchObject({
      code: 'INVALID_TOKEN',
      remoteAddress: '127.0.0.1',
    });

    await h.cloud.registerApp({ packageName: 'com.example.auth', name: 'Auth', webhookUrl: 'http://127.0.0.1:1/webhook' });
    const app = new WebSocket(h.cloud.appUrl);
    await new Promise((resolve) => app.once('open', resolve));
    app.send(JSON.stringify({ type: 'tpa_connection_init', packageName: 'com.example.auth', sessionId: 'alice-com.example.auth', apiKey: 'wrong' }));
    await new Promise((resolve) => app.once('close', resolve));
    expect(await waitFor(() => h!.lines.find((l) => l.msg === 'connection refused' && l.side === 'app'))).toMatchObject({
      code: 'INVALID_API_KEY',
      remoteAddress: '127.0.0.1',
    });

    const admin = await fetch(`${h.cloud.url}/api/apps`, { method: 'POST', headers: { authorization: 'Bearer nope' } });
    expect(admin.status).toBe(401);
    expect(refusal(h.lines, 'http request refused')).toMatchObject({ code: 'UNAUTHORIZED', remoteAddress: '127.0.0.1' });

    const registration = await fetch(`${h.cloud.url}/api/tpa/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ packageName: 'com.example.auth', apiKey: 'wrong', serverUrl: 'http://127.0.0.1:7010', version: '1', bootId: 'boot-0001' }),
    });
    expect(registration.status).toBe(401);
    expect(refusal(h.lines, 'app server registration refused')).toMatchObject({ code: 'INVALID_API_KEY', remoteAddress: '127.0.0.1' });
  });
});

describe('logged field values', () => {
  it('are truncated, deeply, in fields and in bindings', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (line) => void lines.push(line) } });
    const huge = 'p'.repeat(900_000);
    logger.child({ packageName: huge }).warn({ reason: huge, nested: { list: [huge], deeper: { name: huge } }, short: 'kept' }, 'refused');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBeLessThan(8 * MAX_LOGGED_STRING);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown> & { nested: { list: string[]; deeper: { name: string } } };
    for (const value of [entry.packageName, entry.reason, entry.nested.list[0], entry.nested.deeper.name]) {
      expect(typeof value).toBe('string');
      expect((value as string).startsWith('p'.repeat(MAX_LOGGED_STRING))).toBe(true);
      expect((value as string).length).toBeLessThan(MAX_LOGGED_STRING + 32);
    }
    expect(entry.short).toBe('kept');
  });

  it('leave a 900 KB package name from an app socket on one short line', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (line) => void lines.push(line) } });
    h = await startTestCloud({ logger });
    const app = new WebSocket(h.cloud.appUrl);
    await new Promise((resolve) => app.once('open', resolve));
    const packageName = 'q'.repeat(900_000);
    app.send(JSON.stringify({ type: 'tpa_connection_init', packageName, sessionId: 'alice-x', apiKey: 'k' }));
    await new Promise((resolve) => app.once('close', resolve));
    await waitFor(() => lines.some((l) => l.includes('connection refused')));
    const mentioning = lines.filter((l) => l.includes('q'.repeat(64)));
    expect(mentioning).toHaveLength(1);
    expect(mentioning[0]!.length).toBeLessThan(4 * MAX_LOGGED_STRING);
  });
});
