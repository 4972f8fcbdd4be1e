/**
 * `createIngestInspector`: streams the actors of this process into a Tether inspector over
 * WebSocket (`/inspector/ingest`), in the message format of `@statelyai/inspect`. Pass its
 * `inspect` as XState's `inspect` option — e.g. `new AppServer({ inspect })` — and `close()` it
 * on shutdown.
 *
 * The XState side only stores references: snapshots are immutable, so they are serialized
 * (and redacted) later, in one batch per tick. While disconnected, messages wait in a bounded
 * queue (oldest dropped first) and the client reconnects with jittered backoff; after a
 * reconnect it announces every live actor again with its current snapshot, so a restarted
 * cloud sees them at once.
 */
import { WebSocket } from 'ws';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { closeSocket } from '../src/util/closeSocket.js';
import { configDefinition, isMachineLogic } from './definition.js';
import type { IngestMessage } from './protocol.js';
import { createRedactor, type RedactRule } from './redact.js';

/** Version string sent in `_version` (the format is `@statelyai/inspect`'s). */
export const INGEST_CLIENT_VERSION = 'tether-inspector-1';

/** Options of {@link createIngestInspector}. */
export interface IngestInspectorOptions {
  /** `ws://host:port/inspector/ingest`. */
  url: string;
  /** The inspector token, sent as `Authorization: Bearer` (required by a production cloud). */
  token?: string;
  /** Name of this process in the inspector (e.g. the app's package name). */
  source: string;
  /** Messages kept while disconnected (default 5000); the oldest go first. */
  maxQueue?: number;
  /** First reconnect delay in ms (default 500); doubles up to {@link maxReconnectDelayMs}, with jitter. */
  reconnectDelayMs?: number;
  /** Longest reconnect delay in ms (default 10 000). */
  maxReconnectDelayMs?: number;
  /** Context and event keys redacted before anything is sent (default: the hub's pattern). */
  redact?: RedactRule;
  /** Stream only state machines (default) or every actor. */
  actors?: 'machines' | 'all';
  /** Source of reconnect jitter (tests). */
  random?: () => number;
}

/** A running ingest client. */
export interface IngestInspector {
  /** XState inspection observer. Never throws. */
  readonly inspect: (event: InspectionEvent) => void;
  /** Whether the socket is open. */
  readonly connected: boolean;
  /** Messages dropped because the queue was full. */
  readonly dropped: number;
  /** Sends what is queued (if connected), closes the socket and stops reconnecting. */
  close(): Promise<void>;
}

type Pending =
  | { kind: 'actor'; ref: AnyActorRef; rootId: string | undefined; t: number }
  | { kind: 'event'; sessionId: string; rootId: string | undefined; sourceId: string | undefined; event: unknown; t: number }
  | { kind: 'snapshot'; sessionId: string; rootId: string | undefined; event: unknown; snapshot: unknown; t: number };

