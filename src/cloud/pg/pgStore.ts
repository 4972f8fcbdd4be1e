/**
 * The {@link Store} of many nodes: PostgreSQL through `pg` (`TETHER_DB=postgres://…`). Every
 * node of a cluster opens one on the same database; {@link createPgStore} migrates it first.
 *
 * **Order.** The contract says calls apply in the order they were made, awaited or not. Here
 * every call is queued and runs alone, on a pool of one connection (which the pool replaces
 * when it breaks): a call's statements, and a transaction's, never interleave with another
 * call's. Writes of the data plane are batched before they get here (one snapshot transaction
 * per tick, one screen transaction per second), so one connection carries them; its bound is
 * one round trip per call (about 0.1–0.3 ms on loopback: some 3,000–10,000 calls a second).
 *
 * **Epochs.** `session_epochs` fences session writes (ARCHITECTURE.md "Many nodes"): a batch
 * that names a user's epoch writes that user only while no newer epoch is recorded, in the same
 * transaction that records it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { TetherError } from '../../protocol/errors.js';
import { MAX_REGISTRATIONS_PER_PACKAGE } from '../sqliteStore.js';
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
} from '../store.js';
import { toApp, type AppRow, type RegistrationRow, type ScreenRow, type SnapshotRow } from '../storeRows.js';
import { PgAppData } from './pgAppData.js';
import { migrate, type Query } from './schema.js';

// BIGINT (epoch ms, sequences, counts) as numbers: every value stored fits in 2^53.
const INT8_OID = 20;
const builtInParser = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => (value: string) => unknown;
const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : builtInParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** Longest wait for a connection to PostgreSQL, in ms. */
const CONNECT_TIMEOUT_MS = 5_000;
/** Longest wait for one statement's answer, in ms. */
const QUERY_TIMEOUT_MS = 10_000;

/** Options of {@link createPgStore}. */
export interface PgStoreOptions {
  /** Called once per failure of the pool's idle connection (the next call opens another). */
  onConnectionError?: (error: Error) => void;
}

/**
 * Opens a PostgreSQL store on `url` and migrates its schema.
 *
 * @throws TetherError `INVALID_CONFIG` when the database cannot be reached or migrated.
 */
