import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPostgres, type LocalPostgres } from '../../scripts/localServers/postgres.js';
import { createPgStore } from '../../src/cloud/pg/pgStore.js';
import { MAX_REGISTRATIONS_PER_PACKAGE, SCHEMA_VERSION } from '../../src/cloud/sqliteStore.js';
import { createSqliteStore, type NewApp, type Store } from '../../src/cloud/store.js';
import { codeOf, rejectionCodeOf } from '../support/errors.js';

const captions: NewApp = {
  packageName: 'com.example.captions',
  name: 'Captions',
  webhookUrl: 'http://127.0.0.1:7010/webhook',
  apiKeyHash: 'sha256:aa',
  createdAt: 1_000,
};

const notify: NewApp = {
  packageName: 'com.example.notify',
  name: 'Notify',
  webhookUrl: 'http://127.0.0.1:7011/webhook',
  apiKeyHash: 'sha256:bb',
  createdAt: 2_000,
};

function registration(bootId: string, at: number, packageName = captions.packageName) {
  return { packageName, serverUrl: 'http://127.0.0.1:7010', version: '1.0.0', bootId, at };
}

/** Empties every table of the PostgreSQL store's schema: each test starts from an empty store. */
async function truncateAll(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'tether_migrations'");
    await client.query(`TRUNCATE ${rows.map((row) => `"${row.tablename}"`).join(', ')} RESTART IDENTITY CASCADE`);
  } finally {
    await client.end();
  }
}

// The same contract, the same tests, on both stores (issue 14): SQLite in memory, and PostgreSQL
// on a throwaway server of this file's own (its tables emptied before each test).
let postgres: LocalPostgres | undefined;
beforeAll(async () => {
  postgres = await startPostgres();
}, 30_000);
afterAll(() => postgres?.stop());

const backends: Array<{ name: string; open: () => Promise<Store> }> = [
  { name: 'sqlite (:memory:)', open: async () => createSqliteStore(':memory:') },
  {
    name: 'postgresql',
    open: async () => {
      const store = await createPgStore(postgres!.url);
      await truncateAll(postgres!.url);
      return store;
    },
  },
];

