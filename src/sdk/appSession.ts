/**
 * `AppSession`: one app's connection to the cloud for one user, API-compatible with the part of
 * `@mentra/sdk`'s `AppSession` it covers. The lifecycle is the `appConnection` actor; this class
 * wires it to a real socket, to the app's handlers, and to the resources the app registers,
 * which are all released when the machine reaches `closed`.
 */
import { createActor, type Actor, type InspectionEvent, type Observer, type StateValue } from 'xstate';
import { WebSocket } from 'ws';
import {
  appConnectionMachine,
  type AppConnectionConfig,
  type AppConnectionEmitted,
} from '../../machines/appConnection.js';
import type { WireMessage } from '../../machines/ports.js';
import { TetherError, type ErrorCode, isErrorCode } from '../protocol/errors.js';
import type { CloudToAppMessage } from '../protocol/cloudToApp.js';
import type { ParseError } from '../protocol/parse.js';
import { silentLogger, type Logger } from '../logger.js';
import { sdkAppSocket, type AppSocketOptions, type SocketLink } from './appSocket.js';
import { SequenceGuard, type DeliveryInfo } from './sequenceGuard.js';
import { resolveAppSessionSettings, type AppSessionOptions, type AppSessionSettings } from './config.js';
import { EventManager } from './eventManager.js';
import { LayoutManager } from './layoutManager.js';
import { ResourceTracker, type TimerHandle } from './resourceTracker.js';
import { audioChunkOf } from './streamData.js';

/** The connection machine with the SDK's socket, built once: providing it per session costs ~1 ms. */
const sdkConnectionMachine = appConnectionMachine.provide({ actors: { appSocket: sdkAppSocket } });

/** Protocol extensions this SDK understands; the cloud sends their messages only to us. */
export const SDK_EXTENSIONS = ['user_reconnected', 'resume'] as const;

/**
 * Configuration of an {@link AppSession}. Durations are in milliseconds. Unset tuning values
 * come from the environment (`TETHER_RECONNECT_DELAY_MS`…) and then from the defaults.
 */
export interface AppSessionConfig extends AppSessionOptions {
  packageName: string;
  apiKey: string;
  /** The cloud's app WebSocket URL, as sent in the webhook. */
  mentraOSWebsocketUrl?: string;
  /** Older name of {@link mentraOSWebsocketUrl}; used when that is absent. */
  augmentOSWebsocketUrl?: string;
  /** The user this session serves, when known (from the webhook). */
  userId?: string;
  logger?: Logger;
  /** Source of backoff jitter; `Math.random` unless a test seeds it. */
  random?: () => number;
  /** XState inspection observer; the inspector streams the connection actor through it. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** Options for `session.setTimeout`-style helpers. */
type TimerCallback = () => void;

/**
 * One app session. Create it, register handlers (before or after `connect`), call
 * `connect(sessionId)`. Handlers, timers and cleanup functions registered through the session
 * are released when it ends, whatever ends it.
 */
export class AppSession {
  /** Stream and lifecycle handlers; each `on*` returns an unsubscribe function. */
  readonly events: EventManager;
  /** Display helpers (`showTextWall`…); frames are queued while reconnecting. */
  readonly layouts: LayoutManager;
  /** Resolved configuration. */
  readonly settings: AppSessionSettings;
  readonly packageName: string;
  readonly userId: string | undefined;

  private readonly tracker: ResourceTracker;
  private readonly link: SocketLink = { socket: null, gen: 0 };
  private readonly actor: Actor<typeof appConnectionMachine>;
  private readonly log: Logger;
  private ack: WireMessage | null = null;
  private connecting: Promise<void> | null = null;
  private readonly sequence = new SequenceGuard();

