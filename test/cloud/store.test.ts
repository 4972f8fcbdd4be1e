import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_REGISTRATIONS_PER_PACKAGE, SCHEMA_VERSION } from '../../src/cloud/sqliteStore.js';
import { createSqliteStore, type NewApp, type Store } from '../../src/cloud/store.js';
import { codeOf } from '../support/errors.js';

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

describe('sqlite store (:memory:)', () => {
  let store: Store;
  beforeEach(() => {
    store = createSqliteStore(':memory:');
  });
  afterEach(() => store.close());

  describe('apps', () => {
    it('creates, reads and lists apps ordered by package name', () => {
      expect(store.createApp(notify)).toEqual(notify);
      store.createApp(captions);
      expect(store.getApp(captions.packageName)).toEqual(captions);
      expect(store.listApps().map((app) => app.packageName)).toEqual([captions.packageName, notify.packageName]);
    });

    it('returns undefined for an unknown app', () => {
      expect(store.getApp('com.example.nope')).toBeUndefined();
    });

    it('defaults createdAt to now', () => {
      const before = Date.now();
      const { createdAt: _ignored, ...withoutTime } = captions;
      const app = store.createApp(withoutTime);
      expect(app.createdAt).toBeGreaterThanOrEqual(before);
      expect(app.createdAt).toBeLessThanOrEqual(Date.now());
    });

    it('refuses a duplicate package name with ALREADY_EXISTS and keeps the first app', () => {
      store.createApp(captions);
      expect(codeOf(() => store.createApp({ ...captions, name: 'Other' }))).toBe('ALREADY_EXISTS');
      expect(store.getApp(captions.packageName)?.name).toBe('Captions');
    });

    it('deletes an app and reports whether it existed', () => {
      store.createApp(captions);
      expect(store.deleteApp(captions.packageName)).toBe(true);
      expect(store.getApp(captions.packageName)).toBeUndefined();
      expect(store.deleteApp(captions.packageName)).toBe(false);
    });

    it('replaces the API-key hash of an existing app only', () => {
      store.createApp(captions);
      expect(store.setApiKeyHash(captions.packageName, 'sha256:cc')).toBe(true);
      expect(store.getApp(captions.packageName)?.apiKeyHash).toBe('sha256:cc');
      expect(store.setApiKeyHash('com.example.nope', 'sha256:dd')).toBe(false);
    });
  });

  describe('running apps', () => {
    it('returns [] for a user with none', () => {
      expect(store.getRunningApps('alice')).toEqual([]);
    });

    it('keeps the order, drops duplicates and replaces the whole set', () => {
      store.setRunningApps('alice', ['b', 'a', 'b', 'c']);
      expect(store.getRunningApps('alice')).toEqual(['b', 'a', 'c']);
      store.setRunningApps('alice', ['c']);
      expect(store.getRunningApps('alice')).toEqual(['c']);
      store.setRunningApps('alice', []);
      expect(store.getRunningApps('alice')).toEqual([]);
    });

    it('keeps users apart', () => {
      store.setRunningApps('alice', ['a']);
      store.setRunningApps('bob', ['b']);
      expect(store.getRunningApps('alice')).toEqual(['a']);
      expect(store.getRunningApps('bob')).toEqual(['b']);
    });
  });

  describe('registrations', () => {
    beforeEach(() => {
      store.createApp(captions);
    });

    it('treats the first registration of a package as no restart', () => {
      const result = store.recordRegistration(registration('boot-1', 10));
      expect(result.restarted).toBe(false);
      expect(typeof result.registrationId).toBe('string');
    });

    it('treats a refresh with the same boot id as no restart and keeps its id', () => {
      const first = store.recordRegistration(registration('boot-1', 10));
      const refresh = store.recordRegistration({ ...registration('boot-1', 20), version: '1.0.1' });
      expect(refresh).toEqual({ registrationId: first.registrationId, restarted: false });
      expect(store.listRegistrations(captions.packageName)).toEqual([
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

    it('reports a new boot id as a restart and keeps the history newest first', () => {
      const first = store.recordRegistration(registration('boot-1', 10));
      const second = store.recordRegistration(registration('boot-2', 30));
      expect(second.restarted).toBe(true);
      expect(second.registrationId).not.toBe(first.registrationId);
      expect(store.listRegistrations(captions.packageName).map((r) => r.bootId)).toEqual(['boot-2', 'boot-1']);
    });

    it('does not count an older boot refreshing again as a restart', () => {
      store.recordRegistration(registration('boot-1', 10));
      store.recordRegistration(registration('boot-2', 30));
      expect(store.recordRegistration(registration('boot-1', 40)).restarted).toBe(false);
    });

    it('keeps a late refresh from moving lastSeenAt backwards', () => {
      store.recordRegistration(registration('boot-1', 50));
      store.recordRegistration(registration('boot-1', 40));
      expect(store.listRegistrations(captions.packageName)[0]?.lastSeenAt).toBe(50);
    });

    it('refuses a registration of an unknown package with UNKNOWN_PACKAGE', () => {
      expect(codeOf(() => store.recordRegistration(registration('boot-1', 10, 'com.example.nope')))).toBe('UNKNOWN_PACKAGE');
    });

    it('bounds the history per package', () => {
      for (let i = 0; i < MAX_REGISTRATIONS_PER_PACKAGE + 5; i++) store.recordRegistration(registration(`boot-${i}`, i));
      const history = store.listRegistrations(captions.packageName);
      expect(history).toHaveLength(MAX_REGISTRATIONS_PER_PACKAGE);
      expect(history[0]?.bootId).toBe(`boot-${MAX_REGISTRATIONS_PER_PACKAGE + 4}`);
    });

    it('drops the history with the app', () => {
      store.recordRegistration(registration('boot-1', 10));
      store.deleteApp(captions.packageName);
      expect(store.listRegistrations(captions.packageName)).toEqual([]);
      store.createApp(captions);
      expect(store.recordRegistration(registration('boot-2', 20)).restarted).toBe(false);
    });
  });

  describe('session snapshots', () => {
    it('saves, replaces, loads and deletes snapshots', () => {
      store.saveSessionSnapshot('bob', '{"v":1}', 5);
      store.saveSessionSnapshot('alice', '{"v":1}', 6);
      store.saveSessionSnapshot('bob', '{"v":2}', 7);
      expect(store.loadSessionSnapshots()).toEqual([
        { userId: 'alice', json: '{"v":1}', savedAt: 6 },
        { userId: 'bob', json: '{"v":2}', savedAt: 7 },
      ]);
      expect(store.deleteSessionSnapshot('bob')).toBe(true);
      expect(store.deleteSessionSnapshot('bob')).toBe(false);
      expect(store.loadSessionSnapshots().map((s) => s.userId)).toEqual(['alice']);
    });

    it('applies a batch of saves and removals in one transaction, all or nothing', () => {
      store.saveSessionSnapshot('carol', '{"v":0}', 1);
      store.writeSessionSnapshots({ save: [{ userId: 'alice', json: '{"v":1}' }, { userId: 'bob', json: '{"v":1}' }], remove: ['carol'], savedAt: 9 });
      expect(store.loadSessionSnapshots()).toEqual([
        { userId: 'alice', json: '{"v":1}', savedAt: 9 },
        { userId: 'bob', json: '{"v":1}', savedAt: 9 },
      ]);
      // A save that fails (a NOT NULL column) rolls back the saves before it in the batch.
      const bad = { userId: 'dave', json: null as unknown as string };
      expect(() => store.writeSessionSnapshots({ save: [{ userId: 'alice', json: '{"v":2}' }, bad], remove: ['bob'] })).toThrow();
      expect(store.loadSessionSnapshots().map((s) => s.json)).toEqual(['{"v":1}', '{"v":1}']);
    });

    it('clears every snapshot', () => {
      store.saveSessionSnapshot('alice', '{}', 1);
      store.saveSessionSnapshot('bob', '{}', 1);
      expect(store.clearSessionSnapshots()).toBe(2);
      expect(store.loadSessionSnapshots()).toEqual([]);
    });
  });

  describe('app data (issue 12 §1)', () => {
    it('keeps simple storage per (app, user) and refuses a write past the quota as a whole', () => {
      store.createApp(captions);
      store.createApp(notify);
      expect(store.putSimpleStorage(captions.packageName, 'ann', { a: '12345', é: 'x' }, 20)).toEqual({ written: true, bytes: 9 });
      expect(store.getSimpleStorage(notify.packageName, 'ann')).toEqual({});
      expect(store.getSimpleStorage(captions.packageName, 'bob')).toEqual({});
      // Replacing a key counts its new size only; the second entry would pass the quota: neither is written.
      expect(store.putSimpleStorage(captions.packageName, 'ann', { a: '1', b: 'x'.repeat(20) }, 20)).toEqual({ written: false, bytes: 9 });
      expect(store.getSimpleStorage(captions.packageName, 'ann')).toEqual({ a: '12345', é: 'x' });
      expect(store.putSimpleStorage(captions.packageName, 'ann', { a: '1' }, 20)).toEqual({ written: true, bytes: 5 });
      expect(store.deleteSimpleStorageKey(captions.packageName, 'ann', 'a')).toBe(true);
      expect(store.deleteSimpleStorageKey(captions.packageName, 'ann', 'a')).toBe(false);
      expect(store.clearSimpleStorage(captions.packageName, 'ann')).toBe(1);
      expect(store.putSimpleStorage('com.example.nope', 'ann', { a: '1' }, 20).written).toBe(false);
    });

    it('drops an app’s definition, users, setting values and storage with the app', () => {
      store.createApp(captions);
      expect(store.setAppDefinition(captions.packageName, { settingsJson: '[]', permissionsJson: '[]', updatedAt: 5 })).toBe(true);
      expect(store.recordAppUser(captions.packageName, 'ann')).toBe(true);
      expect(store.recordAppUser(captions.packageName, 'ann')).toBe(true);
      expect(store.setUserSettingValue('ann', captions.packageName, 'lang', '"fr"')).toBe(true);
      store.putSimpleStorage(captions.packageName, 'ann', { k: 'v' }, 100);
      expect(store.getAppDefinition(captions.packageName)).toEqual({ packageName: captions.packageName, settingsJson: '[]', permissionsJson: '[]', updatedAt: 5 });
      expect([store.isAppUser(captions.packageName, 'ann'), store.isAppUser(captions.packageName, 'bob')]).toEqual([true, false]);
      expect(store.getUserSettingValues('ann', captions.packageName)).toEqual({ lang: '"fr"' });
      store.deleteApp(captions.packageName);
      store.createApp(captions);
      expect(store.getAppDefinition(captions.packageName)).toBeUndefined();
      expect(store.isAppUser(captions.packageName, 'ann')).toBe(false);
      expect(store.getUserSettingValues('ann', captions.packageName)).toEqual({});
      expect(store.getSimpleStorage(captions.packageName, 'ann')).toEqual({});
      expect(store.setAppDefinition('com.example.nope', { settingsJson: '[]', permissionsJson: '[]' })).toBe(false);
      expect(store.setUserSettingValue('ann', 'com.example.nope', 'lang', '1')).toBe(false);
      expect(store.recordAppUser('com.example.nope', 'ann')).toBe(false);
    });
  });

  describe('close', () => {
    it('is idempotent and makes later calls fail with INTERNAL_ERROR', () => {
      store.close();
      store.close();
      expect(codeOf(() => store.listApps())).toBe('INTERNAL_ERROR');
    });
  });
});

describe('sqlite store (file)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the parent directory, uses WAL and keeps data across reopen', () => {
    const path = join(dir, 'nested', 'deeper', 'tether.db');
    const first = createSqliteStore(path);
    first.createApp(captions);
    first.setRunningApps('alice', [captions.packageName]);
    first.recordRegistration(registration('boot-1', 10));
    first.saveSessionSnapshot('alice', '{}', 1);
    first.close();

    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();

    const second = createSqliteStore(path);
    expect(second.getApp(captions.packageName)).toEqual(captions);
    expect(second.getRunningApps('alice')).toEqual([captions.packageName]);
    expect(second.recordRegistration(registration('boot-2', 20)).restarted).toBe(true);
    expect(second.loadSessionSnapshots()).toHaveLength(1);
    second.close();
  });

  it('refuses a database with another schema version with INVALID_CONFIG', () => {
    const path = join(dir, 'tether.db');
    createSqliteStore(path).close();
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
