/**
 * `npm run cloud`: the cloud alone, configured only by the environment (see README). Shuts down
 * gracefully on SIGTERM/SIGINT: glasses closed 1001, apps 1012, store closed.
 */
import { createCloud } from './cloud.js';
import { resolveCloudConfig } from './config.js';

const config = resolveCloudConfig();
const cloud = await createCloud({ config, host: '0.0.0.0' });
console.log(`Tether cloud on ${cloud.url} — glasses ${cloud.glassesUrl}, apps ${cloud.appUrl}`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    cloud.logger.info({ signal }, 'shutting down');
    void cloud.close().then(() => process.exit(0));
  });
}