  /**
   * @throws TetherError `INVALID_CONFIG` when a setting is invalid or no WebSocket URL is given.
   */
  constructor(config: AppSessionConfig) {
    const url = config.mentraOSWebsocketUrl ?? config.augmentOSWebsocketUrl;
    if (!url) throw new TetherError('INVALID_CONFIG', 'mentraOSWebsocketUrl (or augmentOSWebsocketUrl) is required');
    this.packageName = config.packageName;
    this.userId = config.userId;
    this.settings = resolveAppSessionSettings({ options: config });
    this.log = (config.logger ?? silentLogger).child({ packageName: config.packageName, userId: config.userId, actor: 'appConnection' });
    this.tracker = new ResourceTracker({
      onError: (error, source) => this.log.warn({ err: errorText(error), source }, 'session resource callback threw'),
    });
    this.events = new EventManager({
      tracker: this.tracker,
      onSubscriptionsChanged: (subscriptions) => this.actor.send({ type: 'subscriptions.changed', subscriptions }),
      onHandlerError: (error, event) => this.log.error({ err: errorText(error), event }, 'handler threw'),
    });
    this.layouts = new LayoutManager({
      packageName: config.packageName,
      send: (message) => this.send(message as unknown as WireMessage, `display:${message.view}`),
    });

    const machineConfig: AppConnectionConfig = {
      url,
      packageName: config.packageName,
      apiKey: config.apiKey,
      autoReconnect: this.settings.autoReconnect,
      maxReconnectAttempts: this.settings.maxReconnectAttempts,
      reconnectDelayMs: this.settings.reconnectDelayMs,
      maxReconnectDelayMs: this.settings.maxReconnectDelayMs,
      heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
      heartbeatTimeoutMs: this.settings.heartbeatTimeoutMs,
      connectTimeoutMs: this.settings.connectTimeoutMs,
      stableMs: this.settings.stableMs,
      outboxLimit: this.settings.outboxLimit,
      extensions: SDK_EXTENSIONS,
    };
    const socketContext: AppSocketOptions = {
      link: this.link,
      log: this.log,
      onMessage: (message) => this.handleMessage(message),
      onBadFrame: (error) => this.handleBadFrame(error),
      // Binary frames are the glasses' audio; copied only when someone listens.
      onBinary: (frame) => {
        if (this.events.hasStream('audio_chunk')) this.events.dispatchStream('audio_chunk', audioChunkOf(frame));
      },
      // `ack` is set by the first connection: from then on every init is a resume.
      lastSeq: () => this.sequence.resumeFrom(this.ack !== null),
    };
    this.actor = createActor(sdkConnectionMachine, {
      input: { config: machineConfig, random: config.random ?? Math.random, socketContext: () => socketContext },
      ...(config.inspect ? { inspect: config.inspect } : {}),
    });
    this.actor.on('*', (event) => this.relay(event));
    this.actor.subscribe({
      complete: () => this.release(),
      error: (error) => {
        this.log.error({ err: errorText(error) }, 'connection actor failed');
        this.release();
      },
    });
    this.actor.start();
  }

  /** The connection's state value: `idle`, `{ connecting: 'opening' }`, `open`, `reconnecting`, `closed`. */
  get state(): StateValue {
    return this.actor.getSnapshot().value;
  }

  /** The session id given to {@link connect}, or null before. */
  get sessionId(): string | null {
    return this.actor.getSnapshot().context.sessionId;
  }

  /** The app settings from the last `tpa_connection_ack` (an empty list before). */
  get appSettings(): unknown[] {
    const settings = this.ack?.settings;
    const list: unknown[] = Array.isArray(settings) ? settings : [];
    return list;
  }

  /** The glasses' capabilities from the last ack, or null. */
  get capabilities(): unknown {
    return this.ack?.capabilities ?? null;
  }

  /** Delivery position: the highest `seq` handed to handlers, duplicates refused, frames reported lost. */
  get delivery(): DeliveryInfo {
    return this.sequence.info;
  }

  /** Number of live tracked resources: timers, cleanup functions and handlers. */
  get trackedResources(): number {
    return this.tracker.size;
  }

  /**
   * Connects and resolves on the cloud's ack. Rejects with a {@link TetherError} whose `code`
   * says why (`INVALID_API_KEY`, `CONNECT_TIMEOUT`, `CONNECTION_FAILED`…); a first connection
   * that fails is not retried — the webhook caller retries — and the session is then closed.
   */
  connect(sessionId: string): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = new Promise<void>((resolve, reject) => {
      const connected = this.actor.on('connected', () => {
        connected.unsubscribe();
        failed.unsubscribe();
        resolve();
      });
      const failed = this.actor.on('disconnected', (ending) => {
        connected.unsubscribe();
        failed.unsubscribe();
        const code: ErrorCode = ending.errorCode && isErrorCode(ending.errorCode) ? ending.errorCode : 'CONNECTION_FAILED';
        reject(new TetherError(code, ending.message, { closeCode: ending.code, reason: ending.reason }));
      });
      if (this.actor.getSnapshot().status !== 'active') {
        connected.unsubscribe();
        failed.unsubscribe();
        reject(new TetherError('CONNECTION_CLOSED', 'this session has ended; create a new one'));
        return;
      }
      this.actor.send({ type: 'connect.requested', sessionId });
    });
    return this.connecting;
  }

  /** Closes the connection with 1000 and releases every resource of the session. Idempotent. */
  disconnect(reason?: string): void {
    if (this.actor.getSnapshot().status !== 'active') return;
    this.actor.send(reason ? { type: 'disconnect.requested', reason } : { type: 'disconnect.requested' });
  }

