/**
 * One app server of the chaos world as a child process (`../fixtures/appProcess.ts`): started on
 * a port, killed for real, started again on the same port. What its sessions receive flows into
 * the shared {@link DeliveryLedger}; which sessions are connected is read by census.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AppCensus, AppChildReport, AppChildRequest, AppProcessConfig } from '../fixtures/appProcess.js';
import type { DeliveryLedger } from './deliveryLedger.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/appProcess.ts', import.meta.url));
const START_TIMEOUT_MS = 20_000;
const CENSUS_TIMEOUT_MS = 5000;

/** An app server the chaos world can kill and bring back. */
export class AppServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private censusWaiters: Array<(census: AppCensus) => void> = [];
  /** The port it serves on; fixed after the first start. */
  port = 0;
  /** `onSession` calls in all its lives, by session id. */
  readonly starts = new Map<string, number>();
  /** When it last came back (performance.now()), or undefined while it has not been killed. */
  returnedAt: number | undefined;
  /** Whether it is down on purpose now. */
  down = false;

  constructor(
    readonly config: Omit<AppProcessConfig, 'port'>,
    private readonly ledger: DeliveryLedger,
  ) {}

  get packageName(): string {
    return this.config.packageName;
  }

  /** Starts the process (on its previous port after the first time); resolves once it listens. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      // stdout ignored: @mentra/sdk prints lines of its own ("SimpleStorage flushed…") past its logger.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, CHAOS_APP: JSON.stringify({ ...this.config, port: this.port } satisfies AppProcessConfig) },
    });
    this.child = child;
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.on('message', (message: AppChildReport) => this.onReport(message));
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.packageName}: no listening report within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const onExit = (code: number | null, signal: string | null) => {
        clearTimeout(timer);
        reject(new Error(`${this.packageName}: exited before listening (${code ?? signal})`));
      };
      child.once('exit', onExit);
      child.on('message', (message: AppChildReport) => {
        if (message.type !== 'listening') return;
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(message.port);
      });
    });
    this.down = false;
  }

  /** SIGKILL, as an evicted pod or a crash; resolves once the process is gone. */
  async kill(): Promise<void> {
    this.down = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
    for (const waiter of this.censusWaiters.splice(0)) waiter({ alive: 0, resources: {}, connectedIds: [], disconnected: [] });
  }

  /** Starts it again on the same port after a kill. */
  async restart(): Promise<void> {
    await this.start();
    this.returnedAt = performance.now();
  }

  /** Asks the process which sessions are alive and connected, and what it holds open. */
  census(): Promise<AppCensus> {
    const child = this.child;
    if (this.down || !child?.connected) return Promise.resolve({ alive: 0, resources: {}, connectedIds: [], disconnected: [] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.packageName}: no census within ${CENSUS_TIMEOUT_MS} ms`)), CENSUS_TIMEOUT_MS);
      this.censusWaiters.push((census) => {
        clearTimeout(timer);
        resolve(census);
      });
      child.send({ type: 'census' } satisfies AppChildRequest);
    });
  }

  private onReport(message: AppChildReport): void {
    switch (message.type) {
      case 'session':
        this.starts.set(message.sessionId, (this.starts.get(message.sessionId) ?? 0) + 1);
        break;
      case 'deliveries':
        this.ledger.record(this.config.sdk, message.deltas);
        break;
      case 'census':
        this.censusWaiters.shift()?.(message.census);
        break;
      default:
        break;
    }
  }
}
