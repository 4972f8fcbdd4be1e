/**
 * Issue 12 §3–§6 with an unmodified `@mentra/sdk` 2.1.29 app: requests to the glasses (photo,
 * audio, LED, location, dashboard) resolve with the simulated glasses' answers and fail fast
 * with a coded error when they do not answer; messages between two users' sessions of one app;
 * messages this cloud does not implement fail at once. Request timeouts are set short (300 ms)
 * so "fails within 2 s" is measured, not waited for at the SDK's own 15–60 s.
 */
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import type { CloudToGlassesMessage } from '../../src/protocol/cloudToGlasses.js';
import { RequestResponder, type RequestResponderOptions } from '../../src/sim/requestResponder.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { serveMentraApp } from '../support/mentraApp.js';
import { waitFor } from '../support/net.js';
import { timed } from '../support/timed.js';

const PACKAGE = 'com.example.requests';
const OTHER_PACKAGE = 'com.example.other';
const SHORT_MS = 300;

class RequestsApp extends MentraAppServer {
  readonly live = new Map<string, MentraAppSession>();
  readonly errors: Array<{ userId: string; message: string }> = [];
  readonly appMessages: Array<{ userId: string; message: Record<string, unknown> }> = [];
  readonly joined: Array<{ userId: string; message: Record<string, unknown> }> = [];

  protected override async onSession(session: MentraAppSession, sessionId: string, userId: string): Promise<void> {
    this.live.set(userId, session);
    session.events.onError((error) => this.errors.push({ userId, message: error.message }));
    session.onAppMessage((message: Record<string, unknown>) => this.appMessages.push({ userId, message }));
    session.onAppUserJoined((message: Record<string, unknown>) => this.joined.push({ userId, message }));
  }

  protected override async onStop(sessionId: string, userId: string, reason: string): Promise<void> {
    this.live.delete(userId);
    await super.onStop(sessionId, userId, reason);
  }
}

let harness: Awaited<ReturnType<typeof startTestCloud>> | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(packages: readonly string[] = [PACKAGE]) {
  const h = (harness = await startTestCloud({
    settings: { photoRequestTimeoutMs: SHORT_MS, audioRequestTimeoutMs: SHORT_MS, glassesRequestTimeoutMs: SHORT_MS },
  }));
  const apps = new Map<string, RequestsApp>();
  for (const packageName of packages) {
    const { app } = await h.serveWebhook(packageName, async (apiKey) => {
      const served = await serveMentraApp(() => new RequestsApp({ packageName, apiKey, port: 0 }));
      return { port: served.port, close: served.close, app: served.app };
    });
    apps.set(packageName, app.app);
  }
  return { h, apps };
}

async function userWith(h: NonNullable<typeof harness>, apps: ReadonlyMap<string, RequestsApp>, userId: string, responder: RequestResponderOptions = {}) {
  const glasses = await h.glassesFor(userId, [...apps.keys()]);
  await glasses.connect();
  const answers = new RequestResponder(glasses, responder);
  for (const app of apps.values()) await waitFor(() => app.live.get(userId), { timeoutMs: 3000, message: `no session for ${userId}` });
  return { glasses, answers, session: (packageName = PACKAGE) => apps.get(packageName)!.live.get(userId)! };
}

const ofType =
  <K extends CloudToGlassesMessage['type']>(type: K) =>
  (message: CloudToGlassesMessage) =>
    message.type === type;

