/**
 * The chaos world: the cloud in a child process on a SQLite file (so it can be sent SIGTERM or
 * SIGKILL and started again on the same database), four app servers in child processes — two on
 * the Tether SDK (registering with the cloud), two on unmodified `@mentra/sdk` (never
 * registering) — and the users' glasses in this process, each behind its own fault proxy. Every
 * app socket reaches the cloud through one more fault proxy (the cloud's public URL points at
 * it), so app links can be broken too. Each user runs one Tether app and one stock app.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appSessionId } from '../../../machines/sessionApi.js';
import { createCoreToken } from '../../../src/cloud/glassesAuth.js';
import { CLOUD_PROCESS_SECRET, createAppOver, killCloudProcess, startCloudProcess, type CloudProcess } from '../../support/cloudProcess.js';
import { startFaultProxy, type FaultProxy } from '../../support/faultProxy.js';
import { freePort } from '../../support/net.js';
import { AppServerProcess } from './appServerProcess.js';
import { ChaosUser } from './chaosUser.js';
import { DeliveryLedger } from './deliveryLedger.js';

/** Options of {@link ChaosWorld.start}. */
export interface ChaosWorldOptions {
  users: number;
  graceMs: number;
  random: () => number;
  /** Called when a user's glasses are acked again; `withinGrace` as {@link ChaosUser} judges it. */
  onReturn: (user: ChaosUser, withinGrace: boolean, cause: string) => void;
  /** Most handshakes in flight while the users first connect. */
  connectConcurrency?: number;
}

const SERVERS = [
  { sdk: 'tether', packageName: 'com.chaos.tether0' },
  { sdk: 'tether', packageName: 'com.chaos.tether1' },
  { sdk: 'mentra', packageName: 'com.chaos.stock0' },
  { sdk: 'mentra', packageName: 'com.chaos.stock1' },
] as const;

/** The cloud's settings for the run: production retry logic, short clocks where a test needs them. */
function cloudEnv(appProxyPort: number, graceMs: number): Record<string, string> {
  return {
    TETHER_PUBLIC_URL: `ws://127.0.0.1:${appProxyPort}`,
    TETHER_GRACE_PERIOD_MS: String(graceMs),
    TETHER_HEARTBEAT_INTERVAL_MS: '1000',
    TETHER_HEARTBEAT_TIMEOUT_MS: '3000',
    TETHER_APP_RECONNECT_WINDOW_MS: '6000',
    TETHER_WEBHOOK_TIMEOUT_MS: '10000',
    TETHER_WEBHOOK_RETRY_MAX_DELAY_MS: '2000',
    TETHER_CIRCUIT_PROBE_MAX_DELAY_MS: '1000',
    TETHER_CONNECTIONS_PER_ADDRESS_PER_MINUTE: '0',
    TETHER_MAX_PENDING_SOCKETS: '0',
    ...(process.env.CHAOS_CLOUD_LOG ? { TETHER_LOG_LEVEL: process.env.CHAOS_CLOUD_LOG_LEVEL ?? 'info' } : {}),
    // For a leak hunt: `CHAOS_CLOUD_NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2`, then signal the cloud's pid.
    ...(process.env.CHAOS_CLOUD_NODE_OPTIONS ? { NODE_OPTIONS: process.env.CHAOS_CLOUD_NODE_OPTIONS } : {}),
  };
}

/** Everything the chaos run acts on. */
export class ChaosWorld {
  readonly ledger = new DeliveryLedger();
  readonly servers: AppServerProcess[] = [];
  readonly users: ChaosUser[] = [];
  /** When the cloud last came back from a restart (performance.now()). */
  cloudReturnedAt: number | undefined;
  /** Each restart of the cloud: the signal, how long it was away, and how long the new process took to listen, in ms. */
  readonly restarts: Array<{ signal: string; downMs: number; readyMs: number }> = [];
  private cloud: CloudProcess | undefined;
  private cloudStderr = '';
  private restarting: Promise<void> | undefined;
  /** With `CHAOS_CLOUD_LOG=<file>`, the cloud's log lines (`CHAOS_CLOUD_LOG_LEVEL`, default info) of every life go there, for a failure's post-mortem. */
  private readonly log = process.env.CHAOS_CLOUD_LOG ? createWriteStream(process.env.CHAOS_CLOUD_LOG) : undefined;

