/**
 * The inspector's wire formats, in one place:
 * - the **page feed** (`/inspector/ws`), between the cloud and the inspector page;
 * - the **trace** a page or `GET /inspector/export` exports, and the page imports to replay;
 * - the **ingest** messages (`/inspector/ingest`), the format `@statelyai/inspect`'s
 *   `createWebSocketInspector` sends, which {@link createIngestInspector} sends too.
 *
 * Every object here is JSON. Times are ms since the epoch. Contexts and event payloads have
 * been redacted (see `redact.ts`) before they are put in any of these messages.
 */

/** Paths the cloud serves the inspector on. */
export const INSPECTOR_PATHS = {
  page: '/inspector',
  feed: '/inspector/ws',
  ingest: '/inspector/ingest',
  export: '/inspector/export',
} as const;

/** Period of the page feed's `actors` and `records` batches, in ms. */
export const FEED_BATCH_MS = 100;

/** Most actor upserts in one `actors` batch; the rest follow in the next batches. */
export const FEED_MAX_UPSERTS = 500;

/** Source name of the actors created in the hub's own process (the cloud's). */
export const LOCAL_SOURCE = 'cloud';

/**
 * Source name of a cloud node's actors (`node:<nodeId>`), its own hub's and those it forwards to
 * another node's inspector: the page groups actors by source, so each session shows under the
 * node that owns it.
 */
export function nodeSource(nodeId: string): string {
  return `node:${nodeId}`;
}

/** Lifecycle of an actor as the page shows it (XState's snapshot status). */
export type ActorStatus = 'active' | 'done' | 'error' | 'stopped';

/** One line of the actor list. */
export interface ActorSummary {
  /**
   * Unique id: XState's `sessionId` (`x:12`) for the cloud's actors, `<source>/<sessionId>`
   * for actors streamed in through the ingest endpoint.
   */
  id: string;
  /** XState `systemId`, e.g. `userSession:<userId>`, `appSession:<userId>-<packageName>`. */
  systemId?: string;
  /** `id` of the parent actor (same namespace as `id`), absent for a root. */
  parentId?: string;
  /** `cloud`, or the name of the ingest connection the actor came from. */
  source: string;
  /** Id of the machine (`userSession`, `appSession`, `appConnection`), absent for other logic. */
  machineId?: string;
  /** XState state value (`'grace'`, `{ connected: 'pinging' }`); null before the first snapshot. */
  value: unknown;
  status: ActorStatus;
  /** Tags of the active state nodes (`canSend`). */
  tags: string[];
  /** From the `systemId` or the context's `userId` (or inherited from the parent). */
  userId?: string;
  /** From the `systemId` or the context's `packageName` (or inherited from the parent). */
  packageName?: string;
  /** When the actor was created or its state value or status last changed. */
  updatedAt: number;
}

/** One entry of an actor's log: an event it received, or a change of its state value. */
export interface TraceRecord {
  /** When it happened. */
  t: number;
  kind: 'event' | 'transition';
  /** Event type (for a transition, the event that caused it). */
  event: string;
  /** State value before a transition. */
  from?: unknown;
  /** State value after a transition. */
  to?: unknown;
  /**
   * On a transition: the payload of the event that caused it (without `type`, redacted), e.g.
   * `{ gen, code: 1006, reason }`; absent when it has none. Plain event records carry the type only.
   */
  data?: unknown;
}

/** An actor's snapshot as the page sees it. */
export interface SnapshotView {
  value: unknown;
  /** Redacted: secret-looking keys are `"[redacted]"`, functions `"[function]"`. */
  context: unknown;
  status: ActorStatus;
  tags: string[];
}

/** A transition of a machine definition, as XState's `toJSON()` writes it. */
export interface TransitionJSON {
  /** Event type; `xstate.after.<delay>.<stateId>` for an `after` transition. */
  eventType: string;
  /** `#<stateId>` of the source state node. */
  source: string;
  /** `#<stateId>` of each target; absent for a targetless transition. */
  target?: string[];
  /** Guard name, or `{ type, params }`. */
  guard?: string | { type: string; params?: unknown };
  /** For an `after` transition: the delay in ms, or the name of a configured delay. */
  delay?: number | string;
  reenter?: boolean;
  actions?: unknown[];
  description?: string;
  meta?: unknown;
}

