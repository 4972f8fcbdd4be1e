/**
 * Restart recovery (seed 02 §3.4). When an app's server registers with a new boot id, every
 * session of that app that lost it — an `appSession` still `starting` or `resurrecting`, or a
 * desired app whose session already failed while the server was down — is started again.
 *
 * The dispatcher sends one `appServer.restarted { packageName }` per affected user session and
 * the machines decide the rest (a running session with an open socket ignores it; one with a
 * webhook in flight keeps that call). It paces those events: at most `concurrency` recoveries
 * are in flight at once, each until its session is `running` again or has ended *and* the
 * webhooks of its recovery have answered (an SDK answers `session_request` only after its
 * `onSession`, well after the socket is up; {@link RecoveryCalls} tracks them), so the app
 * server never has more than that many `session_request`s of a recovery in flight.
 * Users whose glasses are connected come first, most recently active first (the timestamp the
 * glasses gateway writes on each frame), then users in grace, most recently disconnected first.
 * Each target is re-checked just before its event is sent: a session that came back by itself
 * meanwhile (its own retry reached the new server) is skipped, so nothing is started twice.
 * Sessions with a webhook already in flight hear the event at once, not in their turn: their
 * call may be addressed to the dead server, and if it was their last attempt they would fail
 * (and show an error) moments before their turn came. The event costs them no webhook — they
 * keep their call and only count it as the first of a fresh round.
 *
 * The same dispatcher releases the sessions waiting for an app server that was unreachable, once
 * its host's circuit closes (`webhookCircuits.ts`): one `appServer.reachable` per session, paced
 * alike, so a server that comes back is not met by every session's `session_request` at once.
 *
 * Outcomes are counted in `tether_app_recoveries_total{outcome="recovered"|"failed"}`. A
 * recovered session shows nothing on the glasses; a failed one ends with its error, which the
 * registry already sends as `app_state_change.error`.
 */
import { setMaxListeners } from 'node:events';
import { waitFor } from 'xstate';
import {
  appSessionChild,
  appSessionId,
  disconnectedAtOf,
  glassesGenOf,
  hasLostApp,
  isWebhookInFlight,
  liveAppPackages,
  liveAppSession,
  standingOf,
  userIdOf,
  type AppSessionRef,
  type AppSessionStanding,
} from '../../machines/sessionApi.js';
import type { Logger } from '../logger.js';
import type { SocketTable } from './link/socketTable.js';
import type { CloudMetrics } from './metrics.js';
import type { SessionRegistry } from './sessionRegistry.js';

/** One session to bring back. */
export interface RecoveryTarget {
  readonly userId: string;
  readonly sessionId: string;
  /** `recovery:<registrationId>:<sessionId>`: on the logs and the webhooks of this recovery. */
  readonly correlationId: string;
}

/**
 * What brings sessions back: a registration with a new boot id (`appServer.restarted`), or the
 * webhook host's circuit closing after it was unreachable (`appServer.reachable`).
 */
export type RecoveryTrigger = 'appServer.restarted' | 'appServer.reachable';

/** The sessions one registration (or one host coming back) brings back, in the order they are dispatched. */
export interface RecoveryPlan {
  readonly packageName: string;
  /** The registration's id, or `host-<n>` for a host that answers again. */
  readonly registrationId: string;
  readonly trigger: RecoveryTrigger;
  readonly targets: readonly RecoveryTarget[];
}

/** How one target ended. */
export type RecoveryResult =
  /** Its session is `running` again. */
  | 'recovered'
  /** Its session ended as failed (webhook attempts exhausted, app deleted, crash). */
  | 'failed'
  /** Nothing to do any more when its turn came: it came back by itself, the user stopped it or left. */
  | 'skipped'
  /** The run was superseded by a newer registration or the cloud shut down. */
  | 'abandoned';

/** What a run did; durations are ms. */
export interface RecoveryReport {
  readonly packageName: string;
  readonly registrationId: string;
  readonly planned: number;
  readonly counts: Readonly<Record<RecoveryResult, number>>;
  /** From the start of the run to the last target settled. */
  readonly durationMs: number;
}

/** What the dispatcher needs from the cloud. */
export interface AppRecoveryDeps {
  sessions: Pick<SessionRegistry, 'get' | 'values'>;
  sockets: Pick<SocketTable, 'get'>;
  /** The recovery webhooks in flight, as the `appWebhook` actor reports them. */
  calls: RecoveryCalls;
  metrics: Pick<CloudMetrics, 'appRecoveries'>;
  logger: Logger;
  /** Recoveries in flight at once per run (the `recoveryConcurrency` setting). */
  concurrency: number;
}

