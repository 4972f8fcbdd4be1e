/**
 * `AppServer`: the HTTP side of an app, API-compatible with `@mentra/sdk`'s where covered. The
 * cloud starts a session by POSTing `session_request` to `/webhook`; the server opens an
 * {@link AppSession}, runs `onSession`, and answers once the session is acknowledged. It never
 * opens a second socket for a healthy session and never calls `process.exit`.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { TetherError, errorInfo, type ErrorCode } from '../protocol/errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { AppSession, type AppSessionConfig } from './appSession.js';
import { resolveAppServerSettings, type AppServerSettings, type AppSessionOptions } from './config.js';
import { createRateLimiter, hit, retryAfterSeconds } from '../util/rateLimit.js';
import { RegistrationClient, type RegistrationStatus } from './registrationClient.js';

/**
 * Most `session_request`s that open a connection accepted for one session id per minute (seed
 * 01 §3.5); duplicates for a live session are answered "already active" and not counted. Keyed by
 * session id because what it stops is a storm of requests for one session (retries, duplicate
 * deliveries). It does not bound a sender that invents ids, and no other key would: userId is
 * as easy to invent (and, for one package, names the same session), and the cloud itself is the
 * busiest single address (every session of every user comes from it, hundreds a minute after a
 * cloud restart), so a per-address cap low enough to stop a flood would refuse the cloud's own
 * recovery. What stops forged requests is checking where they come from, not counting them.
 */
export const SESSION_REQUESTS_PER_MINUTE = 3;

/** Configuration of an {@link AppServer}. */
export interface AppServerConfig extends Partial<AppServerSettings> {
  packageName: string;
  apiKey: string;
  /** Settings every session of this server starts with (durations in ms). */
  session?: AppSessionOptions;
  /** Serve `GET /health` (default true). */
  healthCheck?: boolean;
  logger?: Logger;
  /** Inspection observer handed to every session's connection actor. */
  inspect?: AppSessionConfig['inspect'];
  /** Version of the app reported when registering with the cloud (default `unknown`). */
  version?: string;
  /** Capabilities reported when registering with the cloud. */
  capabilities?: string[];
}

interface WebhookBody {
  type?: unknown;
  sessionId?: unknown;
  userId?: unknown;
  reason?: unknown;
  mentraOSWebsocketUrl?: unknown;
  augmentOSWebsocketUrl?: unknown;
}

interface ActiveSession {
  session: AppSession;
  userId: string;
  /** Settles when the first connection attempt has; duplicates wait on it. */
  ready: Promise<void>;
  stopRequested: boolean;
}

/**
 * Base class of an app server. Subclass it and override {@link onSession} (and optionally
 * {@link onStop}); mount {@link getExpressApp} in your own server or call {@link listen}.
 */
export class AppServer {
  protected readonly config: AppServerConfig;
  protected readonly logger: Logger;
  readonly #settings: AppServerSettings;
  readonly #app: Express;
  readonly #sessions = new Map<string, ActiveSession>();
  readonly #limiter = createRateLimiter(SESSION_REQUESTS_PER_MINUTE, 60_000);
  #server: Server | null = null;
  #stopped = false;
  #registration: RegistrationClient | null = null;

