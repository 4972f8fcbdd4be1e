/**
 * The cloud in a child process, configured by environment only, as it runs in production: the
 * TypeScript entry point under tsx's loader (`node --import tsx src/cloud/main.ts`, no `tsx`
 * wrapper process in between), or a compiled one (`node dist/src/cloud/main.js`). It is ready
 * once it prints its banner. Restart and crash tests start it, stop it by its pid, and start it
 * again on the same port and database.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** JWT secret the child is started with (mint glasses tokens with it). */
export const CLOUD_PROCESS_SECRET = 'cloud-process-test-secret-of-32-bytes!!';
/** Admin token the child is started with. */
const CLOUD_PROCESS_ADMIN = 'cloud-process-admin-token';

/** Options of {@link startCloudProcess}. */
export interface CloudProcessOptions {
  port: number;
  /** SQLite file the cloud persists to (`TETHER_DB`). */
  dbPath: string;
  /** Extra or overriding environment (`TETHER_…` settings). */
  env?: Record<string, string>;
  /** A compiled entry point to run with plain `node`; by default `src/cloud/main.ts` under tsx's loader. */
  entry?: string;
  /** Node flags before the entry point (`--cpu-prof`, which `NODE_OPTIONS` does not accept). */
  nodeFlags?: string[];
  /** Starts the child in a process group of its own (signal it as a group with `process.kill(-pid)`). */
  detached?: boolean;
  /** Longest wait for the banner, in ms (default 15,000). */
  readyTimeoutMs?: number;
  /** Receives what the child writes to stderr; without it stderr goes to this process's. */
  onStderr?: (chunk: string) => void;
  /** Receives what the child writes to stdout (its log); `stdout()` then holds only what came before the banner. */
  onStdout?: (chunk: string) => void;
}

/** A started cloud process. */
export interface CloudProcess {
  readonly child: ChildProcess;
  /** From spawn to the banner, in ms. */
  readonly readyMs: number;
  /** Everything it wrote to stdout so far. */
  readonly stdout: () => string;
  /** Resolves when it has exited, with its exit code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the cloud and resolves once it listens (rejects if it exits first or stays silent). */
export async function startCloudProcess(options: CloudProcessOptions): Promise<CloudProcess> {
  const started = performance.now();
  const args = [...(options.nodeFlags ?? []), ...(options.entry ? [options.entry] : ['--import', 'tsx', 'src/cloud/main.ts'])];
  const child = spawn(process.execPath, args, {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(options.port),
      TETHER_DB: options.dbPath,
      TETHER_JWT_SECRET: CLOUD_PROCESS_SECRET,
      TETHER_ADMIN_TOKEN: CLOUD_PROCESS_ADMIN,
      TETHER_GRACE_PERIOD_MS: '20000',
      TETHER_HEARTBEAT_INTERVAL_MS: '1000',
      TETHER_HEARTBEAT_TIMEOUT_MS: '3000',
      TETHER_APP_RECONNECT_WINDOW_MS: '8000',
      TETHER_WEBHOOK_TIMEOUT_MS: '5000',
      // Every test client connects from 127.0.0.1: hundreds of users from one address is the test.
      TETHER_CONNECTIONS_PER_ADDRESS_PER_MINUTE: '0',
      TETHER_LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', options.onStderr ? 'pipe' : 'inherit'],
    detached: options.detached ?? false,
  });
  const stdout = child.stdout!;
  let out = '';
  if (options.onStderr) child.stderr?.on('data', (chunk: Buffer) => options.onStderr!(chunk.toString()));
  stdout.on('data', (chunk: Buffer) => {
    if (options.onStdout && out.includes('Tether cloud on')) options.onStdout(chunk.toString());
    else out += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cloud process did not start within ${timeoutMs} ms`)), timeoutMs);
      const onData = () => {
        if (!out.includes('Tether cloud on')) return;
        clearTimeout(timer);
        stdout.off('data', onData);
        resolve();
      };
      stdout.on('data', onData);
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`cloud process exited with ${code ?? signal}: ${out}`));
      });
    });
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw error;
  }
  return { child, readyMs: performance.now() - started, stdout: () => out, exited };
}

/** Kills `child` with SIGKILL if it is still running (test cleanup). */
export function killCloudProcess(child: ChildProcess | undefined): void {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Creates an app through the admin API of the cloud at `base`; resolves with its API key. */
export async function createAppOver(base: string, packageName: string, webhookUrl: string): Promise<string> {
  const response = await fetch(`${base}/api/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLOUD_PROCESS_ADMIN}` },
    body: JSON.stringify({ packageName, name: packageName, webhookUrl }),
  });
  if (!response.ok) throw new Error(`creating ${packageName} failed with ${response.status}`);
  return ((await response.json()) as { apiKey: string }).apiKey;
}
