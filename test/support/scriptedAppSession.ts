/**
 * One app server against a scripted cloud, the way the bundled apps' integration tests run it:
 * the cloud asks the app for a session with a `session_request` to its webhook, and the app and
 * the cloud are stopped after each test.
 */
import { afterEach, expect } from 'vitest';
import type { AppServer } from '../../src/sdk/index.js';
import { startScriptedCloud, type ScriptedCloud } from './scriptedCloud.js';

/**
 * Registers an `afterEach` that stops the app, then the cloud. `start` starts a scripted cloud,
 * builds the app with `makeApp`, lets it listen on a free port and opens session `sessionId`
 * for user `u1`; it resolves once the app's socket reached the cloud (1 s at most).
 */
export function scriptedAppSession<A extends AppServer>() {
  let cloud: ScriptedCloud | undefined;
  let app: A | undefined;

  afterEach(async () => {
    await app?.stop();
    await cloud?.stop();
    app = undefined;
    cloud = undefined;
  });

  return {
    async start(makeApp: () => A, sessionId: string) {
      cloud = await startScriptedCloud();
      app = makeApp();
      const port = await app.listen(0, '127.0.0.1');
      const res = await fetch(`http://127.0.0.1:${port}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'session_request', sessionId, userId: 'u1', mentraOSWebsocketUrl: cloud.url }),
      });
      expect(res.status).toBe(200);
      const connection = await cloud.waitForConnection(1, 1000);
      const session = app.getSession(sessionId);
      if (!session) throw new Error('no session after session_request');
      return { cloud, app, connection, session };
    },
  };
}
