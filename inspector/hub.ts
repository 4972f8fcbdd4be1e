/**
 * The inspector hub: receives XState v5 inspection events — in-process through {@link
 * InspectorHub.inspect} (the `inspect` option of every actor the cloud creates), and from other
 * processes through ingest sources — and keeps, per actor, its identity, machine, current
 * snapshot and a bounded ring of its events and transitions.
 *
 * The hot path (one inspection event) is a map lookup, a state-value comparison and a few array
 * writes: no serialization, no allocation beyond what XState hands over, nothing sent while no
 * page is connected, and no exception ever reaches the runtime. Contexts are serialized (and
 * redacted) only when a page asks for an actor or a trace is exported.
 */
import type { AnyActorRef, AnyStateMachine, InspectionEvent } from 'xstate';
import { appSessionIdOfSystemId, userIdOfAppSession, userIdOfSystemId } from '../machines/sessionIds.js';
import { definitionFromConfig, isMachineConfig, isMachineLogic, machineDefinition } from './definition.js';
import { FeedHost, type FeedConnection, type FeedConnectionOptions, type FeedStore } from './feed.js';
import {
  FEED_BATCH_MS,
  LOCAL_SOURCE,
  type ActorStatus,
  type ActorSummary,
  type FeedServerMessage,
  type IngestMessageType,
  type MachineJSON,
  type SnapshotView,
  type Trace,
  type TraceActor,
  type TraceRecord,
} from './protocol.js';
import { detachedEvent } from './detachedEvent.js';
import { createRedactor, type RedactRule } from './redact.js';
import { EVENT_RECORD, RecordRing, SnapshotRing, TRANSITION_RECORD, type RecordKind, type RingRecord } from './ring.js';
import { RingShare } from './ringShare.js';

/** Options of {@link createInspectorHub}. */
export interface InspectorHubOptions {
  /** Events and transitions kept per actor at most (default 1000). */
  ringSize?: number;
  /** Snapshots kept per actor for replay at most (default 200); one is kept per change of value, context or status. */
  snapshotsPerActor?: number;
  /**
   * Events and transitions kept across all actors (default 250 000, some 12 MB): with many
   * actors each keeps a smaller power-of-two share, never under 16.
   */
  maxRecords?: number;
  /** Snapshots kept across all actors (default 25 000), shared like `maxRecords`, never under 4 per actor. */
  maxSnapshots?: number;
  /** Ended actors (done, error, stopped) kept before the oldest is dropped (default 500). */
  maxStopped?: number;
  /** Hard bound on actors kept (default 20 000); the oldest ended, else the oldest, goes first. */
  maxActors?: number;
  /** Context keys whose values are replaced by `"[redacted]"` (default: api key, token, secret, password, authorization, cookie). */
  redact?: RedactRule;
  /** Source name of this process's actors (default `cloud`). */
  source?: string;
  /** Track only state machines (default) or every actor (callbacks, promises) too. */
  actors?: 'machines' | 'all';
  /** Wall clock in ms (tests). */
  now?: () => number;
  /** Period of the page feed's batches, in ms (default 100). */
  batchMs?: number;
}

/** Which actors an export covers: one actor (and its descendants), or everything of one user. */
export interface ExportFilter {
  id?: string;
  userId?: string;
}

/** A stream of inspection messages from another process (see `ingest.ts`). */
export interface IngestSource {
  /** Unique among the sources attached at the same time (a suffix is added on a clash). */
  readonly name: string;
  /** Applies one message in the `@statelyai/inspect` format; false if it was not understood. */
  receive(message: unknown): boolean;
  /** The connection ended: its live actors are marked `stopped` (they come back if it reconnects). */
  detach(): void;
}

/** The hub. */
export interface InspectorHub {
  /** XState inspection observer; pass it as `createActor(logic, { inspect })`. Never throws. */
  readonly inspect: (event: InspectionEvent) => void;
  /** Actors currently kept. */
  readonly size: number;
  /** Summaries of every actor kept. */
  list(): ActorSummary[];
  /** Summary of one actor. */
  summary(id: string): ActorSummary | undefined;
  /** Definition, redacted snapshot and records of one actor. */
  detail(id: string): { definition: MachineJSON | null; snapshot: SnapshotView; records: TraceRecord[] } | undefined;
  /** The recorded trace of one actor (with its descendants) or one user; empty if nothing matches. */
  exportTrace(filter: ExportFilter): Trace;
  /** Opens a stream of inspection messages from another process, named `name`. */
  attachSource(name: string): IngestSource;
  /**
   * Opens a page feed: `send` gets `hello` at once, then batches (see `protocol.ts`). Pass the
   * page's messages to `receive`; `congested` (e.g. a large `bufferedAmount`) defers batches.
   */
  connect(send: (message: FeedServerMessage) => void, options?: FeedConnectionOptions): FeedConnection;
  /** Closes every feed and stops the batch timer. The hub keeps recording. */
  close(): void;
}

