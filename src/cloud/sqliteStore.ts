/**
 * The embedded default {@link Store}: SQLite through better-sqlite3, one file (`TETHER_DB`,
 * `./data/tether.db` by default) or `:memory:` in tests.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { TetherError } from '../protocol/errors.js';
import { APP_DATA_SCHEMA, SqliteAppData } from './sqliteAppData.js';
import { toApp, type AppRow, type RegistrationRow, type ScreenRow, type SnapshotRow } from './storeRows.js';
import type {
  AppDefinitionRecord,
  AppRecord,
  NewApp,
  RegistrationInput,
  RegistrationRecord,
  RegistrationResult,
  ScreenKey,
  ScreenRecord,
  SessionClaim,
  SessionSnapshotChanges,
  SessionSnapshotRecord,
  SessionSnapshotWrite,
  SimpleStoragePut,
  Store,
} from './store.js';

/**
 * Version of the schema this code creates and reads. There are no migrations yet, so a file
 * with any other version is refused rather than read with wrong assumptions; bump it together
 * with a migration when the schema changes.
 */
export const SCHEMA_VERSION = 1;

/**
 * Boots kept per package in the registration history (count). A refresh does not add a row,
 * only a new process does, so this bounds the table even for an app that crash-loops.
 */
export const MAX_REGISTRATIONS_PER_PACKAGE = 50;

const SCHEMA = `
  CREATE TABLE schema_version (version INTEGER NOT NULL);

  CREATE TABLE apps (
    package_name TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    webhook_url  TEXT NOT NULL,
    api_key_hash TEXT NOT NULL,
    created_at   INTEGER NOT NULL
  );

  -- One row per (user, slot) rather than a JSON column: the order the user started apps in is
  -- kept, and each row stays queryable (which users run this app?) for recovery later.
  CREATE TABLE running_apps (
    user_id      TEXT NOT NULL,
    position     INTEGER NOT NULL,
    package_name TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
  );

  -- seq orders boots by arrival, independent of the clock of whoever passed \`at\`.
  CREATE TABLE app_registrations (
    seq             INTEGER PRIMARY KEY,
    registration_id TEXT NOT NULL UNIQUE,
    package_name    TEXT NOT NULL REFERENCES apps (package_name) ON DELETE CASCADE,
    boot_id         TEXT NOT NULL,
    server_url      TEXT NOT NULL,
    version         TEXT NOT NULL,
    registered_at   INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    UNIQUE (package_name, boot_id)
  );

  CREATE TABLE session_snapshots (
    user_id  TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL,
    saved_at INTEGER NOT NULL
  );
`;

/**
 * Tables added after schema version 1 went out. Each is created when missing, in a file of any
 * known version: adding an empty table changes nothing an older build reads, so it needs no
 * version bump and no migration.
 */
const ADDITIVE_SCHEMA = `
  -- The screens each app session last showed, per view (src/cloud/screenMemory.ts); user_id lets
  -- a restart drop those of users whose sessions did not come back.
  CREATE TABLE IF NOT EXISTS screens (
    session_id TEXT NOT NULL,
    view       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    frame      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    shown_at   INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (session_id, view)
  );

  -- The newest ownership epoch each user's session was written or claimed under (many nodes;
  -- Store.claimSession). Kept when the snapshot goes: a late write of an older epoch stays refused.
  CREATE TABLE IF NOT EXISTS session_epochs (
    user_id TEXT PRIMARY KEY,
    epoch   INTEGER NOT NULL
  );
`;





/**
 * Opens (creating if needed) a SQLite store.
 *
 * A file path gets its parent directory created and WAL journaling (readers never block the
 * writer, and a crash loses at most the last transactions, never the file). `:memory:` (or
 * `''`) gives a private in-memory database, for tests.
 *
 * @param path - database file, or `:memory:`
 * @throws TetherError `INVALID_CONFIG` when the file cannot be opened, is not a Tether
 *   database, or has a schema version this code does not know.
 */
