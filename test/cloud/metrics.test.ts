/**
 * The cloud's metrics on prom-client: every `tether_*` metric with its type, labels and help,
 * the scrape-time sessions gauge, one registry per cloud, the process's default metrics, and
 * `GET /metrics` on a running cloud.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createCloudMetrics, type CloudMetrics } from '../../src/cloud/metrics.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { activeResourceCounts, resourcesAbove, waitFor } from '../support/net.js';

/** The sample lines of a rendering, without comments. */
function samples(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

/** `{ name: 'type help' }` of every metric family in a rendering. */
function families(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (!match) continue;
    const [, kind, name, rest] = match as unknown as [string, string, string, string];
    out[name] = kind === 'TYPE' ? `${rest} ${out[name] ?? ''}`.trim() : rest;
  }
  return out;
}

/** Every `tether_*` metric as it was before prom-client: name → type and help. */
const TETHER_METRICS = {
  tether_heap_live_bytes: 'gauge V8 heap in use just after the last major GC',
  tether_sessions: 'gauge Sessions by kind (user or app) and state, counted at scrape time.',
  tether_sockets: 'gauge Authenticated sockets open now, by kind (glasses or app), counted at scrape time.',
  tether_duplicate_sockets:
    'gauge Open sockets held by a session beyond the first per user (glasses) or per user and app (app), counted at scrape time; anything but 0 is a bug.',
  tether_glasses_reconnects_total: 'counter Glasses connections that resumed an existing user session.',
  tether_heartbeat_timeouts_total: 'counter Sockets terminated after no heartbeat within the timeout, by side (glasses or app).',
  tether_webhook_latency_seconds: 'histogram Webhook round-trip time in seconds, by request type and outcome.',
  tether_webhook_failures_total:
    'counter Webhooks that failed (timeout, network error, non-2xx status), by request type and outcome.',
  tether_bad_messages_total: 'counter Frames refused as invalid, by side (glasses or app) and error code.',
  tether_app_recoveries_total: 'counter App-session recovery workflows, by outcome.',
  tether_socket_faults_total: 'counter Frames whose handling threw, by side; each closed its socket with 1011.',
  tether_rate_limited_total:
    'counter Sockets closed for sending more messages or bytes per second than allowed, by side and scope (socket or user).',
  tether_socket_congestion_total:
    'counter Sockets whose unsent bytes went over the high-water mark (congested), came back under it (drained), or stayed over it too long and were closed 1013 (closed), by side.',
  tether_replay_bytes: 'gauge Bytes held by the replay buffers of all app sessions (serialised data frames), read at scrape time.',
  tether_app_control_refused_total: 'counter start_app/stop_app frames and connection_init.runningApps entries refused, by error code.',
  tether_replay_evicted_frames_total: 'counter Frames that left a replay buffer before a client asked for them, by reason (count, age, bytes, budget).',
  tether_connections_refused_total:
    'counter New connections refused, by reason (pending cap, per-address rate, connection cap, accept error).',
  tether_audio_frames_total:
    'counter Binary audio frames from glasses, per subscribed app: relayed, dropped for a congested or disconnected app socket, or empty.',
};

/** Default metrics of prom-client that /metrics must serve: CPU, memory, heap, event loop, GC. */
const PROCESS_METRICS = {
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  process_start_time_seconds: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
  nodejs_eventloop_lag_p99_seconds: 'gauge',
  nodejs_gc_duration_seconds: 'histogram',
  nodejs_active_resources_total: 'gauge',
};

function tetherFamilies(text: string): Record<string, string> {
  return Object.fromEntries(Object.entries(families(text)).filter(([name]) => name.startsWith('tether_')));
}

// Never called: it only has to compile (or, where marked, not compile).
function labelsAreRequired(metrics: CloudMetrics): void {
  metrics.badMessages.inc({ side: 'glasses', code: 'INVALID_JSON' });
  // @ts-expect-error a labelled counter needs every label
  metrics.badMessages.inc({ side: 'glasses' });
  // @ts-expect-error and takes no value alone
  metrics.heartbeatTimeouts.inc();
  metrics.glassesReconnects.inc();
  // @ts-expect-error an unlabelled counter takes no labels
  metrics.glassesReconnects.inc({ side: 'app' });
  // @ts-expect-error a histogram needs every label
  metrics.webhookLatency.observe({ type: 'stop_request' }, 0.1);
}
void labelsAreRequired;

