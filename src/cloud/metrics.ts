/**
 * The cloud's Prometheus metrics, on `prom-client`: one {@link Registry} per cloud (never
 * prom-client's global one, so several clouds in one process — as in tests — stay isolated),
 * holding the `tether_*` metrics and the process's default metrics.
 *
 * Recording into a counter is a map lookup and an addition, cheap enough for the data plane
 * (`tether_bad_messages_total`); gauges that describe the whole cloud (sessions by state) are
 * computed by a callback at scrape time instead, so the data plane never pays for them.
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Label values of one series, keyed by label name; every declared label is required. */
export type Labels<L extends string> = { readonly [K in L]: string };

// Unlabelled metrics take no labels argument; labelled ones require all of them (prom-client's
// own types make every label optional, which lets a forgotten label create a stray series).
type IncArgs<L extends string> = [L] extends [never] ? [value?: number] : [labels: Labels<L>, value?: number];
type ObserveArgs<L extends string> = [L] extends [never] ? [value: number] : [labels: Labels<L>, value: number];

/** A prom-client {@link Counter} (events counted since start) whose `inc` needs every label. */
export type CounterOf<L extends string = never> = Omit<Counter<L>, 'inc'> & {
  /** Adds `value` (default 1, must be ≥ 0) to the series of `labels`. */
  inc(...args: IncArgs<L>): void;
};

/** A prom-client {@link Histogram} (latencies) whose `observe` needs every label. */
export type HistogramOf<L extends string = never> = Omit<Histogram<L>, 'observe'> & {
  /** Records one observation of `value`, in the metric's unit, in the series of `labels`. */
  observe(...args: ObserveArgs<L>): void;
};

/** What a scrape-time collector may do to its gauge. */
export interface GaugeSetter<L extends string> {
  /** Sets the series of `labels` to `value`. */
  set(labels: Labels<L>, value: number): void;
  /** Adds `value` (default 1) to the series of `labels`. */
  inc(labels: Labels<L>, value?: number): void;
}

/** A gauge computed at scrape time (how many sessions are in a state now). */
export interface ScrapeGauge<L extends string> {
  readonly name: string;
  /**
   * Registers a callback that sets this gauge at scrape time. Every scrape first clears all its
   * series and then runs the collectors, so a state that no session is in any more disappears
   * instead of showing a stale count. Returns a function that removes the collector. An
   * exception in a collector rejects the scrape.
   */
  collect(fn: (gauge: GaugeSetter<L>) => void): () => void;
}

/** A single number read at scrape time (bytes held now): the sum of its collectors. */
export interface ScrapeValue {
  readonly name: string;
  /** Registers a callback read at every scrape; returns a function that removes it. */
  collect(fn: () => number): () => void;
}

/**
 * Buckets of `tether_webhook_latency_seconds`, in seconds. `@mentra/sdk` answers a
 * `session_request` only after its ack and `onSession` (≈ 0.1 s typically, 5 s on a failed
 * connect, up to the 10 s timeout), and a `stop_request` in ≈ 10 ms, so the range spans both.
 */