describe('requests from a @mentra/sdk 2.1.29 app to its user\'s glasses', () => {
  it('resolves each request with the glasses\' answer', async () => {
    const { h, apps } = await start();
    const { glasses, answers, session } = await userWith(h, apps, 'alice');

    const photo = await session().camera.requestPhoto({ size: 'small' });
    expect(photo).toMatchObject({ mimeType: 'image/jpeg', filename: 'photo.jpg', size: 22 });
    expect(photo.buffer.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    // The glasses never see the app's request id: the cloud gives each request its own.
    const photoRequest = glasses.received.find((frame) => frame.message.type === 'photo_request')?.message;
    expect(photoRequest).toMatchObject({ appId: PACKAGE, size: 'small', webhookUrl: `${h.cloud.url}/api/glasses/photo-upload` });
    expect(photo.requestId).not.toBe((photoRequest as { requestId: string }).requestId);

    await expect(session().audio.playAudio({ audioUrl: 'http://127.0.0.1:1/a.mp3' })).resolves.toEqual({ success: true, duration: 1000 });

    await session().led.blink('green', 100, 100, 3);
    expect(await glasses.waitFor(ofType('rgb_led_control'))).toMatchObject({ appId: PACKAGE, action: 'on', color: 'green', ontime: 100, offtime: 100, count: 3 });

    const fix = await session().location.getLatestLocation({ accuracy: 'high' });
    expect(fix).toMatchObject({ lat: 52.52, lng: 13.405, accuracy: 5 });
    expect(await glasses.waitFor(ofType('request_single_location'))).toMatchObject({ accuracy: 'high' });

    session().dashboard.content.writeToMain('3 new mails');
    expect(await glasses.waitFor((m) => m.type === 'display_event' && m.view === 'dashboard')).toMatchObject({
      packageName: PACKAGE,
      view: 'dashboard',
      layout: { layoutType: 'text_wall', text: '3 new mails' },
    });
    session().dashboard.content.write('expanded text', ['expanded' as never]);
    await glasses.waitFor((m) => m.type === 'display_event' && 'text' in m.layout && m.layout.text === 'expanded text');

    session().audio.stopAudio(2);
    expect(await glasses.waitFor(ofType('audio_stop_request'))).toEqual(expect.objectContaining({ appId: PACKAGE, trackId: 2 }));
    session().requestWifiSetup('needs a network');
    expect(await glasses.waitFor(ofType('show_wifi_setup'))).toMatchObject({ appPackageName: PACKAGE, reason: 'needs a network' });

    expect(answers.actions.map((a) => a.type)).toEqual(
      expect.arrayContaining(['photo_request', 'audio_play_request', 'rgb_led_control', 'request_single_location', 'audio_stop_request']),
    );
    expect(apps.get(PACKAGE)!.errors).toEqual([]);
    expect(glasses.badFrames).toEqual([]);
    // Everything answered: nothing is left waiting.
    expect(pendingCount(h)).toBe(0);
  });

  it('fails each request with a coded error within 2 s when the glasses do not answer', async () => {
    const { h, apps } = await start();
    const { glasses, session } = await userWith(h, apps, 'bob', { photo: 'ignore', audio: 'ignore', led: 'ignore', location: 'ignore' });
    const app = apps.get(PACKAGE)!;

    const photo = await timed(session().camera.requestPhoto());
    expect(photo.ms).toBeLessThan(2000);
    expect(String(photo.error)).toContain('(code: GLASSES_REQUEST_TIMEOUT)');

    const audio = await timed(session().audio.playAudio({ audioUrl: 'http://127.0.0.1:1/a.mp3' }));
    expect(audio.ms).toBeLessThan(2000);
    // `playAudio` resolves on any audio_play_response; the failure is in the result.
    expect(audio.value).toEqual({ success: false, error: 'GLASSES_REQUEST_TIMEOUT' });

    // `speak` points the glasses at the cloud's /api/tts, which this cloud does not serve: answered at once.
    const spoken = await timed(session().audio.speak('hello'));
    expect(spoken.ms).toBeLessThan(500);
    expect(spoken.value).toEqual({ success: false, error: 'TTS_UNAVAILABLE' });

    // `getLatestLocation` can only be rejected by the SDK's own 15 s timer; the cloud raises a
    // coded error event within 2 s instead.
    const started = performance.now();
    void session().location.getLatestLocation({ accuracy: 'standard' }).catch(() => {});
    await waitFor(() => app.errors.find((e) => e.message.includes('location poll')), { timeoutMs: 2000 });
    expect(performance.now() - started).toBeLessThan(2000);

    await session().led.turnOff();
    await glasses.waitFor(ofType('rgb_led_control'));
    expect(pendingCount(h)).toBe(1);
    await waitFor(() => pendingCount(h) === 0, { timeoutMs: 2000, message: 'the LED request never ended' });

    // A request still waiting when its app session ends is forgotten with it, timer and all.
    void session().camera.requestPhoto().catch(() => {});
    await waitFor(() => pendingCount(h) === 1, { message: 'the photo request never reached the cloud' });
    glasses.stopApp(PACKAGE);
    await waitFor(() => h.cloud.sessions.appSession('bob', `bob-${PACKAGE}`) === undefined, { message: 'the app session did not end' });
    expect(pendingCount(h)).toBe(0);
  });

  it('passes the glasses\' own failure through with its code', async () => {
    const { h, apps } = await start();
    const { session } = await userWith(h, apps, 'carol', { photo: 'fail', audio: 'fail' });
    const photo = await timed(session().camera.requestPhoto());
    expect(String(photo.error)).toBe('Photo capture failed: camera busy (code: CAMERA_BUSY)');
    await expect(session().audio.playAudio({ audioUrl: 'http://127.0.0.1:1/a.mp3' })).resolves.toEqual({ success: false, error: 'PLAYBACK_FAILED' });
  });

  it('fails at once with GLASSES_NOT_CONNECTED while the glasses are away, and when they leave mid-request', async () => {
    const { h, apps } = await start();
    const { glasses, session } = await userWith(h, apps, 'dave', { photo: 'ignore' });
    const pendingPhoto = timed(session().camera.requestPhoto());
    await glasses.waitFor(ofType('photo_request'));
    glasses.forceQuit();
    await glasses.destroy();
    const photo = await pendingPhoto;
    expect(photo.ms).toBeLessThan(2000);
    expect(String(photo.error)).toContain('(code: GLASSES_NOT_CONNECTED)');
    // Away now (grace): a new request is refused at once.
    const audio = await timed(session().audio.playAudio({ audioUrl: 'http://127.0.0.1:1/a.mp3' }));
    expect(audio.value).toEqual({ success: false, error: 'GLASSES_NOT_CONNECTED' });
    expect(audio.ms).toBeLessThan(500);
    expect(pendingCount(h)).toBe(0);
  });
});

describe('isolation between users and apps', () => {
  it('sends a request only to its own user\'s glasses, and an answer only to the app that asked', async () => {
    const { h, apps } = await start([PACKAGE, OTHER_PACKAGE]);
    const erin = await userWith(h, apps, 'erin');
    const frank = await userWith(h, apps, 'frank', { audio: 'ignore' });
    const frankSince = frank.glasses.received.length;

    await expect(erin.session().audio.playAudio({ audioUrl: 'http://127.0.0.1:1/e.mp3' })).resolves.toMatchObject({ success: true });
    expect(frank.glasses.received.slice(frankSince).some((f) => f.message.type === 'audio_play_request')).toBe(false);

    // Frank's glasses answer Erin's request id (seen by Erin's glasses): nobody takes it.
    const other = apps.get(OTHER_PACKAGE)!;
    const erinRequest = erin.glasses.received.find((f) => f.message.type === 'audio_play_request')!.message as { requestId: string };
    const frankAudio = timed(frank.session().audio.playAudio({ audioUrl: 'http://127.0.0.1:1/f.mp3' }));
    await frank.glasses.waitFor(ofType('audio_play_request'), { since: frankSince });
    frank.glasses.send({ type: 'audio_play_response', requestId: erinRequest.requestId, success: true, duration: 5 });
    // Frank's own request still times out: a foreign id answered nothing.
    expect((await frankAudio).value).toEqual({ success: false, error: 'GLASSES_REQUEST_TIMEOUT' });

    // A location fix polled by one app reaches only that app, though the other is subscribed.
    const streamed: unknown[] = [];
    other.live.get('erin')!.location.subscribeToStream({ accuracy: 'high' }, (fix) => streamed.push(fix));
    await waitFor(() => h.cloud.sessions.appSession('erin', `erin-${OTHER_PACKAGE}`)?.getSnapshot().context.subscriptions.includes('location_update'));
    await erin.session().location.getLatestLocation({ accuracy: 'high' });
    erin.glasses.send({ type: 'location_update', lat: 1, lng: 2 });
    await waitFor(() => streamed.length === 1, { message: 'the plain location event never arrived' });
    expect(streamed).toEqual([expect.objectContaining({ lat: 1, lng: 2 })]);
    expect(other.errors).toEqual([]);
  });
});

describe('messages between sessions of one app', () => {
  it('joins rooms, broadcasts, sends direct messages and discovers users', async () => {
    const { h, apps } = await start([PACKAGE, OTHER_PACKAGE]);
    const app = apps.get(PACKAGE)!;
    const other = apps.get(OTHER_PACKAGE)!;
    const gina = await userWith(h, apps, 'gina');
    const hank = await userWith(h, apps, 'hank');

    await hank.session().joinAppRoom('lobby');
    await gina.session().joinAppRoom('lobby', { maxUsers: 4 });
    await waitFor(() => app.joined.find((j) => j.userId === 'hank'), { message: 'hank never saw gina join' });
    expect(app.joined.find((j) => j.userId === 'hank')?.message).toMatchObject({ userId: 'gina', sessionId: `gina-${PACKAGE}`, roomId: 'lobby' });

    await gina.session().broadcastToAppUsers({ hello: 'all' });
    await waitFor(() => app.appMessages.find((m) => m.userId === 'hank'), { message: 'the broadcast never arrived' });
    expect(app.appMessages.find((m) => m.userId === 'hank')?.message).toMatchObject({ payload: { hello: 'all' }, senderUserId: 'gina', senderSessionId: `gina-${PACKAGE}` });

    await expect(gina.session().sendDirectMessage('hank', { dm: 1 })).resolves.toBe(true);
    await waitFor(() => app.appMessages.filter((m) => m.userId === 'hank').length === 2);
    const dm = await timed(gina.session().sendDirectMessage('nobody', { dm: 2 }));
    expect(dm).toMatchObject({ value: false });
    expect(dm.ms).toBeLessThan(2000);

    const found = await gina.session().discoverAppUsers(h.cloud.url);
    expect(found).toMatchObject({ totalUsers: 1, users: [{ userId: 'hank', sessionId: `hank-${PACKAGE}` }] });

    // The other app's sessions of the same users heard nothing of it.
    expect(other.appMessages).toEqual([]);
    expect(other.joined).toEqual([]);
    expect(app.errors).toEqual([]);
  });

  it('refuses discovery with a wrong key or another app\'s key', async () => {
    const { h, apps } = await start();
    await userWith(h, apps, 'ivy');
    const post = (authorization: string, packageName: string) =>
      fetch(`${h.cloud.url}/api/app-communication/discover-users`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ packageName, userId: 'x' }),
      });
    const wrong = await post('Bearer tk_wrong', PACKAGE);
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { code: 'INVALID_API_KEY' } });
    expect((await post('Bearer tk_wrong', 'com.example.unknown')).status).toBe(401);
  });
});