describe('cloud metrics', () => {
  it('declares every tether metric with its type and help', async () => {
    const metrics = createCloudMetrics();
    expect(tetherFamilies(await metrics.render())).toEqual(TETHER_METRICS);
  });

  it('records into the predefined metrics', async () => {
    const metrics = createCloudMetrics();
    metrics.sessions.collect((g) => {
      g.set({ kind: 'user', state: 'connected' }, 2);
      g.set({ kind: 'app', state: 'running' }, 3);
    });
    metrics.glassesReconnects.inc();
    metrics.heartbeatTimeouts.inc({ side: 'glasses' });
    metrics.webhookLatency.observe({ type: 'session_request', outcome: 'ok' }, 0.2);
    metrics.webhookFailures.inc({ type: 'stop_request', outcome: 'timeout' });
    metrics.badMessages.inc({ side: 'app', code: 'INVALID_JSON' });
    metrics.badMessages.inc({ side: 'app', code: 'INVALID_JSON' }, 2);
    metrics.appRecoveries.inc({ outcome: 'recovered' });
    metrics.replayBytes.collect(() => 1_000);
    metrics.replayBytes.collect(() => 234);
    metrics.replayEvictions.inc({ reason: 'budget' }, 5);
    const lines = samples(await metrics.render());
    expect(lines).toContain('tether_sessions{kind="user",state="connected"} 2');
    expect(lines).toContain('tether_sessions{kind="app",state="running"} 3');
    expect(lines).toContain('tether_glasses_reconnects_total 1');
    expect(lines).toContain('tether_heartbeat_timeouts_total{side="glasses"} 1');
    expect(lines).toContain('tether_webhook_latency_seconds_bucket{le="0.1",type="session_request",outcome="ok"} 0');
    expect(lines).toContain('tether_webhook_latency_seconds_bucket{le="0.25",type="session_request",outcome="ok"} 1');
    expect(lines).toContain('tether_webhook_latency_seconds_bucket{le="+Inf",type="session_request",outcome="ok"} 1');
    expect(lines).toContain('tether_webhook_latency_seconds_count{type="session_request",outcome="ok"} 1');
    expect(lines).toContain('tether_webhook_failures_total{type="stop_request",outcome="timeout"} 1');
    expect(lines).toContain('tether_bad_messages_total{side="app",code="INVALID_JSON"} 3');
    expect(lines).toContain('tether_app_recoveries_total{outcome="recovered"} 1');
    expect(lines).toContain('tether_replay_bytes 1234');
    expect(lines).toContain('tether_replay_evicted_frames_total{reason="budget"} 5');
  });

  it('runs the sessions collectors at every scrape and drops series they no longer set', async () => {
    const metrics = createCloudMetrics();
    let states: Record<string, number> = { connected: 2, grace: 1 };
    let calls = 0;
    const stop = metrics.sessions.collect((g) => {
      calls += 1;
      for (const [state, count] of Object.entries(states)) g.inc({ kind: 'user', state }, count);
    });
    expect(calls).toBe(0);
    const sessions = async () => samples(await metrics.render()).filter((l) => l.startsWith('tether_sessions'));
    expect(await sessions()).toEqual(['tether_sessions{kind="user",state="connected"} 2', 'tether_sessions{kind="user",state="grace"} 1']);
    states = { connected: 3 };
    expect(await sessions()).toEqual(['tether_sessions{kind="user",state="connected"} 3']);
    expect(calls).toBe(2);
    stop();
    expect(await sessions()).toEqual([]);
    expect(calls).toBe(2);
  });

  it('rejects the scrape when a collector throws', async () => {
    const metrics = createCloudMetrics();
    metrics.sessions.collect(() => {
      throw new Error('collector bug');
    });
    await expect(metrics.render()).rejects.toThrow('collector bug');
  });

  it('reports the live heap after a major GC', async () => {
    const metrics = createCloudMetrics();
    // A full GC on demand, without starting vitest with --expose-gc.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let held: unknown[] | undefined = Array.from({ length: 400_000 }, (_, i) => ({ i }));
    gc();
    const live = async () => Number(/^tether_heap_live_bytes (\S+)$/m.exec(await metrics.render())?.[1]);
    await waitFor(async () => (await live()) > 0);
    const withArray = await live();
    held = undefined;
    gc();
    // The observer's callback runs after the collection: the array's ~15 MB are gone from the figure.
    await waitFor(async () => (await live()) < withArray - 5_000_000, { message: `live heap still ${withArray}` });
    expect(held).toBeUndefined();
  });

  it('gives each instance its own registry', async () => {
    const a = createCloudMetrics();
    const b = createCloudMetrics();
    a.glassesReconnects.inc();
    expect(samples(await a.render())).toContain('tether_glasses_reconnects_total 1');
    expect(samples(await b.render())).toContain('tether_glasses_reconnects_total 0');
  });

  it("serves the process's default metrics in every instance", async () => {
    const a = createCloudMetrics();
    const b = createCloudMetrics();
    for (const metrics of [a, b]) {
      const text = await metrics.render();
      const types = Object.fromEntries(Object.keys(PROCESS_METRICS).map((name) => [name, families(text)[name]?.split(' ')[0]]));
      expect(types).toEqual(PROCESS_METRICS);
      expect(Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds \S+$/m);
    }
    expect(a.registry.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('empties its registry on close, leaving the other instances and no active resource behind', async () => {
    const baseline = activeResourceCounts();
    const kept = createCloudMetrics();
    for (let i = 0; i < 20; i++) {
      const metrics = createCloudMetrics();
      await metrics.render();
      metrics.close();
      expect((await metrics.render()).trim()).toBe('');
    }
    expect(tetherFamilies(await kept.render())).toEqual(TETHER_METRICS);
    expect(await kept.render()).toMatch(/^process_resident_memory_bytes /m);
    // A scrape measures event-loop lag with one setImmediate; nothing else stays.
    await waitFor(() => resourcesAbove(baseline).length === 0, { message: `leaked: ${resourcesAbove(baseline).join(', ')}` });
  });
});

describe('README', () => {
  it('lists every tether metric and the process metrics on the /metrics row', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const row = readme.split('\n').find((line) => line.startsWith('| `GET /metrics` |'));
    for (const name of [...Object.keys(TETHER_METRICS), 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(row, name).toContain(`\`${name}`);
    }
  });
});

describe('GET /metrics on a running cloud', () => {
  it('serves every tether series and the process metrics, with prom-client content type', async () => {
    const h = await startTestCloud();
    try {
      const glasses = await h.glassesFor('metrics-user');
      await glasses.connect();
      const response = await fetch(`${h.cloud.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(h.cloud.metrics.registry.contentType);
      const text = await response.text();
      const names = families(text);
      for (const [name, typeAndHelp] of Object.entries(TETHER_METRICS)) expect(names[name], name).toBe(typeAndHelp);
      for (const [name, type] of Object.entries(PROCESS_METRICS)) expect(names[name]?.split(' ')[0], name).toBe(type);
      const lines = samples(text);
      expect(lines).toContain('tether_sessions{kind="user",state="connected"} 1');
      expect(lines).toContain('tether_sockets{kind="glasses"} 1');
      expect(lines).toContain('tether_duplicate_sockets{kind="glasses"} 0');
      expect(lines).toContain('tether_glasses_reconnects_total 0');
      expect(lines.some((l) => l.startsWith('process_resident_memory_bytes '))).toBe(true);
      expect(lines.some((l) => l.startsWith('nodejs_eventloop_lag_seconds '))).toBe(true);
      await glasses.close();
    } finally {
      await h.close();
    }
    expect((await h.cloud.metrics.render()).trim()).toBe('');
  });
});