const WEBHOOK_LATENCY_BUCKETS_S: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The cloud's metrics, declared once; the runtime records into them and serves `render()` on `/metrics`. */
export interface CloudMetrics {
  /** The registry holding them, to declare more (`registers: [metrics.registry]`); its `contentType` is `/metrics`'. */
  readonly registry: Registry;
  /** `tether_sessions{kind="user"|"app",state}`: sessions by state now; set by a collector at scrape time. */
  readonly sessions: ScrapeGauge<'kind' | 'state'>;
  /** `tether_sockets{kind="glasses"|"app"}`: authenticated sockets open now; set at scrape time. */
  readonly sockets: ScrapeGauge<'kind'>;
  /**
   * `tether_duplicate_sockets{kind}`: open sockets a session holds beyond its one (per user for
   * glasses, per user and app for apps); set at scrape time. The chaos suite asserts it stays 0.
   */
  readonly duplicateSockets: ScrapeGauge<'kind'>;
  /** `tether_glasses_reconnects_total`: glasses connections that resumed an existing user session. */
  readonly glassesReconnects: CounterOf;
  /** `tether_heartbeat_timeouts_total{side="glasses"|"app"}`: sockets terminated for silence. */
  readonly heartbeatTimeouts: CounterOf<'side'>;
  /**
   * `tether_webhook_latency_seconds{type="session_request"|"stop_request",outcome}`: webhook
   * round trips, in seconds; `outcome` is `ok` or the failure reason.
   */
  readonly webhookLatency: HistogramOf<'type' | 'outcome'>;
  /** `tether_webhook_failures_total{type,outcome}`: webhooks that failed, by reason. */
  readonly webhookFailures: CounterOf<'type' | 'outcome'>;
  /** `tether_bad_messages_total{side="glasses"|"app",code}`: frames refused, by error code. */
  readonly badMessages: CounterOf<'side' | 'code'>;
  /** `tether_app_recoveries_total{outcome}`: app-session recovery workflows, by result. */
  readonly appRecoveries: CounterOf<'outcome'>;
  /** `tether_socket_faults_total{side}`: frames whose handling threw; the socket was closed 1011. */
  readonly socketFaults: CounterOf<'side'>;
  /** `tether_rate_limited_total{side,scope="socket"|"user"}`: sockets closed for sending over their budget. */
  readonly rateLimited: CounterOf<'side' | 'scope'>;
  /**
   * `tether_socket_congestion_total{side,event="congested"|"drained"|"closed"}`: sockets whose
   * writes went over the high-water mark, came back under it, or were closed 1013 for staying over.
   */
  readonly socketCongestion: CounterOf<'side' | 'event'>;
  /** `tether_replay_bytes`: bytes all replay buffers hold now (serialised frames); read at scrape time. */
  readonly replayBytes: ScrapeValue;
  /**
   * `tether_replay_evicted_frames_total{reason="count"|"age"|"bytes"|"budget"}`: frames that left a
   * replay buffer before a client asked for them (or, too large, never entered it).
   */
  readonly replayEvictions: CounterOf<'reason'>;
  /**
   * `tether_app_control_refused_total{code}`: `start_app`/`stop_app` frames and
   * `connection_init.runningApps` entries refused (`RATE_LIMITED`, `UNKNOWN_PACKAGE`, `INVALID_FIELDS`).
   */
  readonly appControlRefusals: CounterOf<'code'>;
  /**
   * `tether_connections_refused_total{reason="pending"|"address"|"connections"|"emfile"|"enfile"}`:
   * new connections refused over the pending cap, the per-address rate, the connection cap, or
   * failed accepts.
   */
  readonly connectionsRefused: CounterOf<'reason'>;
  /**
   * `tether_audio_frames_total{outcome="relayed"|"congested"|"disconnected"|"empty"}`: binary audio
   * frames from glasses, per subscribed app: written, dropped for a congested or absent app socket,
   * or empty (dropped once, for no app).
   */
  readonly audioFrames: CounterOf<'outcome'>;
  /**
   * Every metric in the Prometheus text exposition format (`registry.contentType`): the
   * `tether_*` ones, then the process's. Rejects when a scrape-time collector throws.
   */
  render(): Promise<string>;
  /** Empties the registry and drops the collectors, so nothing the cloud owned stays reachable from it. Idempotent. */
  close(): void;
}

