import { describe, expect, it } from 'vitest';
import { NotifyApp, createNotifyApp } from '../../src/apps/notify/index.js';
import type { ReceivedFrame, ScriptedCloud } from '../support/scriptedCloud.js';
import { scriptedAppSession } from '../support/scriptedAppSession.js';
import { sleep, waitFor } from '../support/net.js';

const PACKAGE = 'com.example.notify';
const SESSION_ID = 'u1-com.example.notify';
/** Short enough that the whole scenario stays well under 2 s. */
const DISPLAY_MS = 150;

const notify = scriptedAppSession<NotifyApp>();

interface Card {
  title: unknown;
  text: unknown;
  durationMs: unknown;
  view: unknown;
}

/** Reference cards the app has displayed so far, in order. */
function cards(c: ScriptedCloud): Card[] {
  return c.frames({ type: 'display_event' }).flatMap((frame: ReceivedFrame) => {
    const message = frame.message ?? {};
    const layout = message.layout as Record<string, unknown> | undefined;
    if (layout?.layoutType !== 'reference_card') return [];
    return [{ title: layout.title, text: layout.text, durationMs: message.durationMs, view: message.view }];
  });
}

/** Receive times (ms, `performance.now()`) of the reference cards, in order. */
function displayTimes(c: ScriptedCloud): number[] {
  return c
    .frames({ type: 'display_event' })
    .filter((f) => (f.message?.layout as Record<string, unknown> | undefined)?.layoutType === 'reference_card')
    .map((f) => f.receivedAt);
}

function notification(app: string, title: string, content: string) {
  return { type: 'data_stream', streamType: 'phone_notification', data: { app, title, content } };
}

describe('NotifyApp against a scripted cloud (seeds 01 §4, 04 §4)', () => {
  it('shows the welcome card, then each notification once, one at a time, and releases everything on stop', async () => {
    const { cloud, app, session } = await notify.start(
      () => new NotifyApp({ packageName: PACKAGE, apiKey: 'key-1', displayMs: DISPLAY_MS, session: { connectTimeoutMs: 1000 } }),
      SESSION_ID,
    );

    const welcome = await cloud.waitForFrame((f) => f.type === 'display_event', 1000);
    expect(welcome.message).toMatchObject({
      type: 'display_event',
      packageName: PACKAGE,
      view: 'main',
      durationMs: 3000,
      layout: { layoutType: 'reference_card', title: 'Notify', text: 'Notification service connected' },
    });
    await waitFor(() => cloud.connections[0]!.subscriptions.includes('phone_notification'), { timeoutMs: 1000 });
    const idleResources = session.trackedResources;

    cloud.broadcast(notification('Messages', 'Ana', 'Lunch?'));
    cloud.broadcast(notification('Mail', 'Invoice', 'Due Friday'));
    cloud.broadcast(notification('Mail', 'Invoice', 'Due Friday')); // duplicate of a queued one
    cloud.broadcast(notification('Messages', 'Ana', 'Lunch?')); // duplicate of the one on screen

    await waitFor(() => cards(cloud).length >= 2, { timeoutMs: 1000 });
    expect(cards(cloud)[1]).toEqual({ title: 'Messages: Ana', text: 'Lunch?', durationMs: DISPLAY_MS, view: 'main' });

    await waitFor(() => cards(cloud).length >= 3, { timeoutMs: 1000 });
    expect(cards(cloud)[2]).toEqual({ title: 'Mail: Invoice', text: 'Due Friday', durationMs: DISPLAY_MS, view: 'main' });
    const shownAt = displayTimes(cloud);
    // Timer precision and socket delivery blur the spacing a little; it never halves.
    expect(shownAt[2]! - shownAt[1]!).toBeGreaterThanOrEqual(DISPLAY_MS / 2);

    // The queue drains: its display timer has fired and nothing else is pending.
    await waitFor(() => session.trackedResources === idleResources, { timeoutMs: 1000 });
    await sleep(DISPLAY_MS);
    expect(cards(cloud).map((c) => c.title)).toEqual(['Notify', 'Messages: Ana', 'Mail: Invoice']);

    // A notification on screen holds a session timer; stop() must release it with the rest.
    cloud.broadcast(notification('Calendar', 'Standup', 'in 5 min'));
    cloud.broadcast(notification('Calendar', 'Retro', 'at 4 pm'));
    await waitFor(() => cards(cloud).some((c) => c.title === 'Calendar: Standup'), { timeoutMs: 1000 });
    expect(session.trackedResources).toBe(idleResources + 1);

    await app.stop();
    expect(app.activeSessionIds()).toEqual([]);
    await waitFor(() => session.state === 'closed', { timeoutMs: 1000 });
    expect(session.trackedResources).toBe(0);
    await waitFor(() => cloud.open.length === 0, { timeoutMs: 1000 });
    await sleep(DISPLAY_MS * 2);
    expect(cards(cloud).map((c) => c.title)).not.toContain('Calendar: Retro');
  });

  it('is built by createNotifyApp without listening', async () => {
    const built = createNotifyApp({ packageName: PACKAGE, apiKey: 'key-1' });
    expect(built).toBeInstanceOf(NotifyApp);
    expect(built.activeSessionIds()).toEqual([]);
    await built.stop();
  });

  it('rejects an invalid displayMs at construction with INVALID_CONFIG', () => {
    expect(() => new NotifyApp({ packageName: PACKAGE, apiKey: 'key-1', displayMs: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG' }),
    );
  });
});
