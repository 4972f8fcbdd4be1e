/**
 * What only the PostgreSQL store has to get right (issue 14): several nodes on one database. The
 * contract itself is tested on both stores by `store.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type LocalPostgres } from '../../scripts/localServers/postgres.js';
import { createPgStore } from '../../src/cloud/pg/pgStore.js';
import { MIGRATIONS } from '../../src/cloud/pg/schema.js';
import type { Store } from '../../src/cloud/store.js';
import { rejectionCodeOf } from '../support/errors.js';
import { queryRows } from '../support/pgQuery.js';

let postgres: LocalPostgres;
beforeAll(async () => {
  postgres = await startPostgres();
}, 30_000);
afterAll(() => postgres?.stop());


const app = { packageName: 'com.example.captions', name: 'Captions', webhookUrl: 'http://127.0.0.1:1/webhook', apiKeyHash: 'sha256:aa' };

describe('PostgreSQL store, several nodes on one database', () => {
  it('migrates once when three nodes start together, and a node starts on the migrated schema', async () => {
    const url = await postgres.createDatabase('migrations');
    const nodes = await Promise.all([createPgStore(url), createPgStore(url), createPgStore(url)]);
    const rows = await queryRows<{ version: number }>(url, 'SELECT version FROM tether_migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    const later = await createPgStore(url);
    await nodes[0].createApp(app);
    expect((await later.getApp(app.packageName))?.name).toBe('Captions');
    await Promise.all([...nodes, later].map((node) => node.close()));
  }, 20_000);

  it('lets exactly one of two nodes claiming a session under the same epoch race past a third with an older one', async () => {
    const url = await postgres.createDatabase('claims');
    const [a, b] = await Promise.all([createPgStore(url), createPgStore(url)]);
    await a.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"owner":"a"}' }], remove: [], epochs: new Map([['ann', 4]]) });
    const [byB, staleA] = await Promise.all([b.claimSession('ann', 7), a.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"owner":"a","late":true}' }], remove: [], epochs: new Map([['ann', 4]]) })]);
    expect(byB.accepted).toBe(true);
    // Whichever ran first, nothing of epoch 4 is in the store after B's claim committed.
    const after = await a.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"owner":"a","later":true}' }], remove: [], epochs: new Map([['ann', 4]]) });
    expect(after.refused).toEqual(['ann']);
    if (staleA.refused.length === 0) expect(byB.accepted && byB.snapshot?.json).toBe('{"owner":"a","late":true}');
    await b.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"owner":"b"}' }], remove: [], epochs: new Map([['ann', 7]]) });
    expect((await a.loadSessionSnapshots()).map((s) => s.json)).toEqual(['{"owner":"b"}']);
    await Promise.all([a.close(), b.close()]);
  });

  it('counts a restart once when two nodes record registrations of one package at once', async () => {
    const url = await postgres.createDatabase('registrations');
    const [a, b] = await Promise.all([createPgStore(url), createPgStore(url)]);
    await a.createApp(app);
    await a.recordRegistration({ packageName: app.packageName, serverUrl: 'http://127.0.0.1:2', version: '1', bootId: 'boot-0', at: 1 });
    const both = await Promise.all([
      a.recordRegistration({ packageName: app.packageName, serverUrl: 'http://127.0.0.1:2', version: '1', bootId: 'boot-1', at: 2 }),
      b.recordRegistration({ packageName: app.packageName, serverUrl: 'http://127.0.0.1:2', version: '1', bootId: 'boot-1', at: 2 }),
    ]);
    // One boot, one row: the second node sees it as a refresh of the boot the first recorded.
    expect(both.map((r) => r.restarted).sort()).toEqual([false, true]);
    expect(both[0].registrationId).toBe(both[1].registrationId);
    expect(await b.listRegistrations(app.packageName)).toHaveLength(2);
    await Promise.all([a.close(), b.close()]);
  });

  it('goes on after its connection is cut: the call in flight fails, the next opens a new connection', async () => {
    const url = await postgres.createDatabase('reconnect');
    const store: Store = await createPgStore(url);
    await store.createApp(app);
    await queryRows(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tether' AND pid <> pg_backend_pid()");
    // The pool notices the cut when it next uses the connection, or before; either way the store answers again.
    let answered = false;
    for (let attempt = 0; attempt < 3 && !answered; attempt++) {
      answered = await store.getApp(app.packageName).then(
        (found) => found?.name === 'Captions',
        () => false,
      );
    }
    expect(answered).toBe(true);
    await store.close();
    expect(await rejectionCodeOf(store.getApp(app.packageName))).toBe('INTERNAL_ERROR');
  });

  it('refuses a database it cannot reach with INVALID_CONFIG, naming the URL without its password', async () => {
    const error = await createPgStore('postgres://tether:secret@127.0.0.1:1/nowhere').catch((e: unknown) => e as Error & { code?: string });
    expect(error).toMatchObject({ code: 'INVALID_CONFIG' });
    expect((error as Error).message).toContain('tether:***@127.0.0.1:1');
    expect((error as Error).message).not.toContain('secret');
  });
});
