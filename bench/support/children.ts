/**
 * Parent side of `serverChild.ts` and `clientChild.ts`: starts a child under tsx with
 * `--expose-gc`, waits for it to report ready, and talks to it over IPC. Every child started is killed by its pid when it is
 * closed, when the benchmark process exits, and by {@link killAllChildren} on a failure.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientChildCall, ClientChildOptions, ClientChildReady } from './clientChild.js';
import type { ChildCall, ChildReady, CpuWindow, MemoryFigures, PersistenceFigures, ServerChildOptions, ShutdownFlush } from './serverChild.js';

const CHILD_SCRIPT = fileURLToPath(new URL('./serverChild.ts', import.meta.url));
const CLIENT_CHILD_SCRIPT = fileURLToPath(new URL('./clientChild.ts', import.meta.url));
/** tsx's loader, resolved from here so the child does not depend on its working directory. */
const TSX_LOADER = import.meta.resolve('tsx');

/**
 * Extra node flags for every server child, from `BENCH_CHILD_NODE_FLAGS` (space-separated), to
 * profile what a benchmark measures: `BENCH_CHILD_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'`.
 */
const EXTRA_FLAGS = (process.env.BENCH_CHILD_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');

/** Longest a child may take to start listening, in ms. */
const READY_TIMEOUT_MS = 30_000;

/** A running server child. */
export interface ServerChild {
  readonly pid: number;
  readonly glassesUrl: string;
  readonly appUrl: string;
  /** Core tokens for `userIds` (fakes of the same length from the baseline). */
  tokens(userIds: string[]): Promise<string[]>;
  /** Registers an app whose webhook is `webhookUrl`; resolves with its API key. */
  registerApp(packageName: string, webhookUrl: string): Promise<string>;
  /** Starts a measuring window: CPU time and event-loop delay from now. */
  measureStart(): Promise<void>;
  /** Ends the window and returns what the child spent in it. */
  measureStop(): Promise<CpuWindow>;
  /** Memory after two full GCs. */
  memory(): Promise<MemoryFigures>;
  /** Writes a V8 heap snapshot of the child to `path`; resolves with the path. */
  heapSnapshot(path: string): Promise<string>;
  /** The cloud's write-through counters (tether only). */
  persistence(): Promise<PersistenceFigures>;
  /** Runs the shutdown's flush and says what it took (tether only; the cloud writes nothing after it). */
  flushForShutdown(): Promise<ShutdownFlush>;
  /** Closes the server and ends the process (killed by pid if it does not exit in 10 s). */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();

function kill(child: ChildProcess): void {
  live.delete(child);
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Kills every child still running (server, client, watched), by pid. */
export function killAllChildren(): void {
  for (const child of [...live]) kill(child);
}

process.on('exit', killAllChildren);

/**
 * Adds a process this benchmark spawned itself (a cloud started as in production) to those
 * {@link killAllChildren} ends, until it exits.
 */
export function watchChild(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** A forked child that answers `{ id, op, … }` calls over IPC, ready once it sent `{ type: 'ready', … }`. */
interface IpcChild<Ready> {
  readonly pid: number;
  readonly ready: Ready;
  /** Sends `request` and resolves with the child's answer (rejects on its error, its exit or after `timeoutMs`). */
  readonly call: <T>(request: { op: string }, timeoutMs?: number) => Promise<T>;
  /** Sends `close`, waits up to 10 s for the child to exit, then kills it by its pid. */
  readonly close: () => Promise<void>;
}

/**
 * Forks `script` under tsx with `--expose-gc` (and {@link EXTRA_FLAGS}), `argument` as argv[2],
 * and resolves once it reports ready. `name` labels its errors.
 */
async function forkIpcChild<Ready>(script: string, argument: string, name: string): Promise<IpcChild<Ready>> {
  const child = fork(script, [argument], {
    execArgv: ['--import', TSX_LOADER, '--expose-gc', ...EXTRA_FLAGS],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  let exited: Error | undefined;

  const ready = new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.on('message', (message: { type?: string; id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message as Ready);
        return;
      }
      if (message.id === undefined) return;
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.ok) waiter?.resolve(message.result);
      else waiter?.reject(new Error(`${name}: ${message.error}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      exited = new Error(`${name} exited (code ${code}, signal ${signal})`);
      reject(exited);
      for (const waiter of pending.values()) waiter.reject(exited);
      pending.clear();
    });
  });
  let info: Ready;
  try {
    info = await ready;
  } catch (error) {
    kill(child);
    throw error;
  }

  const call = <T>(request: { op: string }, timeoutMs = 60_000): Promise<T> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${name} did not answer ${request.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      child.send({ ...request, id });
    });
  };

  return {
    pid: child.pid ?? -1,
    ready: info,
    call,
    async close() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await Promise.race([call({ op: 'close' }, 10_000).then(() => gone), new Promise((resolve) => setTimeout(resolve, 10_000))]).catch(() => {});
      kill(child);
    },
  };
}

/** Starts a server child and resolves once it listens. */
export async function startServerChild(options: Omit<ServerChildOptions, 'lifetimeMs'> & { lifetimeMs?: number }): Promise<ServerChild> {
  const full: ServerChildOptions = { lifetimeMs: 15 * 60_000, ...options };
  const { pid, ready: info, call: untyped, close } = await forkIpcChild<ChildReady>(CHILD_SCRIPT, JSON.stringify(full), `${options.kind} server child`);
  const call = <T>(request: ChildCall, timeoutMs?: number) => untyped<T>(request, timeoutMs);
  return {
    pid,
    glassesUrl: info.glassesUrl,
    appUrl: info.appUrl,
    tokens: (userIds) => call<string[]>({ op: 'tokens', userIds }),
    registerApp: (packageName, webhookUrl) => call<string>({ op: 'registerApp', packageName, webhookUrl }),
    measureStart: () => call<void>({ op: 'measureStart' }),
    measureStop: () => call<CpuWindow>({ op: 'measureStop' }),
    memory: () => call<MemoryFigures>({ op: 'memory' }),
    heapSnapshot: (path) => call<string>({ op: 'heapSnapshot', path }, 120_000),
    persistence: () => call<PersistenceFigures>({ op: 'persistence' }),
    flushForShutdown: () => call<ShutdownFlush>({ op: 'flushForShutdown' }),
    close,
  };
}

/** A running client child (`clientChild.ts`). */
export interface ClientChild {
  readonly pid: number;
  /** Webhook URL per app (none against the baseline). */
  readonly webhooks: Record<string, string>;
  /** Gives its webhooks the API keys the cloud issued, by app. */
  apiKeys(keys: Record<string, string>): Promise<void>;
  /** Brings `userIds` up (glasses and every app); resolves once all of them are. */
  add(userIds: string[], tokens: string[]): Promise<void>;
  /** Sockets it holds that have closed. */
  closed(): Promise<number>;
  close(): Promise<void>;
}

/** Starts a client child and resolves once its webhooks listen. */
export async function startClientChild(options: Omit<ClientChildOptions, 'lifetimeMs'> & { lifetimeMs?: number }): Promise<ClientChild> {
  const full: ClientChildOptions = { lifetimeMs: 15 * 60_000, ...options };
  const child = await forkIpcChild<ClientChildReady>(CLIENT_CHILD_SCRIPT, JSON.stringify(full), `${options.kind} client child`);
  const call = <T>(request: ClientChildCall, timeoutMs?: number) => child.call<T>(request, timeoutMs);
  return {
    pid: child.pid,
    webhooks: child.ready.webhooks,
    apiKeys: (keys) => call<void>({ op: 'apiKeys', keys }),
    // Bringing thousands of users up takes a while: the bound is only against a hang.
    add: (userIds, tokens) => call<void>({ op: 'add', userIds, tokens }, 60_000 + userIds.length * 100),
    closed: () => call<number>({ op: 'closed' }),
    close: () => child.close(),
  };
}