/** Declares the cloud's metrics in a fresh registry (one per cloud instance, so tests stay isolated). */
export function createCloudMetrics(): CloudMetrics {
  // Declared in a registry of their own, then merged with the process's into the one served.
  const registers = [new Registry()];
  const scrapeGauges: Array<{ clear(): void }> = [];
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): ScrapeGauge<L> => {
    const created = scrapeGauge(name, help, labelNames, registers);
    scrapeGauges.push(created);
    return created;
  };
  const sessions = gauge('tether_sessions', 'Sessions by kind (user or app) and state, counted at scrape time.', ['kind', 'state']);
  const sockets = gauge('tether_sockets', 'Authenticated sockets open now, by kind (glasses or app), counted at scrape time.', ['kind']);
  const duplicateSockets = gauge(
    'tether_duplicate_sockets',
    'Open sockets held by a session beyond the first per user (glasses) or per user and app (app), counted at scrape time; anything but 0 is a bug.',
    ['kind'],
  );
  // Replay buffers (principle 11): bytes held, summed at scrape time; evictions counted as they happen.
  const replayByteCollectors = new Set<() => number>();
  new Gauge<never>({
    name: 'tether_replay_bytes',
    help: 'Bytes held by the replay buffers of all app sessions (serialised data frames), read at scrape time.',
    registers,
    collect() {
      let bytes = 0;
      for (const collector of replayByteCollectors) bytes += collector();
      this.set(bytes);
    },
  });
  const replayBytes: ScrapeValue = {
    name: 'tether_replay_bytes',
    collect(fn) {
      replayByteCollectors.add(fn);
      return () => void replayByteCollectors.delete(fn);
    },
  };
  const replayEvictions = new Counter({
    name: 'tether_replay_evicted_frames_total',
    help: 'Frames that left a replay buffer before a client asked for them, by reason (count, age, bytes, budget).',
    labelNames: ['reason'],
    registers,
  });
  const declared: Omit<CloudMetrics, 'registry' | 'render' | 'close'> = {
    sessions,
    sockets,
    duplicateSockets,
    glassesReconnects: new Counter<never>({
      name: 'tether_glasses_reconnects_total',
      help: 'Glasses connections that resumed an existing user session.',
      registers,
    }),
    heartbeatTimeouts: new Counter({
      name: 'tether_heartbeat_timeouts_total',
      help: 'Sockets terminated after no heartbeat within the timeout, by side (glasses or app).',
      labelNames: ['side'],
      registers,
    }),
    webhookLatency: new Histogram({
      name: 'tether_webhook_latency_seconds',
      help: 'Webhook round-trip time in seconds, by request type and outcome.',
      labelNames: ['type', 'outcome'],
      buckets: [...WEBHOOK_LATENCY_BUCKETS_S],
      registers,
    }),
    webhookFailures: new Counter({
      name: 'tether_webhook_failures_total',
      help: 'Webhooks that failed (timeout, network error, non-2xx status), by request type and outcome.',
      labelNames: ['type', 'outcome'],
      registers,
    }),
    badMessages: new Counter({
      name: 'tether_bad_messages_total',
      help: 'Frames refused as invalid, by side (glasses or app) and error code.',
      labelNames: ['side', 'code'],
      registers,
    }),
    appRecoveries: new Counter({
      name: 'tether_app_recoveries_total',
      help: 'App-session recovery workflows, by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    socketFaults: new Counter({
      name: 'tether_socket_faults_total',
      help: 'Frames whose handling threw, by side; each closed its socket with 1011.',
      labelNames: ['side'],
      registers,
    }),
    rateLimited: new Counter({
      name: 'tether_rate_limited_total',
      help: 'Sockets closed for sending more messages or bytes per second than allowed, by side and scope (socket or user).',
      labelNames: ['side', 'scope'],
      registers,
    }),
    socketCongestion: new Counter({
      name: 'tether_socket_congestion_total',
      help: 'Sockets whose unsent bytes went over the high-water mark (congested), came back under it (drained), or stayed over it too long and were closed 1013 (closed), by side.',
      labelNames: ['side', 'event'],
      registers,
    }),
    replayBytes,
    replayEvictions,
    appControlRefusals: new Counter({
      name: 'tether_app_control_refused_total',
      help: 'start_app/stop_app frames and connection_init.runningApps entries refused, by error code.',
      labelNames: ['code'],
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'tether_connections_refused_total',
      help: 'New connections refused, by reason (pending cap, per-address rate, connection cap, accept error).',
      labelNames: ['reason'],
      registers,
    }),
    audioFrames: new Counter({
      name: 'tether_audio_frames_total',
      help: 'Binary audio frames from glasses, per subscribed app: relayed, dropped for a congested or disconnected app socket, or empty.',
      labelNames: ['outcome'],
      registers,
    }),
  };
  const registry = Registry.merge([...registers, processMetrics()]);
  return {
    ...declared,
    registry,
    render: () => registry.metrics(),
    close: () => {
      for (const scraped of scrapeGauges) scraped.clear();
      replayByteCollectors.clear();
      registry.clear();
    },
  };
}

/** A gauge cleared and set by its collectors at every scrape (see {@link ScrapeGauge}). */
function scrapeGauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  registers: Registry[],
): ScrapeGauge<L> & { clear(): void } {
  const collectors = new Set<(gauge: GaugeSetter<L>) => void>();
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const collector of collectors) collector(this);
    },
  });
  return {
    name,
    collect(fn) {
      const collector = (gauge: GaugeSetter<L>) => fn(gauge);
      collectors.add(collector);
      return () => void collectors.delete(collector);
    },
    clear: () => collectors.clear(),
  };
}

let processRegistry: Registry | undefined;

/**
 * prom-client's default metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `nodejs_heap_size_used_bytes`, `nodejs_eventloop_lag_seconds`, `nodejs_gc_duration_seconds`,
 * …), declared once per process and shared by every cloud's registry. They describe the process,
 * not a cloud; and `collectDefaultMetrics` starts an event-loop delay monitor and a GC observer
 * that prom-client 15 offers no way to stop (prometheus/client_js#494, #500), so one set per
 * cloud would leave one more of each running after every `close()`. Both are unref'd native
 * handles: they never keep the process alive and do not show in `process.getActiveResourcesInfo()`.
 * Declared at the first cloud, never at import time. The event-loop lag percentiles cover the
 * time since the last scrape by any cloud of the process.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    observeLiveHeap(processRegistry);
  }
  return processRegistry;
}

/**
 * `tether_heap_live_bytes`: the heap in use just after the last major (mark-compact) GC. Between
 * collections `nodejs_heap_size_used_bytes` also counts garbage not yet collected, so under load
 * it swings by the size of the young generation and more; after a major GC what is left is what
 * the process holds on to, the figure a leak makes grow. Read in the GC observer's callback, which
 * runs just after the collection; 0 until the first major GC. Like prom-client's own GC observer,
 * it never keeps the process alive.
 */
function observeLiveHeap(registry: Registry): void {
  const gauge = new Gauge({ name: 'tether_heap_live_bytes', help: 'V8 heap in use just after the last major GC', registers: [registry] });
  gauge.set(0);
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (((entry as { detail?: { kind?: number } }).detail)?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
        gauge.set(getHeapStatistics().used_heap_size);
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}