/**
 * The recovery webhooks in flight, by correlation id. The `appWebhook` actor reports each call
 * that carries a recovery correlation id ({@link begin} before sending, the returned function
 * once answered); the dispatcher waits for {@link idle} before it frees the recovery's slot.
 */
export class RecoveryCalls {
  private readonly calls = new Map<string, { count: number; waiters: Array<() => void> }>();

  /** Calls in flight over all recoveries (count). */
  get size(): number {
    let total = 0;
    for (const entry of this.calls.values()) total += entry.count;
    return total;
  }

  /** A call of `correlationId` is being sent; call the returned function once it has answered (or failed). */
  begin(correlationId: string): () => void {
    const entry = this.calls.get(correlationId) ?? { count: 0, waiters: [] };
    entry.count += 1;
    this.calls.set(correlationId, entry);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      entry.count -= 1;
      if (entry.count > 0) return;
      if (this.calls.get(correlationId) === entry) this.calls.delete(correlationId);
      for (const wake of entry.waiters.splice(0)) wake();
    };
  }

  /** Resolves once no call of `correlationId` is in flight (at once when none is). */
  idle(correlationId: string): Promise<void> {
    const entry = this.calls.get(correlationId);
    if (!entry) return Promise.resolve();
    return new Promise((resolve) => entry.waiters.push(resolve));
  }
}

/** Plans and runs restart recoveries; one per cloud. */
export class AppRecovery {
  private readonly concurrency: number;
  /** The run in progress per package: a newer registration of the package supersedes it. */
  private readonly runs = new Map<string, AbortController>();

  constructor(private readonly deps: AppRecoveryDeps) {
    this.concurrency = Math.max(1, deps.concurrency);
  }

  /** Session ids of `packageName` with a live app session that is not being stopped. */
  liveSessionIds(packageName: string): string[] {
    const ids: string[] = [];
    for (const user of this.deps.sessions.values()) {
      const snapshot = user.getSnapshot();
      if (snapshot.status === 'active' && liveAppPackages(snapshot).includes(packageName)) {
        ids.push(appSessionId(userIdOf(snapshot), packageName));
      }
    }
    return ids;
  }

  /** The sessions of `packageName` that lost their app, in dispatch order. */
  plan(packageName: string, registrationId: string, trigger: RecoveryTrigger = 'appServer.restarted'): RecoveryPlan {
    const ranked: Array<{ target: RecoveryTarget; connected: boolean; at: number }> = [];
    for (const user of this.deps.sessions.values()) {
      const snapshot = user.getSnapshot();
      if (!hasLostApp(snapshot, packageName)) continue;
      const userId = userIdOf(snapshot);
      const sessionId = appSessionId(userId, packageName);
      const gen = glassesGenOf(snapshot);
      const connected = gen !== undefined;
      const at = connected ? (this.deps.sockets.get(gen)?.lastActivityAt ?? 0) : (disconnectedAtOf(snapshot) ?? 0);
      ranked.push({ target: { userId, sessionId, correlationId: `recovery:${registrationId}:${sessionId}` }, connected, at });
    }
    ranked.sort((a, b) => Number(b.connected) - Number(a.connected) || b.at - a.at);
    return { packageName, registrationId, trigger, targets: ranked.map((r) => r.target) };
  }