describe.each(backends)('$name store', ({ open }) => {
  let store: Store;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(() => store.close());

  describe('apps', () => {
    it('creates, reads and lists apps ordered by package name', async () => {
      expect(await store.createApp(notify)).toEqual(notify);
      await store.createApp(captions);
      expect(await store.getApp(captions.packageName)).toEqual(captions);
      expect((await store.listApps()).map((app) => app.packageName)).toEqual([captions.packageName, notify.packageName]);
    });

    it('returns undefined for an unknown app', async () => {
      expect(await store.getApp('com.example.nope')).toBeUndefined();
    });

    it('defaults createdAt to now', async () => {
      const before = Date.now();
      const { createdAt: _ignored, ...withoutTime } = captions;
      const app = await store.createApp(withoutTime);
      expect(app.createdAt).toBeGreaterThanOrEqual(before);
      expect(app.createdAt).toBeLessThanOrEqual(Date.now());
    });

    it('refuses a duplicate package name with ALREADY_EXISTS and keeps the first app', async () => {
      await store.createApp(captions);
      expect(await rejectionCodeOf(store.createApp({ ...captions, name: 'Other' }))).toBe('ALREADY_EXISTS');
      expect((await store.getApp(captions.packageName))?.name).toBe('Captions');
    });

    it('deletes an app and reports whether it existed', async () => {
      await store.createApp(captions);
      expect(await store.deleteApp(captions.packageName)).toBe(true);
      expect(await store.getApp(captions.packageName)).toBeUndefined();
      expect(await store.deleteApp(captions.packageName)).toBe(false);
    });

    it('replaces the API-key hash of an existing app only', async () => {
      await store.createApp(captions);
      expect(await store.setApiKeyHash(captions.packageName, 'sha256:cc')).toBe(true);
      expect((await store.getApp(captions.packageName))?.apiKeyHash).toBe('sha256:cc');
      expect(await store.setApiKeyHash('com.example.nope', 'sha256:dd')).toBe(false);
    });
  });

  describe('running apps', () => {
    it('returns [] for a user with none', async () => {
      expect(await store.getRunningApps('alice')).toEqual([]);
    });

    it('keeps the order, drops duplicates and replaces the whole set', async () => {
      await store.setRunningApps('alice', ['b', 'a', 'b', 'c']);
      expect(await store.getRunningApps('alice')).toEqual(['b', 'a', 'c']);
      await store.setRunningApps('alice', ['c']);
      expect(await store.getRunningApps('alice')).toEqual(['c']);
      await store.setRunningApps('alice', []);
      expect(await store.getRunningApps('alice')).toEqual([]);
    });

    it('keeps users apart', async () => {
      await store.setRunningApps('alice', ['a']);
      await store.setRunningApps('bob', ['b']);
      expect(await store.getRunningApps('alice')).toEqual(['a']);
      expect(await store.getRunningApps('bob')).toEqual(['b']);
    });
  });

  describe('registrations', () => {
    beforeEach(async () => {
      await store.createApp(captions);
    });

    it('treats the first registration of a package as no restart', async () => {
      const result = await store.recordRegistration(registration('boot-1', 10));
      expect(result.restarted).toBe(false);
      expect(typeof result.registrationId).toBe('string');
    });

    it('treats a refresh with the same boot id as no restart and keeps its id', async () => {
      const first = await store.recordRegistration(registration('boot-1', 10));
      const refresh = await store.recordRegistration({ ...registration('boot-1', 20), version: '1.0.1' });
      expect(refresh).toEqual({ registrationId: first.registrationId, restarted: false });
      expect(await store.listRegistrations(captions.packageName)).toEqual([
        {
          registrationId: first.registrationId,
          packageName: captions.packageName,
          serverUrl: 'http://127.0.0.1:7010',
          version: '1.0.1',
          bootId: 'boot-1',
          registeredAt: 10,
          lastSeenAt: 20,
        },
      ]);
    });

    it('reports a new boot id as a restart and keeps the history newest first', async () => {
      const first = await store.recordRegistration(registration('boot-1', 10));
      const second = await store.recordRegistration(registration('boot-2', 30));
      expect(second.restarted).toBe(true);
      expect(second.registrationId).not.toBe(first.registrationId);
      expect((await store.listRegistrations(captions.packageName)).map((r) => r.bootId)).toEqual(['boot-2', 'boot-1']);
    });

    it('does not count an older boot refreshing again as a restart', async () => {
      await store.recordRegistration(registration('boot-1', 10));
      await store.recordRegistration(registration('boot-2', 30));
      expect((await store.recordRegistration(registration('boot-1', 40))).restarted).toBe(false);
    });

    it('keeps a late refresh from moving lastSeenAt backwards', async () => {
      await store.recordRegistration(registration('boot-1', 50));
      await store.recordRegistration(registration('boot-1', 40));
      expect((await store.listRegistrations(captions.packageName))[0]?.lastSeenAt).toBe(50);
    });

    it('refuses a registration of an unknown package with UNKNOWN_PACKAGE', async () => {
      expect(await rejectionCodeOf(store.recordRegistration(registration('boot-1', 10, 'com.example.nope')))).toBe('UNKNOWN_PACKAGE');
    });

    it('bounds the history per package', async () => {
      for (let i = 0; i < MAX_REGISTRATIONS_PER_PACKAGE + 5; i++) await store.recordRegistration(registration(`boot-${i}`, i));
      const history = await store.listRegistrations(captions.packageName);
      expect(history).toHaveLength(MAX_REGISTRATIONS_PER_PACKAGE);
      expect(history[0]?.bootId).toBe(`boot-${MAX_REGISTRATIONS_PER_PACKAGE + 4}`);
    });

    it('drops the history with the app', async () => {
      await store.recordRegistration(registration('boot-1', 10));
      await store.deleteApp(captions.packageName);
      expect(await store.listRegistrations(captions.packageName)).toEqual([]);
      await store.createApp(captions);
      expect((await store.recordRegistration(registration('boot-2', 20))).restarted).toBe(false);
    });
  });

  describe('session snapshots', () => {
    it('saves, replaces, loads and deletes snapshots', async () => {
      await store.saveSessionSnapshot('bob', '{"v":1}', 5);
      await store.saveSessionSnapshot('alice', '{"v":1}', 6);
      await store.saveSessionSnapshot('bob', '{"v":2}', 7);
      expect(await store.loadSessionSnapshots()).toEqual([
        { userId: 'alice', json: '{"v":1}', savedAt: 6 },
        { userId: 'bob', json: '{"v":2}', savedAt: 7 },
      ]);
      expect(await store.deleteSessionSnapshot('bob')).toBe(true);
      expect(await store.deleteSessionSnapshot('bob')).toBe(false);
      expect((await store.loadSessionSnapshots()).map((s) => s.userId)).toEqual(['alice']);
    });

    it('applies a batch of saves and removals in one transaction, all or nothing', async () => {
      await store.saveSessionSnapshot('carol', '{"v":0}', 1);
      await store.writeSessionSnapshots({ save: [{ userId: 'alice', json: '{"v":1}' }, { userId: 'bob', json: '{"v":1}' }], remove: ['carol'], savedAt: 9 });
      expect(await store.loadSessionSnapshots()).toEqual([
        { userId: 'alice', json: '{"v":1}', savedAt: 9 },
        { userId: 'bob', json: '{"v":1}', savedAt: 9 },
      ]);
      // A save that fails (a NOT NULL column) rolls back the saves before it in the batch.
      const bad = { userId: 'dave', json: null as unknown as string };
      await expect(store.writeSessionSnapshots({ save: [{ userId: 'alice', json: '{"v":2}' }, bad], remove: ['bob'] })).rejects.toThrow();
      expect((await store.loadSessionSnapshots()).map((s) => s.json)).toEqual(['{"v":1}', '{"v":1}']);
    });

    it('clears every snapshot', async () => {
      await store.saveSessionSnapshot('alice', '{}', 1);
      await store.saveSessionSnapshot('bob', '{}', 1);
      expect(await store.clearSessionSnapshots()).toBe(2);
      expect(await store.loadSessionSnapshots()).toEqual([]);
    });
  });

  describe('session epochs (many nodes)', () => {
    it('writes a user under an epoch only while no newer one is recorded, and says whom it refused', async () => {
      const at = (epoch: number) => new Map([['ann', epoch]]);
      expect(await store.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"v":1}' }], remove: [], epochs: at(5) })).toEqual({ refused: [] });
      // The same epoch again (the owner's next tick) and a newer one (a new owner) are written.
      expect(await store.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"v":2}' }], remove: [], epochs: at(5) })).toEqual({ refused: [] });
      expect(await store.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"v":3}' }], remove: [], epochs: at(9) })).toEqual({ refused: [] });
      // The old owner, late: neither its save nor its removal lands.
      expect(await store.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"v":0}' }], remove: [], epochs: at(5) })).toEqual({ refused: ['ann'] });
      expect(await store.writeSessionSnapshots({ save: [], remove: ['ann'], epochs: at(5) })).toEqual({ refused: ['ann'] });
      expect((await store.loadSessionSnapshots()).map((s) => s.json)).toEqual(['{"v":3}']);
      // A batch mixes users: only the stale one is refused; a user without an epoch is written as on one node.
      const mixed = await store.writeSessionSnapshots({
        save: [
          { userId: 'ann', json: '{"v":0}' },
          { userId: 'ben', json: '{"b":1}' },
          { userId: 'cat', json: '{"c":1}' },
        ],
        remove: [],
        epochs: new Map([
          ['ann', 8],
          ['ben', 2],
        ]),
      });
      expect(mixed.refused).toEqual(['ann']);
      expect((await store.loadSessionSnapshots()).map((s) => s.json)).toEqual(['{"v":3}', '{"b":1}', '{"c":1}']);
    });

    it('claims a session under a newer epoch with the snapshot the previous owner left, and refuses an older claim', async () => {
      await store.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{"v":1}' }], remove: [], epochs: new Map([['ann', 3]]), savedAt: 7 });
      expect(await store.claimSession('ann', 10)).toEqual({ accepted: true, snapshot: { userId: 'ann', json: '{"v":1}', savedAt: 7 } });
      // The previous owner can no longer write, not even a removal; a claim older than the recorded epoch is refused.
      expect((await store.writeSessionSnapshots({ save: [], remove: ['ann'], epochs: new Map([['ann', 3]]) })).refused).toEqual(['ann']);
      expect(await store.claimSession('ann', 4)).toEqual({ accepted: false, epoch: 10 });
      expect(await store.claimSession('new', 1)).toEqual({ accepted: true, snapshot: undefined });
    });

    it('keeps the epoch when the snapshot goes: a late write of an older epoch stays refused', async () => {
      await store.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{}' }], remove: [], epochs: new Map([['ann', 6]]) });
      await store.writeSessionSnapshots({ save: [], remove: ['ann'], epochs: new Map([['ann', 6]]) });
      expect((await store.writeSessionSnapshots({ save: [{ userId: 'ann', json: '{}' }], remove: [], epochs: new Map([['ann', 5]]) })).refused).toEqual(['ann']);
      expect(await store.loadSessionSnapshots()).toEqual([]);
    });
  });

  describe('order of calls', () => {
    it('applies calls in the order they were made, awaited or not', async () => {
      await store.createApp(captions);
      const calls: Array<Promise<unknown>> = [];
      for (let i = 0; i < 50; i++) calls.push(store.setRunningApps('ann', [i % 2 === 0 ? 'com.example.even' : 'com.example.odd']));
      const read = store.getRunningApps('ann');
      calls.push(store.setWebhookUrl(captions.packageName, 'http://127.0.0.1:1/last'));
      const app = store.getApp(captions.packageName);
      await Promise.all(calls);
      expect(await read).toEqual(['com.example.odd']);
      expect((await app)?.webhookUrl).toBe('http://127.0.0.1:1/last');
    });
  });

  describe('app data (issue 12 §1)', () => {
    it('keeps simple storage per (app, user) and refuses a write past the quota as a whole', async () => {
      await store.createApp(captions);
      await store.createApp(notify);
      expect(await store.putSimpleStorage(captions.packageName, 'ann', { a: '12345', é: 'x' }, 20)).toEqual({ written: true, bytes: 9 });
      expect(await store.getSimpleStorage(notify.packageName, 'ann')).toEqual({});
      expect(await store.getSimpleStorage(captions.packageName, 'bob')).toEqual({});
      // Replacing a key counts its new size only; the second entry would pass the quota: neither is written.
      expect(await store.putSimpleStorage(captions.packageName, 'ann', { a: '1', b: 'x'.repeat(20) }, 20)).toEqual({ written: false, bytes: 9 });
      expect(await store.getSimpleStorage(captions.packageName, 'ann')).toEqual({ a: '12345', é: 'x' });
      expect(await store.putSimpleStorage(captions.packageName, 'ann', { a: '1' }, 20)).toEqual({ written: true, bytes: 5 });
      expect(await store.deleteSimpleStorageKey(captions.packageName, 'ann', 'a')).toBe(true);
      expect(await store.deleteSimpleStorageKey(captions.packageName, 'ann', 'a')).toBe(false);
      expect(await store.clearSimpleStorage(captions.packageName, 'ann')).toBe(1);
      expect((await store.putSimpleStorage('com.example.nope', 'ann', { a: '1' }, 20)).written).toBe(false);
    });

    it('drops an app’s definition, users, setting values and storage with the app', async () => {
      await store.createApp(captions);
      expect(await store.setAppDefinition(captions.packageName, { settingsJson: '[]', permissionsJson: '[]', updatedAt: 5 })).toBe(true);
      expect(await store.recordAppUser(captions.packageName, 'ann')).toBe(true);
      expect(await store.recordAppUser(captions.packageName, 'ann')).toBe(true);
      expect(await store.setUserSettingValue('ann', captions.packageName, 'lang', '"fr"')).toBe(true);
      await store.putSimpleStorage(captions.packageName, 'ann', { k: 'v' }, 100);
      expect(await store.getAppDefinition(captions.packageName)).toEqual({ packageName: captions.packageName, settingsJson: '[]', permissionsJson: '[]', updatedAt: 5 });
      expect([await store.isAppUser(captions.packageName, 'ann'), await store.isAppUser(captions.packageName, 'bob')]).toEqual([true, false]);
      expect(await store.getUserSettingValues('ann', captions.packageName)).toEqual({ lang: '"fr"' });
      await store.deleteApp(captions.packageName);
      await store.createApp(captions);
      expect(await store.getAppDefinition(captions.packageName)).toBeUndefined();
      expect(await store.isAppUser(captions.packageName, 'ann')).toBe(false);
      expect(await store.getUserSettingValues('ann', captions.packageName)).toEqual({});
      expect(await store.getSimpleStorage(captions.packageName, 'ann')).toEqual({});
      expect(await store.setAppDefinition('com.example.nope', { settingsJson: '[]', permissionsJson: '[]' })).toBe(false);
      expect(await store.setUserSettingValue('ann', 'com.example.nope', 'lang', '1')).toBe(false);
      expect(await store.recordAppUser('com.example.nope', 'ann')).toBe(false);
    });
  });

  describe('close', () => {
    it('is idempotent and makes later calls fail with INTERNAL_ERROR', async () => {
      await store.close();
      await store.close();
      expect(await rejectionCodeOf(store.listApps())).toBe('INTERNAL_ERROR');
    });
  });
});

