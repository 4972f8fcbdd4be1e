/**
 * Issue 4 §3: the inspector is on in development; with `NODE_ENV=production` it is off (404)
 * unless `TETHER_INSPECTOR_TOKEN` is set, and then the page, its WebSocket, the ingest endpoint
 * and the export all require the token (401 without it). The page's feed also refuses browsers
 * from other origins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCloud } from '../support/cloudHarness.js';
import { upgradeOutcome } from './support.js';

const TOKEN = 'inspector-token-0123456789';
const production = {
  nodeEnv: 'production',
  jwtSecret: 'production-jwt-secret-for-inspector-tests-0123',
  adminToken: 'production-admin-token-0123',
};

describe('inspector in production without a token', () => {
  let h: Awaited<ReturnType<typeof startTestCloud>>;
  beforeAll(async () => {
    h = await startTestCloud({ settings: production });
  });
  afterAll(() => h?.close());

  it('serves nothing: every inspector path is 404', async () => {
    expect(h.cloud.inspector).toBeUndefined();
    expect(h.cloud.inspectorUrl).toBeUndefined();
    for (const path of ['/inspector', '/inspector/', '/inspector/index.html', '/inspector/export?userId=u']) {
      expect((await fetch(`${h.cloud.url}${path}`)).status, path).toBe(404);
    }
    const ws = h.cloud.url.replace('http', 'ws');
    expect(await upgradeOutcome(`${ws}/inspector/ws`)).toBe(404);
    expect(await upgradeOutcome(`${ws}/inspector/ingest`)).toBe(404);
    expect(await upgradeOutcome(`${ws}/inspector/ws?token=${TOKEN}`)).toBe(404);
  });
});

describe('inspector in production with TETHER_INSPECTOR_TOKEN', () => {
  let h: Awaited<ReturnType<typeof startTestCloud>>;
  let ws: string;
  beforeAll(async () => {
    h = await startTestCloud({ settings: { ...production, inspectorToken: TOKEN } });
    ws = h.cloud.url.replace('http', 'ws');
  });
  afterAll(() => h?.close());

  it('answers 401 to the page and the export without the token', async () => {
    for (const path of ['/inspector', '/inspector/', '/inspector/main.js', '/inspector/export?userId=u', `/inspector/?token=wrong-${TOKEN}`]) {
      const res = await fetch(`${h.cloud.url}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
    const wrongBearer = await fetch(`${h.cloud.url}/inspector/`, { headers: { authorization: 'Bearer nope' } });
    expect(wrongBearer.status).toBe(401);
  });

  it('refuses the page feed and the ingest upgrades with 401 without the token', async () => {
    expect(await upgradeOutcome(`${ws}/inspector/ws`)).toBe(401);
    expect(await upgradeOutcome(`${ws}/inspector/ingest`)).toBe(401);
    expect(await upgradeOutcome(`${ws}/inspector/ingest?token=wrong`)).toBe(401);
    expect(await upgradeOutcome(`${ws}/inspector/ws`, { authorization: 'Bearer wrong' })).toBe(401);
  });

  it('accepts the token as ?token=, as a bearer header, and from the cookie the page gets', async () => {
    expect(await upgradeOutcome(`${ws}/inspector/ws?token=${TOKEN}`)).toBe('open');
    expect(await upgradeOutcome(`${ws}/inspector/ingest`, { authorization: `Bearer ${TOKEN}` })).toBe('open');
    expect(await upgradeOutcome(`${ws}/inspector/ingest?source=app&token=${TOKEN}`)).toBe('open');

    const page = await fetch(`${h.cloud.url}/inspector/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const cookie = page.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);
    const pair = cookie.split(';')[0] ?? '';
    // The page's scripts and its WebSocket ride on the cookie.
    expect((await fetch(`${h.cloud.url}/inspector/`, { headers: { cookie: pair } })).status).toBe(200);
    const host = new URL(h.cloud.url).host;
    expect(await upgradeOutcome(`${ws}/inspector/ws`, { cookie: pair, origin: `http://${host}` })).toBe('open');
    // …but not from a page of another origin.
    expect(await upgradeOutcome(`${ws}/inspector/ws`, { cookie: pair, origin: 'http://evil.example' })).toBe(401);
    expect((await fetch(`${h.cloud.url}/inspector/export?userId=nobody`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });
});

describe('inspector in development', () => {
  let h: Awaited<ReturnType<typeof startTestCloud>>;
  beforeAll(async () => {
    h = await startTestCloud();
  });
  afterAll(() => h?.close());

  it('is open without a token, to this origin only', async () => {
    const ws = h.cloud.url.replace('http', 'ws');
    expect(h.cloud.inspectorUrl).toBe(`${h.cloud.url}/inspector/`);
    expect(await upgradeOutcome(`${ws}/inspector/ws`)).toBe('open');
    expect(await upgradeOutcome(`${ws}/inspector/ws`, { origin: h.cloud.url })).toBe('open');
    expect(await upgradeOutcome(`${ws}/inspector/ws`, { origin: 'http://evil.example' })).toBe(403);
    // Any program may stream its actors in, browsers included.
    expect(await upgradeOutcome(`${ws}/inspector/ingest`, { origin: 'http://localhost:5173' })).toBe('open');
    expect(await upgradeOutcome(`${ws}/inspector/nothing`)).toBe(404);
  });

  it('can be turned off', async () => {
    const off = await startTestCloud({ inspector: false });
    try {
      expect(off.cloud.inspector).toBeUndefined();
      expect((await fetch(`${off.cloud.url}/inspector/`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
