/**
 * Done-when of the compatibility issue: an app written with `@mentra/sdk` 2.1.29, unmodified,
 * runs on this cloud — it receives the webhook, connects to `/app-ws`, subscribes, receives
 * `data_stream` events from the simulated glasses, its `showTextWall` reaches the glasses as a
 * `display_event`, and it stops cleanly. The same scenario runs against the Tether SDK.
 *
 * `@mentra/sdk`'s `AppServer.start()` is never called (it contacts api.mentra.glass): its
 * express app is served on 127.0.0.1 instead. Wire facts: /work/shared/MENTRA-SDK-WIRE.md.
 */
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { AppServer as TetherAppServer, type AppSession as TetherAppSession } from '../../src/sdk/index.js';
import type { CloudToGlassesMessage, CloudToGlassesOf } from '../../src/protocol/cloudToGlasses.js';
import { startTestCloud, type LogLine } from '../support/cloudHarness.js';
import { serveMentraApp } from '../support/mentraApp.js';
import { activeResourceCounts, resourcesAbove, waitFor } from '../support/net.js';

const PACKAGE = 'com.example.compat';

/** What the app saw, recorded the same way whichever SDK it runs on. */
class Probe {
  readonly sessions: Array<{ sessionId: string; userId: string }> = [];
  readonly transcripts: string[] = [];
  readonly buttons: Array<{ buttonId: string; pressType: string }> = [];
  readonly stops: Array<{ sessionId: string; userId: string; reason: string }> = [];
  /** Closes of the app's socket, as the SDK reported them in its `disconnected` event. */
  readonly disconnects: Array<{ code: number; reason: string }> = [];
  /** The SDK's `error` events: `@mentra/sdk` raises one for every frame it does not understand. */
  readonly errors: string[] = [];
}

/** The part of a session the echo app uses; both SDKs' `AppSession` have it. */
interface EchoSession {
  events: {
    onTranscription(handler: (data: { text: string }) => void): unknown;
    onButtonPress(handler: (data: { buttonId: string; pressType: string }) => void): unknown;
    onDisconnected(handler: (info: string | { code: number; reason: unknown }) => void): unknown;
    onError(handler: (error: { message: string }) => void): unknown;
  };
  layouts: { showTextWall(text: string): void };
}

/** The app under test, identical for both SDKs: greets, echoes transcriptions, counts buttons. */
function runEchoApp(session: EchoSession, sessionId: string, userId: string, probe: Probe): void {
  probe.sessions.push({ sessionId, userId });
  session.events.onError((error) => probe.errors.push(error.message));
  session.events.onDisconnected((info) => {
    // `@mentra/sdk` passes the `ws` close reason through as a Buffer.
    if (typeof info !== 'string') probe.disconnects.push({ code: info.code, reason: String(info.reason) });
  });
  session.events.onTranscription((data) => {
    probe.transcripts.push(data.text);
    session.layouts.showTextWall(`echo: ${data.text}`);
  });
  session.events.onButtonPress((data) => probe.buttons.push({ buttonId: data.buttonId, pressType: data.pressType }));
  session.layouts.showTextWall('hello');
}

/** An app server under test, listening on 127.0.0.1. */
interface RunningApp {
  readonly probe: Probe;
  readonly port: number;
  /** Closes the HTTP server and releases everything the SDK holds. */
  close(): Promise<void>;
}

class MentraEchoApp extends MentraAppServer {
  readonly probe = new Probe();
  /** Sessions not yet stopped, by id, so that a failed test can still release their sockets. */
  readonly live = new Map<string, MentraAppSession>();

  protected override async onSession(session: MentraAppSession, sessionId: string, userId: string): Promise<void> {
    this.live.set(sessionId, session);
    runEchoApp(session, sessionId, userId, this.probe);
  }

  protected override async onStop(sessionId: string, userId: string, reason: string): Promise<void> {
    this.probe.stops.push({ sessionId, userId, reason });
    this.live.delete(sessionId);
    // The SDK's own behaviour: disconnect the session.
    await super.onStop(sessionId, userId, reason);
  }
}

class TetherEchoApp extends TetherAppServer {
  readonly probe = new Probe();

  protected override async onSession(session: TetherAppSession, sessionId: string, userId: string): Promise<void> {
    runEchoApp(session, sessionId, userId, this.probe);
  }

