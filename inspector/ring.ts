/**
 * Bounded buffers for the hub. {@link RecordRing} keeps an actor's events and transitions in
 * parallel arrays, so recording one costs a few array writes and no allocation once the ring
 * is full; {@link SnapshotRing} keeps snapshots the same way. Both can be resized, which the
 * hub does when its actor count changes enough to move the per-actor share of its budget.
 */

/** The newest `keep` of the `size` entries of `column`, whose oldest is at `start`, oldest first. */
function newest<T>(column: T[], start: number, size: number, keep: number): T[] {
  const out: T[] = [];
  for (let k = size - keep; k < size; k++) out.push(column[(start + k) % size] as T);
  return out;
}

/** Capacity, write position and resizing, shared by the rings; subclasses own the columns. */
abstract class ResizableRing {
  protected cap: number;
  /** Next slot to overwrite once full. */
  protected head = 0;

  constructor(capacity: number) {
    this.cap = Math.max(1, Math.floor(capacity));
  }

  get capacity(): number {
    return this.cap;
  }

  abstract get size(): number;

  /** The columns, in a fixed order {@link replaceColumns} takes back. */
  protected abstract columns(): unknown[][];

  protected abstract replaceColumns(columns: unknown[][]): void;

  /** Keeps at most `capacity` entries from now on, dropping the oldest if there are more. */
  resize(capacity: number): void {
    const cap = Math.max(1, Math.floor(capacity));
    if (cap === this.cap) return;
    const size = this.size;
    // Already oldest-first and within the new bound: only the bound changes.
    if (this.head === 0 && size <= cap) {
      this.cap = cap;
      return;
    }
    const start = size < this.cap ? 0 : this.head;
    const keep = Math.min(size, cap);
    this.replaceColumns(this.columns().map((column) => newest(column, start, size, keep)));
    this.head = 0;
    this.cap = cap;
  }
}

/** Kind of a recorded entry: {@link EVENT_RECORD} or {@link TRANSITION_RECORD}. */
export type RecordKind = 0 | 1;
/** An event the actor received. */
export const EVENT_RECORD = 0;
/** A change of the actor's state value. */
export const TRANSITION_RECORD = 1;

/** Oldest-first view of one recorded entry. */
export interface RingRecord {
  /** Position in the actor's whole history (0 = first ever recorded). */
  seq: number;
  t: number;
  kind: RecordKind;
  /** The event's type (an event record), or the event object that caused a transition. */
  event: unknown;
  from: unknown;
  to: unknown;
}

/** The last `capacity` events and transitions of one actor. */
export class RecordRing extends ResizableRing {
  private times: number[] = [];
  private kinds: number[] = [];
  private events: unknown[] = [];
  private froms: unknown[] = [];
  private tos: unknown[] = [];
  /** Entries ever pushed; the sequence number of the next one. */
  total = 0;

  get size(): number {
    return this.times.length;
  }

  protected columns(): unknown[][] {
    return [this.times, this.kinds, this.events, this.froms, this.tos];
  }

  protected replaceColumns([times, kinds, events, froms, tos]: unknown[][]): void {
    this.times = times as number[];
    this.kinds = kinds as number[];
    this.events = events as unknown[];
    this.froms = froms as unknown[];
    this.tos = tos as unknown[];
  }

  push(t: number, kind: RecordKind, event: unknown, from: unknown, to: unknown): void {
    if (this.times.length < this.cap) {
      this.times.push(t);
      this.kinds.push(kind);
      this.events.push(event);
      this.froms.push(from);
      this.tos.push(to);
    } else {
      const i = this.head;
      this.times[i] = t;
      this.kinds[i] = kind;
      this.events[i] = event;
      this.froms[i] = from;
      this.tos[i] = to;
      this.head = i + 1 === this.cap ? 0 : i + 1;
    }
    this.total++;
  }

  /** Entries with `seq >= fromSeq` still held, oldest first. */
  since(fromSeq = 0): RingRecord[] {
    const size = this.times.length;
    const oldest = this.total - size;
    const first = Math.max(fromSeq, oldest);
    const out: RingRecord[] = [];
    const start = size < this.cap ? 0 : this.head;
    for (let seq = first; seq < this.total; seq++) {
      const i = (start + (seq - oldest)) % size;
      out.push({
        seq,
        t: this.times[i] ?? 0,
        kind: (this.kinds[i] ?? 0) as RecordKind,
        event: this.events[i],
        from: this.froms[i],
        to: this.tos[i],
      });
    }
    return out;
  }
}

/** One kept snapshot: when, and the (unserialized) value, context and status. */
export interface RingSnapshot<S> {
  t: number;
  value: unknown;
  context: unknown;
  status: S;
}

/** The last `capacity` snapshots of one actor, in parallel arrays like {@link RecordRing}. */
export class SnapshotRing<S> extends ResizableRing {
  private times: number[] = [];
  private values: unknown[] = [];
  private contexts: unknown[] = [];
  private statuses: S[] = [];

  get size(): number {
    return this.times.length;
  }

  protected columns(): unknown[][] {
    return [this.times, this.values, this.contexts, this.statuses];
  }

  protected replaceColumns([times, values, contexts, statuses]: unknown[][]): void {
    this.times = times as number[];
    this.values = values as unknown[];
    this.contexts = contexts as unknown[];
    this.statuses = statuses as S[];
  }

  push(t: number, value: unknown, context: unknown, status: S): void {
    if (this.times.length < this.cap) {
      this.times.push(t);
      this.values.push(value);
      this.contexts.push(context);
      this.statuses.push(status);
      return;
    }
    const i = this.head;
    this.times[i] = t;
    this.values[i] = value;
    this.contexts[i] = context;
    this.statuses[i] = status;
    this.head = i + 1 === this.cap ? 0 : i + 1;
  }

  /** All kept snapshots, oldest first. */
  toArray(): Array<RingSnapshot<S>> {
    const size = this.times.length;
    const start = size < this.cap ? 0 : this.head;
    const out: Array<RingSnapshot<S>> = [];
    for (let k = 0; k < size; k++) {
      const i = (start + k) % size;
      out.push({ t: this.times[i] ?? 0, value: this.values[i], context: this.contexts[i], status: this.statuses[i] as S });
    }
    return out;
  }
}
