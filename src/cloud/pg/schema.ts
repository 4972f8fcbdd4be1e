/**
 * The PostgreSQL schema of the store and the migrations that build it. Every node runs
 * {@link migrate} at start; the migrations of a release only add (tables, nullable columns,
 * indexes), so nodes of the previous release keep working on the migrated schema during a
 * rolling deploy.
 *
 * Written here rather than with a migration tool: the runner is one transaction under an
 * advisory lock, run in-process by whichever node starts first, and that is all of it.
 */
import type { PoolClient } from 'pg';

/** A query runner: the store's one connection, inside a queued call. */
export type Query = PoolClient['query'];

/** The migrations in order; a migration's version is its index + 1. Never edit a released one: add one. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE apps (
    package_name TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    webhook_url  TEXT NOT NULL,
    api_key_hash TEXT NOT NULL,
    created_at   BIGINT NOT NULL
  );

  CREATE TABLE running_apps (
    user_id      TEXT NOT NULL,
    position     INTEGER NOT NULL,
    package_name TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
  );

  CREATE TABLE app_registrations (
    seq             BIGSERIAL PRIMARY KEY,
    registration_id TEXT NOT NULL UNIQUE,
    package_name    TEXT NOT NULL REFERENCES apps (package_name) ON DELETE CASCADE,
    boot_id         TEXT NOT NULL,
    server_url      TEXT NOT NULL,
    version         TEXT NOT NULL,
    registered_at   BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    UNIQUE (package_name, boot_id)
  );

  CREATE TABLE session_snapshots (
    user_id  TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL,
    saved_at BIGINT NOT NULL
  );

  -- The newest ownership epoch each user's session was written or claimed under; kept when the
  -- snapshot goes, so a late write of an older epoch stays refused.
  CREATE TABLE session_epochs (
    user_id TEXT PRIMARY KEY,
    epoch   BIGINT NOT NULL
  );

  CREATE TABLE screens (
    session_id TEXT NOT NULL,
    view       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    frame      TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    shown_at   BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (session_id, view)
  );

  CREATE TABLE app_definitions (
    package_name TEXT PRIMARY KEY REFERENCES apps (package_name) ON DELETE CASCADE,
    settings     TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
  );

  CREATE TABLE app_users (
    package_name  TEXT NOT NULL REFERENCES apps (package_name) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (package_name, user_id)
  );

  CREATE TABLE user_app_settings (
    user_id      TEXT NOT NULL,
    package_name TEXT NOT NULL REFERENCES apps (package_name) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (user_id, package_name, key)
  );

  -- bytes = UTF-8 length of key + value, kept per row so the quota check is one indexed sum.
  CREATE TABLE simple_storage (
    package_name TEXT NOT NULL REFERENCES apps (package_name) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    PRIMARY KEY (package_name, user_id, key)
  );
  `,
];

/** Key of the advisory lock migrations hold: nodes starting together migrate one at a time. */
const MIGRATION_LOCK = 0x7e7e_0001;

/** What {@link migrate} did. */
export interface MigrationOutcome {
  /** Versions applied now, in order. */
  readonly applied: readonly number[];
  /** The schema's version afterwards (higher than this code's when a newer release migrated it). */
  readonly version: number;
}

/**
 * Brings the database to the newest schema this code knows, in one transaction. A database a
 * newer release migrated further is left as it is (its migrations only added).
 */
export async function migrate(client: PoolClient, now: () => number = Date.now): Promise<MigrationOutcome> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS tether_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM tether_migrations');
    const current = rows[0]?.version ?? 0;
    const applied: number[] = [];
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      await client.query(MIGRATIONS[version - 1]!);
      await client.query('INSERT INTO tether_migrations (version, applied_at) VALUES ($1, $2)', [version, now()]);
      applied.push(version);
    }
    await client.query('COMMIT');
    return { applied, version: Math.max(current, MIGRATIONS.length) };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