/** An actor as the hub keeps it. */
export class ActorEntry {
  readonly id: string;
  readonly source: string;
  systemId: string | undefined;
  parentId: string | undefined;
  /** In-process machine, for its definition (serialized on demand). */
  machine: AnyStateMachine | undefined;
  /** Ingested definition. */
  remoteDefinition: DefinitionSlot | undefined;
  machineId: string | undefined;
  /** True once a snapshot arrived (before that, `value` is null). */
  started = false;
  value: unknown = null;
  /** XState's `_nodes` of the last snapshot: the same array as long as the active states are the same. */
  nodes: unknown = undefined;
  context: unknown = undefined;
  tags: unknown = undefined;
  status: ActorStatus = 'active';
  updatedAt: number;
  readonly records: RecordRing;
  readonly snapshots: SnapshotRing<ActorStatus>;
  /** Bumped on every record or snapshot, so a feed sees whether the selected actor changed. */
  version = 0;
  removed = false;
  userId: string | undefined;
  packageName: string | undefined;
  identityKnown = false;

  constructor(
    id: string,
    source: string,
    t: number,
    private readonly recordShare: RingShare,
    private readonly snapshotShare: RingShare,
  ) {
    this.id = id;
    this.source = source;
    this.updatedAt = t;
    this.records = new RecordRing(recordShare.perActor);
    this.snapshots = new SnapshotRing(snapshotShare.perActor);
  }

  record(t: number, kind: RecordKind, event: unknown, from: unknown, to: unknown): void {
    // A share that grew is taken up here; one that shrank was applied to every ring at once.
    if (this.records.capacity < this.recordShare.perActor) this.records.resize(this.recordShare.perActor);
    this.records.push(t, kind, event, from, to);
    this.version++;
  }

  keepSnapshot(t: number, value: unknown, context: unknown, status: ActorStatus): void {
    if (this.snapshots.capacity < this.snapshotShare.perActor) this.snapshots.resize(this.snapshotShare.perActor);
    this.snapshots.push(t, value, context, status);
  }

  /** Cuts both rings to the current shares. */
  fitShares(): void {
    this.records.resize(this.recordShare.perActor);
    this.snapshots.resize(this.snapshotShare.perActor);
  }
}

/** A parsed, shared ingested definition (one per distinct definition text). */
interface DefinitionSlot {
  machineId: string | undefined;
  isMachine: boolean;
  config: Record<string, unknown> | undefined;
  /** Converted on first request. */
  json?: MachineJSON | null;
}

const INGEST_TYPES = new Set<string>(['@xstate.actor', '@xstate.event', '@xstate.snapshot', '@xstate.microstep']);
const STATUSES = new Set<string>(['active', 'done', 'error', 'stopped']);
const MAX_DEFINITION_SLOTS = 200;

/**
 * Creates a hub. Pass `hub.inspect` to actors (or to `createCloud({ inspector: hub })`), and
 * serve it with `createInspectorServer`.
 */
