/**
 * `npm start` (or, compiled, `node dist/src/main.js`): the cloud with its example apps (Notify, Live Captions) registered automatically
 * and the inspector, on the embedded SQLite store; prints the URLs and a development glasses
 * token. The example apps stream their own connection actors into the inspector too.
 */
import { createCaptionsApp } from './apps/captions/index.js';
import { createNotifyApp } from './apps/notify/index.js';
import { createCloud, type Cloud } from './cloud/cloud.js';
import { resolveCloudConfig } from './cloud/config.js';
import type { AppServer } from './sdk/index.js';
import { createIngestInspector, INSPECTOR_PATHS, type IngestInspector } from '../inspector/index.js';

const DEV_USER = 'dev-user';

const config = resolveCloudConfig();
const cloud = await createCloud({ config });
const apps: AppServer[] = [];

/** Registers (or re-registers with a fresh key) an example app and serves it on a free port. */
async function startExample(cloud: Cloud, packageName: string, name: string, make: (apiKey: string) => AppServer) {
  // Keys are stored hashed, so a restart cannot recover the old one: issue a new key each start.
  await cloud.store.deleteApp(packageName);
  const { apiKey } = await cloud.registerApp({ packageName, name, webhookUrl: 'http://127.0.0.1:1/webhook' });
  const app = make(apiKey);
  const port = await app.listen(0, '127.0.0.1');
  await cloud.store.setWebhookUrl(packageName, `http://127.0.0.1:${port}/webhook`);
  apps.push(app);
  return port;
}

/**
 * The example apps stream their connection actors into the inspector over its ingest socket,
 * as an app server in another process would.
 */
const ingests: IngestInspector[] = [];
function inspectAs(source: string): { inspect?: IngestInspector['inspect'] } {
  if (!cloud.inspectorUrl) return {};
  const ingest = createIngestInspector({ url: `ws://127.0.0.1:${cloud.port}${INSPECTOR_PATHS.ingest}`, source, ...(config.inspectorToken ? { token: config.inspectorToken } : {}) });
  ingests.push(ingest);
  return { inspect: ingest.inspect };
}

const notifyPort = await startExample(cloud, 'com.tether.notify', 'Notify', (apiKey) =>
  createNotifyApp({ packageName: 'com.tether.notify', apiKey, logger: cloud.logger, ...inspectAs('notify-app') }),
);
const captionsPort = await startExample(cloud, 'com.tether.captions', 'Live Captions', (apiKey) =>
  createCaptionsApp({ packageName: 'com.tether.captions', apiKey, logger: cloud.logger, ...inspectAs('captions-app') }),
);
const token = await cloud.createGlassesToken(DEV_USER);

console.log(`
Tether is running.
  cloud        ${cloud.url}   (health ${cloud.url}/health, metrics ${cloud.url}/metrics)
  inspector    ${cloud.inspectorUrl ?? 'off (no TETHER_INSPECTOR_TOKEN, and NODE_ENV=production or TETHER_HOST beyond loopback)'}
  glasses      ${cloud.glassesUrl}
  apps         ${cloud.appUrl}
  notify       http://127.0.0.1:${notifyPort}/webhook   (com.tether.notify)
  captions     http://127.0.0.1:${captionsPort}/webhook   (com.tether.captions)
  glasses token for "${DEV_USER}" (24 h):
    ${token}
Try: npm run sim -- --token <token> --apps com.tether.captions
`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    // Repeated signals (a process group's Ctrl-C) must not cut the shutdown short.
    if (stopping) {
      cloud.logger.warn({ signal }, 'already shutting down; signal ignored');
      return;
    }
    stopping = true;
    cloud.logger.info({ signal }, 'shutting down');
    void (async () => {
      for (const app of apps) await app.stop();
      for (const ingest of ingests) await ingest.close();
      await cloud.close();
    })().then(
      () => process.exit(0),
      (error: unknown) => {
        cloud.logger.error({ err: (error as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
