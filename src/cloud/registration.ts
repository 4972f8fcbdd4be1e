/**
 * App-server registration (seed 02 §3.1): `POST /api/tpa/register`, alias `/api/app/register`.
 * An app server announces itself when it starts and refreshes every minute; each process draws
 * a random `bootId`, so a registration whose boot id the store has not seen before is a restart
 * (or a new replica), which starts the restart recovery of that package (`recovery.ts`). A
 * registration without a boot id may always be a restart, and starts the recovery each time.
 *
 * The registering server also becomes the app's webhook target, `serverUrl` + `/webhook`: an
 * app server that comes back on another host or port is the usual case, and the key that may
 * register is the key that may open the app's sessions anyway. Only the newest boot moves it,
 * so the refreshes of an older process that is still draining during a rolling deploy do not
 * flip the webhook back and forth.
 */
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { TetherError, errorInfo, type ErrorCode } from '../protocol/errors.js';
import { packageNameSchema } from '../protocol/packageName.js';
import type { Logger } from '../logger.js';
import { createRateLimiter, hit, retryAfterSeconds } from '../util/rateLimit.js';
import { verifyApiKey } from './apiKeys.js';
import { checkOutboundUrl, outboundRefusalMessage, type HostLookup, type OutboundPolicy } from './outboundPolicy.js';
import type { AppRecovery, RecoveryPlan } from './recovery.js';
import type { Store } from './store.js';

/** The registration endpoint and its alias. */
export const REGISTER_PATHS: readonly string[] = ['/api/tpa/register', '/api/app/register'];

/** Most registrations accepted per package within one {@link REGISTRATION_WINDOW_MS} window (count). */
export const REGISTRATIONS_PER_WINDOW = 10;

/** Window of the registration rate limit, in ms: it opens at a package's first registration in it. */
export const REGISTRATION_WINDOW_MS = 60_000;

/** Path appended to `serverUrl` to form the app's webhook URL (`@mentra/sdk`'s fixed path). */
const WEBHOOK_PATH = '/webhook';

const httpUrl = z
  .url({ protocol: /^https?$/ })
  .refine((raw) => {
    const url = new URL(raw);
    return url.search === '' && url.hash === '';
  }, 'must have no query or fragment (/webhook is appended to it)');

const registrationSchema = z.object({
  packageName: packageNameSchema,
  apiKey: z.string().min(1).max(512),
  serverUrl: httpUrl,
  version: z.string().min(1).max(100),
  capabilities: z.array(z.string().min(1).max(100)).max(100).optional(),
  bootId: z.string().regex(/^[A-Za-z0-9._:-]{8,128}$/, '8 to 128 letters, digits, dots, dashes, underscores or colons').optional(),
});

/** A valid registration request. */
export type RegistrationRequest = z.infer<typeof registrationSchema>;

/** The answer to an accepted registration. */
export interface RegistrationResponse {
  success: true;
  /** Id of this boot's registration: the same for every refresh of one process. */
  registrationId: string;
  /**
   * Session ids of this package the cloud runs or is bringing back (`${userId}-${packageName}`):
   * every live app session not being stopped, plus the ones this registration's recovery starts.
   */
  activeSessions: string[];
  /** True when this boot id is new and the package had registered before: recovery started. */
  restarted: boolean;
}

/** What {@link RegistrationService.register} decided. */
export type RegistrationOutcome =
  | { ok: true; body: RegistrationResponse; packageName: string; recovery: RecoveryPlan | null }
  | { ok: false; status: number; code: ErrorCode; message: string; retryAfterMs?: number };

/** What registration needs from the cloud. */
export interface RegistrationDeps {
  store: Store;
  recovery: Pick<AppRecovery, 'plan' | 'run' | 'liveSessionIds'>;
  logger: Logger;
  /**
   * Which addresses a `serverUrl` may resolve to (`outboundPolicy.ts`), checked before anything is
   * recorded; the cloud always gives it (without it nothing is checked here, only when dialled).
   */
  outbound?: { policy: OutboundPolicy; lookup?: HostLookup };
  /** Clock in ms since the epoch, for the stored times (default `Date.now`); the rate limit reads `Date.now()`. */
  now?: () => number;
}

/** Validates, authenticates, rate-limits and records registrations. */
export class RegistrationService {
  private readonly limiter = createRateLimiter(REGISTRATIONS_PER_WINDOW, REGISTRATION_WINDOW_MS);
  private readonly now: () => number;

