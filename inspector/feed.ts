/**
 * The page feed's logic, independent of WebSockets: `hello` on connect, then every batch period
 * the actors that changed (coalesced per actor, bounded per batch) and, for the selected actor,
 * its new records and snapshot; `select` and `export` requests. The batch timer runs only while
 * at least one page is connected, and the hub collects changes only then.
 */
import type { ActorEntry, ExportFilter } from './hub.js';
import {
  FEED_MAX_UPSERTS,
  type ActorSummary,
  type FeedServerMessage,
  type MachineJSON,
  type SnapshotView,
  type Trace,
  type TraceRecord,
} from './protocol.js';

/** What the feed needs from the hub. */
export interface FeedStore {
  list(): ActorSummary[];
  lookup(id: string): ActorEntry | undefined;
  summaryOf(entry: ActorEntry): ActorSummary;
  viewOf(entry: ActorEntry): SnapshotView;
  definitionOf(entry: ActorEntry): MachineJSON | null;
  recordsOf(entry: ActorEntry, fromSeq?: number): TraceRecord[];
  exportTrace(filter: ExportFilter): Trace;
  now(): number;
  /** Start or stop collecting changes. */
  setWatching(on: boolean): void;
  /** The changes collected since the last call. */
  drain(): { changed: Set<ActorEntry>; removed: string[] };
}

/** Options of one feed connection. */
export interface FeedConnectionOptions {
  /** True while the page's socket is backed up: batches wait (changes accumulate, coalesced). */
  congested?: () => boolean;
  /** Called once when the connection is closed (by either side). */
  onClose?: () => void;
}

/** One connected page. */
export interface FeedConnection {
  /** Handles a message from the page (parsed JSON, or the raw text). */
  receive(message: unknown): void;
  /** Ends the connection; no more messages are sent. Idempotent. */
  close(): void;
}

/** Runs the batch timer and the connected pages of one hub. */
export class FeedHost {
  private readonly connections = new Set<Connection>();
  private timer: NodeJS.Timeout | undefined;
  private readonly store: FeedStore;
  private readonly batchMs: number;

  constructor(store: FeedStore, batchMs: number) {
    this.store = store;
    this.batchMs = batchMs;
  }

  connect(send: (message: FeedServerMessage) => void, options: FeedConnectionOptions = {}): FeedConnection {
    const connection = new Connection(this.store, send, options, (c) => this.disconnect(c));
    if (this.connections.size === 0) {
      this.store.setWatching(true);
      this.timer = setInterval(() => this.tick(), this.batchMs);
      this.timer.unref();
    }
    this.connections.add(connection);
    connection.hello();
    return connection;
  }

  close(): void {
    for (const connection of [...this.connections]) connection.close();
  }

  private disconnect(connection: Connection): void {
    if (!this.connections.delete(connection) || this.connections.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.store.setWatching(false);
  }

  private tick(): void {
    try {
      const { changed, removed } = this.store.drain();
      // Summaries are built once per batch, whatever the number of pages.
      const summaries = new Map<ActorEntry, ActorSummary>();
      for (const connection of this.connections) connection.flush(changed, removed, summaries);
    } catch {
      // A bad batch must not stop the timer or reach the runtime.
    }
  }
}

class Connection implements FeedConnection {
  private readonly pendingUpserts = new Set<ActorEntry>();
  private readonly pendingRemoved = new Set<string>();
  private selected: ActorEntry | undefined;
  private sentVersion = 0;
  private sentSeq = 0;
  private open = true;
  private readonly store: FeedStore;
  private readonly sendRaw: (message: FeedServerMessage) => void;
  private readonly options: FeedConnectionOptions;
  private readonly onDisconnect: (connection: Connection) => void;

  constructor(
    store: FeedStore,
    send: (message: FeedServerMessage) => void,
    options: FeedConnectionOptions,
    onDisconnect: (connection: Connection) => void,
  ) {
    this.store = store;
    this.sendRaw = send;
    this.options = options;
    this.onDisconnect = onDisconnect;
  }

