/**
 * Issue 11, `ownership_release` reasons with an unmodified `@mentra/sdk` app
 * (`session.disconnect({ releaseOwnership: true, reason })`): `user_logout` stops the app for
 * that user; `clean_shutdown` keeps it desired, sends no webhook until `appReleaseWaitMs` has
 * passed (short here; the 10 s check at the default runs in the chaos suite), then starts it
 * again. `switching_clouds` (a duplicate webhook) is covered in `mentraSdk.test.ts`.
 */
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCloud } from '../support/cloudHarness.js';
import { serveMentraApp, type MentraAppWithLiveSessions, type ServedMentraApp } from '../support/mentraApp.js';
import { waitFor } from '../support/net.js';

const PKG = 'com.example.releasing';
const RELEASE_WAIT_MS = 1500;

class ReleasingApp extends MentraAppServer implements MentraAppWithLiveSessions {
  readonly live = new Map<string, MentraAppSession>();
  readonly starts: string[] = [];

  protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
    this.live.set(sessionId, session);
    this.starts.push(sessionId);
  }
}

let h: Awaited<ReturnType<typeof startTestCloud>>;
let served: ServedMentraApp<ReleasingApp>;

beforeAll(async () => {
  h = await startTestCloud({ settings: { appReleaseWaitMs: RELEASE_WAIT_MS, webhookTimeoutMs: 10_000, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000 } });
  const { apiKey } = await h.cloud.registerApp({ packageName: PKG, name: PKG, webhookUrl: 'http://127.0.0.1:1/webhook' });
  served = await serveMentraApp(() => new ReleasingApp({ packageName: PKG, apiKey, port: 0 }));
  await h.cloud.store.setWebhookUrl(PKG, `http://127.0.0.1:${served.port}/webhook`);
});

afterAll(async () => {
  await served?.close();
  await h?.close();
});

async function runningFor(userId: string) {
  const glasses = await h.glassesFor(userId, [PKG]);
  await glasses.connect();
  const sessionId = `${userId}-${PKG}`;
  await waitFor(() => served.app.live.has(sessionId), { message: `${sessionId} never started` });
  return { glasses, sessionId, session: served.app.live.get(sessionId)! };
}

const stateOf = (userId: string) => h.cloud.sessions.appSession(userId, `${userId}-${PKG}`)?.getSnapshot().value;

describe('ownership_release from @mentra/sdk', () => {
  it('user_logout stops the app for that user: out of the desired set, no webhook, the glasses told', async () => {
    const { glasses, sessionId, session } = await runningFor('logout-user');
    const since = glasses.received.length;
    await session.disconnect({ releaseOwnership: true, reason: 'user_logout' });
    await waitFor(() => stateOf('logout-user') === undefined, { message: `still ${JSON.stringify(stateOf('logout-user'))}` });
    expect(h.cloud.sessions.get('logout-user')?.getSnapshot().context.desiredApps).toEqual([]);
    expect(await h.cloud.store.getRunningApps('logout-user')).toEqual([]);
    const state = await glasses.waitFor('app_state_change', { since });
    expect(state).toMatchObject({ runningApps: [] });
    expect(state).not.toHaveProperty('error');
    expect(served.app.starts.filter((id) => id === sessionId)).toHaveLength(1);
    await glasses.close();
  });

  it('clean_shutdown keeps the app desired and shown as reconnecting, then starts it again once the wait is over', async () => {
    const { glasses, sessionId, session } = await runningFor('shutdown-user');
    const since = glasses.received.length;
    const releasedAt = performance.now();
    await session.disconnect({ releaseOwnership: true, reason: 'clean_shutdown' });
    await waitFor(() => stateOf('shutdown-user') === 'released', { message: `state ${JSON.stringify(stateOf('shutdown-user'))}` });
    const shown = await glasses.waitFor('app_state_change', { since });
    expect(shown).toMatchObject({ runningApps: [PKG], reconnectingApps: [PKG] });
    expect(h.cloud.sessions.get('shutdown-user')?.getSnapshot().context.desiredApps).toEqual([PKG]);

    await waitFor(() => served.app.starts.filter((id) => id === sessionId).length === 2, { timeoutMs: 5000, message: 'not started again' });
    expect(performance.now() - releasedAt).toBeGreaterThanOrEqual(RELEASE_WAIT_MS);
    await waitFor(() => stateOf('shutdown-user') === 'running');
    await glasses.close();
  });
});