  constructor(private readonly deps: RegistrationDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Handles one registration body. Does not start the recovery it plans: the caller answers
   * the app server first, then calls `recovery.run(outcome.recovery)`.
   */
  async register(body: unknown): Promise<RegistrationOutcome> {
    const parsed = registrationSchema.safeParse(body);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return refusal('INVALID_FIELDS', fields);
    }
    const request = parsed.data;
    const { store, recovery } = this.deps;
    const app = await store.getApp(request.packageName);
    if (!app) return refusal('UNKNOWN_PACKAGE', 'No app is registered with this package name');
    if (!verifyApiKey(request.apiKey, app.apiKeyHash)) return refusal('INVALID_API_KEY', 'The API key does not match this package');
    // Counted after authentication: refusing strangers costs nothing, and a flood of wrong keys
    // must not lock the app's own servers out of registering.
    const retryAfterMs = await hit(this.limiter, request.packageName);
    if (retryAfterMs !== undefined) {
      return { ...refusal('RATE_LIMITED', `More than ${REGISTRATIONS_PER_WINDOW} registrations of this package per minute`), retryAfterMs };
    }

    const serverUrl = request.serverUrl.replace(/\/+$/, '');
    if (this.deps.outbound) {
      const { policy, lookup } = this.deps.outbound;
      const verdict = await checkOutboundUrl(serverUrl, policy, lookup);
      if (!verdict.ok) {
        this.deps.logger.warn({ packageName: request.packageName, detail: verdict.message }, 'server url refused by the outbound policy');
        return refusal('OUTBOUND_FORBIDDEN', outboundRefusalMessage('serverUrl', policy));
      }
    }
    let recorded: { registrationId: string; restarted: boolean };
    try {
      recorded = await store.recordRegistration({
        packageName: request.packageName,
        serverUrl,
        version: request.version,
        // Without a boot id (the shape seed 02 gives it) nothing tells a refresh from a restart,
        // so each registration is taken as a new process: safe, because recovery only touches
        // sessions that lost their app, never a running one.
        bootId: request.bootId ?? `unannounced:${randomUUID()}`,
        at: this.now(),
      });
    } catch (error) {
      // The app was deleted between the key check and here.
      if (error instanceof TetherError) return refusal(error.code, error.message);
      throw error;
    }
    const { registrationId } = recorded;
    const restarted = recorded.restarted || request.bootId === undefined;
    const webhookUrl = `${serverUrl}${WEBHOOK_PATH}`;
    const newest = (await store.listRegistrations(request.packageName))[0];
    if (newest?.registrationId === registrationId && app.webhookUrl !== webhookUrl) {
      await store.setWebhookUrl(request.packageName, webhookUrl);
      this.deps.logger.info({ packageName: request.packageName, webhookUrl, previous: app.webhookUrl }, 'app webhook moved');
    }

    const plan = restarted ? recovery.plan(request.packageName, registrationId) : null;
    const active = new Set(recovery.liveSessionIds(request.packageName));
    for (const target of plan?.targets ?? []) active.add(target.sessionId);
    return {
      ok: true,
      packageName: request.packageName,
      recovery: plan,
      body: { success: true, registrationId, activeSessions: [...active].sort(), restarted },
    };
  }
}

function refusal(code: ErrorCode, message: string): Extract<RegistrationOutcome, { ok: false }> {
  return { ok: false, status: errorInfo(code).httpStatus, code, message };
}

/**
 * The express handler of {@link REGISTER_PATHS}: answers, logs, and then starts the recovery the
 * registration planned, so the app server has its answer before the first `session_request`.
 */
export function registrationHandler(service: RegistrationService, deps: Pick<RegistrationDeps, 'recovery' | 'logger'>): RequestHandler {
  return async (req: Request, res: Response) => {
    const outcome = await service.register(req.body);
    if (!outcome.ok) {
      const raw: unknown = req.body;
      const claimed = typeof raw === 'object' && raw !== null && 'packageName' in raw ? raw.packageName : undefined;
      const packageName = typeof claimed === 'string' ? claimed.slice(0, 200) : undefined;
      deps.logger.warn({ packageName, code: outcome.code, remoteAddress: req.socket.remoteAddress }, 'app server registration refused');
      if (outcome.retryAfterMs !== undefined) res.setHeader('retry-after', retryAfterSeconds(outcome.retryAfterMs));
      res.status(outcome.status).json({
        success: false,
        error: { code: outcome.code, category: errorInfo(outcome.code).category, message: outcome.message },
      });
      return;
    }
    const { body, packageName, recovery } = outcome;
    res.status(200).json(body);
    deps.logger.info(
      {
        packageName,
        registrationId: body.registrationId,
        restarted: body.restarted,
        activeSessions: body.activeSessions.length,
        recovering: recovery?.targets.length ?? 0,
      },
      'app server registered',
    );
    if (recovery) void deps.recovery.run(recovery);
  };
}
