/**
 * Issue 12 §2: every stream of `@mentra/sdk` 2.1.29's glasses-to-cloud types reaches an
 * unmodified app's handler with the data the glasses sent — touch (all gestures and one
 * gesture), calendar, dismissed notifications, voice activity, location, both batteries, head
 * position, connection state, VPS — and the glasses' binary audio reaches `onAudioChunk` byte for
 * byte. The same app runs on the Tether SDK, whose handlers carry the same names.
 */
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { AppServer as TetherAppServer, type AppSession as TetherAppSession } from '../../src/sdk/index.js';
import type { GlassesToCloudMessage } from '../../src/protocol/glassesToCloud.js';
import { pcmFrames, streamEvent } from '../../src/sim/streamEvents.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { serveMentraApp } from '../support/mentraApp.js';
import { waitFor } from '../support/net.js';

const PACKAGE = 'com.example.streams';

/** What each handler received, by handler name. */
type Received = Record<string, unknown[]>;

type AnyHandler = (data: never) => void;

/** The part of `session.events` the probe uses; both SDKs have it. */
interface StreamEvents {
  onButtonPress(handler: AnyHandler): unknown;
  onHeadPosition(handler: AnyHandler): unknown;
  onTouchEvent(gestureOrHandler: AnyHandler | 'double_tap', handler?: AnyHandler): unknown;
  onPhoneNotifications(handler: AnyHandler): unknown;
  onPhoneNotificationDismissed(handler: AnyHandler): unknown;
  onGlassesBattery(handler: AnyHandler): unknown;
  onPhoneBattery(handler: AnyHandler): unknown;
  onVoiceActivity(handler: AnyHandler): unknown;
  onLocation(handler: AnyHandler): unknown;
  onCalendarEvent(handler: AnyHandler): unknown;
  onVpsCoordinates(handler: AnyHandler): unknown;
  onTranscription(handler: AnyHandler): unknown;
  onAudioChunk(handler: AnyHandler): unknown;
  on(stream: 'glasses_connection_state', handler: AnyHandler): unknown;
  onError(handler: (error: { message: string }) => void): unknown;
}

/** The subscriptions the probe's handlers make, as the SDK names them. */
const EXPECTED_SUBSCRIPTIONS = [
  'button_press',
  'head_position',
  'touch_event',
  'touch_event:double_tap',
  'phone_notification',
  'phone_notification_dismissed',
  'glasses_battery_update',
  'phone_battery_update',
  'VAD',
  'location_update',
  'calendar_event',
  'vps_coordinates',
  'transcription:en-US',
  'audio_chunk',
  'glasses_connection_state',
];

/** Registers one recording handler per stream; audio is kept as the bytes of each chunk. */
function runStreamProbe(events: StreamEvents, received: Received, errors: string[]): void {
  const record = (name: string) => (data: never) => void (received[name] ??= []).push(data);
  events.onError((error) => errors.push(error.message));
  events.onButtonPress(record('onButtonPress'));
  events.onHeadPosition(record('onHeadPosition'));
  events.onTouchEvent(record('onTouchEvent'));
  events.onTouchEvent('double_tap', record('onTouchEvent:double_tap'));
  events.onPhoneNotifications(record('onPhoneNotifications'));
  events.onPhoneNotificationDismissed(record('onPhoneNotificationDismissed'));
  events.onGlassesBattery(record('onGlassesBattery'));
  events.onPhoneBattery(record('onPhoneBattery'));
  events.onVoiceActivity(record('onVoiceActivity'));
  events.onLocation(record('onLocation'));
  events.onCalendarEvent(record('onCalendarEvent'));
  events.onVpsCoordinates(record('onVpsCoordinates'));
  events.onTranscription(record('onTranscription'));
  events.on('glasses_connection_state', record('glasses_connection_state'));
  events.onAudioChunk((chunk: { type: string; arrayBuffer: ArrayBuffer }) => {
    (received.onAudioChunk ??= []).push({ type: chunk.type, bytes: Buffer.from(chunk.arrayBuffer) });
  });
}

interface StreamApp {
  readonly received: Received;
  readonly errors: string[];
  readonly sessions: number;
}

class MentraStreamApp extends MentraAppServer implements StreamApp {
  readonly received: Received = {};
  readonly errors: string[] = [];
  readonly live = new Map<string, MentraAppSession>();
  get sessions() {
    return this.live.size;
  }
  protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
    this.live.set(sessionId, session);
    runStreamProbe(session.events as unknown as StreamEvents, this.received, this.errors);
  }
}