export function createSqliteStore(path: string): Store {
  const inMemory = path === ':memory:' || path === '';
  let db: Database.Database;
  try {
    if (!inMemory) mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
  } catch (error) {
    throw new TetherError('INVALID_CONFIG', `Cannot open the database at ${path}: ${messageOf(error)}`, { path });
  }

  try {
    db.pragma('foreign_keys = ON');
    // Schema first: switching to WAL rewrites the file header, which must not happen to a
    // file that turns out not to be ours.
    openSchema(db, path);
    if (!inMemory) db.pragma('journal_mode = WAL');
    // WAL with synchronous=NORMAL cannot corrupt the file; it only risks the last commits on
    // power loss, which for lifecycle records is a fair price for not fsyncing every write.
    db.pragma('synchronous = NORMAL');
  } catch (error) {
    db.close();
    if (error instanceof TetherError) throw error;
    throw new TetherError('INVALID_CONFIG', `Cannot open the database at ${path}: ${messageOf(error)}`, { path });
  }

  return new SqliteStore(db);
}

/** Creates the schema in an empty database, or checks the version of an existing one. */
function openSchema(db: Database.Database, path: string): void {
  db.transaction(() => {
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all()
      .map((row) => row.name);
    if (tables.length === 0) {
      db.exec(SCHEMA);
      db.exec(ADDITIVE_SCHEMA);
      db.exec(APP_DATA_SCHEMA);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION);
      return;
    }
    // Pointing TETHER_DB at another program's database must not add our tables to it.
    if (!tables.includes('schema_version')) {
      throw new TetherError('INVALID_CONFIG', `The database at ${path} is not a Tether database`, { path });
    }
    const row = db.prepare<[], { version: number }>('SELECT version FROM schema_version').get();
    if (row?.version !== SCHEMA_VERSION) {
      throw new TetherError(
        'INVALID_CONFIG',
        `The database at ${path} has schema version ${String(row?.version)}; this Tether reads version ${SCHEMA_VERSION}`,
        { path, found: row?.version, expected: SCHEMA_VERSION },
      );
    }
    db.exec(ADDITIVE_SCHEMA);
    db.exec(APP_DATA_SCHEMA);
  }).immediate();
}

