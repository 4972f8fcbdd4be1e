/**
 * A Tether SDK app server in its own process, for the inspector's end-to-end test: it serves
 * one app and streams its `appConnection` actors to the cloud's `/inspector/ingest`. Started
 * with `fork()` (IPC channel required); configured by environment:
 * `APP_PACKAGE`, `APP_API_KEY`, `INGEST_URL` (ws://…/inspector/ingest), `INGEST_SOURCE`.
 * Sends `{ port }` once listening; stops cleanly on the message `stop` or when the parent goes.
 */
import { createIngestInspector } from '../../inspector/ingestClient.js';
import { AppServer, type AppSession } from '../../src/sdk/index.js';

const packageName = required('APP_PACKAGE');
const inspector = createIngestInspector({ url: required('INGEST_URL'), source: required('INGEST_SOURCE') });

class EchoApp extends AppServer {
  protected override async onSession(session: AppSession) {
    session.layouts.showTextWall('inspected');
  }
}

const server = new EchoApp({ packageName, apiKey: required('APP_API_KEY'), inspect: inspector.inspect });
const port = await server.listen(0, '127.0.0.1');
process.send?.({ port });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.stop();
  await inspector.close();
  process.disconnect?.();
}
process.on('message', (message) => {
  if (message === 'stop') void stop();
});
process.on('disconnect', () => void stop());

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`sdkAppProcess: ${name} is not set`);
  return value;
}
