/**
 * Issue 10, item 4 (replay buffers bounded by bytes): 300 transcriptions of 1 MB each stream to
 * an app whose socket is cut (TCP proxy between the app and the cloud, reconnects refused until
 * the stream is over). Before the byte bound the cloud kept all of them (1,000 × 1 MiB per
 * session possible; RSS +330 MB, held until the window passed). Now its replay buffers hold at
 * most `replayMaxBytes` throughout — read from the cloud's own count and `/metrics`, not RSS — and
 * the reconnecting Tether SDK app is told with `resume_gap` what was evicted, then gets the rest.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AppServer, type AppSession } from '../../src/sdk/index.js';
import type { ResumeGapInfo } from '../../src/sdk/eventManager.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';
import { sleep, waitFor } from '../support/net.js';

const FRAMES = 300;
const FRAME_CHARS = 1_000_000;
const STREAM = 'transcription:en-US';

/** A Tether SDK app that records the counter of each transcription and every gap it is told of. */
class GapApp extends AppServer {
  readonly sessions: AppSession[] = [];
  readonly counters: number[] = [];
  readonly gaps: ResumeGapInfo[] = [];
  protected override async onSession(session: AppSession): Promise<void> {
    this.sessions.push(session);
    session.events.onResumeGap((gap) => this.gaps.push(gap));
    session.events.onError(() => {}); // RESUME_GAP is raised as an error too
    session.events.onTranscription((t) => this.counters.push(Number(t.text.slice(1, t.text.indexOf(' ')))));
  }
}

let proxy: FaultProxy | undefined;
let harness: Awaited<ReturnType<typeof startTestCloud>> | undefined;
afterEach(async () => {
  await harness?.close();
  await proxy?.close();
  harness = undefined;
  proxy = undefined;
});

describe('replay buffers bounded by bytes: 300 × 1 MB frames to a cut app', () => {
  it('holds at most replayMaxBytes and reports what it evicted as resume_gap', async () => {
    proxy = await startFaultProxy();
    harness = await startTestCloud({
      settings: {
        publicUrl: `ws://127.0.0.1:${proxy.port}`,
        appReconnectWindowMs: 30_000,
        // 1 MB frames keep both ends busy: heartbeats must not declare the glasses dead meanwhile.
        heartbeatIntervalMs: 1_000,
        heartbeatTimeoutMs: 10_000,
        // 300 MB in a few seconds is far past what a phone sends; the inbound budgets are not what is tested.
        socketBytesPerSecond: 0,
        userBytesPerSecond: 0,
      },
    });
    const h = harness;
    proxy.targetPort = h.cloud.port;
    const bound = h.cloud.config.replayMaxBytes;
    const pkg = 'com.example.big';
    const { server } = await h.serveApp(
      pkg,
      (apiKey) => new GapApp({ packageName: pkg, apiKey, session: { reconnectDelayMs: 100, maxReconnectDelayMs: 200, maxReconnectAttempts: 1_000 } }),
    );
    const app = server as GapApp;
    const g = await h.glassesFor('bea', [pkg]);
    await g.connect();
    const sessionId = `bea-${pkg}`;
    const appSession = () => h.cloud.sessions.appSession('bea', sessionId)?.getSnapshot();
    await waitFor(() => appSession()?.context.subscriptions.includes(STREAM), { timeoutMs: 3000 });
    g.transcribe('m1 live');
    await waitFor(() => app.counters.includes(1), { timeoutMs: 3000 });

    // Cut the app off, and keep it off until the whole stream has reached the cloud.
    void proxy.cut(120_000);
    await waitFor(() => appSession()?.hasTag('canSend') === false, { timeoutMs: 3000 });
    const pad = 'x'.repeat(FRAME_CHARS);
    let peakSeen = 0;
    for (let n = 2; n <= FRAMES + 1; n++) {
      g.transcribe(`m${n} ${pad}`);
      // Paced by what the cloud has numbered, so the test measures the cloud, not a socket queue.
      if (n % 10 === 0 || n === FRAMES + 1) {
        await waitFor(() => (h.cloud.deliveries.exportState(sessionId)?.nextSeq ?? 0) > n, { timeoutMs: 10_000 });
      }
      peakSeen = Math.max(peakSeen, h.cloud.deliveries.bytes);
    }
    const stats = h.cloud.deliveries.stats;
    const metrics = await (await fetch(`${h.cloud.url}/metrics`)).text();
    const heldMetric = Number(/^tether_replay_bytes (\d+)$/m.exec(metrics)?.[1]);
    const evictedMetric = Number(/^tether_replay_evicted_frames_total\{reason="bytes"\} (\d+)$/m.exec(metrics)?.[1]);

    expect(peakSeen).toBeLessThanOrEqual(bound);
    expect(stats.peakBytes).toBeLessThanOrEqual(bound);
    expect(heldMetric).toBeGreaterThan(0);
    expect(heldMetric).toBeLessThanOrEqual(bound);
    const kept = Math.floor(bound / (FRAME_CHARS + 200)); // 4 of 1 MB in 4 MiB
    // Everything but the last `kept` went for bytes, `m1` (already delivered) included.
    expect(stats.evicted.bytes).toBe(FRAMES + 1 - kept);
    expect(evictedMetric).toBe(FRAMES + 1 - kept);

    // Let the app back in: it resumes from lastSeq 1 and learns what is gone.
    await proxy.cut(0);
    await waitFor(() => app.counters.length === 1 + kept, { timeoutMs: 10_000, message: 'the kept frames were not replayed' });
    await sleep(200); // anything extra would arrive now
    const lastEvicted = FRAMES + 1 - kept;
    expect(app.gaps).toEqual([{ lost: FRAMES - kept, fromSeq: 2, toSeq: lastEvicted }]);
    expect(app.counters).toEqual([1, ...Array.from({ length: kept }, (_, i) => lastEvicted + 1 + i)]);
    expect(app.sessions).toHaveLength(1); // resumed by the SDK, not restarted by webhook
    expect(h.cloud.deliveries.stats).toMatchObject({ gaps: 1, lost: FRAMES - kept });
    console.log(
      `[replay/bytes] sent ${FRAMES} × ${FRAME_CHARS} B to a cut app; bound ${bound} B, peak held ${stats.peakBytes} B ` +
        `(metric ${heldMetric} B), evicted for bytes ${stats.evicted.bytes}, resume_gap lost ${app.gaps[0]?.lost}, replayed ${kept}`,
    );
  }, 60_000);
});
