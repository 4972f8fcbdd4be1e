/**
 * The cloud's HTTP endpoints: `GET /health`, `GET /metrics` (Prometheus text) and the admin API
 * `POST /api/apps`, which registers an app and returns its API key once (only its hash is kept).
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { TetherError, type ErrorCode } from '../protocol/errors.js';
import { packageNameSchema } from '../protocol/packageName.js';
import type { Logger } from '../logger.js';
import { sendError } from '../util/httpError.js';
import { generateApiKey, hashApiKey } from './apiKeys.js';
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
  /** POST routes beyond these (photo uploads from the glasses, user discovery), by path. */
  posts?: ReadonlyArray<{ path: string; handler: RequestHandler }>;
}

const newAppSchema = z.object({
  packageName: packageNameSchema,
  name: z.string().min(1).max(200),
  webhookUrl: z.url({ protocol: /^https?$/ }),
});

/** Registers an app in the store; returns the plain API key, which is never stored. */
export function registerApp(store: Store, app: z.infer<typeof newAppSchema>): { packageName: string; apiKey: string } {
  const apiKey = generateApiKey();
  store.createApp({ ...app, apiKeyHash: hashApiKey(apiKey) });
  return { packageName: app.packageName, apiKey };
}

/** Every refused HTTP request leaves a log line with its code (principle 7). */
function refuse(logger: Logger, req: Request, res: Response, code: ErrorCode, message: string): void {
  logger.warn({ code, method: req.method, path: req.path, remoteAddress: req.socket.remoteAddress }, 'http request refused');
  sendError(res, code, message);
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
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      return refuse(deps.logger, req, res, 'INVALID_FIELDS', fields);
    }
    const { policy, lookup } = deps.outbound;
    const verdict = await checkOutboundUrl(parsed.data.webhookUrl, policy, lookup);
    if (!verdict.ok) {
      deps.logger.warn({ packageName: parsed.data.packageName, detail: verdict.message }, 'webhook url refused by the outbound policy');
      return refuse(deps.logger, req, res, 'OUTBOUND_FORBIDDEN', outboundRefusalMessage('webhookUrl', policy));
    }
    try {
      const created = registerApp(deps.store, parsed.data);
      deps.logger.info({ packageName: created.packageName }, 'app registered');
      res.status(201).json(created);
    } catch (error) {
      if (error instanceof TetherError) return refuse(deps.logger, req, res, error.code, error.message);
      throw error;
    }
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
