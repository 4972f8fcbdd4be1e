/**
 * The part of the PostgreSQL store that holds what apps keep through the cloud's HTTP endpoints
 * for apps (issue 12 §1), as `sqliteAppData.ts` does for SQLite: app definitions, app users,
 * setting values and simple storage. The store queues each call and hands it the query runner.
 */
import type { AppDefinitionRecord, SimpleStoragePut } from '../store.js';
import { entryBytes, type DefinitionRow } from '../storeRows.js';
import type { Query } from './schema.js';



/** Queries over the app-data tables (`schema.ts`). */
export class PgAppData {
  async setAppDefinition(q: Query, packageName: string, definition: { settingsJson: string; permissionsJson: string; updatedAt?: number }): Promise<boolean> {
    // Inserted only for an app that exists: the SELECT yields no row otherwise.
    const result = await q(
      `INSERT INTO app_definitions (package_name, settings, permissions, updated_at)
       SELECT package_name, $2, $3, $4 FROM apps WHERE package_name = $1
       ON CONFLICT (package_name) DO UPDATE SET settings = excluded.settings, permissions = excluded.permissions, updated_at = excluded.updated_at`,
      [packageName, definition.settingsJson, definition.permissionsJson, definition.updatedAt ?? Date.now()],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async getAppDefinition(q: Query, packageName: string): Promise<AppDefinitionRecord | undefined> {
    const { rows } = await q<DefinitionRow>('SELECT * FROM app_definitions WHERE package_name = $1', [packageName]);
    const row = rows[0];
    return row ? { packageName: row.package_name, settingsJson: row.settings, permissionsJson: row.permissions, updatedAt: row.updated_at } : undefined;
  }

  async recordAppUser(q: Query, packageName: string, userId: string, at: number = Date.now()): Promise<boolean> {
    if (!(await this.appExists(q, packageName))) return false;
    await q('INSERT INTO app_users (package_name, user_id, first_seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [packageName, userId, at]);
    return true;
  }

  async isAppUser(q: Query, packageName: string, userId: string): Promise<boolean> {
    const { rowCount } = await q('SELECT 1 FROM app_users WHERE package_name = $1 AND user_id = $2', [packageName, userId]);
    return (rowCount ?? 0) > 0;
  }

  async getUserSettingValues(q: Query, userId: string, packageName: string): Promise<Record<string, string>> {
    const { rows } = await q<{ key: string; value: string }>('SELECT key, value FROM user_app_settings WHERE user_id = $1 AND package_name = $2', [
      userId,
      packageName,
    ]);
    return Object.fromEntries(rows.map((row) => [row.key, row.value]));
  }

  async setUserSettingValue(q: Query, userId: string, packageName: string, key: string, valueJson: string): Promise<boolean> {
    const result = await q(
      `INSERT INTO user_app_settings (user_id, package_name, key, value)
       SELECT $1, package_name, $3, $4 FROM apps WHERE package_name = $2
       ON CONFLICT (user_id, package_name, key) DO UPDATE SET value = excluded.value`,
      [userId, packageName, key, valueJson],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async getSimpleStorage(q: Query, packageName: string, userId: string): Promise<Record<string, string>> {
    const { rows } = await q<{ key: string; value: string }>(
      'SELECT key, value FROM simple_storage WHERE package_name = $1 AND user_id = $2 ORDER BY key',
      [packageName, userId],
    );
    return Object.fromEntries(rows.map((row) => [row.key, row.value]));
  }

  /** Call inside a transaction: the quota check and the write must see the same rows. */
  async putSimpleStorage(q: Query, packageName: string, userId: string, items: Readonly<Record<string, string>>, maxBytes: number): Promise<SimpleStoragePut> {
    // Locks the app's row: two nodes flushing one namespace cannot both pass the quota.
    const app = await q('SELECT 1 FROM apps WHERE package_name = $1 FOR UPDATE', [packageName]);
    const entries = await q<{ key: string; bytes: number }>('SELECT key, bytes FROM simple_storage WHERE package_name = $1 AND user_id = $2', [
      packageName,
      userId,
    ]);
    const sizes = new Map(entries.rows.map((row) => [row.key, row.bytes]));
    const before = [...sizes.values()].reduce((sum, bytes) => sum + bytes, 0);
    if (app.rowCount === 0) return { written: false, bytes: before };
    let after = before;
    for (const [key, value] of Object.entries(items)) after += entryBytes(key, value) - (sizes.get(key) ?? 0);
    if (after > maxBytes) return { written: false, bytes: before };
    const keys = Object.keys(items);
    if (keys.length > 0) {
      await q(
        `INSERT INTO simple_storage (package_name, user_id, key, value, bytes)
         SELECT $1, $2, k, v, b FROM unnest($3::text[], $4::text[], $5::int[]) AS t(k, v, b)
         ON CONFLICT (package_name, user_id, key) DO UPDATE SET value = excluded.value, bytes = excluded.bytes`,
        [packageName, userId, keys, keys.map((key) => items[key]!), keys.map((key) => entryBytes(key, items[key]!))],
      );
    }
    return { written: true, bytes: after };
  }

  async deleteSimpleStorageKey(q: Query, packageName: string, userId: string, key: string): Promise<boolean> {
    const result = await q('DELETE FROM simple_storage WHERE package_name = $1 AND user_id = $2 AND key = $3', [packageName, userId, key]);
    return (result.rowCount ?? 0) > 0;
  }

  async clearSimpleStorage(q: Query, packageName: string, userId: string): Promise<number> {
    return (await q('DELETE FROM simple_storage WHERE package_name = $1 AND user_id = $2', [packageName, userId])).rowCount ?? 0;
  }

  private async appExists(q: Query, packageName: string): Promise<boolean> {
    const { rowCount } = await q('SELECT 1 FROM apps WHERE package_name = $1', [packageName]);
    return (rowCount ?? 0) > 0;
  }
}