describe('sqlite store (file)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the parent directory, uses WAL and keeps data across reopen', async () => {
    const path = join(dir, 'nested', 'deeper', 'tether.db');
    const first = createSqliteStore(path);
    await first.createApp(captions);
    await first.setRunningApps('alice', [captions.packageName]);
    await first.recordRegistration(registration('boot-1', 10));
    await first.saveSessionSnapshot('alice', '{}', 1);
    await first.close();

    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();

    const second = createSqliteStore(path);
    expect(await second.getApp(captions.packageName)).toEqual(captions);
    expect(await second.getRunningApps('alice')).toEqual([captions.packageName]);
    expect((await second.recordRegistration(registration('boot-2', 20))).restarted).toBe(true);
    expect(await second.loadSessionSnapshots()).toHaveLength(1);
    await second.close();
  });

  it('refuses a database with another schema version with INVALID_CONFIG', async () => {
    const path = join(dir, 'tether.db');
    await createSqliteStore(path).close();
    const raw = new Database(path);
    raw.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    raw.close();
    expect(codeOf(() => createSqliteStore(path))).toBe('INVALID_CONFIG');
  });

  it("refuses another program's database with INVALID_CONFIG and leaves it untouched", () => {
    const path = join(dir, 'other.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE things (id INTEGER)');
    raw.close();
    expect(codeOf(() => createSqliteStore(path))).toBe('INVALID_CONFIG');
    const check = new Database(path, { readonly: true });
    const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    const journal = check.pragma('journal_mode', { simple: true });
    check.close();
    expect(tables).toEqual(['things']);
    expect(journal).toBe('delete');
  });

  it('reports a path that cannot be opened as INVALID_CONFIG', () => {
    const blocker = join(dir, 'file');
    writeFileSync(blocker, 'not a directory');
    expect(codeOf(() => createSqliteStore(join(blocker, 'tether.db')))).toBe('INVALID_CONFIG');
  });
});