describe('messages this cloud does not implement', () => {
  it('fail at once with UNSUPPORTED_FEATURE, with one warning per type and session', async () => {
    const { h, apps } = await start();
    const { session } = await userWith(h, apps, 'jack');
    const app = apps.get(PACKAGE)!;

    const managed = await timed(session().camera.startManagedStream());
    expect(managed.ms).toBeLessThan(2000);
    expect(String((managed.error as Error).message)).toContain('UNSUPPORTED_FEATURE');

    const statuses: Array<{ status: string; errorDetails?: string }> = [];
    session().camera.onStreamStatus((status) => statuses.push(status));
    await session().camera.startStream({ rtmpUrl: 'rtmp://127.0.0.1:1/live' });
    await waitFor(() => statuses.length === 1, { timeoutMs: 2000 });
    expect(statuses[0]).toMatchObject({ status: 'error', errorDetails: expect.stringContaining('UNSUPPORTED_FEATURE') });
    expect(session().camera.isCurrentlyStreaming()).toBe(false);
    await session().camera.startStream({ rtmpUrl: 'rtmp://127.0.0.1:1/live' });
    await waitFor(() => statuses.length === 2, { timeoutMs: 2000 });

    const check = await timed(session().camera.checkExistingStream());
    expect(check).toMatchObject({ value: { hasActiveStream: false } });
    expect(check.ms).toBeLessThan(1000);

    // A translation stream: subscribed, and told at once that nothing will come (an error event).
    const subscribedAt = performance.now();
    session().events.ontranslationForLanguage('en-US', 'fr-FR', () => {});
    await waitFor(() => app.errors.find((e) => e.message.includes('translation:')), { timeoutMs: 2000 });
    expect(performance.now() - subscribedAt).toBeLessThan(2000);
    expect(app.errors.map((e) => e.message)).toEqual([expect.stringContaining('UNSUPPORTED_FEATURE')]);
    app.errors.length = 0;

    const warnings = h.lines.filter((line) => line.msg === 'app message not supported by this cloud');
    expect(warnings.map((line) => line.type)).toEqual(['managed_stream_request', 'rtmp_stream_request']);
    expect(warnings.every((line) => line.level === 40 && line.code === 'UNSUPPORTED_FEATURE')).toBe(true);
    expect(app.errors).toEqual([]);
  });
});

function pendingCount(h: NonNullable<typeof harness>): number {
  return h.cloud.pendingRequests;
}
