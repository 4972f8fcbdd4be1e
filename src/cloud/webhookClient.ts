/**
 * The cloud's webhook client: one POST of a JSON body to an app server, with a timeout, a
 * correlation id and a latency measurement, answered as a result object — never a rejection.
 *
 * It does not retry. Whether to retry depends on the session's state (ARCHITECTURE.md
 * `appSession`: a `session_request` is re-sent only while no connection has arrived, since a
 * second one makes `@mentra/sdk` drop its live socket), and only the machine knows that.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { defaultSessionConfig } from '../../machines/policy/sessionConfig.js';
import type { Logger } from '../logger.js';
import type { CloudMetrics } from './metrics.js';
import { OutboundForbiddenError, checkOutboundHost, type HostLookup, type OutboundPolicy, type ResolvedAddress } from './outboundPolicy.js';

/**
 * Most bytes of a response body read, in bytes (64 KiB). The SDK answers with a few dozen; the
 * cap keeps a misbehaving server from streaming megabytes into the cloud's memory.
 */
export const MAX_WEBHOOK_RESPONSE_BYTES = 65_536;

/** Why a webhook failed; also the `outcome` label of the webhook metrics. */
export type WebhookFailureReason =
  /** No complete answer within the timeout. */
  | 'timeout'
  /** Connection refused, reset, DNS failure… */
  | 'network'
  /** The server answered with a non-2xx status. */
  | 'http_status'
  /** The host resolves to an address the outbound policy refuses: no connection was made. */
  | 'forbidden'
  /** The caller's `signal` aborted it (its session ended). */
  | 'aborted'
  /** The URL is not http(s) or the body cannot be serialized: no request was made. */
  | 'invalid_request';

/** A webhook the app server answered with 2xx. */
export interface WebhookSuccess {
  ok: true;
  /** HTTP status (2xx). */
  status: number;
  /** Response body: parsed JSON when it parses, else the text (capped at 64 KiB); `null` when empty. */
  body: unknown;
  /** Round trip including the body, in ms. */
  latencyMs: number;
}

/** A webhook that failed; `reason` says how, `status` is set for `http_status`. */
export interface WebhookFailure {
  ok: false;
  code: 'WEBHOOK_FAILED';
  reason: WebhookFailureReason;
  /** HTTP status, when the server answered. */
  status?: number;
  /** Response body of a non-2xx answer, as in {@link WebhookSuccess.body}. */
  body?: unknown;
  /** Human-readable cause, for logs. */
  message: string;
  /** Time spent before failing, in ms. */
  latencyMs: number;
}

/** Outcome of {@link WebhookClient.send}. */
export type WebhookResult = WebhookSuccess | WebhookFailure;

/** Options of one {@link WebhookClient.send}. */
export interface WebhookSendOptions {
  /** Sent as `x-correlation-id` and bound to the log lines (principle 8). */
  correlationId: string;
  /** Aborts the request early, e.g. when the session that sent it stops; reason `aborted`. */
  signal?: AbortSignal;
}

/** Sends webhooks. */
export interface WebhookClient {
  /** POSTs `body` as JSON to `url`. Never rejects; see {@link WebhookResult}. */
  send(url: string, body: unknown, options: WebhookSendOptions): Promise<WebhookResult>;
}

/** Options of {@link createWebhookClient}. */
export interface WebhookClientOptions {
  /**
   * Time allowed for the whole exchange (connect, answer, body), in ms; by default the session
   * machines' `webhookTimeoutMs` (10 000). Below 10 s only in tests: `@mentra/sdk` answers a
   * `session_request` only after its ack and the app's whole `onSession` (MENTRA-SDK-WIRE.md
   * §1.3), and fails by itself after 5 s without an ack, so the cloud must wait comfortably
   * longer than 5 s.
   */
  timeoutMs?: number;
  /** Where `webhook answered` (debug) and `webhook failed` (warn) go. */
  logger: Logger;
  /** Latency and failures are recorded here when given. */
  metrics?: Pick<CloudMetrics, 'webhookLatency' | 'webhookFailures'>;
  /**
   * Which addresses a webhook may reach (`outboundPolicy.ts`; default `loopback`, the cloud passes
   * its setting). The host is resolved and every address checked before each request, and the
   * connection goes to the addresses checked, so a changed DNS answer cannot swap them.
   */
  outboundPolicy?: OutboundPolicy;
  /** Host resolution (default `dns.lookup`, every address); tests inject one. */
  lookup?: HostLookup;
  /**
   * `fetch` implementation, for tests only: with it the request goes where that `fetch` sends it,
   * and the outbound policy is not applied.
   */
  fetch?: typeof fetch;
}

