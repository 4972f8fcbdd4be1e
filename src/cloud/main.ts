/**
 * The cloud alone, configured only by the environment (see README). In production run it
 * compiled and bundled by `npm run build` — `node dist/bundle/cloud.mjs` — with nothing between
 * it and the signals (`npm run cloud` runs this source under tsx, for development). On start it
 * restores the sessions the store holds (written through by the previous process, whether it
 * shut down or crashed); on SIGTERM/SIGINT it flushes what is pending, closes glasses and apps
 * with 1012 (so they reconnect to the next process) and closes the store.
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
    // A signal sent to the whole process group (Ctrl-C, systemd's default) often comes twice, or
    // as both SIGINT and SIGTERM: the first one starts the shutdown, the others must not cut it short.
    if (stopping) {
      cloud.logger.warn({ signal }, 'already shutting down; signal ignored');
      return;
    }
    stopping = true;
    cloud.logger.info({ signal }, 'shutting down');
    cloud.close().then(
      () => process.exit(0),
      (error: unknown) => {
        cloud.logger.error({ err: (error as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
