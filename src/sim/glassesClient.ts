/**
 * A simulated pair of glasses: the phone app's side of `/glasses-ws`, for integration tests, the
 * demo and load tests with thousands of clients. It speaks the glasses protocol through
 * `src/protocol` and can misbehave the ways real phones do (seed 05): vanish without a close
 * frame (force-quit, airplane mode), or open a new socket before the old one is gone (network
 * switch).
 *
 * Kept light on purpose: no per-client interval. The only timers are a connect timeout while a
 * handshake is pending, a bound on a clean close, and those of pending `waitFor` calls.
 */
import { EventEmitter } from 'node:events';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { silentLogger } from '../logger.js';
import type { Logger } from '../logger.js';
import { CloseCode, closeReason, isSendableCloseCode } from '../protocol/closeCodes.js';
import type { CloudToGlassesMessage, CloudToGlassesOf } from '../protocol/cloudToGlasses.js';
import type { ConnectionInit, GlassesToCloudMessage, GlassesToCloudOf } from '../protocol/glassesToCloud.js';
import { parseMessage, serialize } from '../protocol/parse.js';
import type { ParseError } from '../protocol/parse.js';

/**
 * Where the glasses stand, judged by their current socket: `idle` before the first `connect()`,
 * `connecting` until the `connection_ack`, `open` after it, `closed` once that socket is gone,
 * `zombie` after {@link SimulatedGlasses.forceQuit} (the socket is still open for the cloud, but
 * nothing ever comes out of it again).
 */
export type GlassesState = 'idle' | 'connecting' | 'open' | 'closed' | 'zombie';

/** Where the core token travels: the upgrade's `Authorization: Bearer` header, or `connection_init.coreToken`. */
export type TokenPlacement = 'header' | 'init';

/** What {@link SimulatedGlasses.networkSwitch} does with the old socket once the new one is acked. */
export type CloseOldMode =
  /** Close it cleanly (1000 "network switch") and wait for the close to finish (default). */
  | 'after-ack'
  /** Leave it open and alive (it still answers pings) until the cloud or `close()`/`destroy()` ends it. */
  | 'never'
  /** Drop its TCP connection without a close frame; the cloud observes 1006. */
  | 'terminate'
  /** Make it a zombie, as `forceQuit()` does to a socket: open for the cloud, silent forever (the old radio is gone). */
  | 'zombie';

/** Options of {@link SimulatedGlasses}. */
export interface SimulatedGlassesOptions {
  /** WebSocket URL of the cloud's glasses endpoint, e.g. `ws://127.0.0.1:8002/glasses-ws`. */
  url: string;
  /** Core token (JWT). Absent: the glasses send no credentials at all (to test refusals). */
  token?: string;
  /**
   * Apps the phone declares as running in `connection_init` (seed 05 option 4). Absent: the
   * field is omitted and the cloud falls back to its stored set. `startApp`/`stopApp` keep a
   * declared list up to date; they never create one.
   */
  runningApps?: readonly string[];
  /** Where the token travels (default `header`). */
  tokenIn?: TokenPlacement;
  /** Logger for socket lifecycle lines (debug) and frames (trace); default silent. */
  logger?: Logger;
  /** How long a handshake may take, from opening the socket to `connection_ack`, in ms (default 5000). */
  connectTimeoutMs?: number;
  /** How long a clean close may wait for the cloud's close frame before dropping the TCP connection, in ms (default 2000). */
  closeTimeoutMs?: number;
  /** Keep every received frame in `received`/`displays`/`badFrames` (default true); load tests may turn it off. */
  record?: boolean;
}

/** One parsed cloud → glasses frame, as received. */
export interface ReceivedFrame<M extends CloudToGlassesMessage = CloudToGlassesMessage> {
  /** The parsed message. */
  readonly message: M;
  /** When it arrived, ms since the epoch (`Date.now()`). */
  readonly receivedAt: number;
  /** Generation of the socket it arrived on (1 for the first socket these glasses opened). */
  readonly gen: number;
}

/** A frame from the cloud that `parseMessage` refused (kept apart from `received`). */
export interface BadFrame {
  /** Why it was refused (`INVALID_JSON`, `UNKNOWN_TYPE`, …). */
  readonly error: ParseError;
  /** When it arrived, ms since the epoch. */
  readonly receivedAt: number;
  /** Generation of the socket it arrived on. */
  readonly gen: number;
}

