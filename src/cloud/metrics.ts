/**
 * A small Prometheus registry (counters, gauges, histograms with labels) rendered in the text
 * exposition format, and the cloud's own metrics in {@link createCloudMetrics}.
 *
 * No dependency: the format is a few lines of text, and the cloud needs a handful of metrics.
 * Recording is a map lookup and an addition, so it is cheap enough for the data plane
 * (`tether_bad_messages_total`); gauges that describe the whole cloud (sessions by state) are
 * computed by a callback at scrape time instead, so the data plane never pays for them.
 */
import { TetherError } from '../protocol/errors.js';

/** `Content-Type` of {@link MetricsRegistry.render}'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label values of one series, keyed by label name. */
export type Labels<L extends string> = { readonly [K in L]: string };

// Unlabelled metrics take no labels argument; labelled ones require it.
type ValueArgs<L extends string> = [L] extends [never] ? [value?: number] : [labels: Labels<L>, value?: number];
type RequiredValueArgs<L extends string> = [L] extends [never] ? [value: number] : [labels: Labels<L>, value: number];
type LabelArgs<L extends string> = [L] extends [never] ? [] : [labels: Labels<L>];

/** What every metric is declared with. */
export interface MetricOptions<L extends string> {
  /** Metric name (`tether_sessions`); counters end in `_total` by convention. */
  readonly name: string;
  /** One line saying what is measured, with the unit. */
  readonly help: string;
  /** Label names, in the order they are rendered. */
  readonly labelNames?: readonly L[];
}

/** Options of a histogram. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds of the buckets, ascending, in the metric's unit (seconds for latencies). */
  readonly buckets: readonly number[];
}

/** A value that only goes up (events counted since start). */
export interface Counter<L extends string = never> {
  readonly name: string;
  /** Adds `value` (default 1, must be ≥ 0) to the series of `labels`. */
  inc(...args: ValueArgs<L>): void;
  /** Current value of the series of `labels` (0 if never incremented). */
  value(...args: LabelArgs<L>): number;
}

/** A value that goes up and down (how many sessions are in a state now). */
export interface Gauge<L extends string = never> {
  readonly name: string;
  /** Sets the series of `labels` to `value`. */
  set(...args: RequiredValueArgs<L>): void;
  /** Adds `value` (default 1) to the series of `labels`. */
  inc(...args: ValueArgs<L>): void;
  /** Subtracts `value` (default 1) from the series of `labels`. */
  dec(...args: ValueArgs<L>): void;
  /** Current value of the series of `labels` (0 if never set). */
  value(...args: LabelArgs<L>): number;
  /**
   * Registers a callback that sets this gauge at render time. While the gauge has a collector,
   * every render first clears all its series and then runs the collectors, so a state that no
   * session is in any more disappears instead of showing a stale count; do not mix it with
   * {@link set} from elsewhere. Returns a function that removes the collector. An exception in
   * a collector propagates out of `render()`.
   */
  collect(fn: (gauge: Gauge<L>) => void): () => void;
}

/** Counts observations into buckets (latencies), with their sum and count. */
export interface Histogram<L extends string = never> {
  readonly name: string;
  /** Records one observation of `value` (in the metric's unit) in the series of `labels`. */
  observe(...args: RequiredValueArgs<L>): void;
}

/** A set of metrics rendered together on `/metrics`. */
export interface MetricsRegistry {
  /** Declares a counter. @throws TetherError `INTERNAL_ERROR` on a bad or duplicate name. */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L>;
  /** Declares a gauge. @throws TetherError `INTERNAL_ERROR` on a bad or duplicate name. */
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L>;
  /**
   * Declares a histogram.
   * @throws TetherError `INTERNAL_ERROR` on a bad or duplicate name, a label named `le`, or
   *   buckets that are empty, not finite or not strictly ascending.
   */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>;
  /** Every metric in the Prometheus text exposition format (version 0.0.4), in declaration order. */
  render(): string;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Rendered {
  render(out: string[]): void;
}

/** Creates an empty registry. */
export function createMetricsRegistry(): MetricsRegistry {
  const metrics: Rendered[] = [];
  const names = new Set<string>();

  function declare(options: MetricOptions<string>): readonly string[] {
    const labelNames = options.labelNames ?? [];
    if (!METRIC_NAME.test(options.name)) fail(`Invalid metric name ${JSON.stringify(options.name)}`);
    if (names.has(options.name)) fail(`Metric ${options.name} is declared twice`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) fail(`Invalid label name ${JSON.stringify(label)} on ${options.name}`);
    }
    if (new Set(labelNames).size !== labelNames.length) fail(`Duplicate label name on ${options.name}`);
    names.add(options.name);
    return labelNames;
  }

  return {
    counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
      const metric = new ScalarMetric(options.name, options.help, 'counter', declare(options));
      metrics.push(metric);
      return {
        name: options.name,
        inc: (...args: unknown[]) => {
          const { labels, value } = metric.split(args, 1);
          if (!(value >= 0)) fail(`Counter ${options.name} can only increase (got ${value})`);
          metric.add(labels, value);
        },
        value: (...args: unknown[]) => metric.get(args[0]),
      } as Counter<L>;
    },

    gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L> {
      const metric = new ScalarMetric(options.name, options.help, 'gauge', declare(options));
      metrics.push(metric);
      const gauge = {
        name: options.name,
        set: (...args: unknown[]) => {
          const { labels, value } = metric.split(args, Number.NaN);
          metric.put(labels, value);
        },
        inc: (...args: unknown[]) => {
          const { labels, value } = metric.split(args, 1);
          metric.add(labels, value);
        },
        dec: (...args: unknown[]) => {
          const { labels, value } = metric.split(args, 1);
          metric.add(labels, -value);
        },
        value: (...args: unknown[]) => metric.get(args[0]),
        collect: (fn: (g: Gauge<L>) => void) => {
          const collector = () => fn(gauge);
          metric.collectors.add(collector);
          return () => void metric.collectors.delete(collector);
        },
      } as Gauge<L>;
      return gauge;
    },

    histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
      const labelNames = options.labelNames ?? [];
      if (labelNames.includes('le' as L)) fail(`Histogram ${options.name} cannot have a label named le`);
      const buckets = options.buckets;
      if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
        fail(`Histogram ${options.name} needs finite, strictly ascending buckets`);
      }
      const metric = new HistogramMetric(options.name, options.help, declare(options), buckets);
      metrics.push(metric);
      return {
        name: options.name,
        observe: (...args: unknown[]) => {
          const { labels, value } = metric.split(args, Number.NaN);
          metric.observe(labels, value);
        },
      } as Histogram<L>;
    },

    render(): string {
      const out: string[] = [];
      for (const metric of metrics) metric.render(out);
      return out.join('');
    },
  };
}

/** Shared label handling: turns `labels` objects into ordered values and a map key. */
abstract class LabelledMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  /** Splits `(labels?, value?)` call arguments; `fallback` is the value when none is given. */
  split(args: readonly unknown[], fallback: number): { labels: unknown; value: number } {
    const [first, second] = args;
    if (this.labelNames.length === 0) {
      const value = first ?? fallback;
      if (typeof value !== 'number' || Number.isNaN(value)) fail(`Metric ${this.name} needs a numeric value`);
      return { labels: undefined, value };
    }
    const value = second ?? fallback;
    if (typeof value !== 'number' || Number.isNaN(value)) fail(`Metric ${this.name} needs a numeric value`);
    return { labels: first, value };
  }

  /** The label values of `labels` in declaration order. */
  values(labels: unknown): string[] {
    if (this.labelNames.length === 0) return [];
    if (typeof labels !== 'object' || labels === null) fail(`Metric ${this.name} needs labels ${this.labelNames.join(', ')}`);
    const record = labels as Record<string, unknown>;
    return this.labelNames.map((label) => {
      const value = record[label];
      if (typeof value !== 'string') fail(`Metric ${this.name} needs a string value for label ${label}`);
      return value;
    });
  }

  /** `{a="1",b="2"}` (with `extra` appended, for `le`), or `''` without labels. */
  labelText(values: readonly string[], extra?: [string, string]): string {
    const pairs = values.map((value, i) => `${this.labelNames[i]}="${escapeLabel(value)}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
    return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
  }

  header(out: string[], type: string): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}\n`, `# TYPE ${this.name} ${type}\n`);
  }
}

class ScalarMetric extends LabelledMetric implements Rendered {
  private readonly series = new Map<string, { values: string[]; value: number }>();
  readonly collectors = new Set<() => void>();

  constructor(
    name: string,
    help: string,
    private readonly type: 'counter' | 'gauge',
    labelNames: readonly string[],
  ) {
    super(name, help, labelNames);
    // An unlabelled metric exists from the start: a rate() over a counter that appears only at
    // its first increment misses that increment.
    if (labelNames.length === 0) this.series.set('[]', { values: [], value: 0 });
  }

  add(labels: unknown, delta: number): void {
    this.entry(labels).value += delta;
  }

  put(labels: unknown, value: number): void {
    this.entry(labels).value = value;
  }

  get(labels: unknown): number {
    return this.series.get(JSON.stringify(this.values(labels)))?.value ?? 0;
  }

  render(out: string[]): void {
    if (this.collectors.size > 0) {
      this.series.clear();
      if (this.labelNames.length === 0) this.series.set('[]', { values: [], value: 0 });
      for (const collector of this.collectors) collector();
    }
    this.header(out, this.type);
    for (const { values, value } of this.series.values()) {
      out.push(`${this.name}${this.labelText(values)} ${formatNumber(value)}\n`);
    }
  }

  private entry(labels: unknown): { values: string[]; value: number } {
    const values = this.values(labels);
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { values, value: 0 };
      this.series.set(key, entry);
    }
    return entry;
  }
}

interface HistogramSeries {
  values: string[];
  /** Observations per bucket, not cumulative; the last slot is the +Inf overflow. */
  counts: number[];
  sum: number;
  count: number;
}