  /**
   * Dispatches `plan` with bounded concurrency and resolves with its report once every target
   * has settled. Never rejects. A newer run for the same package abandons what this one has
   * not settled yet (the newer plan covers those sessions again).
   */
  async run(plan: RecoveryPlan): Promise<RecoveryReport> {
    const { packageName, registrationId, targets, trigger } = plan;
    const log = this.deps.logger.child({ packageName, registrationId });
    this.runs.get(packageName)?.abort();
    const controller = new AbortController();
    // Every recovery in flight listens for the run's abort: up to `concurrency` listeners.
    setMaxListeners(this.concurrency + 10, controller.signal);
    this.runs.set(packageName, controller);
    const counts: Record<RecoveryResult, number> = { recovered: 0, failed: 0, skipped: 0, abandoned: 0 };
    const started = performance.now();
    log.info({ planned: targets.length, concurrency: this.concurrency }, 'app server recovery started');
    // A host that answers again has not lost the sessions its calls in flight are for.
    if (trigger === 'appServer.restarted') for (const target of targets) this.renewCallInFlight(packageName, target);

    let next = 0;
    const worker = async () => {
      while (next < targets.length) {
        const target = targets[next++]!;
        let result: RecoveryResult;
        try {
          result = await this.recoverOne(plan, target, controller.signal, log);
        } catch (error) {
          log.error({ correlationId: target.correlationId, err: (error as Error).message }, 'app session recovery crashed');
          result = 'failed';
        }
        counts[result] += 1;
        if (result === 'recovered' || result === 'failed') this.deps.metrics.appRecoveries.inc({ outcome: result });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, targets.length) }, worker));

    if (this.runs.get(packageName) === controller) this.runs.delete(packageName);
    const report: RecoveryReport = {
      packageName,
      registrationId,
      planned: targets.length,
      counts,
      durationMs: Math.round(performance.now() - started),
    };
    log.info({ ...counts, planned: report.planned, durationMs: report.durationMs }, 'app server recovery finished');
    return report;
  }

  /** Abandons every run in progress (shutdown). */
  stop(): void {
    for (const controller of this.runs.values()) controller.abort();
    this.runs.clear();
  }

  /** Tells a session whose webhook is in flight that the server restarted (see the module comment). */
  private renewCallInFlight(packageName: string, target: RecoveryTarget): void {
    const user = this.deps.sessions.get(target.userId);
    const snapshot = user?.getSnapshot();
    if (!user || !snapshot || !hasLostApp(snapshot, packageName)) return;
    const app = appSessionChild(snapshot, packageName)?.getSnapshot();
    if (app && isWebhookInFlight(app)) {
      user.send({ type: 'appServer.restarted', packageName, correlationId: target.correlationId });
    }
  }

  private async recoverOne(plan: RecoveryPlan, target: RecoveryTarget, signal: AbortSignal, log: Logger): Promise<RecoveryResult> {
    const { packageName, trigger } = plan;
    if (signal.aborted) return 'abandoned';
    const user = this.deps.sessions.get(target.userId);
    if (!user || !hasLostApp(user.getSnapshot(), packageName)) return 'skipped';
    const { correlationId } = target;
    log.debug({ correlationId, userId: target.userId, sessionId: target.sessionId }, 'app session recovery dispatched');
    user.send({ type: trigger, packageName, correlationId });
    const app = liveAppSession(user, target.sessionId);
    if (!app) return 'skipped';
    let result = await settled(app, signal);
    if (result !== 'abandoned') {
      // The session may be running while its webhook is still answering (after onSession): the
      // slot is held until it has, so the app server never has more than `concurrency` of them.
      await untilAborted(this.deps.calls.idle(correlationId), signal);
      // An app that fails its onSession answers 500 and closes the session it had just opened.
      if (result === 'recovered') result = afterAnswer(standingOf(app.getSnapshot()));
    }
    if (result === 'failed') log.warn({ correlationId, sessionId: target.sessionId }, 'app session not recovered');
    else log.debug({ correlationId, sessionId: target.sessionId, result }, 'app session recovery settled');
    return result;
  }
}

/** How a session that reached `running` stands once its recovery webhook has answered. */
function afterAnswer(standing: AppSessionStanding): RecoveryResult {
  switch (standing) {
    case 'running':
    case 'pending':
      return 'recovered';
    case 'stopped':
      return 'skipped';
    case 'ended':
    case 'failed':
      return 'failed';
    case 'gone':
      return 'abandoned';
  }
}

/** Resolves when `promise` does or `signal` aborts, whichever is first; leaves no listener behind. */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void promise.then(done);
  });
}

/** Resolves once the app session is running again or has ended, or the run is abandoned. */
async function settled(app: AppSessionRef, signal: AbortSignal): Promise<RecoveryResult> {
  try {
    const snapshot = await waitFor(app, (s) => standingOf(s) !== 'pending', { signal });
    return resultOf(standingOf(snapshot));
  } catch {
    // Aborted, or the actor ended without a settling snapshot (stopped with its user session).
    return signal.aborted ? 'abandoned' : resultOf(standingOf(app.getSnapshot()));
  }
}

function resultOf(standing: AppSessionStanding): RecoveryResult {
  switch (standing) {
    case 'running':
      return 'recovered';
    case 'failed':
      return 'failed';
    case 'stopped':
    case 'ended':
      return 'skipped';
    case 'pending':
    case 'gone':
      return 'abandoned';
  }
}
