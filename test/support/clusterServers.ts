/**
 * The throwaway NATS JetStream and PostgreSQL servers of a cluster test file, started once before
 * its tests and stopped after them, from the binaries on PATH.
 */
import { afterAll, beforeAll } from 'vitest';
import { startNats, type LocalNats } from '../../scripts/localServers/nats.js';
import { startPostgres, type LocalPostgres } from '../../scripts/localServers/postgres.js';

/** Registers the servers' start and stop; read them inside tests, once `beforeAll` has run. */
export function useClusterServers(): { readonly nats: LocalNats; readonly postgres: LocalPostgres } {
  let nats: LocalNats | undefined;
  let postgres: LocalPostgres | undefined;
  beforeAll(async () => {
    [nats, postgres] = await Promise.all([startNats(), startPostgres()]);
  }, 30_000);
  afterAll(async () => {
    await nats?.stop();
    await postgres?.stop();
  });
  return {
    get nats() {
      if (!nats) throw new Error('NATS is not started yet');
      return nats;
    },
    get postgres() {
      if (!postgres) throw new Error('PostgreSQL is not started yet');
      return postgres;
    },
  };
}
