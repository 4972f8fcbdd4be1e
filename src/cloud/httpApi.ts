/**
 * The cloud's HTTP endpoints: `GET /health`, `GET /metrics` (Prometheus text), the admin API
 * `POST /api/apps`, which registers an app and returns its API key once (only its hash is kept),
 * and `PUT /api/apps/:packageName/definition`, which sets an app's settings definitions and
 * permissions; plus the endpoints for apps it is given (simple storage, settings, permissions,
 * TTS: `appEndpoints`).
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { TetherError } from '../protocol/errors.js';
import { packageNameSchema } from '../protocol/packageName.js';
import type { Logger } from '../logger.js';
import { sendError } from '../util/httpError.js';
import { generateApiKey, hashApiKey } from './apiKeys.js';
import { appDefinitionSchema, saveAppDefinition } from './appDefinition.js';
import { describeIssues, refuse } from './httpRefusal.js';
import type { CloudMetrics } from './metrics.js';
import { checkOutboundUrl, outboundRefusalMessage, type HostLookup, type OutboundPolicy } from './outboundPolicy.js';
import type { Store } from './store.js';

/** What the HTTP API needs from the cloud. */
export interface HttpApiDeps {
  adminToken: string;
  store: Store;
  metrics: CloudMetrics;
  logger: Logger;
  /** Live figures for `/health`. */
  health(): Record<string, unknown>;
  /** Which addresses a `webhookUrl` may resolve to (`outboundPolicy.ts`), checked when it is registered. */
  outbound: { policy: OutboundPolicy; lookup?: HostLookup };
  /** App-server registration (`registration.ts`), mounted on its paths when given. */
  registration?: { paths: readonly string[]; handler: RequestHandler };
  /**
   * The endpoints for apps (simple storage, settings, permissions, TTS), mounted first: each parses
   * its own body, with its own size limit.
   */
  appEndpoints?: readonly Router[];
  /** POST routes beyond these (photo uploads from the glasses, user discovery), by path. */
  posts?: ReadonlyArray<{ path: string; handler: RequestHandler }>;
}

const newAppSchema = z.object({
  packageName: packageNameSchema,
  name: z.string().min(1).max(200),
  webhookUrl: z.url({ protocol: /^https?$/ }),
  ...appDefinitionSchema.shape,
});

/** An app as {@link registerApp} takes it: settings definitions and permissions are optional. */
export type NewAppRequest = z.input<typeof newAppSchema>;

/**
 * Registers an app in the store, with its settings definitions and permissions when given;
 * returns the plain API key, which is never stored.
 *
 * @throws TetherError `INVALID_FIELDS` when the settings or permissions do not validate,
 *   `ALREADY_EXISTS` for a package name taken.
 */
export async function registerApp(store: Store, app: NewAppRequest): Promise<{ packageName: string; apiKey: string }> {
  const definition = appDefinitionSchema.safeParse({ settings: app.settings, permissions: app.permissions });
  if (!definition.success) throw new TetherError('INVALID_FIELDS', describeIssues(definition.error.issues));
  const apiKey = generateApiKey();
  await store.createApp({ packageName: app.packageName, name: app.name, webhookUrl: app.webhookUrl, apiKeyHash: hashApiKey(apiKey) });
  if (definition.data.settings || definition.data.permissions) await saveAppDefinition(store, app.packageName, definition.data);
  return { packageName: app.packageName, apiKey };
}

function bearerMatches(header: string | undefined, expected: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1]);
  const wanted = Buffer.from(expected);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** Builds the express app; the cloud mounts it on its HTTP server. */
export function createHttpApi(deps: HttpApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  for (const router of deps.appEndpoints ?? []) app.use(router);
  app.use(express.json({ limit: '64kb' }));

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', ...deps.health() });
  });

  app.get('/metrics', async (_req, res) => {
    const text = await deps.metrics.render();
    res.set('content-type', deps.metrics.registry.contentType).send(text);
  });

  app.post('/api/apps', async (req, res) => {
    if (!bearerMatches(req.headers.authorization, deps.adminToken)) {
      return refuse(deps.logger, req, res, 'UNAUTHORIZED', 'A valid admin bearer token is required');
    }
    const parsed = newAppSchema.safeParse(req.body);
    if (!parsed.success) return refuse(deps.logger, req, res, 'INVALID_FIELDS', describeIssues(parsed.error.issues));
    const { policy, lookup } = deps.outbound;
    const verdict = await checkOutboundUrl(parsed.data.webhookUrl, policy, lookup);
    if (!verdict.ok) {
      deps.logger.warn({ packageName: parsed.data.packageName, detail: verdict.message }, 'webhook url refused by the outbound policy');
      return refuse(deps.logger, req, res, 'OUTBOUND_FORBIDDEN', outboundRefusalMessage('webhookUrl', policy));
    }
    try {
      const created = await registerApp(deps.store, parsed.data);
      deps.logger.info({ packageName: created.packageName }, 'app registered');
      res.status(201).json(created);
    } catch (error) {
      if (error instanceof TetherError) return refuse(deps.logger, req, res, error.code, error.message);
      throw error;
    }
  });

  app.put('/api/apps/:packageName/definition', async (req, res) => {
    if (!bearerMatches(req.headers.authorization, deps.adminToken)) {
      return refuse(deps.logger, req, res, 'UNAUTHORIZED', 'A valid admin bearer token is required');
    }
    const parsed = appDefinitionSchema.safeParse(req.body);
    if (!parsed.success) return refuse(deps.logger, req, res, 'INVALID_FIELDS', describeIssues(parsed.error.issues));
    const packageName = String(req.params['packageName']);
    if (!(await saveAppDefinition(deps.store, packageName, parsed.data))) {
      return refuse(deps.logger, req, res, 'NOT_FOUND', 'No app is registered with this package name');
    }
    deps.logger.info({ packageName, settings: parsed.data.settings?.length, permissions: parsed.data.permissions?.length }, 'app definition set');
    res.json({ success: true });
  });

  if (deps.registration) app.post([...deps.registration.paths], deps.registration.handler);
  for (const route of deps.posts ?? []) app.post(route.path, route.handler);

  app.use((req, res) => refuse(deps.logger, req, res, 'NOT_FOUND', 'No such endpoint'));
  app.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    if ((error as { type?: string }).type === 'entity.parse.failed') return refuse(deps.logger, req, res, 'INVALID_JSON', 'Body is not valid JSON');
    if ((error as { type?: string }).type === 'entity.too.large') return refuse(deps.logger, req, res, 'MESSAGE_TOO_LARGE', 'Body is too large');
    // body-parser's other refusals (unsupported encoding or charset, a body that fails to inflate)
    // carry a 4xx status: the request was bad, not the server.
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) return refuse(deps.logger, req, res, 'BAD_REQUEST', 'Body could not be decoded');
    deps.logger.error({ err: (error as Error).message }, 'http handler failed');
    sendError(res, 'INTERNAL_ERROR', 'Internal error');
  });
  return app;
}