/** A socket of these glasses that closed. */
export interface GlassesCloseEvent {
  /** Close code as observed (1006 when the TCP connection ended without a close frame). */
  readonly code: number;
  /** Close reason, possibly empty. */
  readonly reason: string;
  /** Generation of the socket. */
  readonly gen: number;
  /** `client` when these glasses started the close (`close`, `terminate`, `destroy`, a timeout); else `server`. */
  readonly initiatedBy: 'client' | 'server';
  /** When the close completed, ms since the epoch. */
  readonly closedAt: number;
}

/** The cloud's `connection_ack`. */
export type ConnectionAck = CloudToGlassesOf<'connection_ack'>;

/** Options of {@link SimulatedGlasses.networkSwitch}. */
export interface NetworkSwitchOptions {
  /** What happens to the old socket after the new one is acked (default `after-ack`). */
  closeOld?: CloseOldMode;
}

/** Options of {@link SimulatedGlasses.waitFor}. */
export interface WaitForFrameOptions {
  /** Give up after this many ms (default 2000). */
  timeoutMs?: number;
  /** Index in `received` from which already-received frames count (default 0: all of them). */
  since?: number;
}

/** Tests a received message for {@link SimulatedGlasses.waitFor}. */
export type FramePredicate = (message: CloudToGlassesMessage, frame: ReceivedFrame) => boolean;

/** Options of {@link SimulatedGlasses.transcribe}. */
export interface TranscribeOptions {
  /** Final or interim result (default true). */
  isFinal?: boolean;
  /** BCP 47 language; absent means the cloud's default (`en-US`). */
  language?: string;
}

/** Arguments of {@link SimulatedGlasses.notify}: a `phone_notification` without its `type`. */
export type PhoneNotification = Omit<GlassesToCloudOf<'phone_notification'>, 'type'>;

/** Events of {@link SimulatedGlasses}; it never emits `error`. */
export type SimulatedGlassesEvents = {
  /** The state changed. */
  state: [state: GlassesState];
  /** A parsed frame arrived (also when `record` is off). */
  message: [frame: ReceivedFrame];
  /** One of the glasses' sockets closed. */
  close: [event: GlassesCloseEvent];
};

/**
 * A failed `connect()` or `networkSwitch()`. `code` is the cloud's `connection_error` code when
 * it sent one (`INVALID_TOKEN`, `TOKEN_EXPIRED`, …), else `CONNECT_TIMEOUT`, `CONNECTION_FAILED`
 * (the socket never opened) or `CONNECTION_CLOSED` (it closed, or was force-quit, before the ack).
 */
export class SimulatedGlassesError extends Error {
  /** Stable code; from the wire, so possibly one this project does not register. */
  readonly code: string;
  /** Close code of the socket, when it had closed by the time the error was raised. */
  readonly closeCode?: number;
  /** Close reason that came with {@link closeCode}. */
  readonly closeReason?: string;

  /**
   * @param code stable error code
   * @param message human-readable text
   * @param close the socket's close, when known
   */
  constructor(code: string, message: string, close?: { code: number; reason: string }) {
    super(message);
    this.name = 'SimulatedGlassesError';
    this.code = code;
    if (close) {
      this.closeCode = close.code;
      this.closeReason = close.reason;
    }
  }
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_CLOSE_TIMEOUT_MS = 2000;
const DEFAULT_WAIT_MS = 2000;
const NETWORK_SWITCH_REASON = 'network switch';

interface Handshake {
  resolve(ack: ConnectionAck): void;
  reject(error: SimulatedGlassesError): void;
  /** The cloud's `connection_error`, held until the close that follows it. */
  refusal?: { code: string; message: string };
  /** A socket error before the upgrade completed. */
  failure?: Error;
}

/** One WebSocket of these glasses, with its generation. */
interface Link {
  readonly gen: number;
  readonly socket: WebSocket;
  opened: boolean;
  acked: boolean;
  zombie: boolean;
  closed: boolean;
  closedByClient: boolean;
  handshake: Handshake | undefined;
  connectTimer: NodeJS.Timeout | undefined;
  closeTimer: NodeJS.Timeout | undefined;
  readonly whenClosed: Promise<void>;
  readonly markClosed: () => void;
}

interface Waiter {
  readonly test: (frame: ReceivedFrame) => boolean;
  readonly resolve: (message: CloudToGlassesMessage) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A simulated glasses client. Every socket it opens gets a generation (`gen`), recorded on each
 * received frame and close, so tests can tell an old socket from its successor.
 *
 * @example
 * const glasses = new SimulatedGlasses({ url, token, runningApps: ['com.example.captions'] });
 * const { sessionId } = await glasses.connect();
 * glasses.transcribe('hello');
 * await glasses.waitFor('display_event');
 * await glasses.close();
 */
export class SimulatedGlasses extends EventEmitter<SimulatedGlassesEvents> {
  private readonly url: string;
  private readonly token: string | undefined;
  private readonly tokenIn: TokenPlacement;
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly record: boolean;

