/**
 * Which store `TETHER_DB` names: a `postgres://` (or `postgresql://`) URL opens the PostgreSQL
 * store of many nodes, anything else is a SQLite file (or `:memory:`).
 */
import type { Logger } from '../logger.js';
import { createPgStore } from './pg/pgStore.js';
import { createSqliteStore, type Store } from './store.js';

/** Whether `dbPath` names a PostgreSQL database rather than a SQLite file. */
function isPostgresUrl(dbPath: string): boolean {
  return /^postgres(ql)?:\/\//i.test(dbPath);
}

/**
 * Opens the store `dbPath` names.
 * @throws TetherError `INVALID_CONFIG` when it cannot be opened.
 */
export async function openStore(dbPath: string, logger: Logger): Promise<Store> {
  if (!isPostgresUrl(dbPath)) return createSqliteStore(dbPath);
  let reported = false;
  return createPgStore(dbPath, {
    // Once per outage, not once per broken connection: the pool opens a new one on the next call.
    onConnectionError: (error) => {
      if (reported) return;
      reported = true;
      logger.error({ code: 'STORE_UNAVAILABLE', err: error.message }, 'the PostgreSQL connection broke; the next call reconnects');
      setTimeout(() => (reported = false), 10_000).unref();
    },
  });
}
