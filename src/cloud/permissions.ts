/**
 * `GET /api/public/permissions/:packageName` (issue 12 §1): the permissions an app declared
 * (`appDefinition.ts`), in the shape `@mentra/sdk` 2.1.29's permission check reads
 * (`PackagePermissions`: `{ packageName, permissions: [{ type, description, _id }] }`). The SDK
 * asks without credentials, fire and forget, and only prints a warning for a missing one; it
 * always asks over https:// (MENTRA-SDK-WIRE.md §7.1 rule A), so it is answered only on a cloud
 * with TLS (`tls.ts`).
 */
import { Router } from 'express';
import type { Logger } from '../logger.js';
import { readAppDefinition } from './appDefinition.js';
import { refuse } from './httpRefusal.js';
import type { Store } from './store.js';

/** Path of the permissions endpoint. */
const PERMISSIONS_PATH = '/api/public/permissions/:packageName';

/** The router of {@link PERMISSIONS_PATH}. */
export function createPermissionsRouter(deps: { store: Pick<Store, 'getApp' | 'getAppDefinition'>; logger: Logger }): Router {
  const router = Router();
  router.get(PERMISSIONS_PATH, async (req, res) => {
    const packageName = String(req.params['packageName']);
    if (!(await deps.store.getApp(packageName))) return refuse(deps.logger, req, res, 'NOT_FOUND', 'No app is registered with this package name');
    const { permissions } = await readAppDefinition(deps.store, packageName);
    res.json({
      packageName,
      // `_id` is a MongoDB id in MentraOS; the SDK only requires a string, stable per permission here.
      permissions: permissions.map((p) => ({ type: p.type, description: p.description ?? '', _id: `${packageName}:${p.type}` })),
    });
  });
  return router;
}