/** One POST as the client sends it (JSON text, or bytes: a photo upload); answers with a `Response` whose body is still to be read. */
export type Transport = (target: URL, init: { headers: Record<string, string>; body: string | Uint8Array; signal: AbortSignal }) => Promise<Response>;

/** Creates a webhook client. */
export function createWebhookClient(options: WebhookClientOptions): WebhookClient {
  const timeoutMs = options.timeoutMs ?? defaultSessionConfig.webhookTimeoutMs;
  const injected = options.fetch;
  const transport: Transport = injected
    ? (target, init) => injected(target, { method: 'POST', ...init, redirect: 'manual' })
    : pinnedTransport(options.outboundPolicy ?? 'loopback', options.lookup);
  const { logger, metrics } = options;

  async function send(url: string, body: unknown, sendOptions: WebhookSendOptions): Promise<WebhookResult> {
    const { correlationId, signal } = sendOptions;
    const type = typeOf(body);
    const started = performance.now();
    const log = logger.child({ correlationId, webhookType: type });
    const elapsed = () => performance.now() - started;

    const finish = (result: WebhookResult, target?: string): WebhookResult => {
      const outcome = result.ok ? 'ok' : result.reason;
      if (result.ok) {
        log.debug({ url: target, status: result.status, latencyMs: result.latencyMs }, 'webhook answered');
      } else {
        log.warn(
          { url: target, reason: result.reason, status: result.status, latencyMs: result.latencyMs, err: result.message },
          'webhook failed',
        );
        metrics?.webhookFailures.inc({ type, outcome });
      }
      if (result.ok || result.reason !== 'invalid_request') {
        metrics?.webhookLatency.observe({ type, outcome }, result.latencyMs / 1000);
      }
      return result;
    };

    let target: URL;
    let payload: string;
    try {
      target = new URL(url);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`unsupported scheme ${target.protocol}`);
      payload = JSON.stringify(body);
      if (payload === undefined) throw new Error('body is not serializable');
    } catch (error) {
      return finish(failure('invalid_request', `Invalid webhook request: ${messageOf(error)}`, elapsed()));
    }
    // The query string may carry a token of the app's; logs get origin and path only.
    const logged = target.origin + target.pathname;

    if (signal?.aborted) return finish(failure('aborted', 'Aborted before sending', elapsed()), logged);

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });

    try {
      // A redirect is reported as the 3xx it is, not followed to wherever it points.
      const response = await transport(target, {
        headers: { 'content-type': 'application/json', 'x-correlation-id': correlationId },
        body: payload,
        signal: controller.signal,
      });
      const answer = await readBody(response);
      const latencyMs = elapsed();
      if (response.status >= 200 && response.status < 300) {
        return finish({ ok: true, status: response.status, body: answer, latencyMs }, logged);
      }
      return finish(
        {
          ok: false,
          code: 'WEBHOOK_FAILED',
          reason: 'http_status',
          status: response.status,
          body: answer,
          message: `Webhook answered ${response.status}`,
          latencyMs,
        },
        logged,
      );
    } catch (error) {
      const latencyMs = elapsed();
      if (timedOut) return finish(failure('timeout', `No answer within ${timeoutMs} ms`, latencyMs), logged);
      if (signal?.aborted) return finish(failure('aborted', 'Aborted by the caller', latencyMs), logged);
      if (error instanceof OutboundForbiddenError) return finish(failure('forbidden', error.message, latencyMs), logged);
      return finish(failure('network', messageOf(error), latencyMs), logged);
    } finally {
      // Every path clears the timer: a pending 10 s timeout per webhook would keep the
      // process alive after shutdown and show up as a leak.
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  return { send };
}

/**
 * POSTs with `node:http(s)` to the addresses of the host that the outbound policy allowed: the
 * host is resolved once, every address checked, and the socket's own lookup answers with exactly
 * those addresses (an IP literal is checked and dialled as it is). The request keeps the host
 * name, so `Host`, SNI and the certificate check are the name's. Redirects are not followed.
 */