  private constructor(
    private readonly dir: string,
    readonly cloudPort: number,
    readonly appProxy: FaultProxy,
    private readonly options: ChaosWorldOptions,
  ) {}

  /** Starts the cloud and the app servers; the users are created, not connected. */
  static async start(options: ChaosWorldOptions): Promise<ChaosWorld> {
    const dir = mkdtempSync(join(tmpdir(), 'tether-chaos-'));
    const cloudPort = await freePort();
    const appProxy = await startFaultProxy(cloudPort);
    const world = new ChaosWorld(dir, cloudPort, appProxy, options);
    await world.startCloud();
    for (const spec of SERVERS) {
      const port = await freePort();
      const apiKey = await createAppOver(world.base, spec.packageName, `http://127.0.0.1:${port}/webhook`);
      const server = new AppServerProcess(
        { sdk: spec.sdk, packageName: spec.packageName, apiKey, ...(spec.sdk === 'tether' ? { cloudUrl: world.base } : {}) },
        world.ledger,
      );
      server.port = port;
      world.servers.push(server);
    }
    await Promise.all(world.servers.map((server) => server.start()));
    for (let i = 0; i < options.users; i++) {
      const userId = `chaos${i}`;
      world.users.push(
        await ChaosUser.create({
          userId,
          token: await createCoreToken(userId, CLOUD_PROCESS_SECRET),
          cloudPort,
          apps: world.appsOf(i).map((server) => server.packageName),
          graceMs: options.graceMs,
          random: options.random,
          onReturn: options.onReturn,
        }),
      );
    }
    return world;
  }

  /** The cloud's HTTP base URL. */
  get base(): string {
    return `http://127.0.0.1:${this.cloudPort}`;
  }

  /** Whether the cloud is being restarted now. */
  get cloudRestarting(): boolean {
    return this.restarting !== undefined;
  }

  /** What the cloud wrote to stderr (warnings, such as MaxListenersExceededWarning). */
  get stderr(): string {
    return this.cloudStderr;
  }

  /** The app servers user `index` runs: one Tether app and one stock app. */
  appsOf(index: number): AppServerProcess[] {
    return [this.servers[index % 2]!, this.servers[2 + (index % 2)]!];
  }

  /** (package, session id) of every app of user `index`. */
  sessionsOf(index: number): Array<[string, string]> {
    const userId = this.users[index]?.userId ?? `chaos${index}`;
    return this.appsOf(index).map((server) => [server.packageName, appSessionId(userId, server.packageName)]);
  }

  /** Restarts the cloud on the same port and database, after SIGTERM (graceful) or SIGKILL (crash). */
  restartCloud(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    this.restarting ??= (async () => {
      const old = this.cloud!;
      old.child.kill(signal);
      await old.exited;
      const downAt = performance.now();
      await this.startCloud();
      this.cloudReturnedAt = performance.now();
      this.restarts.push({ signal, downMs: Math.round(this.cloudReturnedAt - downAt), readyMs: Math.round(this.cloud!.readyMs) });
    })().finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }

  /** Waits for a restart in progress, if any. */
  async settled(): Promise<void> {
    await this.restarting;
  }

  /** Stops everything: users (glasses closed cleanly), app servers, the cloud; removes the database. */
  async close(): Promise<void> {
    await Promise.all(this.users.map((user) => user.stop()));
    for (const server of this.servers) await server.kill();
    await this.appProxy.close();
    const cloud = this.cloud;
    if (cloud && cloud.child.exitCode === null && cloud.child.signalCode === null) {
      cloud.child.kill('SIGTERM');
      const timer = setTimeout(() => killCloudProcess(cloud.child), 10_000);
      await cloud.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
    await new Promise<void>((resolve) => (this.log ? this.log.end(resolve) : resolve()));
  }

  private async startCloud(): Promise<void> {
    this.cloud = await startCloudProcess({
      port: this.cloudPort,
      dbPath: join(this.dir, 'tether.db'),
      env: cloudEnv(this.appProxy.port, this.options.graceMs),
      readyTimeoutMs: 30_000,
      onStderr: (chunk) => {
        if (this.cloudStderr.length < 100_000) this.cloudStderr += chunk;
      },
      ...(this.log ? { onStdout: (chunk: string) => this.log!.write(chunk) } : {}),
    });
  }
}
