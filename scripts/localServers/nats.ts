/**
 * A throwaway NATS server with JetStream for tests, benchmarks and `npm run cluster`: Debian's
 * `nats-server` from PATH, started as a child process on an ephemeral port of 127.0.0.1 with its
 * store in a new temporary directory, stopped by its pid and the directory removed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './freePort.js';
import { stopChild } from './stopChild.js';

/** A running throwaway server. */
export interface LocalNats {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Pid of the `nats-server` process. */
  readonly pid: number;
  /** Stops the server (by pid) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Whether `nats-server` is on PATH. */
export function hasNatsServer(): boolean {
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts a new server; rejects when `nats-server` is missing or does not answer in `timeoutMs`. */
export async function startNats(options: { timeoutMs?: number } = {}): Promise<LocalNats> {
  if (!hasNatsServer()) throw new Error('nats-server is not installed (apt-get install nats-server)');
  const dir = mkdtempSync(join(tmpdir(), 'tether-nats-'));
  const deadline = performance.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const port = await freePort();
    const child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (log.length < 64_000) log += chunk.toString();
    });
    if (await listening(port, child, deadline)) return handle(child, dir, port);
    await stopServer(child);
    if (!/address already in use/i.test(log) || performance.now() > deadline) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nats-server did not start: ${log.slice(-2000)}`);
    }
  }
}

function handle(child: ChildProcess, dir: string, port: number): LocalNats {
  let stopped: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    stop: () =>
      (stopped ??= (async () => {
        await stopServer(child);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}

/** Whether the server accepts TCP connections (it answers with its INFO line once JetStream is up). */
async function listening(port: number, child: ChildProcess, deadline: number): Promise<boolean> {
  while (performance.now() < deadline && child.exitCode === null) {
    const greeted = await new Promise<boolean>((resolve) => {
      const socket = connectTcp(port, '127.0.0.1');
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('INFO'));
      });
      socket.once('error', () => resolve(false));
    });
    if (greeted) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

const stopServer = (child: ChildProcess) => stopChild(child, 'SIGTERM', 5_000);
