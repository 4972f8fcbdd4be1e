/**
 * Seed 05's scenarios over real sockets with short timings (grace 1.5 s, restart threshold
 * 0.5 s, heartbeat 100/300 ms): apps survive quick reconnects, come back after long ones, and
 * are restarted after a force-quit that never sent a close frame.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AppSession } from '../../src/sdk/index.js';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { sleep, waitFor } from '../support/net.js';

const PKG = 'com.example.captions';

let h: Awaited<ReturnType<typeof startTestCloud>> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

class ReconnectAwareApp extends RecordingApp {
  readonly reconnections: Array<{ userId: string; disconnectedMs: number }> = [];
  readonly stops: string[] = [];
  protected override async onSession(session: AppSession, sessionId: string, userId: string) {
    await super.onSession(session, sessionId, userId);
    session.events.onUserReconnected((info) => this.reconnections.push(info));
  }
  protected override async onStop(_sessionId: string, _userId: string, reason: string) {
    this.stops.push(reason);
  }
}

async function setup(userId: string, runningApps: string[] | undefined = [PKG]) {
  h = await startTestCloud();
  const { server } = await h.serveApp(PKG, (apiKey) => new ReconnectAwareApp({ packageName: PKG, apiKey }));
  const app = server as ReconnectAwareApp;
  const glasses = await h.glassesFor(userId, runningApps);
  await glasses.connect();
  await waitFor(() => app.sessions.length === 1 && appState(userId) === 'running', { timeoutMs: 3000 });
  return { app, glasses, cloud: h.cloud };
}

function userState(userId: string): string | undefined {
  const value = h!.cloud.sessions.get(userId)?.getSnapshot().value;
  return value === undefined ? undefined : typeof value === 'string' ? value : Object.keys(value)[0];
}

function appState(userId: string, pkg = PKG): string | undefined {
  const value = h!.cloud.sessions.appSession(userId, `${userId}-${pkg}`)?.getSnapshot().value;
  return value === undefined ? undefined : typeof value === 'string' ? value : Object.keys(value)[0];
}

/** Records every top-level state the user's session passes through. */
function traceUser(userId: string): string[] {
  const seen: string[] = [];
  const actor = h!.cloud.sessions.get(userId)!;
  // The state it is in now, then every change: a subscription only hears changes.
  const record = (s: ReturnType<typeof actor.getSnapshot>) => {
    const top = typeof s.value === 'string' ? s.value : Object.keys(s.value)[0]!;
    if (seen.at(-1) !== top) seen.push(top);
  };
  record(actor.getSnapshot());
  actor.subscribe(record);
  return seen;
}

describe('seed 05: quick reconnect below the restart threshold', () => {
  it('keeps the apps, tells each user_reconnected and sends no second webhook', async () => {
    const { app, glasses } = await setup('quick');
    await glasses.close(1006);
    await waitFor(() => userState('quick') === 'grace');
    await glasses.connect();
    await waitFor(() => app.reconnections.length === 1);
    expect(app.reconnections[0]!.userId).toBe('quick');
    expect(app.reconnections[0]!.disconnectedMs).toBeLessThan(500);
    expect(app.sessions).toHaveLength(1);
    expect(appState('quick')).toBe('running');
    glasses.transcribe('still here');
    await waitFor(() => app.transcripts.includes('still here'));
  });
});

describe('seed 05: reconnect after the threshold, inside grace', () => {
  it('has every desired app running and none started twice', async () => {
    const { app, glasses } = await setup('long');
    await glasses.close(1006);
    await sleep(700);
    expect(userState('long')).toBe('grace');
    await glasses.connect();
    await waitFor(() => app.reconnections.length === 1);
    expect(app.reconnections[0]!.disconnectedMs).toBeGreaterThanOrEqual(500);
    expect(appState('long')).toBe('running');
    expect(app.sessions).toHaveLength(1);
    const changes = glasses.received.filter((f) => f.message.type === 'app_state_change').at(-1)?.message;
    expect(changes).toMatchObject({ runningApps: [PKG] });
  });
});