  private declaredApps: string[] | undefined;
  private currentState: GlassesState = 'idle';
  private lastGen = 0;
  private destroyed = false;
  private ackedSessionId: string | undefined;
  /** The socket the state describes and `send` writes to. */
  private current: Link | undefined;
  /** A network switch's new socket, until its ack makes it current. */
  private pendingSwitch: Link | undefined;
  /** Every socket not yet closed, zombies included. */
  private readonly links = new Set<Link>();
  private readonly waiters: Waiter[] = [];
  private readonly receivedFrames: ReceivedFrame[] = [];
  private readonly displayFrames: ReceivedFrame<CloudToGlassesOf<'display_event'>>[] = [];
  private readonly refusedFrames: BadFrame[] = [];
  private readonly closes: GlassesCloseEvent[] = [];

  /** @param options see {@link SimulatedGlassesOptions} */
  constructor(options: SimulatedGlassesOptions) {
    super();
    this.url = options.url;
    this.token = options.token;
    this.tokenIn = options.tokenIn ?? 'header';
    this.declaredApps = options.runningApps ? [...options.runningApps] : undefined;
    this.log = options.logger ? options.logger.child({ actor: 'simulatedGlasses' }) : silentLogger;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.record = options.record ?? true;
  }

  /** Current state; see {@link GlassesState}. */
  get state(): GlassesState {
    return this.currentState;
  }

  /** `sessionId` of the latest `connection_ack`, if any. */
  get sessionId(): string | undefined {
    return this.ackedSessionId;
  }

  /** Generation of the current socket (0 before the first). */
  get gen(): number {
    return this.current?.gen ?? 0;
  }

  /** The apps declared in `connection_init`, or `undefined` when none are declared. */
  get runningApps(): readonly string[] | undefined {
    return this.declaredApps ? [...this.declaredApps] : undefined;
  }

  /** Every parsed cloud → glasses frame, on every socket, in arrival order. */
  get received(): readonly ReceivedFrame[] {
    return this.receivedFrames;
  }

  /** The `display_event` frames among {@link received}. */
  get displays(): readonly ReceivedFrame<CloudToGlassesOf<'display_event'>>[] {
    return this.displayFrames;
  }

  /** Frames from the cloud that did not parse as cloud → glasses messages. */
  get badFrames(): readonly BadFrame[] {
    return this.refusedFrames;
  }

  /** Every close of a socket of these glasses, in order (see `initiatedBy` for who started it). */
  get closeEvents(): readonly GlassesCloseEvent[] {
    return this.closes;
  }

  /**
   * Replaces the declared running apps sent in the next `connection_init`; `undefined` stops
   * declaring them.
   */
  setRunningApps(apps: readonly string[] | undefined): void {
    this.declaredApps = apps ? [...apps] : undefined;
  }

  /**
   * Opens a socket, sends `connection_init` and resolves with the cloud's `connection_ack`.
   * Allowed from `idle`, `closed` and `zombie` (reopening the app after a force-quit leaves the
   * zombie socket as it is). Rejects with a {@link SimulatedGlassesError}; on a refusal it
   * waits for the cloud's close so the error carries `closeCode` (4001).
   */
  async connect(): Promise<ConnectionAck> {
    this.assertNotDestroyed();
    if (this.currentState === 'connecting' || this.currentState === 'open') {
      throw new Error(`SimulatedGlasses.connect() called while ${this.currentState}`);
    }
    const { link, acked } = this.openLink();
    this.current = link;
    this.refreshState();
    return this.settled(link, acked);
  }

