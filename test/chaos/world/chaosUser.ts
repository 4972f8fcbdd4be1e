/**
 * One user of the chaos world: simulated glasses behind a fault proxy of their own, so a fault
 * hits this user's link alone. The glasses behave like a phone: a socket that closes is
 * reconnected (every 250–750 ms, jittered, until acked), a link that went silent is given up
 * after a while, and a transcription `<userId>#<k>` is sent on every tick while open, k rising.
 */
import { SimulatedGlasses } from '../../../src/sim/glassesClient.js';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../../support/faultProxy.js';

const RECONNECT_MIN_MS = 250;
const RECONNECT_SPREAD_MS = 500;

/** Options of {@link ChaosUser.create}. */
export interface ChaosUserOptions {
  userId: string;
  token: string;
  cloudPort: number;
  /** Apps declared in `connection_init.runningApps`. */
  apps: readonly string[];
  /** The cloud's grace period, in ms: a return after a longer gap is a new session. */
  graceMs: number;
  /** Seeded random in [0, 1). */
  random: () => number;
  /** Called on each ack; `withinGrace` is whether the glasses were away for less than grace (minus a margin). */
  onReturn: (user: ChaosUser, withinGrace: boolean, cause: string) => void;
}

/** One user's glasses and their private link. */
export class ChaosUser {
  readonly glasses: SimulatedGlasses;
  /** The next k to send. */
  nextK = 0;
  /** Why the link is down now (the fault that took it), for the recovery record. */
  private cause = 'first connect';
  /** Since when the glasses have been without a working link (performance.now()); undefined while up. */
  private downSince: number | undefined = performance.now();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly faultTimers = new Set<NodeJS.Timeout>();
  private connecting = false;
  private stopped = false;

  private constructor(
    private readonly options: ChaosUserOptions,
    readonly proxy: FaultProxy,
  ) {
    this.glasses = new SimulatedGlasses({
      url: `ws://127.0.0.1:${proxy.port}/glasses-ws`,
      token: options.token,
      runningApps: options.apps,
      record: false,
      connectTimeoutMs: 8000,
      closeTimeoutMs: 1000,
    });
    // The state, not the socket's close event: an old socket of a network switch closing leaves the glasses open.
    this.glasses.on('state', (state) => {
      if (state === 'closed') this.onSocketClosed();
    });
  }

  /** A user whose proxy listens; the glasses are not connected yet. */
  static async create(options: ChaosUserOptions): Promise<ChaosUser> {
    return new ChaosUser(options, await startFaultProxy(options.cloudPort));
  }

  get userId(): string {
    return this.options.userId;
  }

  /** The glasses' state, and whether a connect or a reconnect timer is pending (progress lines). */
  get phase(): string {
    return `${this.glasses.state}${this.connecting ? '+connecting' : ''}${this.reconnectTimer ? '+timer' : ''}`;
  }

  /** Whether the glasses have an open, acked socket. */
  get up(): boolean {
    return this.glasses.state === 'open';
  }

  /** Connects, retrying until acked (or stopped). */
  connect(): void {
    if (this.stopped || this.connecting || this.glasses.state === 'open') return;
    this.connecting = true;
    this.glasses.connect().then(
      () => {
        this.connecting = false;
        this.returned();
      },
      () => {
        this.connecting = false;
        this.scheduleReconnect();
      },
    );
  }

  /** Sends the next transcription if open; returns whether it went into the socket. */
  speak(): boolean {
    if (this.glasses.state !== 'open') return false;
    if (!this.glasses.transcribe(`${this.userId}#${this.nextK}`)) return false;
    this.nextK += 1;
    return true;
  }

  /** Resets the link, unreachable for `ms` ms (0: reconnect at once). */
  blip(ms: number, cause: string): void {
    this.markDown(cause);
    void this.proxy.cut(ms);
  }

  /** Black-holes the link for `ms`; then the phone gives up on it and opens another. */
  zombie(ms: number): void {
    const link = this.proxy.connections.at(-1);
    if (!link) return;
    link.setMode({ kind: 'blackhole' });
    this.markDown('zombie');
    this.later(ms, () => {
      // The old socket is dropped on the phone's side; its FIN is lost in the black hole.
      if (this.glasses.state === 'open') {
        this.glasses.networkSwitch({ closeOld: 'terminate' }).then(
          () => this.returned(),
          () => this.scheduleReconnect(),
        );
      }
    });
  }

  /** A new network: a second socket, the old one ended as `closeOld` says. */
  networkSwitch(closeOld: 'after-ack' | 'never' | 'terminate' | 'zombie'): void {
    if (this.glasses.state !== 'open') return;
    this.markDown('networkSwitch');
    this.glasses.networkSwitch({ closeOld }).then(
      () => this.returned(),
      () => this.scheduleReconnect(),
    );
  }

  /** Sets the mode of the current link for `ms`, then passes again. */
  degrade(mode: FaultMode, ms: number): void {
    const link = this.proxy.connections.at(-1);
    if (!link) return;
    link.setMode(mode);
    if (ms > 0) this.later(ms, () => link.setMode({ kind: 'pass' }));
  }

  /** Ends the user for good: the glasses close cleanly, the proxy stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    for (const timer of this.faultTimers) clearTimeout(timer);
    this.faultTimers.clear();
    await this.glasses.close().catch(() => {});
    await this.glasses.destroy();
    await this.proxy.close();
  }

  /** Acked again: tells the world how long the glasses were away, and whether that was within grace. */
  private returned(): void {
    const awayMs = performance.now() - (this.downSince ?? performance.now());
    // A margin below grace: a return near its end may land on either side of it.
    this.options.onReturn(this, awayMs < this.options.graceMs - 2000, this.cause);
    this.downSince = undefined;
    this.cause = 'closed by the cloud';
  }

  /** The link is lost from now on (or, for a black hole, from when it went silent), because of `cause`. */
  private markDown(cause: string): void {
    this.downSince ??= performance.now();
    this.cause = cause;
  }

  private onSocketClosed(): void {
    if (this.stopped) return;
    this.downSince ??= performance.now();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, RECONNECT_MIN_MS + this.options.random() * RECONNECT_SPREAD_MS);
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.faultTimers.delete(timer);
      if (!this.stopped) action();
    }, ms);
    this.faultTimers.add(timer);
  }
}