  /** @throws TetherError `INVALID_CONFIG` when a setting is invalid. */
  constructor(config: AppServerConfig) {
    this.config = config;
    this.#settings = resolveAppServerSettings({ options: config });
    this.logger = (config.logger ?? silentLogger).child({ packageName: config.packageName });
    this.#app = express();
    this.#app.use(express.json({ limit: '1mb' }));
    this.#app.post('/webhook', (req, res) => void this.#handleWebhook(req, res));
    if (config.healthCheck !== false) {
      this.#app.get('/health', (_req, res) => {
        res.json({ status: 'healthy', app: config.packageName, activeSessions: this.#sessions.size });
      });
    }
    this.#app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) return next(error);
      const code: ErrorCode = (error as { type?: string }).type === 'entity.too.large' ? 'MESSAGE_TOO_LARGE' : 'INVALID_JSON';
      this.logger.warn({ code }, 'bad webhook body');
      sendError(res, code === 'MESSAGE_TOO_LARGE' ? 413 : 400, code, 'Invalid webhook body');
    });
  }

  /** The express app, to mount or to serve yourself. */
  getExpressApp(): Express {
    return this.#app;
  }

  /**
   * Starts listening. `port` defaults to the configured one (`TETHER_PORT`, `PORT`, 7010).
   * Resolves with the bound port. With `cloudUrl` set, the server then registers with the cloud
   * in the background (see {@link registerWithCloud}); the promise does not wait for it.
   */
  listen(port: number = this.#settings.port, host = '0.0.0.0'): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = this.#app.listen(port, host, (error?: Error) => {
        if (error) return reject(error);
        const bound = (server.address() as AddressInfo).port;
        resolve(bound);
        void this.registerWithCloud(defaultServerUrl(host, bound));
      });
      this.#server = server;
    });
  }

  /** Same as {@link listen} with the configured port; contacts no other host unless `cloudUrl` is set. */
  start(): Promise<number> {
    return this.listen();
  }

  /**
   * Registers this server with the cloud at `cloudUrl` and refreshes every
   * `registrationRefreshMs` (seed 02 §3.1), with one random boot id per `AppServer`. Called by
   * {@link listen}; call it yourself when you serve {@link getExpressApp} with your own server.
   * Resolves with the status after the first attempt, or `undefined` when `cloudUrl` is unset
   * or the server is stopped; never rejects (failures are logged and retried at the next
   * refresh; a 401 stops the refreshes).
   *
   * @param serverUrl public base URL of this server, used unless the `serverUrl` setting is set
   */
  async registerWithCloud(serverUrl: string): Promise<RegistrationStatus | undefined> {
    const { cloudUrl, registrationRefreshMs } = this.#settings;
    if (!cloudUrl || this.#stopped) return undefined;
    if (!this.#registration) {
      this.#registration = new RegistrationClient({
        cloudUrl,
        packageName: this.config.packageName,
        apiKey: this.config.apiKey,
        serverUrl: this.#settings.serverUrl ?? serverUrl,
        version: this.config.version ?? 'unknown',
        ...(this.config.capabilities ? { capabilities: this.config.capabilities } : {}),
        refreshMs: registrationRefreshMs,
        logger: this.logger,
      });
    }
    return this.#registration.start();
  }

  /** Where the registration with the cloud stands; `undefined` before it started or without `cloudUrl`. */
  registrationStatus(): RegistrationStatus | undefined {
    return this.#registration?.status;
  }

  /** Session ids currently held, healthy or reconnecting. */
  activeSessionIds(): string[] {
    return [...this.#sessions.keys()];
  }

  /** The session for `sessionId`, if this server holds one. */
  getSession(sessionId: string): AppSession | undefined {
    return this.#sessions.get(sessionId)?.session;
  }

  /**
   * Called once per new session after the cloud acknowledged it. Register handlers here; they
   * are released when the session ends. A throw fails the webhook with 500 and ends the session.
   */
  protected async onSession(_session: AppSession, _sessionId: string, _userId: string): Promise<void> {}

  /** Called when a session ends: a `stop_request`, or a close the session will not recover from. */
  protected async onStop(_sessionId: string, _userId: string, _reason: string): Promise<void> {}

  /** Ends every session, then closes the HTTP server. Never exits the process. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#registration?.stop();
    for (const entry of this.#sessions.values()) {
      entry.stopRequested = true;
      entry.session.disconnect('App server stopping');
    }
    this.#sessions.clear();
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handleWebhook(req: Request, res: Response): Promise<void> {
    const body = (req.body ?? {}) as WebhookBody;
    try {
      if (body.type === 'session_request') await this.#handleSessionRequest(body, res);
      else if (body.type === 'stop_request') await this.#handleStopRequest(body, res);
      else {
        this.logger.warn({ type: body.type }, 'unknown webhook request type');
        sendError(res, 400, 'BAD_REQUEST', 'Unknown webhook request type');
      }
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, 'webhook failed');
      if (!res.headersSent) sendError(res, 500, 'INTERNAL_ERROR', 'Error handling webhook');
    }
  }

  async #handleSessionRequest(body: WebhookBody, res: Response): Promise<void> {
    const sessionId = typeof body.sessionId === 'string' ? body.sessionId : '';
    const userId = typeof body.userId === 'string' ? body.userId : '';
    const url = [body.mentraOSWebsocketUrl, body.augmentOSWebsocketUrl].find((u): u is string => typeof u === 'string' && u.length > 0);
    if (!sessionId || !url) {
      sendError(res, 400, 'BAD_REQUEST', 'session_request needs sessionId and mentraOSWebsocketUrl');
      return;
    }
    const log = this.logger.child({ sessionId, userId });
    if (this.#stopped) {
      sendError(res, 503, 'CONNECTION_CLOSED', 'App server is stopping');
      return;
    }
    const existing = this.#sessions.get(sessionId);
    if (existing) {
      await existing.ready.catch(() => {});
      if (this.#sessions.get(sessionId) === existing && existing.session.isConnectionHealthy()) {
        log.info('session already active');
        res.status(200).json({ status: 'success', message: 'Session already active' });
        return;
      }
    }
    // Only a request that makes a new connection counts (seed 01 §3.5): a duplicate for a live
    // session is answered above and costs nothing, so a cloud that retries a slow answer is
    // never locked out of its own recovery.
    const retryAfterMs = await hit(this.#limiter, sessionId);
    if (retryAfterMs !== undefined) {
      log.warn({ retryAfterMs }, 'too many session requests');
      res.setHeader('retry-after', retryAfterSeconds(retryAfterMs));
      sendError(res, 429, 'RATE_LIMITED', 'Too many session requests');
      return;
    }
    if (existing && this.#sessions.get(sessionId) === existing) {
      log.warn('replacing an unhealthy session');
      this.#forget(sessionId, existing);
      existing.stopRequested = true;
      existing.session.disconnect('Replaced by a new session request');
    }

    const session = new AppSession({
      ...this.config.session,
      packageName: this.config.packageName,
      apiKey: this.config.apiKey,
      mentraOSWebsocketUrl: url,
      userId,
      logger: this.logger,
      ...(this.config.inspect ? { inspect: this.config.inspect } : {}),
    });
    const ready = session.connect(sessionId);
    const entry: ActiveSession = { session, userId, ready, stopRequested: false };
    this.#sessions.set(sessionId, entry);
    try {
      await ready;
      session.events.onDisconnected((info) => {
        if (!this.#forget(sessionId, entry) || entry.stopRequested) return;
        void this.#runOnStop(sessionId, userId, info.message);
      });
      await this.onSession(session, sessionId, userId);
      log.info('session started');
      res.status(200).json({ status: 'success' });
    } catch (error) {
      this.#forget(sessionId, entry);
      entry.stopRequested = true;
      session.disconnect('Session setup failed');
      const code = error instanceof TetherError ? error.code : 'INTERNAL_ERROR';
      log.warn({ code, err: (error as Error).message }, 'session failed to start');
      sendError(res, 500, code, 'Failed to connect');
    }
  }

  async #handleStopRequest(body: WebhookBody, res: Response): Promise<void> {
    const sessionId = typeof body.sessionId === 'string' ? body.sessionId : '';
    const entry = this.#sessions.get(sessionId);
    res.status(200).json({ status: 'success' });
    if (!entry) return;
    entry.stopRequested = true;
    this.#forget(sessionId, entry);
    const reason = typeof body.reason === 'string' ? body.reason : 'stop_request';
    await this.#runOnStop(sessionId, entry.userId, reason);
    entry.session.disconnect('App stopped');
  }

  async #runOnStop(sessionId: string, userId: string, reason: string): Promise<void> {
    try {
      await this.onStop(sessionId, userId, reason);
    } catch (error) {
      this.logger.error({ sessionId, err: (error as Error).message }, 'onStop threw');
    }
  }

  /** Removes the entry only if it is still the one registered: a late cleanup never removes its successor. */
  #forget(sessionId: string, entry: ActiveSession): boolean {
    if (this.#sessions.get(sessionId) !== entry) return false;
    this.#sessions.delete(sessionId);
    return true;
  }
}

/**
 * The URL the cloud reaches a server on that listens on `host`: the loopback address for a
 * wildcard or loopback bind (right when the cloud runs on the same host; set `serverUrl`
 * otherwise), else the bound address itself.
 */
function defaultServerUrl(host: string, port: number): string {
  const wildcard = host === '' || host === '0.0.0.0' || host === '::' || host === 'localhost';
  const address = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${address}:${port}`;
}

function sendError(res: Response, status: number, code: ErrorCode, message: string): void {
  res.status(status).json({ status: 'error', code, category: errorInfo(code).category, message });
}