class TetherStreamApp extends TetherAppServer implements StreamApp {
  readonly received: Received = {};
  readonly errors: string[] = [];
  sessions = 0;
  protected override async onSession(session: TetherAppSession): Promise<void> {
    this.sessions += 1;
    runStreamProbe(session.events as unknown as StreamEvents, this.received, this.errors);
  }
}

async function startMentra(apiKey: string) {
  const served = await serveMentraApp(() => new MentraStreamApp({ packageName: PACKAGE, apiKey, port: 0 }));
  return { app: served.app as StreamApp, port: served.port, close: served.close };
}

async function startTether(apiKey: string) {
  const app = new TetherStreamApp({ packageName: PACKAGE, apiKey });
  const port = await app.listen(0, '127.0.0.1');
  return { app: app as StreamApp, port, close: () => app.stop() };
}

let harness: Awaited<ReturnType<typeof startTestCloud>> | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe.each([
  { name: '@mentra/sdk 2.1.29', start: startMentra, userId: 'mentra-streams' },
  { name: 'the Tether SDK', start: startTether, userId: 'tether-streams' },
])('glasses streams on $name', ({ start, userId }) => {
  it('fire each stream handler with the data the glasses sent, and audio byte for byte', async () => {
    const h = (harness = await startTestCloud());
    const { app: served } = await h.serveWebhook(PACKAGE, start);
    const app = served.app;
    const glasses = await h.glassesFor(userId, [PACKAGE]);
    await glasses.connect();
    await waitFor(() => app.sessions === 1, { timeoutMs: 3000, message: 'onSession never ran' });
    const sessionId = `${userId}-${PACKAGE}`;
    await waitFor(
      () => {
        const subscriptions = h.cloud.sessions.appSession(userId, sessionId)?.getSnapshot().context.subscriptions ?? [];
        return EXPECTED_SUBSCRIPTIONS.every((stream) => subscriptions.includes(stream));
      },
      { timeoutMs: 3000, message: 'the subscriptions never reached the cloud' },
    );

    const doubleTap = streamEvent('touch_event', { gesture_name: 'double_tap' });
    const singleTap = streamEvent('touch_event', { gesture_name: 'single_tap' });
    const sent: Record<string, GlassesToCloudMessage> = {
      onButtonPress: streamEvent('button_press', { pressType: 'long' }),
      onHeadPosition: streamEvent('head_position', { position: 'down' }),
      onPhoneNotifications: streamEvent('phone_notification'),
      onPhoneNotificationDismissed: streamEvent('phone_notification_dismissed'),
      onGlassesBattery: streamEvent('glasses_battery_update', { level: 17 }),
      onPhoneBattery: streamEvent('phone_battery_update', { level: 93, timeRemaining: 240 }),
      onVoiceActivity: streamEvent('VAD', { status: 'false' }),
      onLocation: streamEvent('location_update', { lat: -33.87, lng: 151.21 }),
      onCalendarEvent: streamEvent('calendar_event', { title: 'Design review' }),
      onVpsCoordinates: streamEvent('vps_coordinates', { x: 4.5 }),
      glasses_connection_state: streamEvent('glasses_connection_state', { status: 'DISCONNECTED', wifi: { connected: false } }),
    };
    for (const message of Object.values(sent)) expect(glasses.send(message)).toBe(true);
    glasses.send(doubleTap);
    glasses.send(singleTap);
    glasses.transcribe('streams work');
    const audio = pcmFrames(5);
    for (const frame of audio) expect(glasses.sendAudio(frame)).toBe(true);

    await waitFor(
      () =>
        Object.keys(sent).every((name) => app.received[name]?.length === 1) &&
        app.received.onTouchEvent?.length === 2 &&
        app.received.onTranscription?.length === 1 &&
        app.received.onAudioChunk?.length === audio.length,
      { timeoutMs: 3000, message: `not every handler fired: ${JSON.stringify(Object.keys(app.received))}` },
    );
    // Every field the glasses sent arrives as sent.
    for (const [name, message] of Object.entries(sent)) expect(app.received[name], name).toEqual([message]);
    // `onTouchEvent(handler)` hears every gesture, `onTouchEvent('double_tap', …)` only its own.
    expect(app.received.onTouchEvent).toEqual([doubleTap, singleTap]);
    expect(app.received['onTouchEvent:double_tap']).toEqual([doubleTap]);
    expect(app.received.onTranscription).toEqual([expect.objectContaining({ text: 'streams work', isFinal: true })]);
    expect(app.received.onAudioChunk).toEqual(audio.map((bytes) => ({ type: 'audio_chunk', bytes })));
    expect(app.errors).toEqual([]);
    expect(glasses.badFrames).toEqual([]);
    expect(h.lines.filter((line) => line.msg === 'bad frame')).toEqual([]);
  });
});
