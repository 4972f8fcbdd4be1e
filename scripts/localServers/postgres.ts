/**
 * A throwaway PostgreSQL server for tests, benchmarks and `npm run cluster`: `initdb` into a new
 * temporary directory, `postgres` started as a child process on an ephemeral port of 127.0.0.1,
 * stopped by its pid and the directory removed. The binaries come from PATH (Debian's
 * `postgresql` package, or `/usr/lib/postgresql/<version>/bin`).
 *
 * PostgreSQL refuses to run as root; under root the server runs as the `postgres` user (the
 * Debian package creates it), which owns the directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './freePort.js';
import { stopChild } from './stopChild.js';

/** A running throwaway server. */
export interface LocalPostgres {
  /** `postgres://tether@127.0.0.1:<port>/tether`. */
  readonly url: string;
  readonly port: number;
  /** Pid of the `postgres` process. */
  readonly pid: number;
  /** A URL of a new, empty database on this server (one per test file keeps them apart). */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown, by pid) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

const USER = 'tether';

/** Where `initdb` is: PATH first, then Debian's versioned directory. */
function binDir(): string | undefined {
  try {
    execFileSync('initdb', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
    for (const version of versions) if (existsSync(join(root, version, 'bin', 'initdb'))) return join(root, version, 'bin');
    throw new Error('PostgreSQL is not installed: no initdb on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)');
  }
}

/** Whether PostgreSQL's binaries are available here. */
export function hasPostgres(): boolean {
  try {
    binDir();
    return true;
  } catch {
    return false;
  }
}

/** The uid and gid the server runs as: the current user's, or `postgres`'s under root. */
function serverIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** Starts a new server; rejects when PostgreSQL is not installed or does not start in `timeoutMs`. */
export async function startPostgres(options: { timeoutMs?: number } = {}): Promise<LocalPostgres> {
  const bin = binDir();
  const tool = (name: string) => (bin ? join(bin, name) : name);
  const identity = serverIdentity();
  const dir = mkdtempSync(join(tmpdir(), 'tether-pg-'));
  if (identity) chownSync(dir, identity.uid, identity.gid);
  const data = join(dir, 'data');
  execFileSync(tool('initdb'), ['-D', data, '-U', USER, '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], {
    stdio: 'ignore',
    ...(identity ?? {}),
  });
  const deadline = performance.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const port = await freePort();
    // Durability off: a throwaway server loses nothing that matters when the machine crashes.
    const child = spawn(
      tool('postgres'),
      ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
      { stdio: ['ignore', 'ignore', 'pipe'], ...(identity ?? {}) },
    );
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (log.length < 64_000) log += chunk.toString();
    });
    const url = `postgres://${USER}@127.0.0.1:${port}/postgres`;
    if (await ready(url, child, deadline)) {
      await adminQuery(url, `CREATE DATABASE ${USER}`);
      return handle(child, dir, port);
    }
    await stopServer(child);
    if (!/already in use/.test(log) || performance.now() > deadline) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`PostgreSQL did not start: ${log.slice(-2000)}`);
    }
  }
}

function handle(child: ChildProcess, dir: string, port: number): LocalPostgres {
  let stopped: Promise<void> | undefined;
  const base = `postgres://${USER}@127.0.0.1:${port}`;
  return {
    url: `${base}/${USER}`,
    port,
    pid: child.pid!,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      await adminQuery(`${base}/postgres`, `CREATE DATABASE ${name}`);
      return `${base}/${name}`;
    },
    stop: () =>
      (stopped ??= (async () => {
        await stopServer(child);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}

async function ready(url: string, child: ChildProcess, deadline: number): Promise<boolean> {
  while (performance.now() < deadline && child.exitCode === null) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return false;
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** SIGINT is PostgreSQL's fast shutdown: it ends every connection and exits at once. */
const stopServer = (child: ChildProcess) => stopChild(child, 'SIGINT', 10_000);