  /**
   * Closes cleanly (if open), then connects again, declaring the same running apps.
   *
   * @param code close code for the old socket (default 1000)
   * @param reason close reason for the old socket
   */
  async reconnect(code: number = CloseCode.NORMAL, reason = ''): Promise<ConnectionAck> {
    if (this.currentState === 'open' || this.currentState === 'connecting') await this.close(code, reason);
    return this.connect();
  }

  /**
   * Opens a new socket with a full handshake while the current one stays open, makes it current
   * on its ack, then deals with the old socket as `closeOld` says. Resolves with the new ack
   * once that is done; so the cloud always sees the new `connection_init` before the old
   * socket's close. If the new handshake fails, the old socket stays current and untouched.
   */
  async networkSwitch(options: NetworkSwitchOptions = {}): Promise<ConnectionAck> {
    this.assertNotDestroyed();
    const old = this.current;
    if (this.currentState !== 'open' || old === undefined || this.pendingSwitch) {
      throw new Error(`SimulatedGlasses.networkSwitch() needs an open connection (state ${this.currentState})`);
    }
    const { link, acked } = this.openLink();
    this.pendingSwitch = link;
    const ack = await this.settled(link, acked);
    if (!old.closed) {
      switch (options.closeOld ?? 'after-ack') {
        case 'after-ack':
          await this.closeLink(old, CloseCode.NORMAL, NETWORK_SWITCH_REASON);
          break;
        case 'terminate':
          this.claimClose(old);
          old.socket.terminate();
          await old.whenClosed;
          break;
        case 'zombie':
          this.zombify(old);
          break;
        case 'never':
          break;
      }
    }
    return ack;
  }

  /**
   * Closes every live socket with a close frame and resolves when they are closed (a cloud
   * that never answers the close frame gets its TCP connection dropped after `closeTimeoutMs`).
   * Code 1006 cannot be sent in a frame: it drops the TCP connection instead. Zombie sockets
   * are left alone: they never send anything again; `destroy()` releases them.
   *
   * @param code close code (default 1000)
   * @param reason close reason, cut to 123 bytes
   */
  async close(code: number = CloseCode.NORMAL, reason = ''): Promise<void> {
    if (code !== CloseCode.ABNORMAL && !isSendableCloseCode(code)) {
      throw new RangeError(`Close code ${code} cannot be sent`);
    }
    const live = [...this.links].filter((link) => !link.zombie);
    await Promise.all(live.map((link) => this.closeLink(link, code, reason)));
    this.refreshState();
  }

  /**
   * The app is force-quit (or the phone lost its radio): every socket goes silent at once. No
   * close frame is sent, pings are never answered again, nothing more is read; for the cloud
   * the TCP connection stays open. The sockets are kept (inert) until {@link destroy}. A
   * pending `connect()` or `networkSwitch()` rejects with `CONNECTION_CLOSED`.
   */
  forceQuit(): void {
    for (const link of this.links) this.zombify(link);
    const pending = this.pendingSwitch;
    if (pending) {
      this.pendingSwitch = undefined;
      if (this.current?.closed) this.current = pending;
    }
    this.log.debug({ gen: this.gen }, 'glasses force-quit');
    this.refreshState();
  }

  /**
   * Releases everything for good: drops every socket's TCP connection (zombies included, no
   * close frame), rejects pending waits, and resolves once every socket is closed. Idempotent;
   * the glasses cannot connect again afterwards.
   */
  async destroy(): Promise<void> {
    this.destroyed = true;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('SimulatedGlasses destroyed'));
    }
    const links = [...this.links];
    for (const link of links) {
      clearTimeout(link.closeTimer);
      this.claimClose(link);
      link.socket.terminate();
    }
    await Promise.all(links.map((link) => link.whenClosed));
    this.refreshState();
  }

  /**
   * Sends one glasses → cloud message on the current socket.
   *
   * @returns false (and sends nothing) unless the state is `open`
   */
  send(message: GlassesToCloudMessage): boolean {
    if (this.currentState !== 'open') return false;
    return this.write(serialize(message));
  }

  /**
   * Sends `data` as is on the current socket, even before the ack: for bad-input tests
   * (invalid JSON, unknown types, oversized frames).
   *
   * @returns false unless the current socket is open and not a zombie
   */
  sendRaw(data: string | Buffer): boolean {
    return this.write(data);
  }

  /** The user starts an app: sends `start_app` and adds it to the declared running apps (if declared). */
  startApp(packageName: string): boolean {
    if (this.declaredApps && !this.declaredApps.includes(packageName)) this.declaredApps.push(packageName);
    return this.send({ type: 'start_app', packageName });
  }