export function pinnedTransport(policy: OutboundPolicy, lookup: HostLookup | undefined): Transport {
  return async (target, init) => {
    const verdict = await checkOutboundHost(target.hostname, policy, lookup);
    if (!verdict.ok) {
      if (verdict.reason === 'forbidden') throw new OutboundForbiddenError(verdict.message);
      throw new Error(verdict.message);
    }
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        target,
        {
          method: 'POST',
          headers: { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) },
          signal: init.signal,
          lookup: pinnedLookup(verdict.addresses),
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          // The Fetch standard allows no body with these statuses.
          const bodyless = status === 204 || status === 205 || status === 304;
          if (bodyless) res.resume();
          try {
            resolve(new Response(bodyless ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status }));
          } catch (error) {
            res.destroy();
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
      );
      req.on('error', reject);
      req.end(init.body);
    });
  };
}

/** A socket lookup that answers with addresses resolved and checked beforehand, never asking DNS again. */
function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : [...addresses];
    const found = wanted.length > 0 ? wanted : [...addresses];
    if (options.all) {
      (callback as unknown as (error: null, addresses: ResolvedAddress[]) => void)(null, found);
    } else {
      const first = found[0]!;
      callback(null, first.address, first.family);
    }
  };
}

/** Reads at most {@link MAX_WEBHOOK_RESPONSE_BYTES}; JSON when it parses, else text, `null` when empty. */
async function readBody(response: Response): Promise<unknown> {
  if (!response.body) return null;
  // Node types a fetch body as ReadableStream<any>; the Fetch standard's body stream yields Uint8Array chunks.
  const reader = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size >= MAX_WEBHOOK_RESPONSE_BYTES) {
      await reader.cancel();
      break;
    }
  }
  const text = Buffer.concat(chunks).subarray(0, MAX_WEBHOOK_RESPONSE_BYTES).toString('utf8');
  if (text.length === 0) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function failure(reason: WebhookFailureReason, message: string, latencyMs: number): WebhookFailure {
  return { ok: false, code: 'WEBHOOK_FAILED', reason, message, latencyMs };
}

function typeOf(body: unknown): string {
  const type = (body as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : 'unknown';
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    // undici reports every network failure as "fetch failed"; the useful part is the cause.
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}

// ---------------------------------------------------------------------------------------------
// Bodies (MENTRA-SDK-WIRE.md §1.2, §1.6)

/** Body of a `session_request` webhook. */
export interface SessionRequestBody {
  type: 'session_request';
  sessionId: string;
  userId: string;
  /** ISO 8601 time of sending (unused by the SDK, sent as the real cloud does). */
  timestamp: string;
  /** WebSocket URL the app connects to; wins over the legacy field in `@mentra/sdk`. */
  mentraOSWebsocketUrl: string;
  /** The same URL under its legacy name, for older SDKs. */
  augmentOSWebsocketUrl: string;
}

/** Reason of a `stop_request`, as `@mentra/sdk` types it. */
export type StopReason = 'user_disabled' | 'system_stop' | 'error';

/** Body of a `stop_request` webhook. */
export interface StopRequestBody {
  type: 'stop_request';
  sessionId: string;
  userId: string;
  reason: StopReason;
  /** ISO 8601 time of sending. */
  timestamp: string;
}

/**
 * The `session_request` body. Both URL fields are sent: `@mentra/sdk` 2.1 reads
 * `mentraOSWebsocketUrl` first, older SDKs only `augmentOSWebsocketUrl`, and with neither it
 * fails with 500 (§1.2).
 *
 * @param input.websocketUrl - full URL of the app socket (`ws://host:8002/app-ws`)
 * @param input.now - time of sending, in epoch ms (default `Date.now()`)
 */
export function sessionRequestBody(input: {
  sessionId: string;
  userId: string;
  websocketUrl: string;
  now?: number;
}): SessionRequestBody {
  return {
    type: 'session_request',
    sessionId: input.sessionId,
    userId: input.userId,
    timestamp: new Date(input.now ?? Date.now()).toISOString(),
    mentraOSWebsocketUrl: input.websocketUrl,
    augmentOSWebsocketUrl: input.websocketUrl,
  };
}

/**
 * The `stop_request` body (§1.6). The SDK answers 200 and closes the app's socket itself.
 *
 * @param input.now - time of sending, in epoch ms (default `Date.now()`)
 */
export function stopRequestBody(input: {
  sessionId: string;
  userId: string;
  reason: StopReason;
  now?: number;
}): StopRequestBody {
  return {
    type: 'stop_request',
    sessionId: input.sessionId,
    userId: input.userId,
    reason: input.reason,
    timestamp: new Date(input.now ?? Date.now()).toISOString(),
  };
}