class HistogramMetric extends LabelledMetric implements Rendered {
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    if (labelNames.length === 0) this.series.set('[]', this.empty([]));
  }

  observe(labels: unknown, value: number): void {
    const values = this.values(labels);
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (!entry) {
      entry = this.empty(values);
      this.series.set(key, entry);
    }
    let slot = this.buckets.findIndex((bound) => value <= bound);
    if (slot === -1) slot = this.buckets.length;
    entry.counts[slot]! += 1;
    entry.sum += value;
    entry.count += 1;
  }

  render(out: string[]): void {
    this.header(out, 'histogram');
    for (const entry of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += entry.counts[i]!;
        out.push(`${this.name}_bucket${this.labelText(entry.values, ['le', formatNumber(bound)])} ${cumulative}\n`);
      });
      out.push(`${this.name}_bucket${this.labelText(entry.values, ['le', '+Inf'])} ${entry.count}\n`);
      out.push(`${this.name}_sum${this.labelText(entry.values)} ${formatNumber(entry.sum)}\n`);
      out.push(`${this.name}_count${this.labelText(entry.values)} ${entry.count}\n`);
    }
  }

  private empty(values: string[]): HistogramSeries {
    return { values, counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }
}

function formatNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

// Misusing a metric is a bug in our code, not bad input; it gets the internal code.
function fail(message: string): never {
  throw new TetherError('INTERNAL_ERROR', message);
}

// ---------------------------------------------------------------------------------------------
// The cloud's metrics

/**
 * Buckets of `tether_webhook_latency_seconds`, in seconds. `@mentra/sdk` answers a
 * `session_request` only after its ack and `onSession` (≈ 0.1 s typically, 5 s on a failed
 * connect, up to the 10 s timeout), and a `stop_request` in ≈ 10 ms, so the range spans both.
 */
export const WEBHOOK_LATENCY_BUCKETS_S: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The cloud's metrics, declared once; the runtime records into them and serves `render()` on `/metrics`. */
export interface CloudMetrics {
  /** The registry holding them, to declare more. */
  readonly registry: MetricsRegistry;
  /** `tether_sessions{kind="user"|"app",state}`: sessions by state now; set by a collector at scrape time. */
  readonly sessions: Gauge<'kind' | 'state'>;
  /** `tether_glasses_reconnects_total`: glasses connections that resumed an existing user session. */
  readonly glassesReconnects: Counter;
  /** `tether_heartbeat_timeouts_total{side="glasses"|"app"}`: sockets terminated for silence. */
  readonly heartbeatTimeouts: Counter<'side'>;
  /**
   * `tether_webhook_latency_seconds{type="session_request"|"stop_request",outcome}`: webhook
   * round trips, in seconds; `outcome` is `ok` or the failure reason.
   */
  readonly webhookLatency: Histogram<'type' | 'outcome'>;
  /** `tether_webhook_failures_total{type,outcome}`: webhooks that failed, by reason. */
  readonly webhookFailures: Counter<'type' | 'outcome'>;
  /** `tether_bad_messages_total{side="glasses"|"app",code}`: frames refused, by error code. */
  readonly badMessages: Counter<'side' | 'code'>;
  /** `tether_app_recoveries_total{outcome}`: app-session recovery workflows, by result. */
  readonly appRecoveries: Counter<'outcome'>;
  /** The registry rendered in the Prometheus text format. */
  render(): string;
}

/** Declares the cloud's metrics in a fresh registry (one per cloud instance, so tests stay isolated). */
export function createCloudMetrics(): CloudMetrics {
  const registry = createMetricsRegistry();
  return {
    registry,
    sessions: registry.gauge({
      name: 'tether_sessions',
      help: 'Sessions by kind (user or app) and state, counted at scrape time.',
      labelNames: ['kind', 'state'],
    }),
    glassesReconnects: registry.counter({
      name: 'tether_glasses_reconnects_total',
      help: 'Glasses connections that resumed an existing user session.',
    }),
    heartbeatTimeouts: registry.counter({
      name: 'tether_heartbeat_timeouts_total',
      help: 'Sockets terminated after no heartbeat within the timeout, by side (glasses or app).',
      labelNames: ['side'],
    }),
    webhookLatency: registry.histogram({
      name: 'tether_webhook_latency_seconds',
      help: 'Webhook round-trip time in seconds, by request type and outcome.',
      labelNames: ['type', 'outcome'],
      buckets: WEBHOOK_LATENCY_BUCKETS_S,
    }),
    webhookFailures: registry.counter({
      name: 'tether_webhook_failures_total',
      help: 'Webhooks that failed (timeout, network error, non-2xx status), by request type and outcome.',
      labelNames: ['type', 'outcome'],
    }),
    badMessages: registry.counter({
      name: 'tether_bad_messages_total',
      help: 'Frames refused as invalid, by side (glasses or app) and error code.',
      labelNames: ['side', 'code'],
    }),
    appRecoveries: registry.counter({
      name: 'tether_app_recoveries_total',
      help: 'App-session recovery workflows, by outcome.',
      labelNames: ['outcome'],
    }),
    render: () => registry.render(),
  };
}