  /** The user stops an app: sends `stop_app` and removes it from the declared running apps. */
  stopApp(packageName: string): boolean {
    if (this.declaredApps) this.declaredApps = this.declaredApps.filter((app) => app !== packageName);
    return this.send({ type: 'stop_app', packageName });
  }

  /** Speech transcribed on the phone: a `local_transcription`. */
  transcribe(text: string, options: TranscribeOptions = {}): boolean {
    return this.send({
      type: 'local_transcription',
      text,
      isFinal: options.isFinal ?? true,
      ...(options.language !== undefined ? { transcribeLanguage: options.language } : {}),
    });
  }

  /** A `button_press` (default: button `main`, a short press). */
  pressButton(buttonId = 'main', pressType: 'short' | 'long' = 'short'): boolean {
    return this.send({ type: 'button_press', buttonId, pressType });
  }

  /** A `phone_notification`. */
  notify(notification: PhoneNotification): boolean {
    return this.send({ type: 'phone_notification', ...notification });
  }

  /**
   * One frame of audio as a binary WebSocket frame, the way MentraOS phones stream the microphone
   * (16 kHz 16-bit mono PCM; see `pcmFrames` in `streamEvents.ts`). The cloud relays it unchanged
   * to the user's apps subscribed to `audio_chunk`.
   *
   * @returns false (and sends nothing) unless the state is `open`
   */
  sendAudio(frame: Buffer): boolean {
    if (this.currentState !== 'open') return false;
    return this.write(frame);
  }

  /** An app-level `heartbeat` (the cloud answers `heartbeat_ack`); WebSocket pings are answered anyway. */
  heartbeat(): boolean {
    return this.send({ type: 'heartbeat' });
  }

