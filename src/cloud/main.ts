/**
 * `npm run cloud`: the cloud alone, configured only by the environment (see README). On start it
 * restores the sessions a previous process persisted; on SIGTERM/SIGINT it persists every user
 * session, closes glasses and apps with 1012 (so they reconnect to the next process) and closes
 * the store.
 */
import { createCloud } from './cloud.js';
import { resolveCloudConfig } from './config.js';

const config = resolveCloudConfig();
// Listens on TETHER_HOST (127.0.0.1 unless told otherwise).
const cloud = await createCloud({ config });
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