class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly appData: SqliteAppData;
  private closed = false;

  // Prepared once: preparing compiles SQL, which costs more than running these small queries.
  private readonly insertApp;
  private readonly selectApp;
  private readonly selectApps;
  private readonly removeApp;
  private readonly updateApiKeyHash;
  private readonly updateWebhookUrl;
  private readonly selectRunning;
  private readonly clearRunning;
  private readonly insertRunning;
  private readonly selectBoot;
  private readonly touchBoot;
  private readonly countRegistrations;
  private readonly insertRegistration;
  private readonly pruneRegistrations;
  private readonly selectRegistrations;
  private readonly upsertSnapshot;
  private readonly selectSnapshots;
  private readonly removeSnapshot;
  private readonly upsertScreen;
  private readonly removeScreen;
  private readonly selectScreens;
  private readonly removeSnapshots;
  private readonly advanceEpoch;
  private readonly selectEpoch;
  private readonly selectSnapshot;

  private readonly replaceRunningApps: (userId: string, packageNames: readonly string[]) => void;
  private readonly registerBoot: (input: RegistrationInput) => RegistrationResult;
  private readonly writeScreens: (puts: readonly ScreenRecord[], removals: readonly ScreenKey[]) => void;
  private readonly applySnapshotChanges: (changes: SessionSnapshotChanges) => SessionSnapshotWrite;
  private readonly claim: (userId: string, epoch: number) => SessionClaim;

  constructor(db: Database.Database) {
    this.db = db;
    this.appData = new SqliteAppData(db);
    this.insertApp = db.prepare<[AppRow]>(
      `INSERT INTO apps (package_name, name, webhook_url, api_key_hash, created_at)
       VALUES (@package_name, @name, @webhook_url, @api_key_hash, @created_at)
       ON CONFLICT (package_name) DO NOTHING`,
    );
    this.selectApp = db.prepare<[string], AppRow>('SELECT * FROM apps WHERE package_name = ?');
    this.selectApps = db.prepare<[], AppRow>('SELECT * FROM apps ORDER BY package_name');
    this.removeApp = db.prepare<[string]>('DELETE FROM apps WHERE package_name = ?');
    this.updateApiKeyHash = db.prepare<[string, string]>('UPDATE apps SET api_key_hash = ? WHERE package_name = ?');
    this.updateWebhookUrl = db.prepare<[string, string]>('UPDATE apps SET webhook_url = ? WHERE package_name = ?');

    this.selectRunning = db
      .prepare<[string], string>('SELECT package_name FROM running_apps WHERE user_id = ? ORDER BY position')
      .pluck();
    this.clearRunning = db.prepare<[string]>('DELETE FROM running_apps WHERE user_id = ?');
    this.insertRunning = db.prepare<[string, number, string]>(
      'INSERT INTO running_apps (user_id, position, package_name) VALUES (?, ?, ?)',
    );

    this.selectBoot = db.prepare<[string, string], RegistrationRow>(
      'SELECT * FROM app_registrations WHERE package_name = ? AND boot_id = ?',
    );
    this.touchBoot = db.prepare<[string, string, number, string]>(
      `UPDATE app_registrations SET server_url = ?, version = ?, last_seen_at = max(last_seen_at, ?)
       WHERE registration_id = ?`,
    );
    this.countRegistrations = db
      .prepare<[string], number>('SELECT count(*) FROM app_registrations WHERE package_name = ?')
      .pluck();
    this.insertRegistration = db.prepare<[RegistrationRow]>(
      `INSERT INTO app_registrations
         (registration_id, package_name, boot_id, server_url, version, registered_at, last_seen_at)
       VALUES (@registration_id, @package_name, @boot_id, @server_url, @version, @registered_at, @last_seen_at)`,
    );
    this.pruneRegistrations = db.prepare<[string, string, number]>(
      `DELETE FROM app_registrations WHERE package_name = ? AND seq NOT IN
         (SELECT seq FROM app_registrations WHERE package_name = ? ORDER BY seq DESC LIMIT ?)`,
    );
    this.selectRegistrations = db.prepare<[string], RegistrationRow>(
      'SELECT * FROM app_registrations WHERE package_name = ? ORDER BY seq DESC',
    );

    this.upsertSnapshot = db.prepare<[string, string, number]>(
      `INSERT INTO session_snapshots (user_id, snapshot, saved_at) VALUES (?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET snapshot = excluded.snapshot, saved_at = excluded.saved_at`,
    );
    this.selectSnapshots = db.prepare<[], SnapshotRow>('SELECT * FROM session_snapshots ORDER BY user_id');
    this.removeSnapshot = db.prepare<[string]>('DELETE FROM session_snapshots WHERE user_id = ?');
    this.removeSnapshots = db.prepare<[]>('DELETE FROM session_snapshots');

    // Records `epoch` unless a newer one is recorded: a row changed means the writer may go on.
    this.advanceEpoch = db.prepare<[string, number]>(
      `INSERT INTO session_epochs (user_id, epoch) VALUES (?, ?)
       ON CONFLICT (user_id) DO UPDATE SET epoch = excluded.epoch WHERE session_epochs.epoch <= excluded.epoch`,
    );
    this.selectEpoch = db.prepare<[string], number>('SELECT epoch FROM session_epochs WHERE user_id = ?').pluck();
    this.selectSnapshot = db.prepare<[string], SnapshotRow>('SELECT * FROM session_snapshots WHERE user_id = ?');

    this.applySnapshotChanges = db.transaction((changes: SessionSnapshotChanges): SessionSnapshotWrite => {
      const savedAt = changes.savedAt ?? Date.now();
      const refused: string[] = [];
      const admitted = (userId: string) => {
        const epoch = changes.epochs?.get(userId);
        if (epoch === undefined || this.advanceEpoch.run(userId, epoch).changes > 0) return true;
        refused.push(userId);
        return false;
      };
      for (const { userId, json } of changes.save) if (admitted(userId)) this.upsertSnapshot.run(userId, json, savedAt);
      for (const userId of changes.remove) if (admitted(userId)) this.removeSnapshot.run(userId);
      return { refused };
    });

    this.claim = db.transaction((userId: string, epoch: number): SessionClaim => {
      if (this.advanceEpoch.run(userId, epoch).changes === 0) return { accepted: false, epoch: this.selectEpoch.get(userId)! };
      const row = this.selectSnapshot.get(userId);
      return { accepted: true, snapshot: row ? { userId: row.user_id, json: row.snapshot, savedAt: row.saved_at } : undefined };
    });

    this.upsertScreen = db.prepare<[ScreenRow]>(
      `INSERT INTO screens (session_id, view, user_id, frame, seq, shown_at, expires_at)
       VALUES (@session_id, @view, @user_id, @frame, @seq, @shown_at, @expires_at)
       ON CONFLICT (session_id, view) DO UPDATE SET user_id = excluded.user_id, frame = excluded.frame,
         seq = excluded.seq, shown_at = excluded.shown_at, expires_at = excluded.expires_at`,
    );
    this.removeScreen = db.prepare<[string, string]>('DELETE FROM screens WHERE session_id = ? AND view = ?');
    this.selectScreens = db.prepare<[], ScreenRow>('SELECT * FROM screens ORDER BY seq');
    this.writeScreens = db.transaction((puts: readonly ScreenRecord[], removals: readonly ScreenKey[]) => {
      for (const key of removals) this.removeScreen.run(key.sessionId, key.view);
      for (const screen of puts) {
        this.upsertScreen.run({
          session_id: screen.sessionId,
          view: screen.view,
          user_id: screen.userId,
          frame: screen.json,
          seq: screen.seq,
          shown_at: screen.shownAt,
          expires_at: screen.expiresAt ?? null,
        });
      }
    });

    this.replaceRunningApps = db.transaction((userId: string, packageNames: readonly string[]) => {
      this.clearRunning.run(userId);
      [...new Set(packageNames)].forEach((packageName, position) => {
        this.insertRunning.run(userId, position, packageName);
      });
    });

    this.registerBoot = db.transaction((input: RegistrationInput): RegistrationResult => {
      const known = this.selectBoot.get(input.packageName, input.bootId);
      if (known) {
        this.touchBoot.run(input.serverUrl, input.version, input.at, known.registration_id);
        return { registrationId: known.registration_id, restarted: false };
      }
      if (!this.selectApp.get(input.packageName)) {
        throw new TetherError('UNKNOWN_PACKAGE', undefined, { packageName: input.packageName });
      }
      const restarted = this.countRegistrations.get(input.packageName)! > 0;
      const registrationId = randomUUID();
      this.insertRegistration.run({
        registration_id: registrationId,
        package_name: input.packageName,
        boot_id: input.bootId,
        server_url: input.serverUrl,
        version: input.version,
        registered_at: input.at,
        last_seen_at: input.at,
      });
      this.pruneRegistrations.run(input.packageName, input.packageName, MAX_REGISTRATIONS_PER_PACKAGE);
      return { registrationId, restarted };
    });
  }

  async createApp(app: NewApp): Promise<AppRecord> {
    this.ensureOpen();
    const row: AppRow = {
      package_name: app.packageName,
      name: app.name,
      webhook_url: app.webhookUrl,
      api_key_hash: app.apiKeyHash,
      created_at: app.createdAt ?? Date.now(),
    };
    if (this.insertApp.run(row).changes === 0) {
      throw new TetherError('ALREADY_EXISTS', 'An app with this package name already exists', {
        packageName: app.packageName,
      });
    }
    return toApp(row);
  }

  async getApp(packageName: string): Promise<AppRecord | undefined> {
    this.ensureOpen();
    const row = this.selectApp.get(packageName);
    return row ? toApp(row) : undefined;
  }

  async listApps(): Promise<AppRecord[]> {
    this.ensureOpen();
    return this.selectApps.all().map(toApp);
  }

  async deleteApp(packageName: string): Promise<boolean> {
    this.ensureOpen();
    return this.removeApp.run(packageName).changes > 0;
  }

  async setApiKeyHash(packageName: string, apiKeyHash: string): Promise<boolean> {
    this.ensureOpen();
    return this.updateApiKeyHash.run(apiKeyHash, packageName).changes > 0;
  }

  async setWebhookUrl(packageName: string, webhookUrl: string): Promise<boolean> {
    this.ensureOpen();
    return this.updateWebhookUrl.run(webhookUrl, packageName).changes > 0;
  }

  async getRunningApps(userId: string): Promise<string[]> {
    this.ensureOpen();
    return this.selectRunning.all(userId);
  }

  async setRunningApps(userId: string, packageNames: readonly string[]): Promise<void> {
    this.ensureOpen();
    this.replaceRunningApps(userId, packageNames);
  }

  async recordRegistration(input: RegistrationInput): Promise<RegistrationResult> {
    this.ensureOpen();
    return this.registerBoot(input);
  }

  async listRegistrations(packageName: string): Promise<RegistrationRecord[]> {
    this.ensureOpen();
    return this.selectRegistrations.all(packageName).map((row) => ({
      registrationId: row.registration_id,
      packageName: row.package_name,
      serverUrl: row.server_url,
      version: row.version,
      bootId: row.boot_id,
      registeredAt: row.registered_at,
      lastSeenAt: row.last_seen_at,
    }));
  }

  async saveSessionSnapshot(userId: string, json: string, savedAt: number = Date.now()): Promise<void> {
    this.ensureOpen();
    this.upsertSnapshot.run(userId, json, savedAt);
  }

  async loadSessionSnapshots(): Promise<SessionSnapshotRecord[]> {
    this.ensureOpen();
    return this.selectSnapshots.all().map((row) => ({ userId: row.user_id, json: row.snapshot, savedAt: row.saved_at }));
  }

  async deleteSessionSnapshot(userId: string): Promise<boolean> {
    this.ensureOpen();
    return this.removeSnapshot.run(userId).changes > 0;
  }

  async saveScreens(puts: readonly ScreenRecord[], removals: readonly ScreenKey[]): Promise<void> {
    this.ensureOpen();
    if (puts.length > 0 || removals.length > 0) this.writeScreens(puts, removals);
  }

  async loadScreens(): Promise<ScreenRecord[]> {
    this.ensureOpen();
    return this.selectScreens.all().map((row) => ({
      sessionId: row.session_id,
      view: row.view,
      userId: row.user_id,
      json: row.frame,
      seq: row.seq,
      shownAt: row.shown_at,
      ...(row.expires_at !== null ? { expiresAt: row.expires_at } : {}),
    }));
  }

  async writeSessionSnapshots(changes: SessionSnapshotChanges): Promise<SessionSnapshotWrite> {
    this.ensureOpen();
    return this.applySnapshotChanges(changes);
  }

  async claimSession(userId: string, epoch: number): Promise<SessionClaim> {
    this.ensureOpen();
    return this.claim(userId, epoch);
  }

  async clearSessionSnapshots(): Promise<number> {
    this.ensureOpen();
    return this.removeSnapshots.run().changes;
  }

  async setAppDefinition(packageName: string, definition: { settingsJson: string; permissionsJson: string; updatedAt?: number }): Promise<boolean> {
    this.ensureOpen();
    return this.appData.setAppDefinition(packageName, definition);
  }

  async getAppDefinition(packageName: string): Promise<AppDefinitionRecord | undefined> {
    this.ensureOpen();
    return this.appData.getAppDefinition(packageName);
  }

  async recordAppUser(packageName: string, userId: string, at?: number): Promise<boolean> {
    this.ensureOpen();
    return this.appData.recordAppUser(packageName, userId, at);
  }

  async isAppUser(packageName: string, userId: string): Promise<boolean> {
    this.ensureOpen();
    return this.appData.isAppUser(packageName, userId);
  }

  async getUserSettingValues(userId: string, packageName: string): Promise<Record<string, string>> {
    this.ensureOpen();
    return this.appData.getUserSettingValues(userId, packageName);
  }

  async setUserSettingValue(userId: string, packageName: string, key: string, valueJson: string): Promise<boolean> {
    this.ensureOpen();
    return this.appData.setUserSettingValue(userId, packageName, key, valueJson);
  }

  async getSimpleStorage(packageName: string, userId: string): Promise<Record<string, string>> {
    this.ensureOpen();
    return this.appData.getSimpleStorage(packageName, userId);
  }

  async putSimpleStorage(packageName: string, userId: string, items: Readonly<Record<string, string>>, maxBytes: number): Promise<SimpleStoragePut> {
    this.ensureOpen();
    return this.appData.putSimpleStorage(packageName, userId, items, maxBytes);
  }

  async deleteSimpleStorageKey(packageName: string, userId: string, key: string): Promise<boolean> {
    this.ensureOpen();
    return this.appData.deleteSimpleStorageKey(packageName, userId, key);
  }

  async clearSimpleStorage(packageName: string, userId: string): Promise<number> {
    this.ensureOpen();
    return this.appData.clearSimpleStorage(packageName, userId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  // A late cleanup that persists after shutdown is a bug in the shutdown order; say so with a
  // code instead of better-sqlite3's bare TypeError.
  private ensureOpen(): void {
    if (this.closed) throw new TetherError('INTERNAL_ERROR', 'The store is closed');
  }
}


function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