export async function createPgStore(url: string, options: PgStoreOptions = {}): Promise<Store> {
  // Bounded waits: while PostgreSQL is unreachable each call fails after a few seconds (callers
  // retry: write-through keeps its sessions dirty) instead of the queue growing without end.
  const pool = new pg.Pool({
    connectionString: url,
    max: 1,
    types: typeParsers,
    application_name: 'tether',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
  });
  // An idle connection that breaks is reported here; without a listener the process would exit.
  pool.on('error', (error) => options.onConnectionError?.(error));
  try {
    const client = await pool.connect();
    try {
      await migrate(client);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new TetherError('INVALID_CONFIG', `Cannot open the PostgreSQL store at ${redact(url)}: ${messageOf(error)}`, { url: redact(url) });
  }
  return new PgStore(pool);
}





const ADVANCE_EPOCH = `INSERT INTO session_epochs (user_id, epoch) VALUES ($1, $2)
  ON CONFLICT (user_id) DO UPDATE SET epoch = excluded.epoch WHERE session_epochs.epoch <= excluded.epoch`;

/**
 * A batch of session writes in one statement, so one round trip whatever its size (a write-through
 * batch goes every tick that changed a session): each row is a user, the epoch it is written
 * under (null: no fencing, one node), its snapshot, and whether it is removed instead. A row is
 * admitted when its epoch is at least the one recorded, which it then records, under the row lock
 * `ON CONFLICT` takes; the statement answers the users it refused. One statement is atomic, and
 * its data-modifying CTEs all run, referenced or not.
 */
const WRITE_SESSIONS = `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bool[]) AS t(user_id, epoch, snapshot, removed)
  ), advanced AS (
    INSERT INTO session_epochs (user_id, epoch) SELECT user_id, epoch FROM input WHERE epoch IS NOT NULL
    ON CONFLICT (user_id) DO UPDATE SET epoch = excluded.epoch WHERE session_epochs.epoch <= excluded.epoch
    RETURNING user_id
  ), admitted AS (
    SELECT * FROM input WHERE epoch IS NULL OR user_id IN (SELECT user_id FROM advanced)
  ), saved AS (
    INSERT INTO session_snapshots (user_id, snapshot, saved_at) SELECT user_id, snapshot, $5 FROM admitted WHERE NOT removed
    ON CONFLICT (user_id) DO UPDATE SET snapshot = excluded.snapshot, saved_at = excluded.saved_at
  ), deleted AS (
    DELETE FROM session_snapshots WHERE user_id IN (SELECT user_id FROM admitted WHERE removed)
  )
  SELECT user_id FROM input WHERE user_id NOT IN (SELECT user_id FROM admitted)`;

class PgStore implements Store {
  private readonly appData = new PgAppData();
  /** The last queued call: the next one starts when it has settled. */
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly pool: pg.Pool) {}

  async createApp(app: NewApp): Promise<AppRecord> {
    const row: AppRow = {
      package_name: app.packageName,
      name: app.name,
      webhook_url: app.webhookUrl,
      api_key_hash: app.apiKeyHash,
      created_at: app.createdAt ?? Date.now(),
    };
    const inserted = await this.run((q) =>
      q(
        `INSERT INTO apps (package_name, name, webhook_url, api_key_hash, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (package_name) DO NOTHING`,
        [row.package_name, row.name, row.webhook_url, row.api_key_hash, row.created_at],
      ),
    );
    if (inserted.rowCount === 0) {
      throw new TetherError('ALREADY_EXISTS', 'An app with this package name already exists', { packageName: app.packageName });
    }
    return toApp(row);
  }

  async getApp(packageName: string): Promise<AppRecord | undefined> {
    const { rows } = await this.run((q) => q<AppRow>('SELECT * FROM apps WHERE package_name = $1', [packageName]));
    return rows[0] ? toApp(rows[0]) : undefined;
  }

  async listApps(): Promise<AppRecord[]> {
    const { rows } = await this.run((q) => q<AppRow>('SELECT * FROM apps ORDER BY package_name'));
    return rows.map(toApp);
  }

  async deleteApp(packageName: string): Promise<boolean> {
    return changed(await this.run((q) => q('DELETE FROM apps WHERE package_name = $1', [packageName])));
  }

  async setApiKeyHash(packageName: string, apiKeyHash: string): Promise<boolean> {
    return changed(await this.run((q) => q('UPDATE apps SET api_key_hash = $1 WHERE package_name = $2', [apiKeyHash, packageName])));
  }

  async setWebhookUrl(packageName: string, webhookUrl: string): Promise<boolean> {
    return changed(await this.run((q) => q('UPDATE apps SET webhook_url = $1 WHERE package_name = $2', [webhookUrl, packageName])));
  }

  async getRunningApps(userId: string): Promise<string[]> {
    const { rows } = await this.run((q) =>
      q<{ package_name: string }>('SELECT package_name FROM running_apps WHERE user_id = $1 ORDER BY position', [userId]),
    );
    return rows.map((row) => row.package_name);
  }

  setRunningApps(userId: string, packageNames: readonly string[]): Promise<void> {
    const unique = [...new Set(packageNames)];
    return this.transaction(async (q) => {
      await q('DELETE FROM running_apps WHERE user_id = $1', [userId]);
      if (unique.length === 0) return;
      await q(
        `INSERT INTO running_apps (user_id, position, package_name)
         SELECT $1, ordinality - 1, name FROM unnest($2::text[]) WITH ORDINALITY AS t(name, ordinality)`,
        [userId, unique],
      );
    });
  }

  recordRegistration(input: RegistrationInput): Promise<RegistrationResult> {
    return this.transaction(async (q) => {
      // Serialises registrations of one package across nodes: the restart test and the insert
      // below must see the same history.
      const app = await q('SELECT 1 FROM apps WHERE package_name = $1 FOR UPDATE', [input.packageName]);
      const known = await q<RegistrationRow>('SELECT * FROM app_registrations WHERE package_name = $1 AND boot_id = $2', [
        input.packageName,
        input.bootId,
      ]);
      if (known.rows[0]) {
        await q(
          'UPDATE app_registrations SET server_url = $1, version = $2, last_seen_at = GREATEST(last_seen_at, $3) WHERE registration_id = $4',
          [input.serverUrl, input.version, input.at, known.rows[0].registration_id],
        );
        return { registrationId: known.rows[0].registration_id, restarted: false };
      }
      if (app.rowCount === 0) throw new TetherError('UNKNOWN_PACKAGE', undefined, { packageName: input.packageName });
      const count = await q<{ n: number }>('SELECT count(*) AS n FROM app_registrations WHERE package_name = $1', [input.packageName]);
      const registrationId = randomUUID();
      await q(
        `INSERT INTO app_registrations (registration_id, package_name, boot_id, server_url, version, registered_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)`,
        [registrationId, input.packageName, input.bootId, input.serverUrl, input.version, input.at],
      );
      await q(
        `DELETE FROM app_registrations WHERE package_name = $1 AND seq NOT IN
           (SELECT seq FROM app_registrations WHERE package_name = $1 ORDER BY seq DESC LIMIT $2)`,
        [input.packageName, MAX_REGISTRATIONS_PER_PACKAGE],
      );
      return { registrationId, restarted: (count.rows[0]?.n ?? 0) > 0 };
    });
  }

  async listRegistrations(packageName: string): Promise<RegistrationRecord[]> {
    const { rows } = await this.run((q) =>
      q<RegistrationRow>('SELECT * FROM app_registrations WHERE package_name = $1 ORDER BY seq DESC', [packageName]),
    );
    return rows.map((row) => ({
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
    await this.run((q) => q(UPSERT_SNAPSHOT, [userId, json, savedAt]));
  }

  async loadSessionSnapshots(): Promise<SessionSnapshotRecord[]> {
    const { rows } = await this.run((q) => q<SnapshotRow>('SELECT * FROM session_snapshots ORDER BY user_id'));
    return rows.map(toSnapshot);
  }

  async deleteSessionSnapshot(userId: string): Promise<boolean> {
    return changed(await this.run((q) => q('DELETE FROM session_snapshots WHERE user_id = $1', [userId])));
  }

  async writeSessionSnapshots(changes: SessionSnapshotChanges): Promise<SessionSnapshotWrite> {
    // A removal and a save of one user in one batch: the removal is what the batch ends with.
    const removed = new Set(changes.remove);
    const rows = [
      ...changes.save.filter(({ userId }) => !removed.has(userId)).map(({ userId, json }) => ({ userId, json, remove: false })),
      ...[...removed].map((userId) => ({ userId, json: null, remove: true })),
    ];
    // Queued even when empty: a caller awaiting it may count on every earlier call being applied.
    if (rows.length === 0) return this.run(async () => ({ refused: [] }));
    const { rows: refused } = await this.run((q) =>
      q<{ user_id: string }>(WRITE_SESSIONS, [
        rows.map((row) => row.userId),
        rows.map((row) => changes.epochs?.get(row.userId) ?? null),
        rows.map((row) => row.json),
        rows.map((row) => row.remove),
        changes.savedAt ?? Date.now(),
      ]),
    );
    return { refused: refused.map((row) => row.user_id) };
  }

  claimSession(userId: string, epoch: number): Promise<SessionClaim> {
    return this.transaction(async (q): Promise<SessionClaim> => {
      if (!changed(await q(ADVANCE_EPOCH, [userId, epoch]))) {
        const { rows } = await q<{ epoch: number }>('SELECT epoch FROM session_epochs WHERE user_id = $1', [userId]);
        return { accepted: false, epoch: rows[0]?.epoch ?? epoch };
      }
      const { rows } = await q<SnapshotRow>('SELECT * FROM session_snapshots WHERE user_id = $1', [userId]);
      return { accepted: true, snapshot: rows[0] ? toSnapshot(rows[0]) : undefined };
    });
  }

  async clearSessionSnapshots(): Promise<number> {
    return (await this.run((q) => q('DELETE FROM session_snapshots'))).rowCount ?? 0;
  }

  async saveScreens(puts: readonly ScreenRecord[], removals: readonly ScreenKey[]): Promise<void> {
    if (puts.length === 0 && removals.length === 0) return;
    await this.transaction(async (q) => {
      for (const key of removals) await q('DELETE FROM screens WHERE session_id = $1 AND view = $2', [key.sessionId, key.view]);
      for (const screen of puts) {
        await q(
          `INSERT INTO screens (session_id, view, user_id, frame, seq, shown_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (session_id, view) DO UPDATE SET user_id = excluded.user_id, frame = excluded.frame,
             seq = excluded.seq, shown_at = excluded.shown_at, expires_at = excluded.expires_at`,
          [screen.sessionId, screen.view, screen.userId, screen.json, screen.seq, screen.shownAt, screen.expiresAt ?? null],
        );
      }
    });
  }

  async loadScreens(): Promise<ScreenRecord[]> {
    const { rows } = await this.run((q) => q<ScreenRow>('SELECT * FROM screens ORDER BY seq'));
    return rows.map((row) => ({
      sessionId: row.session_id,
      view: row.view,
      userId: row.user_id,
      json: row.frame,
      seq: row.seq,
      shownAt: row.shown_at,
      ...(row.expires_at !== null ? { expiresAt: row.expires_at } : {}),
    }));
  }

  setAppDefinition(packageName: string, definition: { settingsJson: string; permissionsJson: string; updatedAt?: number }): Promise<boolean> {
    return this.run((q) => this.appData.setAppDefinition(q, packageName, definition));
  }

  getAppDefinition(packageName: string): Promise<AppDefinitionRecord | undefined> {
    return this.run((q) => this.appData.getAppDefinition(q, packageName));
  }

  recordAppUser(packageName: string, userId: string, at?: number): Promise<boolean> {
    return this.run((q) => this.appData.recordAppUser(q, packageName, userId, at));
  }

  isAppUser(packageName: string, userId: string): Promise<boolean> {
    return this.run((q) => this.appData.isAppUser(q, packageName, userId));
  }

  getUserSettingValues(userId: string, packageName: string): Promise<Record<string, string>> {
    return this.run((q) => this.appData.getUserSettingValues(q, userId, packageName));
  }

  setUserSettingValue(userId: string, packageName: string, key: string, valueJson: string): Promise<boolean> {
    return this.run((q) => this.appData.setUserSettingValue(q, userId, packageName, key, valueJson));
  }

  getSimpleStorage(packageName: string, userId: string): Promise<Record<string, string>> {
    return this.run((q) => this.appData.getSimpleStorage(q, packageName, userId));
  }

  putSimpleStorage(packageName: string, userId: string, items: Readonly<Record<string, string>>, maxBytes: number): Promise<SimpleStoragePut> {
    return this.transaction((q) => this.appData.putSimpleStorage(q, packageName, userId, items, maxBytes));
  }

  deleteSimpleStorageKey(packageName: string, userId: string, key: string): Promise<boolean> {
    return this.run((q) => this.appData.deleteSimpleStorageKey(q, packageName, userId, key));
  }

  clearSimpleStorage(packageName: string, userId: string): Promise<number> {
    return this.run((q) => this.appData.clearSimpleStorage(q, packageName, userId));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Calls made before close still run: a shutdown's last flush is awaited, not cut.
    await this.tail.catch(() => undefined);
    await this.pool.end();
  }

  /** Queues `work` on the connection; it starts when every earlier call has settled. */
  private run<T>(work: (q: Query) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new TetherError('INTERNAL_ERROR', 'The store is closed'));
    const result = this.tail.then(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        const query: Query = client.query.bind(client);
        return await work(query);
      } catch (error) {
        // A connection-level failure (no SQLSTATE): this connection is not reused.
        if (error instanceof Error && (error as { code?: unknown }).code === undefined) broken = error;
        throw error;
      } finally {
        client.release(broken);
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** {@link run} inside BEGIN … COMMIT; rolled back when `work` throws. */
  private transaction<T>(work: (q: Query) => Promise<T>): Promise<T> {
    return this.run(async (q) => {
      await q('BEGIN');
      try {
        const result = await work(q);
        await q('COMMIT');
        return result;
      } catch (error) {
        await q('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }
}

const UPSERT_SNAPSHOT = `INSERT INTO session_snapshots (user_id, snapshot, saved_at) VALUES ($1, $2, $3)
  ON CONFLICT (user_id) DO UPDATE SET snapshot = excluded.snapshot, saved_at = excluded.saved_at`;

function changed(result: { rowCount: number | null }): boolean {
  return (result.rowCount ?? 0) > 0;
}


function toSnapshot(row: SnapshotRow): SessionSnapshotRecord {
  return { userId: row.user_id, json: row.snapshot, savedAt: row.saved_at };
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
