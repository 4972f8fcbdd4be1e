import { describe, expect, it } from 'vitest';
import { CaptionsApp } from '../../src/apps/captions/index.js';
import type { ScriptedCloud } from '../support/scriptedCloud.js';
import { scriptedAppSession } from '../support/scriptedAppSession.js';
import { waitFor } from '../support/net.js';

const PACKAGE = 'com.example.captions';
const SESSION_ID = 'u1-com.example.captions';
const STREAM = 'transcription:en-US';
const THROTTLE_MS = 200;

const captions = scriptedAppSession<CaptionsApp>();

function transcription(text: string, isFinal: boolean) {
  return { type: 'data_stream', streamType: STREAM, data: { type: 'transcription', text, isFinal, startTime: 0, endTime: 0 } };
}

/** Text walls displayed so far: text and receive time (ms, `performance.now()`). */
function walls(c: ScriptedCloud): Array<{ text: unknown; at: number }> {
  return c.frames({ type: 'display_event' }).flatMap((f) => {
    const layout = f.message?.layout as Record<string, unknown> | undefined;
    return layout?.layoutType === 'text_wall' ? [{ text: layout.text, at: f.receivedAt }] : [];
  });
}

describe('CaptionsApp against a scripted cloud', () => {
  it('shows the latest lines at most once per throttle window, the last update included', async () => {
    const { cloud, app, connection, session } = await captions.start(
      () => new CaptionsApp({ packageName: PACKAGE, apiKey: 'key-1', session: { connectTimeoutMs: 1000 } }),
      SESSION_ID,
    );
    await waitFor(() => connection.subscriptions.includes(STREAM), { timeoutMs: 1000 });

    for (const [text, isFinal] of [['hel', false], ['hello', false], ['Hello there.', true], ['how', false], ['How are you?', true]] as const) {
      cloud.broadcast(transcription(text, isFinal));
    }

    await waitFor(() => walls(cloud).at(-1)?.text === 'Hello there.\nHow are you?', { timeoutMs: 1500 });
    const shown = walls(cloud);
    expect(shown[0]!.text).toBe('hel');
    expect(shown.length).toBeLessThan(5);
    for (let i = 1; i < shown.length; i++) {
      // Socket delivery blurs the spacing a little; the throttle never lets it halve.
      expect(shown[i]!.at - shown[i - 1]!.at).toBeGreaterThanOrEqual(THROTTLE_MS / 2);
    }

    await app.stop();
    await waitFor(() => session.state === 'closed', { timeoutMs: 1000 });
    expect(session.trackedResources).toBe(0);
  });

  it('rejects an invalid throttleMs or maxLines with INVALID_CONFIG', () => {
    for (const bad of [{ throttleMs: -1 }, { maxLines: 0 }]) {
      expect(() => new CaptionsApp({ packageName: PACKAGE, apiKey: 'key-1', ...bad })).toThrow(
        expect.objectContaining({ code: 'INVALID_CONFIG' }),
      );
    }
  });
});
