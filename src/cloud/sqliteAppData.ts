/**
 * The part of the SQLite store that holds what apps keep through the cloud's HTTP endpoints for
 * apps (issue 12 §1): app definitions (settings definitions, permissions), app users, each
 * user's setting values and simple storage. Kept apart from `sqliteStore.ts`, which delegates
 * to it, so each file stays about one kind of record.
 */
import type Database from 'better-sqlite3';
import type { AppDefinitionRecord, SimpleStoragePut } from './store.js';
import { entryBytes, type DefinitionRow } from './storeRows.js';

/**
 * Tables of this part; created when missing (additive: an older file gains them without a
 * version bump). Every row belongs to an app and goes with it (`ON DELETE CASCADE`).
 */
export const APP_DATA_SCHEMA = `
  CREATE TABLE IF NOT EXISTS app_definitions (
    package_name TEXT PRIMARY KEY REFERENCES apps (package_name) ON DELETE CASCADE,
    settings     TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
  );

  -- Users the cloud ran an app for: whose simple storage that app may touch.
  CREATE TABLE IF NOT EXISTS app_users (
    package_name  TEXT NOT NULL REFERENCES apps (package_name) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (package_name, user_id)
  );

  CREATE TABLE IF NOT EXISTS user_app_settings (
    user_id      TEXT NOT NULL,
    package_name TEXT NOT NULL REFERENCES apps (package_name) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (user_id, package_name, key)
  );

  -- bytes = UTF-8 length of key + value, kept per row so the quota check is one indexed sum.
  CREATE TABLE IF NOT EXISTS simple_storage (
    package_name TEXT NOT NULL REFERENCES apps (package_name) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    PRIMARY KEY (package_name, user_id, key)
  );
`;



/** Prepared statements and transactions over {@link APP_DATA_SCHEMA}; the store checks it is open. */
export class SqliteAppData {
  private readonly upsertDefinition;
  private readonly selectDefinition;
  private readonly insertAppUser;
  private readonly selectAppUser;
  private readonly selectSettings;
  private readonly upsertSetting;
  private readonly appExists;
  private readonly selectStorage;
  private readonly selectEntryBytes;
  private readonly sumStorageBytes;
  private readonly upsertStorage;
  private readonly removeStorageKey;
  private readonly removeStorage;
  private readonly writeStorage: (packageName: string, userId: string, items: Readonly<Record<string, string>>, maxBytes: number) => SimpleStoragePut;

