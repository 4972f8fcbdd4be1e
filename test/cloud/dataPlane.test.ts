import { afterEach, describe, expect, it } from 'vitest';
import { startTestCloud, RecordingApp } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';

let h: Awaited<ReturnType<typeof startTestCloud>> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('cloud data plane', () => {
  it('starts a declared app by webhook, routes transcription to it and its display back to the glasses', async () => {
    h = await startTestCloud();
    const { server } = await h.serveApp('com.example.echo', (apiKey) => new RecordingApp({ packageName: 'com.example.echo', apiKey }));
    const app = server as RecordingApp;
    const g = await h.glassesFor('alice', ['com.example.echo']);
    await g.connect();
    await waitFor(() => app.sessions.length === 1, { timeoutMs: 3000 });
    await waitFor(() => h!.cloud.sessions.appSession('alice', 'alice-com.example.echo')?.getSnapshot().context.subscriptions.includes('transcription:en-US'));
    g.transcribe('hello');
    const display = await g.waitFor('display_event', 3000);
    expect(display).toMatchObject({
      packageName: 'com.example.echo',
      sessionId: 'alice-com.example.echo',
      layout: { layoutType: 'text_wall', text: 'echo: hello' },
    });
    expect(app.transcripts).toEqual(['hello']);
  });

  it('sends a stream only to the apps subscribed to it, by exact stream name', async () => {
    h = await startTestCloud();
    const { server } = await h.serveApp('com.example.echo', (apiKey) => new RecordingApp({ packageName: 'com.example.echo', apiKey }));
    const app = server as RecordingApp;
    const g = await h.glassesFor('bob', ['com.example.echo']);
    await g.connect();
    await waitFor(() => app.sessions.length === 1, { timeoutMs: 3000 });
    const buttons: unknown[] = [];
    app.sessions[0]!.events.onButtonPress((b) => buttons.push(b));
    await waitFor(() => h!.cloud.sessions.appSession('bob', 'bob-com.example.echo')?.getSnapshot().context.subscriptions.includes('button_press'));
    g.transcribe('fr', { language: 'fr-FR' });
    g.pressButton('main', 'long');
    await waitFor(() => buttons.length === 1);
    expect(app.transcripts).toEqual([]);
    expect(buttons[0]).toMatchObject({ buttonId: 'main', pressType: 'long' });
  });
});