  protected override async onStop(sessionId: string, userId: string, reason: string): Promise<void> {
    this.probe.stops.push({ sessionId, userId, reason });
  }
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

async function startMentraApp(packageName: string, apiKey: string): Promise<RunningApp> {
  const { app, port, close } = await serveMentraApp(() => new MentraEchoApp({ packageName, apiKey, port: 0 }));
  return { probe: app.probe, port, close };
}

async function startTetherApp(packageName: string, apiKey: string): Promise<RunningApp> {
  const app = new TetherEchoApp({ packageName, apiKey });
  const port = await app.listen(0, '127.0.0.1');
  return { probe: app.probe, port, close: () => app.stop() };
}

type TextDisplay = CloudToGlassesOf<'display_event'>;

function isTextDisplay(text: string) {
  return (message: CloudToGlassesMessage): message is TextDisplay =>
    message.type === 'display_event' && 'text' in message.layout && message.layout.text === text;
}

/** The cloud's log line for the outcome of its webhook of `type` (`webhook answered` or `webhook failed`). */
function webhookAnswer(lines: readonly LogLine[], type: 'session_request' | 'stop_request'): LogLine | undefined {
  return lines.find((line) => line.webhookType === type && (line.msg === 'webhook answered' || line.msg === 'webhook failed'));
}

let harness: Awaited<ReturnType<typeof startTestCloud>> | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe.each([
  { name: '@mentra/sdk 2.1.29', start: startMentraApp, userId: 'mentra-user' },
  { name: 'the Tether SDK', start: startTetherApp, userId: 'tether-user' },
])('an unmodified app on $name', ({ start, userId }) => {
  const sessionId = `${userId}-${PACKAGE}`;

  it('is started by webhook, subscribes, gets glasses events, displays on the glasses and stops cleanly', async () => {
    const baseline = activeResourceCounts();
    const signalListeners = SIGNALS.map((signal) => process.listenerCount(signal));
    const h = (harness = await startTestCloud());
    const { app } = await h.serveWebhook(PACKAGE, (apiKey) => start(PACKAGE, apiKey));
    const glasses = await h.glassesFor(userId, [PACKAGE]);
    await glasses.connect();

    // session_request webhook → the app connected, was acked and ran onSession.
    await waitFor(() => app.probe.sessions.length === 1, { timeoutMs: 3000, message: 'onSession never ran' });
    expect(app.probe.sessions).toEqual([{ sessionId, userId }]);
    // It answers 200 only once it had its ack and onSession resolved (500 after 5 s without ack).
    await waitFor(() => webhookAnswer(h.lines, 'session_request'), { message: 'the session_request was not answered' });
    expect(webhookAnswer(h.lines, 'session_request')).toMatchObject({ msg: 'webhook answered', status: 200 });

    // Its first display arrives with `sessionId: ""`; the cloud attributes it by socket.
    const hello = await glasses.waitFor(isTextDisplay('hello'), 3000);
    expect(hello).toMatchObject({ packageName: PACKAGE, sessionId, layout: { layoutType: 'text_wall', text: 'hello' } });

    // subscription_update (full lists, the first one empty) reached the appSession.
    const appSession = () => h.cloud.sessions.appSession(userId, sessionId);
    await waitFor(
      () => {
        const subscriptions = appSession()?.getSnapshot().context.subscriptions ?? [];
        return subscriptions.includes('transcription:en-US') && subscriptions.includes('button_press');
      },
      { message: 'subscriptions never reached the cloud' },
    );

    // local_transcription → data_stream `transcription:en-US` → handler → display back.
    const since = glasses.received.length;
    glasses.transcribe('testing one two');
    const echo = await glasses.waitFor(isTextDisplay('echo: testing one two'), { since, timeoutMs: 3000 });
    expect(echo).toMatchObject({ packageName: PACKAGE, sessionId, layout: { layoutType: 'text_wall' } });
    expect(app.probe.transcripts).toEqual(['testing one two']);

    // button_press → data_stream `button_press` → handler.
    glasses.pressButton('main', 'long');
    await waitFor(() => app.probe.buttons.length === 1, { message: 'the button press never reached the app' });
    expect(app.probe.buttons).toEqual([{ buttonId: 'main', pressType: 'long' }]);

    // stop_app → the cloud closes the socket 1000 "App stopped" and POSTs stop_request → onStop.
    const socket = [...h.cloud.sockets.values()].find((entry) => entry.kind === 'app' && entry.sessionId === sessionId);
    expect(socket).toBeDefined();
    // A server-initiated close reports the code and reason of the app's answering close frame:
    // 1000 "App stopped" means the app got the cloud's close and completed the handshake.
    let closed: { code: number; reason: string } | undefined;
    socket!.ws.once('close', (code: number, reason: Buffer) => (closed = { code, reason: reason.toString() }));
    glasses.stopApp(PACKAGE);
    await waitFor(() => closed, { message: 'the app socket was not closed' });
    expect(closed).toEqual({ code: 1000, reason: 'App stopped' });
    await waitFor(() => app.probe.stops.some((stop) => stop.reason === 'user_disabled'), { message: 'onStop never ran' });
    await waitFor(() => webhookAnswer(h.lines, 'stop_request'), { message: 'the stop_request was not answered' });
    expect(webhookAnswer(h.lines, 'stop_request')).toMatchObject({ msg: 'webhook answered', status: 200 });
    expect(app.probe.stops.every((stop) => stop.sessionId === sessionId && stop.userId === userId)).toBe(true);
    // `@mentra/sdk` reports the close only if it arrives before stop_request's onStop
    // disconnects the session (which removes its close listener); whichever it saw, it is this.
    expect(app.probe.disconnects.every((d) => d.code === 1000 && d.reason === 'App stopped')).toBe(true);
    await waitFor(() => appSession() === undefined, { message: 'the appSession did not end' });
    // Nothing the cloud sent raised an SDK error (unknown types do in `@mentra/sdk`).
    expect(app.probe.errors).toEqual([]);
    expect(glasses.badFrames).toEqual([]);

    harness = undefined;
    await h.close();
    await waitFor(() => resourcesAbove(baseline).length === 0, { timeoutMs: 3000 }).catch(() => {});
    expect(resourcesAbove(baseline)).toEqual([]);
    // No reconnect timer or socket is pending (it would show above): a stopped app stays stopped.
    expect(app.probe.disconnects.length).toBeLessThanOrEqual(1);
    expect(SIGNALS.map((signal) => process.listenerCount(signal))).toEqual(signalListeners);
  });
});
