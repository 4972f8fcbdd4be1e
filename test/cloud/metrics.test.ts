import { describe, expect, it } from 'vitest';
import { createCloudMetrics, createMetricsRegistry } from '../../src/cloud/metrics.js';
import { codeOf } from '../support/errors.js';

/** The sample lines of a rendering, without comments. */
function samples(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

describe('metrics registry', () => {
  it('renders an unlabelled counter with HELP, TYPE and 0 before any increment', () => {
    const registry = createMetricsRegistry();
    registry.counter({ name: 'things_total', help: 'Things seen.' });
    expect(registry.render()).toBe('# HELP things_total Things seen.\n# TYPE things_total counter\nthings_total 0\n');
  });

  it('counts per label set, in the declared label order', () => {
    const registry = createMetricsRegistry();
    const counter = registry.counter({ name: 'bad_total', help: 'Bad.', labelNames: ['side', 'code'] });
    counter.inc({ code: 'INVALID_JSON', side: 'glasses' });
    counter.inc({ side: 'glasses', code: 'INVALID_JSON' }, 2);
    counter.inc({ side: 'app', code: 'UNKNOWN_TYPE' });
    expect(samples(registry.render())).toEqual([
      'bad_total{side="glasses",code="INVALID_JSON"} 3',
      'bad_total{side="app",code="UNKNOWN_TYPE"} 1',
    ]);
    expect(counter.value({ side: 'glasses', code: 'INVALID_JSON' })).toBe(3);
    expect(counter.value({ side: 'glasses', code: 'MISSING_TYPE' })).toBe(0);
  });

  it('refuses to decrease a counter or to miss a label', () => {
    const registry = createMetricsRegistry();
    const plain = registry.counter({ name: 'a_total', help: 'A.' });
    const labelled = registry.counter({ name: 'b_total', help: 'B.', labelNames: ['side'] });
    expect(codeOf(() => plain.inc(-1))).toBe('INTERNAL_ERROR');
    expect(codeOf(() => (labelled.inc as (labels: object) => void)({}))).toBe('INTERNAL_ERROR');
  });

  it('escapes label values and help text', () => {
    const registry = createMetricsRegistry();
    const gauge = registry.gauge({ name: 'g', help: 'Line one\nback\\slash', labelNames: ['v'] });
    gauge.set({ v: 'a "quoted"\\ value\nnext' }, 1);
    const text = registry.render();
    expect(text).toContain('# HELP g Line one\\nback\\\\slash\n');
    expect(text).toContain('g{v="a \\"quoted\\"\\\\ value\\nnext"} 1\n');
  });

  it('sets, increments and decrements gauges', () => {
    const registry = createMetricsRegistry();
    const gauge = registry.gauge({ name: 'open', help: 'Open.' });
    gauge.set(5);
    gauge.inc();
    gauge.dec(3);
    expect(gauge.value()).toBe(3);
    expect(samples(registry.render())).toEqual(['open 3']);
  });

  it('runs gauge collectors at render time and drops series they no longer set', () => {
    const registry = createMetricsRegistry();
    const gauge = registry.gauge({ name: 'sessions', help: 'Sessions.', labelNames: ['state'] });
    let states: Record<string, number> = { connected: 2, grace: 1 };
    let calls = 0;
    const stop = gauge.collect((g) => {
      calls += 1;
      for (const [state, count] of Object.entries(states)) g.set({ state }, count);
    });
    expect(calls).toBe(0);
    expect(samples(registry.render())).toEqual(['sessions{state="connected"} 2', 'sessions{state="grace"} 1']);
    states = { connected: 3 };
    expect(samples(registry.render())).toEqual(['sessions{state="connected"} 3']);
    expect(calls).toBe(2);
    stop();
    registry.render();
    expect(calls).toBe(2);
  });

  it('renders histograms with cumulative buckets, +Inf, sum and count', () => {
    const registry = createMetricsRegistry();
    const histogram = registry.histogram({ name: 'lat_seconds', help: 'Latency.', labelNames: ['type'], buckets: [0.1, 1] });
    histogram.observe({ type: 'x' }, 0.05);
    histogram.observe({ type: 'x' }, 0.5);
    histogram.observe({ type: 'x' }, 0.1);
    histogram.observe({ type: 'x' }, 3);
    expect(registry.render()).toBe(
      [
        '# HELP lat_seconds Latency.',
        '# TYPE lat_seconds histogram',
        'lat_seconds_bucket{type="x",le="0.1"} 2',
        'lat_seconds_bucket{type="x",le="1"} 3',
        'lat_seconds_bucket{type="x",le="+Inf"} 4',
        'lat_seconds_sum{type="x"} 3.65',
        'lat_seconds_count{type="x"} 4',
        '',
      ].join('\n'),
    );
  });

  it('refuses bad declarations with INTERNAL_ERROR', () => {
    const registry = createMetricsRegistry();
    registry.counter({ name: 'dup_total', help: 'x' });
    expect(codeOf(() => registry.counter({ name: 'dup_total', help: 'x' }))).toBe('INTERNAL_ERROR');
    expect(codeOf(() => registry.gauge({ name: 'bad-name', help: 'x' }))).toBe('INTERNAL_ERROR');
    expect(codeOf(() => registry.gauge({ name: 'g2', help: 'x', labelNames: ['__reserved'] }))).toBe('INTERNAL_ERROR');
    expect(codeOf(() => registry.histogram({ name: 'h1', help: 'x', buckets: [1, 0.5] }))).toBe('INTERNAL_ERROR');
    expect(codeOf(() => registry.histogram({ name: 'h2', help: 'x', buckets: [] }))).toBe('INTERNAL_ERROR');
    expect(codeOf(() => registry.histogram({ name: 'h3', help: 'x', labelNames: ['le'], buckets: [1] }))).toBe('INTERNAL_ERROR');
  });
});

describe('cloud metrics', () => {
  it('declares every cloud metric with its type', () => {
    const text = createCloudMetrics().render();
    const types = Object.fromEntries(
      text
        .split('\n')
        .filter((line) => line.startsWith('# TYPE '))
        .map((line) => line.slice('# TYPE '.length).split(' ') as [string, string]),
    );
    expect(types).toEqual({
      tether_sessions: 'gauge',
      tether_glasses_reconnects_total: 'counter',
      tether_heartbeat_timeouts_total: 'counter',
      tether_webhook_latency_seconds: 'histogram',
      tether_webhook_failures_total: 'counter',
      tether_bad_messages_total: 'counter',
      tether_app_recoveries_total: 'counter',
    });
  });

  it('records into the predefined metrics', () => {
    const metrics = createCloudMetrics();
    metrics.sessions.collect((g) => {
      g.set({ kind: 'user', state: 'connected' }, 2);
      g.set({ kind: 'app', state: 'running' }, 3);
    });
    metrics.glassesReconnects.inc();
    metrics.heartbeatTimeouts.inc({ side: 'glasses' });
    metrics.webhookLatency.observe({ type: 'session_request', outcome: 'ok' }, 0.2);
    metrics.badMessages.inc({ side: 'app', code: 'INVALID_JSON' });
    const lines = samples(metrics.render());
    expect(lines).toContain('tether_sessions{kind="user",state="connected"} 2');
    expect(lines).toContain('tether_sessions{kind="app",state="running"} 3');
    expect(lines).toContain('tether_glasses_reconnects_total 1');
    expect(lines).toContain('tether_heartbeat_timeouts_total{side="glasses"} 1');
    expect(lines).toContain('tether_webhook_latency_seconds_bucket{type="session_request",outcome="ok",le="0.25"} 1');
    expect(lines).toContain('tether_webhook_latency_seconds_count{type="session_request",outcome="ok"} 1');
    expect(lines).toContain('tether_bad_messages_total{side="app",code="INVALID_JSON"} 1');
  });

  it('gives each instance its own registry', () => {
    const a = createCloudMetrics();
    const b = createCloudMetrics();
    a.glassesReconnects.inc();
    expect(b.glassesReconnects.value()).toBe(0);
  });
});
