/**
 * Simple storage for apps (issue 12 §1), as `@mentra/sdk` 2.1.29's `SimpleStorage` calls it
 * (MENTRA-SDK-WIRE.md §7.2), one namespace per (app, user) in the store:
 *
 * - `GET /api/sdk/simple-storage/:userId` → `{ success: true, data: { key: value } }`
 * - `PUT /api/sdk/simple-storage/:userId`, body `{ data: { key: value } }` → `{ success: true }`
 * - `DELETE /api/sdk/simple-storage/:userId/:key` → `{ success: true }` (also for an absent key)
 * - `DELETE /api/sdk/simple-storage/:userId` → `{ success: true }` (empties the namespace)
 *
 * Every request carries `Authorization: Bearer <packageName>:<apiKey>`: the key must be that
 * app's. The user must be one the cloud ran the app for: a live session of the app for that
 * user now, or one before (recorded as an app user at the first storage request of a session,
 * so the SDK's flush after its session stopped still lands). An app never reaches a user it
 * did not run for, nor another app's namespace. Size limits answer 413 and the rate limit 429,
 * the two statuses the SDK turns into its own errors.
 */
import express, { Router, type Request, type Response } from 'express';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import { z } from 'zod';
import { appSessionId } from '../../machines/sessionApi.js';
import { packageNameSchema } from '../protocol/packageName.js';
import type { Logger } from '../logger.js';
import { createRateLimiter, hit, retryAfterSeconds } from '../util/rateLimit.js';
import { verifyApiKey } from './apiKeys.js';
import { describeIssues, refuse } from './httpRefusal.js';
import type { SessionRegistry } from './sessionRegistry.js';
import type { Store } from './store.js';

/** Base path of the simple-storage endpoints. */
const SIMPLE_STORAGE_PATH = '/api/sdk/simple-storage';

/** Window of the per-(app, user) rate limit, in ms. */
const RATE_WINDOW_MS = 60_000;

/** Longest key, in characters: keys are names, not data. */
const MAX_KEY_LENGTH = 256;

/** Limits of the simple-storage endpoints (the cloud settings of the same names). */
export interface SimpleStorageLimits {
  /** Most UTF-8 bytes of keys and values in one namespace. */
  simpleStorageMaxBytes: number;
  /** Largest single value, in UTF-8 bytes. */
  simpleStorageMaxValueBytes: number;
  /** Requests per (app, user) per minute (count); 0 = no limit. */
  simpleStorageRequestsPerMinute: number;
}

/** What the simple-storage endpoints need from the cloud. */
export interface SimpleStorageDeps {
  store: Store;
  sessions: Pick<SessionRegistry, 'appSession'>;
  logger: Logger;
  limits: SimpleStorageLimits;
}

const keySchema = z.string().min(1).max(MAX_KEY_LENGTH);
const putBodySchema = z.object({ data: z.record(keySchema, z.string()) });

/** The app a request's `Bearer <packageName>:<apiKey>` names, or the refusal to answer. */
async function authenticate(
  store: Store,
  header: string | undefined,
): Promise<{ ok: true; packageName: string } | { ok: false; code: 'UNAUTHORIZED' | 'UNKNOWN_PACKAGE' | 'INVALID_API_KEY'; message: string }> {
  const match = /^Bearer ([^:\s]+):(\S+)$/.exec(header ?? '');
  if (!match) return { ok: false, code: 'UNAUTHORIZED', message: 'Authorization: Bearer <packageName>:<apiKey> is required' };
  const [, packageName = '', apiKey = ''] = match;
  const app = packageNameSchema.safeParse(packageName).success ? await store.getApp(packageName) : undefined;
  if (!app) return { ok: false, code: 'UNKNOWN_PACKAGE', message: 'No app is registered with this package name' };
  if (!verifyApiKey(apiKey, app.apiKeyHash)) return { ok: false, code: 'INVALID_API_KEY', message: 'The API key does not match this package' };
  return { ok: true, packageName };
}

/**
 * The express router of {@link SIMPLE_STORAGE_PATH}, to mount at the root; it parses its own
 * bodies (larger than the API's), and only on its path.
 */
export function createSimpleStorageRouter(deps: SimpleStorageDeps): Router {
  const { store, sessions, logger, limits } = deps;
  const limiter: RateLimiterMemory | undefined =
    limits.simpleStorageRequestsPerMinute > 0 ? createRateLimiter(limits.simpleStorageRequestsPerMinute, RATE_WINDOW_MS) : undefined;
  const router = Router();
  // JSON escaping can grow a value up to sixfold (\uXXXX); the quota is checked on the parsed data.
  router.use(express.json({ limit: limits.simpleStorageMaxBytes * 6 + 1024 }));

  /** Authenticates, authorizes and rate-limits; resolves with the namespace or undefined once refused. */
  const admit = async (req: Request, res: Response): Promise<{ packageName: string; userId: string } | undefined> => {
    const auth = await authenticate(store, req.headers.authorization);
    if (!auth.ok) return void refuse(logger, req, res, auth.code, auth.message);
    const userId = String(req.params['userId']);
    const { packageName } = auth;
    if (sessions.appSession(userId, appSessionId(userId, packageName))) await store.recordAppUser(packageName, userId);
    else if (!(await store.isAppUser(packageName, userId))) {
      return void refuse(logger, req, res, 'FORBIDDEN', 'This app has never run for this user');
    }
    // Counted after authentication, as registrations are: strangers cannot use up an app's budget.
    const retryInMs = limiter ? await hit(limiter, `${packageName}\u0000${userId}`) : undefined;
    if (retryInMs !== undefined) {
      res.setHeader('retry-after', retryAfterSeconds(retryInMs));
      return void refuse(logger, req, res, 'RATE_LIMITED', `More than ${limits.simpleStorageRequestsPerMinute} simple-storage requests per minute`);
    }
    return { packageName, userId };
  };

  router.get('/:userId', async (req, res) => {
    const space = await admit(req, res);
    if (space) res.json({ success: true, data: await store.getSimpleStorage(space.packageName, space.userId) });
  });

  router.put('/:userId', async (req, res) => {
    const space = await admit(req, res);
    if (!space) return;
    const parsed = putBodySchema.safeParse(req.body);
    if (!parsed.success) return refuse(logger, req, res, 'INVALID_FIELDS', describeIssues(parsed.error.issues));
    const items = parsed.data.data;
    const large = Object.keys(items).find((key) => Buffer.byteLength(items[key]!) > limits.simpleStorageMaxValueBytes);
    if (large !== undefined) {
      return refuse(logger, req, res, 'MESSAGE_TOO_LARGE', `The value of ${large} exceeds ${limits.simpleStorageMaxValueBytes} bytes`);
    }
    const put = await store.putSimpleStorage(space.packageName, space.userId, items, limits.simpleStorageMaxBytes);
    if (!put.written) {
      return refuse(logger, req, res, 'STORAGE_QUOTA_EXCEEDED', `This user's storage of this app would exceed ${limits.simpleStorageMaxBytes} bytes`);
    }
    res.json({ success: true });
  });

  router.delete('/:userId/:key', async (req, res) => {
    const space = await admit(req, res);
    if (!space) return;
    await store.deleteSimpleStorageKey(space.packageName, space.userId, String(req.params['key']));
    res.json({ success: true });
  });

  router.delete('/:userId', async (req, res) => {
    const space = await admit(req, res);
    if (!space) return;
    await store.clearSimpleStorage(space.packageName, space.userId);
    res.json({ success: true });
  });

  return Router().use(SIMPLE_STORAGE_PATH, router);
}