  /** True while the connection is open and its socket writable; the heartbeat keeps it honest. */
  isConnectionHealthy(): boolean {
    const snapshot = this.actor.getSnapshot();
    return snapshot.status === 'active' && snapshot.hasTag('canSend') && this.link.socket?.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a message to the cloud: at once while open, otherwise through the outbox (bounded;
   * messages with the same `coalesceKey` replace each other). Never throws on a closed socket.
   */
  send(message: WireMessage, coalesceKey?: string): void {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.status !== 'active') {
      this.log.debug({ type: message.type }, 'send after the session ended; dropped');
      return;
    }
    const socket = this.link.socket;
    if (snapshot.hasTag('canSend') && socket?.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ ...message, timestamp: new Date().toISOString() }));
      return;
    }
    this.actor.send(coalesceKey ? { type: 'send.requested', message, coalesceKey } : { type: 'send.requested', message });
  }

  /** `setTimeout` that is cleared when the session ends. `ms` in milliseconds. */
  setTimeout(callback: TimerCallback, ms: number): TimerHandle {
    return this.tracker.setTimeout(callback, ms);
  }

  /** `setInterval` that is cleared when the session ends. `ms` in milliseconds. */
  setInterval(callback: TimerCallback, ms: number): TimerHandle {
    return this.tracker.setInterval(callback, ms);
  }

  /** Adopts a timer created elsewhere so the session clears it when it ends. */
  registerTimer(handle: TimerHandle): TimerHandle {
    return this.tracker.registerTimer(handle);
  }

  /** Clears a timer created through the session. */
  clearTimer(handle: TimerHandle): void {
    this.tracker.clearTimer(handle);
  }

  /** Runs `cleanup` when the session ends; returns a function that unregisters it. */
  registerCleanup(cleanup: () => void): () => void {
    return this.tracker.registerCleanup(cleanup);
  }

  /** Subscribes to the connection actor's snapshots (for tools such as the inspector). */
  subscribe(listener: (state: StateValue) => void): () => void {
    const subscription = this.actor.subscribe((snapshot) => listener(snapshot.value));
    return () => subscription.unsubscribe();
  }

  private relay(event: AppConnectionEmitted): void {
    switch (event.type) {
      case 'connected':
        this.ack = event.ack;
        this.log.info('connected');
        this.events.emitLifecycle('connected', this.appSettings as never);
        break;
      case 'reconnected':
        this.ack = event.ack;
        this.log.info('reconnected');
        this.events.emitLifecycle('reconnected', this.appSettings as never);
        break;
      case 'reconnecting':
        this.log.warn({ attempt: event.attempt, maxAttempts: event.maxAttempts, delayMs: event.delayMs }, 'reconnecting');
        this.events.emitLifecycle('reconnecting', { attempt: event.attempt, maxAttempts: event.maxAttempts, delayMs: event.delayMs });
        break;
      case 'disconnected': {
        const { type: _type, ...ending } = event;
        this.log.info({ code: ending.code, reason: ending.reason, permanent: ending.permanent, errorCode: ending.errorCode }, 'disconnected');
        this.events.emitLifecycle('disconnected', ending);
        break;
      }
      case 'error':
        this.log.warn({ code: event.code }, event.message);
        this.events.emitLifecycle('error', new TetherError(isErrorCode(event.code) ? event.code : 'INTERNAL_ERROR', event.message));
        break;
    }
  }

  private handleMessage(message: CloudToAppMessage): void {
    switch (message.type) {
      case 'data_stream':
        // A replay may repeat frames this session already handled: never hand one over twice.
        if (this.sequence.admit(message.seq)) this.events.dispatchStream(message.streamType, message.data);
        else this.log.trace({ seq: message.seq }, 'duplicate data_stream dropped');
        break;
      case 'resume_gap': {
        const gap = {
          lost: message.lost,
          ...(message.fromSeq !== undefined ? { fromSeq: message.fromSeq } : {}),
          ...(message.toSeq !== undefined ? { toSeq: message.toSeq } : {}),
        };
        this.sequence.recordGap(message.lost);
        this.log.warn(gap, 'messages lost beyond the replay window');
        const text = `${message.lost} messages missed while disconnected are no longer available`;
        this.events.emitLifecycle('error', new TetherError('RESUME_GAP', text, gap));
        this.events.emitLifecycle('resume_gap', gap);
        break;
      }
      case 'user_reconnected':
        this.events.emitLifecycle('user_reconnected', { userId: message.userId, disconnectedMs: message.disconnectedMs });
        break;
      case 'settings_update':
        if (this.ack) this.ack = { ...this.ack, settings: message.settings };
        break;
      default:
        this.log.debug({ type: message.type }, 'message from the cloud');
    }
  }

  private handleBadFrame(error: ParseError): void {
    this.log.warn({ code: error.code, type: error.type }, 'bad frame from the cloud');
    this.events.emitLifecycle('error', new TetherError(error.code, error.message));
  }

  private release(): void {
    this.tracker.releaseAll();
    this.events.clear();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
