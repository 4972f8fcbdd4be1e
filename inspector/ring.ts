/**
 * Bounded buffers for the hub. {@link RecordRing} keeps an actor's events and transitions in
 * parallel arrays, so recording one costs a few array writes and no allocation once the ring
 * is full; {@link SnapshotRing} keeps snapshots the same way.
 */

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
export class RecordRing {
  readonly capacity: number;
  private readonly times: number[] = [];
  private readonly kinds: number[] = [];
  private readonly events: unknown[] = [];
  private readonly froms: unknown[] = [];
  private readonly tos: unknown[] = [];
  /** Next slot to overwrite once full. */
  private head = 0;
  /** Entries ever pushed; the sequence number of the next one. */
  total = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }

  get size(): number {
    return this.times.length;
  }

  push(t: number, kind: RecordKind, event: unknown, from: unknown, to: unknown): void {
    if (this.times.length < this.capacity) {
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
      this.head = i + 1 === this.capacity ? 0 : i + 1;
    }
    this.total++;
  }

  /** Entries with `seq >= fromSeq` still held, oldest first. */
  since(fromSeq = 0): RingRecord[] {
    const size = this.times.length;
    const oldest = this.total - size;
    const first = Math.max(fromSeq, oldest);
    const out: RingRecord[] = [];
    const start = size < this.capacity ? 0 : this.head;
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
export class SnapshotRing<S> {
  readonly capacity: number;
  private readonly times: number[] = [];
  private readonly values: unknown[] = [];
  private readonly contexts: unknown[] = [];
  private readonly statuses: S[] = [];
  private head = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }

  get size(): number {
    return this.times.length;
  }

  push(t: number, value: unknown, context: unknown, status: S): void {
    if (this.times.length < this.capacity) {
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
    this.head = i + 1 === this.capacity ? 0 : i + 1;
  }

  /** All kept snapshots, oldest first. */
  toArray(): Array<RingSnapshot<S>> {
    const size = this.times.length;
    const start = size < this.capacity ? 0 : this.head;
    const out: Array<RingSnapshot<S>> = [];
    for (let k = 0; k < size; k++) {
      const i = (start + k) % size;
      out.push({ t: this.times[i] ?? 0, value: this.values[i], context: this.contexts[i], status: this.statuses[i] as S });
    }
    return out;
  }
}
