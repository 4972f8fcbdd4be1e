import { afterEach, describe, expect, it } from 'vitest';
import { AppSession } from '../../src/sdk/appSession.js';
import { SequenceGuard } from '../../src/sdk/sequenceGuard.js';
import { waitFor } from '../support/net.js';
import { startScriptedCloud, type ScriptedCloud } from '../support/scriptedCloud.js';
import { seededRandom } from '../support/seededRandom.js';

describe('SequenceGuard', () => {
  it('admits frames in order and refuses any seq already delivered', () => {
    const guard = new SequenceGuard();
    const delivered = [1, 2, 3, 2, 3, 4, 1, 5].filter((seq) => guard.admit(seq));
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    expect(guard.info).toEqual({ lastSeq: 5, duplicatesDropped: 3, reportedLost: 0 });
  });

  it('admits a jump forward (frames the cloud reported lost) and nothing behind it afterwards', () => {
    const guard = new SequenceGuard();
    expect(guard.admit(3)).toBe(true);
    guard.recordGap(4);
    expect(guard.admit(8)).toBe(true);
    expect(guard.admit(7)).toBe(false);
    expect(guard.info.reportedLost).toBe(4);
  });

  it('admits frames without seq (a cloud that does not number them)', () => {
    const guard = new SequenceGuard();
    expect(guard.admit(undefined)).toBe(true);
    expect(guard.admit(undefined)).toBe(true);
    expect(guard.info.lastSeq).toBeUndefined();
  });

  it('resumes from the last delivered seq; from 0 on a reconnect before any; from nothing on a first connect', () => {
    const guard = new SequenceGuard();
    expect(guard.resumeFrom(false)).toBeUndefined();
    expect(guard.resumeFrom(true)).toBe(0);
    guard.admit(12);
    expect(guard.resumeFrom(false)).toBe(12);
    expect(guard.resumeFrom(true)).toBe(12);
  });
});

describe('AppSession resume over real sockets', () => {
  let cloud: ScriptedCloud | undefined;
  let session: AppSession | undefined;
  afterEach(async () => {
    session?.disconnect();
    await cloud?.stop();
    cloud = undefined;
    session = undefined;
  });

  it('sends lastSeq on reconnect, hands each seq to the handler once, and reports a resume gap', async () => {
    cloud = await startScriptedCloud();
    const s = (session = new AppSession({
      packageName: 'com.example.test',
      apiKey: 'key-1',
      mentraOSWebsocketUrl: cloud.url,
      random: seededRandom(3),
      reconnectDelayMs: 50,
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: 3000,
    }));
    const texts: string[] = [];
    const errors: string[] = [];
    const gaps: unknown[] = [];
    s.events.onTranscription((t) => texts.push(t.text));
    s.events.onError((e) => errors.push((e as { code?: string }).code ?? e.message));
    s.events.onResumeGap((gap) => gaps.push(gap));
    const frame = (seq: number) => ({ type: 'data_stream', streamType: 'transcription:en-US', data: { text: `m${seq}`, isFinal: true }, seq });

    await s.connect('user-com.example.test');
    const first = await cloud.waitForConnection(1);
    expect(cloud.frames({ type: 'tpa_connection_init' })[0]!.message).not.toHaveProperty('lastSeq');
    for (const seq of [1, 2, 3]) first.send(frame(seq));
    await waitFor(() => texts.length === 3);

    cloud.terminateAll();
    const second = await cloud.waitForConnection(2);
    expect(cloud.frames({ type: 'tpa_connection_init' })[1]!.message).toMatchObject({ lastSeq: 3 });
    // A cloud that re-sends what was already handled: only 4 and 5 reach the handler.
    for (const seq of [2, 3, 4, 3, 5]) second.send(frame(seq));
    second.send({ type: 'resume_gap', lost: 4, fromSeq: 6, toSeq: 9 });
    second.send(frame(10));
    await waitFor(() => texts.length === 6 && gaps.length === 1);
    expect(texts).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm10']);
    expect(gaps).toEqual([{ lost: 4, fromSeq: 6, toSeq: 9 }]);
    expect(errors).toEqual(['RESUME_GAP']);
    expect(s.delivery).toEqual({ lastSeq: 10, duplicatesDropped: 3, reportedLost: 4 });
  });
});