/**
 * A machine definition: the JSON of XState v5's `machine.toJSON()` (= `machine.definition`),
 * functions replaced by `{ type: <function name> }`. Ingested definitions (which arrive as the
 * machine's config) are converted to this same form.
 */
export interface MachineJSON {
  /** State node id: `userSession`, `userSession.connected`, … */
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Initial transition of a compound node: `{ target: ['#<stateId>'] }`. */
  initial?: { target: string[]; source?: string; actions?: unknown[] };
  history?: false | 'shallow' | 'deep';
  states: Record<string, MachineJSON>;
  /** Transitions by event type (the same transitions as {@link transitions}). */
  on: Record<string, TransitionJSON[]>;
  transitions: TransitionJSON[];
  entry: unknown[];
  exit: unknown[];
  invoke: Array<{ id: string; src: string; type?: string; systemId?: string }>;
  description?: string;
  tags: string[];
  order: number;
  meta?: unknown;
}

/** A recorded trace: one actor's or one user's, for bug reports and offline replay. */
export interface Trace {
  version: 1;
  exportedAt: number;
  actors: TraceActor[];
}

/** One actor in a {@link Trace}. */
export interface TraceActor {
  summary: ActorSummary;
  definition: MachineJSON | null;
  /** Oldest first; at most the hub's `ringSize`. */
  records: TraceRecord[];
  /** Snapshots that changed the value, the context or the status, oldest first (bounded). */
  snapshots: Array<{ t: number; value: unknown; context: unknown; status?: ActorStatus }>;
}

/** Server → page messages of the feed. */
export type FeedServerMessage =
  | { type: 'hello'; actors: ActorSummary[]; now: number }
  | { type: 'actors'; upserts: ActorSummary[]; removed: string[] }
  | { type: 'detail'; id: string; definition: MachineJSON | null; snapshot: SnapshotView; records: TraceRecord[] }
  | { type: 'records'; id: string; records: TraceRecord[]; snapshot: SnapshotView }
  | { type: 'export'; trace: Trace }
  /** A request the server could not answer (unknown actor, export without a filter). */
  | { type: 'error'; code: 'NOT_FOUND' | 'BAD_REQUEST'; message: string; id?: string };

/** Page → server messages of the feed. */
export type FeedClientMessage =
  /** Select an actor (`id: null` clears the selection). */
  | { type: 'select'; id: string | null }
  | { type: 'export'; id?: string; userId?: string };

/** The kinds of message `@statelyai/inspect` sends (`@xstate.microstep` is accepted too). */
export type IngestMessageType = '@xstate.actor' | '@xstate.event' | '@xstate.snapshot' | '@xstate.microstep';

/**
 * One message on `/inspector/ingest`, as `@statelyai/inspect` (`createWebSocketInspector`)
 * sends it: every field is JSON, `createdAt` is `Date.now()` as a string.
 */
export interface IngestMessage {
  type: IngestMessageType;
  /** The actor's XState `sessionId` in the sending process. */
  sessionId: string;
  rootId?: string;
  /** `@xstate.actor`: the parent's `sessionId`. */
  parentId?: string;
  /** `@xstate.actor`: the machine id, or the session id for other logic. */
  name?: string;
  /** `@xstate.actor`: `JSON.stringify(machine.config)`, functions as `{ type: name }`. */
  definition?: string;
  /** `@xstate.actor` / `@xstate.snapshot`: the snapshot's JSON (`value`, `context`, `status`…). */
  snapshot?: unknown;
  /** `@xstate.event` / `@xstate.snapshot`: the event (received, or that produced the snapshot). */
  event?: unknown;
  /** `@xstate.event`: the sender's `sessionId`. */
  sourceId?: string;
  /** `@xstate.actor` (Tether extension): the actor's `systemId`. */
  systemId?: string;
  createdAt?: string;
  id?: string | null;
  _version?: string;
}