/** Frames above this many buffered bytes wait in the queue instead of piling up in the socket. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Creates the client and starts connecting. */
export function createIngestInspector(options: IngestInspectorOptions): IngestInspector {
  const maxQueue = Math.max(1, options.maxQueue ?? 5000);
  const baseDelay = options.reconnectDelayMs ?? 500;
  const maxDelay = options.maxReconnectDelayMs ?? 10_000;
  const random = options.random ?? Math.random;
  const machinesOnly = (options.actors ?? 'machines') === 'machines';
  const redact = createRedactor(options.redact ? { redact: options.redact } : {});
  const url = new URL(options.url);
  url.searchParams.set('source', options.source);

  /** Actors announced and not ended, for the re-announcement after a reconnect. */
  const live = new Map<string, AnyActorRef>();
  let queue: Pending[] = [];
  let dropped = 0;
  let lostSinceOpen = false;
  let ws: WebSocket | undefined;
  let open = false;
  let everOpened = false;
  let closed = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let flushScheduled = false;

  const enqueue = (item: Pending) => {
    queue.push(item);
    if (queue.length > maxQueue) {
      // Drop a tenth at once, so a long outage costs O(1) per message, not a shift each.
      const excess = queue.length - Math.floor(maxQueue * 0.9);
      queue.splice(0, excess);
      dropped += excess;
      lostSinceOpen = true;
    }
    if (open && !flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };

  const inspect = (event: InspectionEvent): void => {
    if (closed) return;
    try {
      switch (event.type) {
        case '@xstate.actor': {
          const ref = event.actorRef as AnyActorRef;
          if (machinesOnly && !isMachineLogic((ref as { logic?: unknown }).logic)) return;
          live.set(ref.sessionId, ref);
          enqueue({ kind: 'actor', ref, rootId: event.rootId, t: Date.now() });
          return;
        }
        case '@xstate.event': {
          const sessionId = event.actorRef.sessionId;
          if (!live.has(sessionId)) return;
          const sourceId = (event.sourceRef as { sessionId?: string } | undefined)?.sessionId;
          enqueue({ kind: 'event', sessionId, rootId: event.rootId, sourceId, event: event.event, t: Date.now() });
          return;
        }
        case '@xstate.snapshot': {
          const sessionId = event.actorRef.sessionId;
          if (!live.has(sessionId)) return;
          enqueue({ kind: 'snapshot', sessionId, rootId: event.rootId, event: event.event, snapshot: event.snapshot, t: Date.now() });
          if ((event.snapshot as { status?: string }).status !== 'active') live.delete(sessionId);
          return;
        }
        default:
          return;
      }
    } catch {
      // Inspection must never break the program it observes.
    }
  };

  const toMessage = (item: Pending): IngestMessage => {
    const base = { createdAt: String(item.t), id: null, _version: INGEST_CLIENT_VERSION };
    switch (item.kind) {
      case 'actor': {
        const ref = item.ref as AnyActorRef & { logic?: unknown; options?: { systemId?: string }; _parent?: AnyActorRef };
        const logic = ref.logic as { id?: string } | undefined;
        const name = isMachineLogic(logic) ? logic.id : ref.id;
        const message: IngestMessage = {
          type: '@xstate.actor',
          name,
          sessionId: ref.sessionId,
          definition: configDefinition(ref.logic as never, name),
          snapshot: { status: 'active' },
          ...base,
        };
        if (item.rootId !== undefined) message.rootId = item.rootId;
        if (ref._parent) message.parentId = ref._parent.sessionId;
        if (typeof ref.options?.systemId === 'string') message.systemId = ref.options.systemId;
        return message;
      }
      case 'event': {
        const message: IngestMessage = { type: '@xstate.event', sessionId: item.sessionId, event: redact(item.event), ...base };
        if (item.rootId !== undefined) message.rootId = item.rootId;
        if (item.sourceId !== undefined) message.sourceId = item.sourceId;
        return message;
      }
      case 'snapshot': {
        const message: IngestMessage = {
          type: '@xstate.snapshot',
          sessionId: item.sessionId,
          event: redact(item.event),
          snapshot: snapshotJson(item.snapshot, redact),
          ...base,
        };
        if (item.rootId !== undefined) message.rootId = item.rootId;
        return message;
      }
    }
  };

  const sendNow = (item: Pending): boolean => {
    if (!ws || !open || ws.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    let text: string;
    try {
      text = JSON.stringify(toMessage(item));
    } catch {
      return true; // unserializable: dropped rather than retried forever
    }
    ws.send(text);
    return true;
  };

  function flush(): void {
    flushScheduled = false;
    if (!open) return;
    const items = queue;
    queue = [];
    let i = 0;
    for (; i < items.length; i++) {
      const item = items[i];
      if (item && !sendNow(item)) break;
    }
    if (i < items.length) {
      // Socket backed up: keep the rest (and what arrived meanwhile) for the next try.
      queue = [...items.slice(i), ...queue];
      setTimeout(() => {
        if (open && !flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      }, 50).unref();
    }
  }

  /** After a reconnect: every live actor again, with its current snapshot. */
  const announceLive = () => {
    const t = Date.now();
    for (const ref of live.values()) {
      enqueue({ kind: 'actor', ref, rootId: rootIdOf(ref), t });
      let snapshot: unknown;
      try {
        snapshot = ref.getSnapshot();
      } catch {
        continue;
      }
      enqueue({ kind: 'snapshot', sessionId: ref.sessionId, rootId: rootIdOf(ref), event: { type: 'inspector.resync' }, snapshot, t });
    }
  };

  const connect = () => {
    if (closed) return;
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const socket = new WebSocket(url, { headers });
    ws = socket;
    socket.on('open', () => {
      if (ws !== socket) return;
      open = true;
      attempt = 0;
      const reconnected = everOpened;
      everOpened = true;
      // The queue holds the history while we were away; then the present, for a hub that
      // restarted or lost messages.
      if (reconnected || lostSinceOpen) announceLive();
      lostSinceOpen = false;
      flushScheduled = true;
      setImmediate(flush);
    });
    socket.on('close', () => {
      if (ws !== socket) return;
      open = false;
      ws = undefined;
      scheduleReconnect();
    });
    socket.on('error', () => {
      // 'close' follows; a refused upgrade (401) or a down cloud just means retry later.
    });
  };

  const scheduleReconnect = () => {
    if (closed || reconnectTimer) return;
    const delay = Math.min(maxDelay, baseDelay * 2 ** attempt) * (0.5 + random() * 0.5);
    attempt++;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect();
    }, delay);
    reconnectTimer.unref();
  };

  connect();

  return {
    inspect,
    get connected() {
      return open;
    },
    get dropped() {
      return dropped;
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      const socket = ws;
      if (!socket) return Promise.resolve();
      if (open) flush();
      return closeSocket(socket, 1000, 'inspector client closed');
    },
  };
}

/** The snapshot fields the inspector reads, as JSON, context redacted. */
function snapshotJson(snapshot: unknown, redact: (value: unknown) => unknown): unknown {
  const s = snapshot as { value?: unknown; context?: unknown; status?: unknown; tags?: unknown; output?: unknown; error?: unknown };
  if (!s || typeof s !== 'object') return { status: 'active' };
  const out: Record<string, unknown> = { status: s.status ?? 'active' };
  if (s.value !== undefined) out.value = s.value;
  if (s.context !== undefined) out.context = redact(s.context);
  if (s.tags instanceof Set) out.tags = [...s.tags];
  else if (Array.isArray(s.tags)) out.tags = s.tags;
  if (s.output !== undefined) out.output = redact(s.output);
  if (s.error !== undefined) out.error = redact(s.error);
  return out;
}

function rootIdOf(ref: AnyActorRef): string {
  let root = ref as AnyActorRef & { _parent?: AnyActorRef };
  while (root._parent) root = root._parent as AnyActorRef & { _parent?: AnyActorRef };
  return root.sessionId;
}