export function createInspectorHub(options: InspectorHubOptions = {}): InspectorHub {
  const recordShare = new RingShare(options.maxRecords ?? 250_000, options.ringSize ?? 1000, 16);
  const snapshotShare = new RingShare(options.maxSnapshots ?? 25_000, options.snapshotsPerActor ?? 200, 4);
  const maxStopped = options.maxStopped ?? 500;
  const maxActors = Math.max(1, options.maxActors ?? 20_000);
  const localSource = options.source ?? LOCAL_SOURCE;
  const machinesOnly = (options.actors ?? 'machines') === 'machines';
  const now = options.now ?? Date.now;
  const redact = createRedactor(options.redact ? { redact: options.redact } : {});

  const entries = new Map<string, ActorEntry>();
  /** Ended actors in the order they ended (oldest first). */
  const ended = new Map<string, ActorEntry>();
  /** Changes since the feed last drained them; only kept while a page is connected. */
  let watching = false;
  let changed = new Set<ActorEntry>();
  let removedIds: string[] = [];
  const sources = new Map<string, Set<ActorEntry>>();
  const definitionSlots = new Map<string, DefinitionSlot>();

  // Wall time is read once per macrostep, on the event that starts it; the snapshot that ends
  // it reuses it (a stop, which has no event, reads it again).
  let lastT = now();

  const markChanged = (entry: ActorEntry) => {
    if (watching) changed.add(entry);
  };

  /** Moves the per-actor shares after the actor count changed; a smaller share cuts every ring now. */
  const reshare = () => {
    const records = recordShare.update(entries.size);
    const snapshots = snapshotShare.update(entries.size);
    if (records === 'shrunk' || snapshots === 'shrunk') for (const entry of entries.values()) entry.fitShares();
  };

  const remove = (entry: ActorEntry) => {
    entry.removed = true;
    entries.delete(entry.id);
    ended.delete(entry.id);
    sources.get(entry.source)?.delete(entry);
    if (watching) {
      changed.delete(entry);
      removedIds.push(entry.id);
    }
    reshare();
  };

  const add = (entry: ActorEntry) => {
    const existing = entries.get(entry.id);
    if (existing) remove(existing);
    entries.set(entry.id, entry);
    markChanged(entry);
    while (entries.size > maxActors) {
      const victim = ended.values().next().value ?? entries.values().next().value;
      if (!victim || victim === entry) break;
      remove(victim);
    }
    reshare();
  };

  const setStatus = (entry: ActorEntry, status: ActorStatus) => {
    entry.status = status;
    if (status === 'active') {
      ended.delete(entry.id);
      return;
    }
    ended.delete(entry.id);
    ended.set(entry.id, entry);
    while (ended.size > maxStopped) {
      const oldest = ended.values().next().value;
      if (!oldest) break;
      remove(oldest);
    }
  };

  /**
   * A snapshot (`full`), or an ingested microstep, of `entry`, produced by `event` at `t`. Records a
   * transition when the state value changed, and keeps the snapshot for replay when the value,
   * the context or the status changed.
   */
  const applySnapshot = (entry: ActorEntry, snapshot: unknown, event: unknown, t: number, full: boolean) => {
    const s = snapshot as { value?: unknown; context?: unknown; status?: unknown; tags?: unknown; _nodes?: unknown } | null | undefined;
    if (!s || typeof s !== 'object') return;
    let summaryChanged = false;
    const value = s.value === undefined ? null : s.value;
    // XState hands over the same `_nodes` array while the active states stay the same (a
    // heartbeat re-entry, an assign): then the value cannot have changed, and is not compared.
    const nodes = s._nodes;
    const sameNodes = nodes !== undefined && nodes === entry.nodes;
    if (!entry.started || (!sameNodes && !sameValue(entry.value, value))) {
      entry.record(t, TRANSITION_RECORD, detachedEvent(event), entry.started ? entry.value : undefined, value);
      entry.value = value;
      entry.started = true;
      summaryChanged = true;
    }
    entry.nodes = nodes;
    entry.version++;
    if (full) {
      const status = s.status === 'active' || s.status === undefined ? 'active' : statusOf(s.status);
      if (status !== entry.status) {
        setStatus(entry, status);
        summaryChanged = true;
      }
      entry.tags = s.tags;
      if (summaryChanged || s.context !== entry.context) {
        entry.context = s.context;
        entry.keepSnapshot(t, value, s.context, status);
      }
    }
    if (summaryChanged) {
      entry.updatedAt = t;
      markChanged(entry);
    }
  };

  const onLocalActor = (actorRef: AnyActorRef) => {
    const logic = (actorRef as { logic?: unknown }).logic;
    const machine = isMachineLogic(logic) ? logic : undefined;
    if (!machine && machinesOnly) return;
    lastT = now();
    const entry = new ActorEntry(actorRef.sessionId, localSource, lastT, recordShare, snapshotShare);
    const options = (actorRef as { options?: { systemId?: unknown } }).options;
    if (typeof options?.systemId === 'string') entry.systemId = options.systemId;
    const parent = (actorRef as { _parent?: { sessionId?: unknown } })._parent;
    if (typeof parent?.sessionId === 'string') entry.parentId = parent.sessionId;
    entry.machine = machine;
    entry.machineId = machine?.id;
    add(entry);
  };

  const inspect = (event: InspectionEvent): void => {
    try {
      switch (event.type) {
        case '@xstate.event': {
          const entry = entries.get(event.actorRef.sessionId);
          if (!entry) return;
          lastT = now();
          // The type only: keeping every event object alive would cost the runtime GC time.
          entry.record(lastT, EVENT_RECORD, event.event.type, undefined, undefined);
          return;
        }
        case '@xstate.snapshot': {
          const entry = entries.get(event.actorRef.sessionId);
          if (!entry) return;
          if ((event.snapshot as { status?: unknown }).status !== 'active') lastT = now();
          applySnapshot(entry, event.snapshot, event.event, lastT, true);
          return;
        }
        case '@xstate.actor':
          onLocalActor(event.actorRef as AnyActorRef);
          return;
        default:
          // Microsteps and actions: the snapshot that ends the macrostep says what changed.
          return;
      }
    } catch {
      // Inspection must never break the runtime it observes.
    }
  };

  const definitionSlot = (text: string, name: unknown): DefinitionSlot => {
    const slot = definitionSlots.get(text);
    if (slot) return slot;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const config = isMachineConfig(parsed) ? parsed : undefined;
    const id = typeof config?.id === 'string' ? config.id : typeof name === 'string' ? name : undefined;
    const created: DefinitionSlot = { machineId: config ? id : undefined, isMachine: !!config, config };
    definitionSlots.set(text, created);
    if (definitionSlots.size > MAX_DEFINITION_SLOTS) {
      const oldest = definitionSlots.keys().next().value;
      if (oldest !== undefined) definitionSlots.delete(oldest);
    }
    return created;
  };

  const attachSource = (requested: string): IngestSource => {
    let name = requested;
    for (let n = 2; sources.has(name) || name === localSource; n++) name = `${requested}#${n}`;
    const own = new Set<ActorEntry>();
    sources.set(name, own);
    let attached = true;
    const idOf = (sessionId: string) => `${name}/${sessionId}`;

    const ensure = (sessionId: string, t: number): ActorEntry => {
      const id = idOf(sessionId);
      const existing = entries.get(id);
      if (existing) {
        // Kept from an earlier connection of the same source: this one owns it now.
        own.add(existing);
        return existing;
      }
      const entry = new ActorEntry(id, name, t, recordShare, snapshotShare);
      own.add(entry);
      add(entry);
      return entry;
    };

    const receive = (message: unknown): boolean => {
      try {
        if (!attached || typeof message !== 'object' || message === null) return false;
        const m = message as Record<string, unknown>;
        const type = m.type;
        const sessionId = m.sessionId;
        if (typeof type !== 'string' || !INGEST_TYPES.has(type) || typeof sessionId !== 'string' || sessionId === '') {
          return false;
        }
        const createdAt = Number(m.createdAt);
        const t = Number.isFinite(createdAt) && createdAt > 0 ? createdAt : now();
        switch (type as IngestMessageType) {
          case '@xstate.actor': {
            const slot = typeof m.definition === 'string' ? definitionSlot(m.definition, m.name) : undefined;
            if (machinesOnly && slot && !slot.isMachine) return true;
            const entry = ensure(sessionId, t);
            if (slot) {
              entry.remoteDefinition = slot;
              entry.machineId = slot.machineId;
            }
            if (typeof m.parentId === 'string' && m.parentId !== '') entry.parentId = idOf(m.parentId);
            if (typeof m.systemId === 'string' && m.systemId !== '') entry.systemId = m.systemId;
            markChanged(entry);
            // `@statelyai/inspect` sends the actor's snapshot as of when it got round to it,
            // which may be ahead of the snapshot messages still to come: shown until those
            // arrive, never recorded as a transition.
            const snapshot = m.snapshot as { value?: unknown; context?: unknown; status?: unknown; tags?: unknown } | undefined;
            if (!entry.started && snapshot && typeof snapshot === 'object' && 'value' in snapshot) {
              entry.value = snapshot.value ?? null;
              entry.context = snapshot.context;
              entry.tags = snapshot.tags;
              setStatus(entry, statusOf(snapshot.status));
            }
            return true;
          }
          case '@xstate.event': {
            const entry = entries.get(idOf(sessionId));
            if (!entry) return true;
            entry.record(t, EVENT_RECORD, (eventObject(m.event) as { type: string }).type, undefined, undefined);
            return true;
          }
          case '@xstate.snapshot':
          case '@xstate.microstep': {
            const snapshot = m.snapshot as { value?: unknown } | undefined;
            if (!snapshot || typeof snapshot !== 'object') return false;
            // An actor announced before this connection (the hub restarted): keep it anyway.
            const entry = entries.get(idOf(sessionId)) ?? ('value' in snapshot ? ensure(sessionId, t) : undefined);
            if (!entry || (type === '@xstate.microstep' && !entry.started)) return true;
            applySnapshot(entry, snapshot, eventObject(m.event), t, type === '@xstate.snapshot');
            return true;
          }
        }
        return false;
      } catch {
        return false;
      }
    };

    const detach = () => {
      if (!attached) return;
      attached = false;
      sources.delete(name);
      const t = now();
      for (const entry of own) {
        if (entry.status !== 'active') continue;
        setStatus(entry, 'stopped');
        entry.updatedAt = t;
        markChanged(entry);
      }
    };

    return { name, receive, detach };
  };

  // Reading and serializing: only when a page or an export asks.

  const definitionOf = (entry: ActorEntry): MachineJSON | null => {
    if (entry.machine) return machineDefinition(entry.machine);
    const slot = entry.remoteDefinition;
    if (!slot?.config) return null;
    if (slot.json === undefined) slot.json = definitionFromConfig(slot.config);
    return slot.json;
  };

  const resolveIdentity = (entry: ActorEntry) => {
    if (entry.identityKnown) return;
    try {
      readIdentity(entry);
    } catch {
      // A context with a throwing getter has no identity to offer.
    }
  };

  const readIdentity = (entry: ActorEntry) => {
    let userId: string | undefined;
    let packageName: string | undefined;
    const context = entry.context as Record<string, unknown> | undefined;
    if (context && typeof context === 'object') {
      if (typeof context.userId === 'string') userId = context.userId;
      if (typeof context.packageName === 'string') packageName = context.packageName;
      const config = context.config as Record<string, unknown> | undefined;
      if (!packageName && config && typeof config === 'object' && typeof config.packageName === 'string') {
        packageName = config.packageName;
      }
      // The SDK's appConnection knows its session id `${userId}-${packageName}`.
      if (!userId && packageName && typeof context.sessionId === 'string') {
        userId = userIdOfAppSession(context.sessionId, packageName);
      }
    }
    const systemId = entry.systemId;
    userId ??= userIdOfSystemId(systemId);
    const appSessionId = appSessionIdOfSystemId(systemId);
    if (!userId && packageName && appSessionId !== undefined) userId = userIdOfAppSession(appSessionId, packageName);
    if (userId) entry.userId = userId;
    if (packageName) entry.packageName = packageName;
    // Context fields may appear later (a session id is set on connect): look again until known.
    entry.identityKnown = !!userId && !!packageName;
  };

  const summaryOf = (entry: ActorEntry): ActorSummary => {
    resolveIdentity(entry);
    let userId = entry.userId;
    let packageName = entry.packageName;
    // Children without an identity of their own (sockets, webhooks) inherit their parent's.
    let parent = entry.parentId ? entries.get(entry.parentId) : undefined;
    for (let depth = 0; parent && (!userId || !packageName) && depth < 8; depth++) {
      resolveIdentity(parent);
      userId ??= parent.userId;
      packageName ??= parent.packageName;
      parent = parent.parentId ? entries.get(parent.parentId) : undefined;
    }
    const summary: ActorSummary = {
      id: entry.id,
      source: entry.source,
      value: entry.value,
      status: entry.status,
      tags: tagList(entry.tags),
      updatedAt: entry.updatedAt,
    };
    if (entry.systemId !== undefined) summary.systemId = entry.systemId;
    if (entry.parentId !== undefined) summary.parentId = entry.parentId;
    if (entry.machineId !== undefined) summary.machineId = entry.machineId;
    if (userId !== undefined) summary.userId = userId;
    if (packageName !== undefined) summary.packageName = packageName;
    return summary;
  };

  const viewOf = (entry: ActorEntry): SnapshotView => ({
    value: entry.value,
    context: redact(entry.context) ?? null,
    status: entry.status,
    tags: tagList(entry.tags),
  });

  const toRecord = (record: RingRecord): TraceRecord => {
    if (record.kind === EVENT_RECORD) return { t: record.t, kind: 'event', event: String(record.event) };
    // A transition keeps the event that caused it, so its payload (a close code…) says why.
    const event = record.event as Record<string, unknown> | undefined;
    const type =
      event && typeof event === 'object' && typeof event.type === 'string' ? event.type : typeof record.event === 'string' ? record.event : '';
    const out: TraceRecord =
      record.from === undefined
        ? { t: record.t, kind: 'transition', event: type, to: record.to }
        : { t: record.t, kind: 'transition', event: type, from: record.from, to: record.to };
    const data = payloadOf(event);
    if (data !== undefined) out.data = redact(data);
    return out;
  };

  const recordsOf = (entry: ActorEntry, fromSeq = 0): TraceRecord[] => entry.records.since(fromSeq).map(toRecord);

  const traceActorOf = (entry: ActorEntry): TraceActor => ({
    summary: summaryOf(entry),
    definition: definitionOf(entry),
    records: recordsOf(entry),
    snapshots: entry.snapshots.toArray().map((s) => ({
      t: s.t,
      value: s.value,
      context: redact(s.context) ?? null,
      status: s.status,
    })),
  });

  const exportTrace = (filter: ExportFilter): Trace => {
    const selected: ActorEntry[] = [];
    if (filter.id !== undefined) {
      const root = entries.get(filter.id);
      if (root) {
        // The actor and its descendants, parents first.
        const ids = new Set([root.id]);
        selected.push(root);
        for (const entry of entries.values()) {
          if (entry !== root && isDescendant(entry, ids)) selected.push(entry);
        }
      }
    } else if (filter.userId !== undefined) {
      for (const entry of entries.values()) {
        if (summaryOf(entry).userId === filter.userId) selected.push(entry);
      }
    }
    return { version: 1, exportedAt: now(), actors: selected.map(traceActorOf) };
  };

  const isDescendant = (entry: ActorEntry, ids: Set<string>): boolean => {
    let parentId = entry.parentId;
    for (let depth = 0; parentId !== undefined && depth < 32; depth++) {
      if (ids.has(parentId)) return true;
      parentId = entries.get(parentId)?.parentId;
    }
    return false;
  };

  const store: FeedStore = {
    list: () => [...entries.values()].map(summaryOf),
    lookup: (id) => entries.get(id),
    summaryOf,
    viewOf,
    definitionOf,
    recordsOf,
    exportTrace,
    now,
    setWatching(on) {
      watching = on;
      if (!on) {
        changed = new Set();
        removedIds = [];
      }
    },
    drain() {
      const out = { changed, removed: removedIds };
      changed = new Set();
      removedIds = [];
      return out;
    },
  };
  const feeds = new FeedHost(store, options.batchMs ?? FEED_BATCH_MS);

  return {
    inspect,
    get size() {
      return entries.size;
    },
    list: () => store.list(),
    summary: (id) => {
      const entry = entries.get(id);
      return entry ? summaryOf(entry) : undefined;
    },
    detail: (id) => {
      const entry = entries.get(id);
      return entry ? { definition: definitionOf(entry), snapshot: viewOf(entry), records: recordsOf(entry) } : undefined;
    },
    exportTrace,
    attachSource,
    connect: (send, connectionOptions) => feeds.connect(send, connectionOptions),
    close: () => feeds.close(),
  };
}

/** Structural equality of two state values (strings and nested objects of strings). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  let keys = 0;
  for (const key in a) {
    if (!sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
    keys++;
  }
  for (const _ in b) keys--;
  return keys === 0;
}

function statusOf(status: unknown): ActorStatus {
  return typeof status === 'string' && STATUSES.has(status) ? (status as ActorStatus) : 'active';
}

function tagList(tags: unknown): string[] {
  if (tags instanceof Set) return [...tags].filter((t): t is string => typeof t === 'string');
  if (Array.isArray(tags)) return tags.filter((t): t is string => typeof t === 'string');
  return [];
}

function eventObject(event: unknown): unknown {
  if (typeof event === 'string') return { type: event };
  if (event && typeof event === 'object' && typeof (event as { type?: unknown }).type === 'string') return event;
  return { type: 'unknown' };
}

/** An event's fields other than `type`, or undefined when it has none. */
function payloadOf(event: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!event || typeof event !== 'object') return undefined;
  let payload: Record<string, unknown> | undefined;
  for (const key in event) {
    if (key === 'type' || !Object.prototype.hasOwnProperty.call(event, key)) continue;
    (payload ??= {})[key] = event[key];
  }
  return payload;
}
