/**
 * The webhook port of `appSession` (`machines/sessionPorts.ts`): one HTTP call per invocation.
 * Retries, timeouts between attempts and what a failure means are the machine's decisions; this
 * only builds the body, names the call with a correlation id and reports the result.
 */
import { randomUUID } from 'node:crypto';
import { fromPromise } from 'xstate';
import type { AppWebhookFailure, AppWebhookInput, AppWebhookOutput } from '../../machines/sessionPorts.js';
import { errorInfo } from '../protocol/errors.js';
import type { Store } from './store.js';
import { circuitKeyOf, reachOf, type WebhookCircuits } from './webhookCircuits.js';
import { sessionRequestBody, stopRequestBody, type WebhookClient } from './webhookClient.js';

/** What the webhook actor needs from the cloud. */
export interface AppWebhookDeps {
  store: Store;
  client: WebhookClient;
  /** The app WebSocket URL to hand out, e.g. `ws://cloud.example:8002/app-ws`. */
  appWebsocketUrl(): string;
  /**
   * Told of each call that belongs to a restart recovery (its correlation id) before it is sent;
   * the returned function is called once it has answered, so the recovery can bound its calls.
   */
  onRecoveryCall?(correlationId: string): () => void;
  /** Per-host circuits for `session_request`s: while a host is down, one probe at a time goes out. */
  circuits?: WebhookCircuits;
  /**
   * On a node of a cluster: only the owner calls a session's webhooks, while its lease holds,
   * and each call names the epoch it was made under (at most one per session, epoch and attempt).
   */
  cluster?: { mayActFor(userId: string): boolean; epochOf(userId: string): number | undefined };
}

/**
 * How the `appWebhook` actor rejects: an {@link AppWebhookFailure} as an `Error`, so the machine
 * reads `code`, `permanent` and `status` from it and logs still get a stack.
 */
class AppWebhookError extends Error implements AppWebhookFailure {
  /** Stable machine-readable code (`UNKNOWN_PACKAGE`, `WEBHOOK_FAILED`). */
  readonly code: string;
  /** Whether retrying cannot help; the app then leaves the user's desired set. */
  readonly permanent?: boolean;
  /** HTTP status, when the app answered. */
  readonly status?: number;

  constructor(failure: AppWebhookFailure) {
    super(failure.message);
    this.name = 'AppWebhookError';
    this.code = failure.code;
    if (failure.permanent !== undefined) this.permanent = failure.permanent;
    if (failure.status !== undefined) this.status = failure.status;
  }
}

/** Builds the `appWebhook` actor logic. */
export function createAppWebhook(deps: AppWebhookDeps) {
  return fromPromise<AppWebhookOutput, AppWebhookInput>(async ({ input }) => {
    if (deps.cluster && !deps.cluster.mayActFor(input.userId)) {
      throw new AppWebhookError({ code: 'NODE_UNAVAILABLE', message: 'this node does not hold the session now' });
    }
    const app = await deps.store.getApp(input.packageName);
    if (!app) {
      // The app was deleted: no retry can bring it back, so it leaves the desired set.
      throw new AppWebhookError({ code: 'UNKNOWN_PACKAGE', message: 'the app is not registered', permanent: true });
    }
    // A restart recovery names every call of its workflow alike (`recovery:<registrationId>:<sessionId>`).
    const epoch = deps.cluster?.epochOf(input.userId);
    const correlationId =
      input.correlationId ?? `${input.type}:${input.sessionId}:${input.attempt}${epoch === undefined ? '' : `:e${epoch}`}:${randomUUID().slice(0, 8)}`;
    const isStart = input.type === 'session_request';
    const body = isStart
      ? sessionRequestBody({ sessionId: input.sessionId, userId: input.userId, websocketUrl: deps.appWebsocketUrl() })
      : stopRequestBody({ sessionId: input.sessionId, userId: input.userId, reason: input.reason ?? 'user_disabled' });
    // The call is never aborted when the machine moves on: `@mentra/sdk` answers a
    // session_request only after its ack and onSession, so the app has usually connected (and
    // the machine left `callingWebhook`) before the answer comes; cutting the request would only
    // turn a success into a logged failure. A stop_request must finish anyway (sessionPorts).
    const host = isStart && deps.circuits ? circuitKeyOf(app.webhookUrl) : undefined;
    const admission = host === undefined ? undefined : deps.circuits?.admit(host);
    if (admission && !admission.send) {
      throw new AppWebhookError({ code: 'APP_SERVER_UNREACHABLE', message: errorInfo('APP_SERVER_UNREACHABLE').message });
    }
    const answered = input.correlationId ? deps.onRecoveryCall?.(input.correlationId) : undefined;
    const result = await deps.client.send(app.webhookUrl, body, { correlationId }).finally(() => answered?.());
    if (host !== undefined && admission) deps.circuits?.settle(host, admission, result.ok ? 'reachable' : reachOf(result));
    if (result.ok) return { status: result.status };
    // The glasses see this message (`app_state_change.error`): never the network's own words
    // (`connect ECONNREFUSED 10.0.0.5:6379`), which would make the cloud a port scanner for
    // whoever sets a webhook URL. The client has logged the detail with the correlation id.
    throw new AppWebhookError({
      code: result.code,
      message: errorInfo(result.code).message,
      ...(result.status !== undefined ? { status: result.status } : {}),
    });
  });
}
