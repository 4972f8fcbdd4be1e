/**
 * The glasses' control plane, bounded (ARCHITECTURE.md principle 11, issue 10 §2): what of
 * `connection_init.runningApps`, `start_app` and `stop_app` may reach a user's session. Only the
 * first `maxRunningApps` declared names are looked at, only valid and registered ones pass, and
 * each user's `start_app`/`stop_app` are rate-limited, so whatever a phone sends, the session
 * sees at most that many apps and spawns no actor for a package the cloud does not know.
 * Refusals are `connection_error` frames on the open socket (the channel of every refused frame
 * after the handshake), counted in `tether_app_control_refused_total`.
 */
import type { WebSocket } from 'ws';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import type { ErrorCode } from '../protocol/errors.js';
import { packageNameSchema } from '../protocol/packageName.js';
import type { Logger } from '../logger.js';
import { createRateLimiter, hit } from '../util/rateLimit.js';
import { writeFrame } from './link/writePath.js';
import type { CloudMetrics } from './metrics.js';
import type { Store } from './store.js';

/** Window of the `start_app`/`stop_app` rate limit, in ms; `appControlPerMinute` counts within it. */
const APP_CONTROL_WINDOW_MS = 60_000;

/** Package names quoted in one refusal's message and log line (count). */
const QUOTED_NAMES = 5;

/** One refusal, reported with {@link AppControl.report}. */
export interface AppControlRefusal {
  code: Extract<ErrorCode, 'INVALID_FIELDS' | 'UNKNOWN_PACKAGE' | 'RATE_LIMITED'>;
  message: string;
  /** Entries or frames it stands for (count). */
  count: number;
  /** At most {@link QUOTED_NAMES} of the package names concerned (valid names only). */
  packageNames: string[];
  /** Whether it is logged: a user's rate-limit refusals log one line per window, not one per frame. */
  logged: boolean;
}

/** What {@link AppControl.admitRunningApps} lets through and what it refused. */
export interface AdmittedApps {
  /** Valid, registered, in the declared order; at most `maxRunningApps`. */
  apps: string[];
  refusals: AppControlRefusal[];
}

/** Options of {@link AppControl}. */
export interface AppControlOptions {
  store: Pick<Store, 'getApp'>;
  metrics: CloudMetrics;
  logger: Logger;
  /** Declared apps considered per `connection_init` (count). */
  maxRunningApps: number;
  /** `start_app` + `stop_app` frames accepted per user per {@link APP_CONTROL_WINDOW_MS} (count); 0 = no limit. */
  appControlPerMinute: number;
}

const quote = (names: readonly string[], total: number): string =>
  names.join(', ') + (total > names.length ? `, and ${total - names.length} more` : '');

/** The control-plane checks of one cloud. */
export class AppControl {
  private readonly options: AppControlOptions;
  private readonly limiter: RateLimiterMemory | undefined;
  /** One warn line per user per window for rate-limit refusals. */
  private readonly logLimiter: RateLimiterMemory;

  constructor(options: AppControlOptions) {
    this.options = options;
    this.limiter = options.appControlPerMinute > 0 ? createRateLimiter(options.appControlPerMinute, APP_CONTROL_WINDOW_MS) : undefined;
    this.logLimiter = createRateLimiter(1, APP_CONTROL_WINDOW_MS);
  }

  /**
   * The apps of `connection_init.runningApps` the session may see: of the first
   * `maxRunningApps` entries, those that are valid package names of registered apps. Work is
   * linear in `maxRunningApps` whatever the length of `declared`.
   */
  async admitRunningApps(declared: readonly string[]): Promise<AdmittedApps> {
    const { maxRunningApps, store } = this.options;
    const apps: string[] = [];
    const unknown: string[] = [];
    let invalid = 0;
    let unknownCount = 0;
    const seen = new Set<string>();
    for (const name of declared.slice(0, maxRunningApps)) {
      if (!packageNameSchema.safeParse(name).success) invalid++;
      else if (seen.has(name)) continue;
      else if (await store.getApp(name)) apps.push(name);
      else if (++unknownCount <= QUOTED_NAMES) unknown.push(name);
      seen.add(name);
    }
    const ignored = Math.max(0, declared.length - maxRunningApps);
    const refusals: AppControlRefusal[] = [];
    if (invalid > 0 || ignored > 0) {
      const parts = [
        ...(invalid > 0 ? [`${invalid} invalid package names skipped`] : []),
        ...(ignored > 0 ? [`${ignored} entries beyond the first ${maxRunningApps} ignored`] : []),
      ];
      refusals.push({ code: 'INVALID_FIELDS', message: `runningApps: ${parts.join('; ')}`, count: invalid + ignored, packageNames: [], logged: true });
    }
    if (unknownCount > 0) {
      refusals.push({
        code: 'UNKNOWN_PACKAGE',
        message: `runningApps: not registered: ${quote(unknown, unknownCount)}`,
        count: unknownCount,
        packageNames: unknown,
        logged: true,
      });
    }
    return { apps, refusals };
  }

  /**
   * Whether `userId`'s `start_app` (`start: true`) or `stop_app` of `packageName` may reach the
   * session: within the user's rate limit and, for a start, of a registered app. Resolves with
   * the refusal otherwise.
   */
  async admitIntent(userId: string, packageName: string, start: boolean): Promise<AppControlRefusal | undefined> {
    const frame = start ? 'start_app' : 'stop_app';
    const retryInMs = this.limiter ? await hit(this.limiter, userId) : undefined;
    if (retryInMs !== undefined) {
      return {
        code: 'RATE_LIMITED',
        message: `${frame}: more than ${this.options.appControlPerMinute} start_app/stop_app per minute; retry in ${Math.ceil(retryInMs / 1000)} s`,
        count: 1,
        packageNames: [packageName],
        logged: (await hit(this.logLimiter, userId)) === undefined,
      };
    }
    // A stop of an unknown app changes nothing; it may be one the cloud has since unregistered.
    if (start && !(await this.options.store.getApp(packageName))) {
      return { code: 'UNKNOWN_PACKAGE', message: `${frame}: ${packageName} is not registered`, count: 1, packageNames: [packageName], logged: true };
    }
    return undefined;
  }

  /** Answers each refusal with a `connection_error` on `ws` (which stays open), counts and logs it. */
  report(ws: WebSocket, refusals: readonly AppControlRefusal[], bindings: object): void {
    for (const { code, message, count, packageNames, logged } of refusals) {
      this.options.metrics.appControlRefusals.inc({ code }, count);
      if (logged) this.options.logger.warn({ ...bindings, code, count, packageNames }, 'app control refused');
      writeFrame(ws, { type: 'connection_error', code, message });
    }
  }
}
