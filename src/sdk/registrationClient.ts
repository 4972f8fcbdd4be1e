/**
 * Registers an app server with the cloud (seed 02 §3.1): once when it starts listening, then
 * every `refreshMs`. The `bootId` is drawn once per client — one per `AppServer`, so one per
 * process in practice — and tells the cloud a restart (new id) from a refresh (same id); a
 * restart makes the cloud bring back the sessions this server's previous process lost.
 *
 * A failure never throws into the app: it is logged and retried at the next refresh. A 401
 * (`INVALID_API_KEY`, `UNKNOWN_PACKAGE`) is permanent: the client stops refreshing, since the
 * same credentials can never succeed. Its one timer is `unref`'d and cleared by {@link stop}.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';

/** Path of the registration endpoint on the cloud. */
export const REGISTRATION_PATH = '/api/tpa/register';

/** Time a registration request may take before it counts as failed, in ms. */
const REGISTRATION_TIMEOUT_MS = 5000;

/** Options of a {@link RegistrationClient}. */
export interface RegistrationClientOptions {
  /** HTTP base URL of the cloud (`http://cloud.example:8002`). */
  cloudUrl: string;
  packageName: string;
  apiKey: string;
  /** Public base URL of this app server; the cloud sends webhooks to it + `/webhook`. */
  serverUrl: string;
  /** Version of the app, as reported to the cloud (free text). */
  version: string;
  capabilities?: readonly string[];
  /** Time between refreshes, in ms. */
  refreshMs: number;
  logger: Logger;
  /** Boot id; a fresh random one by default (tests may fix it). */
  bootId?: string;
  /** Timeout of one request, in ms (default {@link REGISTRATION_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** Where the client is: `registered` after a success, `failing` after a transient failure. */
export type RegistrationState = 'idle' | 'registered' | 'failing' | 'rejected' | 'stopped';

/** What the client knows; `lastError` is the latest failure's code, if any. */
export interface RegistrationStatus {
  state: RegistrationState;
  bootId: string;
  /** Id the cloud gave this boot (the same across refreshes). */
  registrationId?: string;
  /** Session ids the cloud reported live for this package at the latest registration. */
  activeSessions?: readonly string[];
  /** Successful registrations so far (count), the first one included. */
  registrations: number;
  lastError?: string;
}

interface RegistrationAnswer {
  success?: unknown;
  registrationId?: unknown;
  activeSessions?: unknown;
  restarted?: unknown;
  error?: { code?: unknown; message?: unknown };
}

/** One app server's registration with the cloud. */
export class RegistrationClient {
  readonly #options: RegistrationClientOptions;
  readonly #log: Logger;
  #status: RegistrationStatus;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: AbortController | undefined;

  constructor(options: RegistrationClientOptions) {
    this.#options = options;
    this.#log = options.logger.child({ cloudUrl: options.cloudUrl });
    this.#status = { state: 'idle', bootId: options.bootId ?? randomUUID(), registrations: 0 };
  }

  /** The current status (a copy). */
  get status(): RegistrationStatus {
    return { ...this.#status };
  }

  /**
   * Registers now and keeps refreshing. Resolves with the status after the first attempt;
   * never rejects. Calling it again (or after {@link stop}) does nothing but return the status.
   */
  async start(): Promise<RegistrationStatus> {
    if (this.#status.state !== 'idle') return this.status;
    await this.#attempt();
    return this.status;
  }

  /** Stops refreshing and aborts a request in flight. Idempotent. */
  stop(): void {
    this.#status = { ...this.#status, state: 'stopped' };
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inFlight?.abort();
  }

  async #attempt(): Promise<void> {
    const { cloudUrl, packageName, apiKey, serverUrl, version, capabilities } = this.#options;
    const controller = new AbortController();
    this.#inFlight = controller;
    const timeout = setTimeout(() => controller.abort(), this.#options.timeoutMs ?? REGISTRATION_TIMEOUT_MS);
    let status: number | undefined;
    let answer: RegistrationAnswer | undefined;
    let failure: string | undefined;
    try {
      const response = await fetch(`${cloudUrl}${REGISTRATION_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          packageName,
          apiKey,
          serverUrl,
          version,
          ...(capabilities ? { capabilities } : {}),
          bootId: this.#status.bootId,
        }),
        signal: controller.signal,
      });
      status = response.status;
      answer = (await response.json().catch(() => undefined)) as RegistrationAnswer | undefined;
    } catch (error) {
      failure = (error as Error).message;
    } finally {
      clearTimeout(timeout);
      if (this.#inFlight === controller) this.#inFlight = undefined;
    }
    if (this.#status.state === 'stopped') return;

    if (status === 200 && answer?.success === true && typeof answer.registrationId === 'string') {
      const activeSessions = Array.isArray(answer.activeSessions)
        ? answer.activeSessions.filter((s): s is string => typeof s === 'string')
        : [];
      this.#status = {
        state: 'registered',
        bootId: this.#status.bootId,
        registrationId: answer.registrationId,
        activeSessions,
        registrations: this.#status.registrations + 1,
      };
      const fields = { registrationId: answer.registrationId, activeSessions: activeSessions.length, restarted: answer.restarted === true };
      if (this.#status.registrations === 1) this.#log.info(fields, 'registered with the cloud');
      else this.#log.debug(fields, 'registration refreshed');
      this.#schedule();
      return;
    }

    const code = typeof answer?.error?.code === 'string' ? answer.error.code : status === undefined ? 'CONNECTION_FAILED' : `HTTP_${status}`;
    this.#status = { ...this.#status, lastError: code };
    if (status === 401) {
      // Wrong key or unknown package: the same credentials can never succeed.
      this.#status.state = 'rejected';
      this.#log.error({ code, status }, 'registration rejected; not retrying');
      return;
    }
    this.#status.state = 'failing';
    this.#log.warn({ code, status, err: failure, retryInMs: this.#options.refreshMs }, 'registration failed; retrying at the next refresh');
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#attempt();
    }, this.#options.refreshMs);
    // A pending refresh never keeps the process alive by itself.
    this.#timer.unref();
  }
}