  /**
   * Resolves with the first received message that matches: frames already received count
   * (from index `since`), then new ones. Rejects after `timeoutMs` (default 2000 ms).
   *
   * @param match a message type, or a predicate
   * @param options timeout in ms, or {@link WaitForFrameOptions}
   */
  waitFor<K extends CloudToGlassesMessage['type']>(
    match: K,
    options?: number | WaitForFrameOptions,
  ): Promise<CloudToGlassesOf<K>>;
  waitFor<M extends CloudToGlassesMessage>(
    match: (message: CloudToGlassesMessage, frame: ReceivedFrame) => message is M,
    options?: number | WaitForFrameOptions,
  ): Promise<M>;
  waitFor(match: FramePredicate, options?: number | WaitForFrameOptions): Promise<CloudToGlassesMessage>;
  async waitFor(
    match: CloudToGlassesMessage['type'] | FramePredicate,
    options: number | WaitForFrameOptions = {},
  ): Promise<CloudToGlassesMessage> {
    const { timeoutMs = DEFAULT_WAIT_MS, since = 0 } = typeof options === 'number' ? { timeoutMs: options } : options;
    const test =
      typeof match === 'string'
        ? (frame: ReceivedFrame) => frame.message.type === match
        : (frame: ReceivedFrame) => match(frame.message, frame);
    // A predicate that throws rejects the wait: this is an async function.
    for (let i = Math.max(0, since); i < this.receivedFrames.length; i++) {
      const frame = this.receivedFrames[i];
      if (frame && test(frame)) return frame.message;
    }
    if (this.destroyed) throw new Error('SimulatedGlasses destroyed');
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        test,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.removeWaiter(waiter);
          const what = typeof match === 'string' ? `"${match}" frame` : 'matching frame';
          reject(new Error(`SimulatedGlasses.waitFor: no ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private assertNotDestroyed(): void {
    if (this.destroyed) throw new Error('SimulatedGlasses was destroyed');
  }

  private write(data: string | Buffer): boolean {
    const link = this.current;
    if (!link || link.zombie || link.socket.readyState !== WebSocket.OPEN) return false;
    link.socket.send(data);
    return true;
  }

  private openLink(): { link: Link; acked: Promise<ConnectionAck> } {
    const gen = ++this.lastGen;
    const sendHeader = this.tokenIn === 'header' && this.token !== undefined;
    // autoPong off: pongs are sent by hand so that a zombie can stop answering at once, even
    // for a ping already buffered when it was force-quit.
    const socket = new WebSocket(this.url, {
      autoPong: false,
      perMessageDeflate: false,
      ...(sendHeader ? { headers: { Authorization: `Bearer ${this.token}` } } : {}),
    });
    let markClosed!: () => void;
    const whenClosed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    let handshake!: Handshake;
    const acked = new Promise<ConnectionAck>((resolve, reject) => {
      handshake = { resolve, reject };
    });
    const link: Link = {
      gen,
      socket,
      opened: false,
      acked: false,
      zombie: false,
      closed: false,
      closedByClient: false,
      handshake,
      connectTimer: setTimeout(() => this.onConnectTimeout(link), this.connectTimeoutMs),
      closeTimer: undefined,
      whenClosed,
      markClosed,
    };
    this.links.add(link);

    socket.on('open', () => this.onOpen(link));
    socket.on('message', (data, isBinary) => this.onFrame(link, data, isBinary));
    socket.on('ping', (data) => {
      if (!link.zombie) socket.pong(data);
    });
    socket.on('error', (error) => {
      this.log.debug({ gen, err: error.message }, 'glasses socket error');
      if (link.handshake && !link.opened) link.handshake.failure ??= error;
    });
    socket.on('close', (code, reason) => this.onClose(link, code, reason.toString()));
    return { link, acked };
  }

  /** Waits for a handshake; on failure, also for its socket to be gone (zombies stay). */
  private async settled(link: Link, acked: Promise<ConnectionAck>): Promise<ConnectionAck> {
    try {
      return await acked;
    } catch (error) {
      if (!link.zombie) await link.whenClosed;
      throw error;
    }
  }

  private onOpen(link: Link): void {
    link.opened = true;
    if (link.zombie) {
      // Force-quit during the upgrade: the cloud gets an open socket that never says a word.
      link.socket.pause();
      return;
    }
    this.log.debug({ gen: link.gen }, 'glasses socket opened');
    const init: ConnectionInit = {
      type: 'connection_init',
      ...(this.tokenIn === 'init' && this.token !== undefined ? { coreToken: this.token } : {}),
      ...(this.declaredApps ? { runningApps: [...this.declaredApps] } : {}),
    };
    link.socket.send(serialize(init));
  }

  private onFrame(link: Link, data: RawData, isBinary: boolean): void {
    if (link.zombie || link.closed) return;
    const receivedAt = Date.now();
    if (isBinary) {
      this.log.trace({ gen: link.gen }, 'binary frame from cloud ignored');
      return;
    }
    const parsed = parseMessage('cloudToGlasses', data as Buffer);
    if (!parsed.ok) {
      this.log.debug({ gen: link.gen, code: parsed.error.code, type: parsed.error.type }, 'unreadable frame from cloud');
      if (this.record) this.refusedFrames.push({ error: parsed.error, receivedAt, gen: link.gen });
      return;
    }
    const message = parsed.message;
    this.log.trace({ gen: link.gen, type: message.type }, 'frame from cloud');
    let frame: ReceivedFrame;
    if (message.type === 'display_event') {
      const display = { message, receivedAt, gen: link.gen };
      if (this.record) this.displayFrames.push(display);
      frame = display;
    } else {
      frame = { message, receivedAt, gen: link.gen };
    }
    if (this.record) this.receivedFrames.push(frame);

    if (message.type === 'connection_ack' && !link.acked) this.onAck(link, message);
    else if (message.type === 'connection_error' && link.handshake) {
      link.handshake.refusal = { code: message.code, message: message.message };
    }
    this.emit('message', frame);
    this.notifyWaiters(frame);
  }

  private onAck(link: Link, ack: ConnectionAck): void {
    link.acked = true;
    this.ackedSessionId = ack.sessionId;
    // The new socket becomes current the moment its ack arrives, so a send right after the
    // ack already goes through it.
    if (link === this.pendingSwitch) {
      this.pendingSwitch = undefined;
      this.current = link;
    }
    this.log.debug({ gen: link.gen, sessionId: ack.sessionId }, 'glasses connected');
    const handshake = this.endHandshake(link);
    this.refreshState();
    handshake?.resolve(ack);
  }

  private onConnectTimeout(link: Link): void {
    link.connectTimer = undefined;
    const handshake = this.endHandshake(link);
    if (!handshake) return;
    const refusal = handshake.refusal;
    handshake.reject(
      refusal
        ? new SimulatedGlassesError(refusal.code, refusal.message)
        : new SimulatedGlassesError('CONNECT_TIMEOUT', `No connection_ack within ${this.connectTimeoutMs} ms`),
    );
    this.claimClose(link);
    link.socket.terminate();
  }

  private onClose(link: Link, code: number, reason: string): void {
    link.closed = true;
    clearTimeout(link.closeTimer);
    this.links.delete(link);
    const event: GlassesCloseEvent = {
      code,
      reason,
      gen: link.gen,
      initiatedBy: link.closedByClient ? 'client' : 'server',
      closedAt: Date.now(),
    };
    this.closes.push(event);
    this.log.debug({ gen: link.gen, code, reason, initiatedBy: event.initiatedBy }, 'glasses socket closed');

    const handshake = this.endHandshake(link);
    if (handshake) {
      const close = { code, reason };
      if (handshake.refusal) {
        handshake.reject(new SimulatedGlassesError(handshake.refusal.code, handshake.refusal.message, close));
      } else if (!link.opened && handshake.failure && !link.closedByClient) {
        handshake.reject(new SimulatedGlassesError('CONNECTION_FAILED', handshake.failure.message, close));
      } else {
        handshake.reject(new SimulatedGlassesError('CONNECTION_CLOSED', `Socket closed (${code}) before connection_ack`, close));
      }
    }
    if (link === this.pendingSwitch) this.pendingSwitch = undefined;
    link.markClosed();
    this.emit('close', event);
    this.refreshState();
  }

  private endHandshake(link: Link): Handshake | undefined {
    const handshake = link.handshake;
    link.handshake = undefined;
    clearTimeout(link.connectTimer);
    link.connectTimer = undefined;
    return handshake;
  }

  private zombify(link: Link): void {
    // A socket whose clean close is already under way finishes it: that close frame is out.
    if (link.zombie || link.closed || link.closedByClient) return;
    link.zombie = true;
    this.endHandshake(link)?.reject(new SimulatedGlassesError('CONNECTION_CLOSED', 'Force-quit before connection_ack'));
    // Stops reading from the TCP socket: no frame, ping, close frame or FIN is ever processed,
    // so nothing is ever answered. A still-connecting socket is paused when it opens.
    if (link.opened) link.socket.pause();
  }

  private async closeLink(link: Link, code: number, reason: string): Promise<void> {
    if (link.closed || link.zombie) return;
    this.claimClose(link);
    const socket = link.socket;
    if (code === CloseCode.ABNORMAL || socket.readyState === WebSocket.CONNECTING) socket.terminate();
    else if (socket.readyState === WebSocket.OPEN) socket.close(code, closeReason(reason));
    if (!link.closed && link.closeTimer === undefined) {
      link.closeTimer = setTimeout(() => socket.terminate(), this.closeTimeoutMs);
    }
    await link.whenClosed;
  }

  /**
   * Marks the close as ours unless the cloud's close frame already arrived (`ws` is `CLOSING`
   * then): a network switch may find the old socket already being replaced by the cloud.
   */
  private claimClose(link: Link): void {
    const { readyState } = link.socket;
    if (readyState === WebSocket.OPEN || readyState === WebSocket.CONNECTING) link.closedByClient = true;
  }

  private notifyWaiters(frame: ReceivedFrame): void {
    if (this.waiters.length === 0) return;
    for (const waiter of [...this.waiters]) {
      let matched: boolean;
      try {
        matched = waiter.test(frame);
      } catch (error) {
        this.removeWaiter(waiter);
        waiter.reject(error);
        continue;
      }
      if (matched) {
        this.removeWaiter(waiter);
        waiter.resolve(frame.message);
      }
    }
  }

  private removeWaiter(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    const index = this.waiters.indexOf(waiter);
    if (index !== -1) this.waiters.splice(index, 1);
  }

  private refreshState(): void {
    const next = this.computeState();
    if (next === this.currentState) return;
    this.currentState = next;
    this.emit('state', next);
  }

  private computeState(): GlassesState {
    const link = this.current;
    if (link === undefined) return this.lastGen === 0 ? 'idle' : 'closed';
    if (link.zombie && !link.closed) return 'zombie';
    if (!link.closed) return link.acked ? 'open' : 'connecting';
    // The current socket is gone but a network switch's new one may still be acked.
    return this.pendingSwitch && !this.pendingSwitch.closed ? 'connecting' : 'closed';
  }
}