  hello(): void {
    let actors: ActorSummary[];
    try {
      actors = this.store.list();
    } catch {
      actors = [];
    }
    this.send({ type: 'hello', actors, now: this.store.now() });
  }

  receive(raw: unknown): void {
    try {
      this.handle(raw);
    } catch {
      // A request that cannot be answered must not reach the socket's event handler (and the process).
      this.send({ type: 'error', code: 'BAD_REQUEST', message: 'request failed' });
    }
  }

  private handle(raw: unknown): void {
    if (!this.open) return;
    let message = raw;
    if (typeof raw === 'string') {
      try {
        message = JSON.parse(raw);
      } catch {
        return this.send({ type: 'error', code: 'BAD_REQUEST', message: 'message is not JSON' });
      }
    }
    if (typeof message !== 'object' || message === null) return;
    const m = message as { type?: unknown; id?: unknown; userId?: unknown };
    if (m.type === 'select') {
      if (m.id === null || m.id === undefined) {
        this.selected = undefined;
        return;
      }
      const entry = typeof m.id === 'string' ? this.store.lookup(m.id) : undefined;
      if (!entry) {
        this.selected = undefined;
        return this.send({ type: 'error', code: 'NOT_FOUND', message: 'no such actor', id: typeof m.id === 'string' ? m.id : JSON.stringify(m.id) });
      }
      this.selected = entry;
      this.sentVersion = entry.version;
      this.sentSeq = entry.records.total;
      return this.send({
        type: 'detail',
        id: entry.id,
        definition: this.store.definitionOf(entry),
        snapshot: this.store.viewOf(entry),
        records: this.store.recordsOf(entry),
      });
    }
    if (m.type === 'export') {
      const filter: ExportFilter = {};
      if (typeof m.id === 'string') filter.id = m.id;
      if (typeof m.userId === 'string') filter.userId = m.userId;
      if (filter.id === undefined && filter.userId === undefined) {
        return this.send({ type: 'error', code: 'BAD_REQUEST', message: 'export needs an id or a userId' });
      }
      return this.send({ type: 'export', trace: this.store.exportTrace(filter) });
    }
    // Unknown requests are ignored: a newer page may speak to an older server.
  }

  flush(changed: Set<ActorEntry>, removed: string[], summaries: Map<ActorEntry, ActorSummary>): void {
    if (!this.open) return;
    for (const entry of changed) this.pendingUpserts.add(entry);
    for (const id of removed) {
      this.pendingRemoved.add(id);
      if (this.selected?.id === id) this.selected = undefined;
    }
    if (this.options.congested?.()) return;

    if (this.pendingUpserts.size > 0 || this.pendingRemoved.size > 0) {
      const upserts: ActorSummary[] = [];
      for (const entry of this.pendingUpserts) {
        if (upserts.length >= FEED_MAX_UPSERTS) break;
        this.pendingUpserts.delete(entry);
        if (entry.removed) continue;
        let summary = summaries.get(entry);
        if (!summary) {
          summary = this.store.summaryOf(entry);
          summaries.set(entry, summary);
        }
        upserts.push(summary);
      }
      // An id removed and added again (a source that reconnected) is only upserted.
      const upserted = new Set(upserts.map((s) => s.id));
      const gone = [...this.pendingRemoved].filter((id) => !upserted.has(id));
      this.pendingRemoved.clear();
      if (upserts.length > 0 || gone.length > 0) this.send({ type: 'actors', upserts, removed: gone });
    }

    const entry = this.selected;
    if (entry && entry.version !== this.sentVersion) {
      const records = this.store.recordsOf(entry, this.sentSeq);
      this.sentVersion = entry.version;
      this.sentSeq = entry.records.total;
      this.send({ type: 'records', id: entry.id, records, snapshot: this.store.viewOf(entry) });
    }
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.pendingUpserts.clear();
    this.pendingRemoved.clear();
    this.selected = undefined;
    this.onDisconnect(this);
    this.options.onClose?.();
  }

  private send(message: FeedServerMessage): void {
    if (!this.open) return;
    try {
      this.sendRaw(message);
    } catch {
      this.close();
    }
  }
}
