import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCloud } from '../support/cloudHarness.js';

let h: Awaited<ReturnType<typeof startTestCloud>>;
beforeAll(async () => {
  h = await startTestCloud();
});
afterAll(() => h.close());

it('refuses a package name with a dash, which would make session ids ambiguous', async () => {
  const res = await fetch(`${h.cloud.url}/api/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.cloud.config.adminToken}` },
    body: JSON.stringify({ packageName: 'x-notify', name: 'X', webhookUrl: 'http://127.0.0.1:1/webhook' }),
  });
  expect(res.status).toBe(400);
  expect(await res.json()).toMatchObject({ error: { code: 'INVALID_FIELDS' } });
  expect(await h.cloud.store.getApp('x-notify')).toBeUndefined();
});