describe('seed 05: force-quit after rapid reconnects', () => {
  it('detects the dead socket by heartbeat, disposes after grace, and restarts the apps on reopen', async () => {
    const { app, glasses, cloud } = await setup('forced');
    const trace = traceUser('forced');
    glasses.forceQuit();
    await waitFor(() => cloud.sessions.get('forced') === undefined, { timeoutMs: 4000 });
    expect(trace).toEqual(['connected', 'grace', 'disposed']);
    // Disposal stopped the app cleanly ("User session ended") and kept it desired.
    await waitFor(() => app.stops.length === 1);
    expect(await cloud.store.getRunningApps('forced')).toEqual([PKG]);
    expect(await cloud.metrics.render()).toMatch(/tether_heartbeat_timeouts_total\{side="glasses"\} 1/);

    // The user reopens the app long after; the glasses declare nothing, the stored set is used.
    const reopened = await h!.glassesFor('forced');
    await reopened.connect();
    await waitFor(() => app.sessions.length === 2 && appState('forced') === 'running', { timeoutMs: 3000 });
  });

  it("ends with the app started again after the seed's own log sequence", async () => {
    const { app, glasses, cloud } = await setup('seedlog');
    await glasses.close(1006); // 22:23:27 disconnect (1006)
    await glasses.connect();
    await glasses.close(1006); // 22:24:33 disconnect (1006), reconnected in between
    await glasses.connect();
    await glasses.close(1000); // 22:24:53 disconnect (1000)
    await sleep(232); // 22:24:54 reconnect 232 ms later
    await glasses.connect();
    expect(userState('seedlog')).toBe('connected');
    glasses.forceQuit(); // no close frame ever arrives
    await waitFor(() => cloud.sessions.get('seedlog') === undefined, { timeoutMs: 4000 });
    const reopened = await h!.glassesFor('seedlog');
    await reopened.connect(); // 22:34:13, long after
    await waitFor(() => app.sessions.length === 2 && appState('seedlog') === 'running', { timeoutMs: 3000 });
    reopened.transcribe('captions are back');
    await waitFor(() => app.transcripts.includes('captions are back'));
  });
});

describe('seed 05: network switch', () => {
  it('ignores the old socket closing and never enters grace', async () => {
    const { app, glasses } = await setup('switcher');
    const trace = traceUser('switcher');
    await glasses.networkSwitch({ closeOld: 'after-ack' });
    await sleep(400);
    expect(trace).toEqual(['connected']);
    expect(app.sessions).toHaveLength(1);
    glasses.transcribe('on the new network');
    await waitFor(() => app.transcripts.includes('on the new network'));
  });

  it('closes a replaced glasses socket with 4003 when the new one opens first', async () => {
    const { glasses } = await setup('zombie-switch');
    const trace = traceUser('zombie-switch');
    await glasses.networkSwitch({ closeOld: 'never' });
    await waitFor(() => glasses.closeEvents.some((c) => c.code === 4003));
    await sleep(500);
    expect(trace).toEqual(['connected']);
  });
});

describe('seed 05: glasses-declared running apps', () => {
  it('starts what connection_init.runningApps declares, not the stored set', async () => {
    h = await startTestCloud();
    const other = 'com.example.other';
    const { server: captions } = await h.serveApp(PKG, (apiKey) => new RecordingApp({ packageName: PKG, apiKey }));
    const { server: stored } = await h.serveApp(other, (apiKey) => new RecordingApp({ packageName: other, apiKey }));
    await h.cloud.store.setRunningApps('declared', [other]);
    const glasses = await h.glassesFor('declared', [PKG]);
    await glasses.connect();
    await waitFor(() => (captions as RecordingApp).sessions.length === 1, { timeoutMs: 3000 });
    await sleep(300);
    expect((stored as RecordingApp).sessions).toHaveLength(0);
    expect(await h.cloud.store.getRunningApps('declared')).toEqual([PKG]);
  });
});