  constructor(db: Database.Database) {
    this.appExists = db.prepare<[string], number>('SELECT count(*) FROM apps WHERE package_name = ?').pluck();
    this.upsertDefinition = db.prepare<[DefinitionRow]>(
      `INSERT INTO app_definitions (package_name, settings, permissions, updated_at)
       VALUES (@package_name, @settings, @permissions, @updated_at)
       ON CONFLICT (package_name) DO UPDATE SET settings = excluded.settings,
         permissions = excluded.permissions, updated_at = excluded.updated_at`,
    );
    this.selectDefinition = db.prepare<[string], DefinitionRow>('SELECT * FROM app_definitions WHERE package_name = ?');
    this.insertAppUser = db.prepare<[string, string, number]>(
      'INSERT INTO app_users (package_name, user_id, first_seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.selectAppUser = db.prepare<[string, string], number>('SELECT count(*) FROM app_users WHERE package_name = ? AND user_id = ?').pluck();
    this.selectSettings = db.prepare<[string, string], { key: string; value: string }>(
      'SELECT key, value FROM user_app_settings WHERE user_id = ? AND package_name = ?',
    );
    this.upsertSetting = db.prepare<[string, string, string, string]>(
      `INSERT INTO user_app_settings (user_id, package_name, key, value) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, package_name, key) DO UPDATE SET value = excluded.value`,
    );
    this.selectStorage = db.prepare<[string, string], { key: string; value: string }>(
      'SELECT key, value FROM simple_storage WHERE package_name = ? AND user_id = ? ORDER BY key',
    );
    this.selectEntryBytes = db
      .prepare<[string, string, string], number>('SELECT bytes FROM simple_storage WHERE package_name = ? AND user_id = ? AND key = ?')
      .pluck();
    this.sumStorageBytes = db
      .prepare<[string, string], number>('SELECT coalesce(sum(bytes), 0) FROM simple_storage WHERE package_name = ? AND user_id = ?')
      .pluck();
    this.upsertStorage = db.prepare<[string, string, string, string, number]>(
      `INSERT INTO simple_storage (package_name, user_id, key, value, bytes) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (package_name, user_id, key) DO UPDATE SET value = excluded.value, bytes = excluded.bytes`,
    );
    this.removeStorageKey = db.prepare<[string, string, string]>('DELETE FROM simple_storage WHERE package_name = ? AND user_id = ? AND key = ?');
    this.removeStorage = db.prepare<[string, string]>('DELETE FROM simple_storage WHERE package_name = ? AND user_id = ?');

    // Check and write in one transaction: two flushes of one namespace cannot both pass the quota.
    this.writeStorage = db.transaction((packageName: string, userId: string, items: Readonly<Record<string, string>>, maxBytes: number) => {
      const before = this.sumStorageBytes.get(packageName, userId)!;
      if (this.appExists.get(packageName) === 0) return { written: false, bytes: before };
      let after = before;
      for (const [key, value] of Object.entries(items)) {
        after += entryBytes(key, value) - (this.selectEntryBytes.get(packageName, userId, key) ?? 0);
      }
      if (after > maxBytes) return { written: false, bytes: before };
      for (const [key, value] of Object.entries(items)) this.upsertStorage.run(packageName, userId, key, value, entryBytes(key, value));
      return { written: true, bytes: after };
    });
  }

  setAppDefinition(packageName: string, definition: { settingsJson: string; permissionsJson: string; updatedAt?: number }): boolean {
    if (this.appExists.get(packageName) === 0) return false;
    this.upsertDefinition.run({
      package_name: packageName,
      settings: definition.settingsJson,
      permissions: definition.permissionsJson,
      updated_at: definition.updatedAt ?? Date.now(),
    });
    return true;
  }

  getAppDefinition(packageName: string): AppDefinitionRecord | undefined {
    const row = this.selectDefinition.get(packageName);
    return row ? { packageName: row.package_name, settingsJson: row.settings, permissionsJson: row.permissions, updatedAt: row.updated_at } : undefined;
  }

  recordAppUser(packageName: string, userId: string, at: number = Date.now()): boolean {
    if (this.appExists.get(packageName) === 0) return false;
    this.insertAppUser.run(packageName, userId, at);
    return true;
  }

  isAppUser(packageName: string, userId: string): boolean {
    return this.selectAppUser.get(packageName, userId)! > 0;
  }

  getUserSettingValues(userId: string, packageName: string): Record<string, string> {
    return Object.fromEntries(this.selectSettings.all(userId, packageName).map((row) => [row.key, row.value]));
  }

  setUserSettingValue(userId: string, packageName: string, key: string, valueJson: string): boolean {
    if (this.appExists.get(packageName) === 0) return false;
    this.upsertSetting.run(userId, packageName, key, valueJson);
    return true;
  }

  getSimpleStorage(packageName: string, userId: string): Record<string, string> {
    return Object.fromEntries(this.selectStorage.all(packageName, userId).map((row) => [row.key, row.value]));
  }

  putSimpleStorage(packageName: string, userId: string, items: Readonly<Record<string, string>>, maxBytes: number): SimpleStoragePut {
    return this.writeStorage(packageName, userId, items, maxBytes);
  }

  deleteSimpleStorageKey(packageName: string, userId: string, key: string): boolean {
    return this.removeStorageKey.run(packageName, userId, key).changes > 0;
  }

  clearSimpleStorage(packageName: string, userId: string): number {
    return this.removeStorage.run(packageName, userId).changes;
  }
}
