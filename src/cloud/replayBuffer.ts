/**
 * The replay buffer of one app session (ARCHITECTURE.md, "Delivery guarantees"): it numbers
 * every `data_stream` for the session (`seq` 1, 2, 3… for as long as the session lives) and
 * keeps the most recent ones — at most `maxMessages` and `maxBytes`, none older than `maxAgeMs` —
 * so that a reconnecting app gets exactly what it missed. Pure bookkeeping: no sockets, no
 * timers; time comes from the `now()` it is given. What it holds and drops is reported to a
 * {@link ReplayAccount}: the process-wide budget and the expiry sweep live in `deliveryLog.ts`,
 * and so does the socket side.
 *
 * The frames kept are contiguous in `seq` (every number handed out is kept until evicted, oldest
 * first), so the oldest kept `seq` is `nextSeq - size` and no per-frame index is needed.
 */

/** Bounds of a replay buffer. */
export interface ReplayLimits {
  /** Most frames kept per app session. */
  maxMessages: number;
  /** Age beyond which a frame is dropped, in ms. */
  maxAgeMs: number;
  /** Most bytes kept per app session, counted as {@link frameBytes}; a larger frame is not kept. */
  maxBytes: number;
}

/** Why frames left a buffer before a client asked for them: each is reported as a `resume_gap`. */
export const EVICTION_REASONS = ['count', 'age', 'bytes', 'budget'] as const;
export type EvictionReason = (typeof EVICTION_REASONS)[number];

/**
 * Where a buffer reports what it holds and what it drops (the process-wide budget,
 * `deliveryLog.ts`). Called synchronously; `resized` may trim any buffer, this one included.
 */
export interface ReplayAccount {
  /** `buffer.bytes` changed by `delta` (after appends, evictions, expiries, clears). */
  resized(buffer: ReplayBuffer, delta: number): void;
  /** `frames` frames left a buffer (or, too large, never entered it) for `reason`. */
  evicted(reason: EvictionReason, frames: number): void;
  /** Serialised length of a frame's `data`; the account may remember it across the apps one event goes to. */
  dataBytes(data: unknown): number;
  /**
   * The numbering reached the point where its persisted reservation must be renewed (see
   * {@link ReplayBuffer.reserve}); called once per crossing, not per frame.
   */
  reservationDue?(buffer: ReplayBuffer): void;
}

/**
 * The serialised length of `data` (`JSON.stringify`, in UTF-16 code units: the bytes on the wire
 * for ASCII). Data that cannot be serialised is infinitely large: it is never kept, and the
 * write path drops it too.
 */
function jsonLength(data: unknown): number {
  return lengthOfJson(jsonText(data));
}

/** The length {@link jsonLength} gives for the result of {@link jsonText}. */
export function lengthOfJson(json: string | undefined | null): number {
  return json === null ? Number.POSITIVE_INFINITY : (json?.length ?? 0);
}

/** `JSON.stringify(data)`; `null` when it cannot be serialised (cyclic, too deep, a BigInt). */
export function jsonText(data: unknown): string | undefined | null {
  try {
    return JSON.stringify(data);
  } catch {
    return null;
  }
}

/**
 * `JSON.stringify(frame)`, given `dataJson = JSON.stringify(frame.data)`: the same text, with
 * the data serialised once for every app an event goes to rather than once per app. The keys
 * are in the order {@link ReplayBuffer.append} creates them.
 */
export function frameText(frame: DataStreamFrame, dataJson: string): string {
  return `{"type":"data_stream","sessionId":${JSON.stringify(frame.sessionId)},"streamType":${JSON.stringify(frame.streamType)},"data":${dataJson},"seq":${frame.seq}}`;
}

// `{"type":"data_stream","sessionId":"","streamType":"","data":,"seq":}` around the variable parts.
const FRAME_ENVELOPE_LENGTH = 68;

/**
 * The size a buffer counts for a frame: the length of `JSON.stringify(frame)` (exact for ids and
 * stream types without characters JSON escapes), from the `data` length measured once at append.
 */
function frameBytes(frame: Pick<DataStreamFrame, 'sessionId' | 'streamType' | 'seq'>, dataLength: number): number {
  return FRAME_ENVELOPE_LENGTH + frame.sessionId.length + frame.streamType.length + dataLength + String(frame.seq).length;
}

/** An account that keeps no totals: a buffer on its own (tests, tools). */
const UNACCOUNTED: ReplayAccount = { resized: () => {}, evicted: () => {}, dataBytes: jsonLength };

/** A `data_stream` frame as the cloud sends it to one app session. */
export interface DataStreamFrame {
  type: 'data_stream';
  sessionId: string;
  streamType: string;
  data: unknown;
  seq: number;
}

/**
 * The sequence position of an app session, enough to continue its numbering in another process
 * (cloud restart). `droppedAtSeq` is the last `seq` written to the app's socket: a client that
 * sends no `lastSeq` is replayed what came after it.
 */
export interface ResumeState {
  /** The `seq` the next frame gets (≥ 1). */
  nextSeq: number;
  /** Last `seq` written to a socket of this session; `nextSeq - 1` when absent. */
  droppedAtSeq?: number;
  /**
   * A handover between nodes of a cluster (issue 14): the frames kept, oldest first (numbered
   * up to `nextSeq - 1`, contiguous), each with how long it had been kept, in ms.
   */
  frames?: Array<{ streamType: string; data: unknown; seq: number; ageMs: number }>;
}

/** Frames missed by a client that the buffer no longer holds (`fromSeq`..`toSeq`, inclusive). */
export interface ResumeGap {
  lost: number;
  fromSeq: number;
  toSeq: number;
}

/** What to send a (re)connecting client, in order: the gap notice, if any, then the frames. */
export interface ReplayPlan {
  /** The `seq` replay starts after: the client's `lastSeq`, or the last one written to a socket. */
  after: number;
  gap: ResumeGap | null;
  frames: DataStreamFrame[];
  /**
   * How far the numbering was moved forward because the client's `lastSeq` was ahead of it (it
   * was numbered by a cloud that lost this session's counter); 0 normally.
   */
  renumberedBy: number;
}

/**
 * @throws RangeError when a limit is not a positive integer.
 */
export function checkReplayLimits(limits: ReplayLimits): ReplayLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`replay buffer ${name} must be a positive integer, got ${String(value)}`);
  }
  return limits;
}

/** Numbering and bounded history of one app session's `data_stream` frames. */
export class ReplayBuffer {
  // A ring over three parallel arrays that grow to `maxMessages` only as traffic needs.
  private frames: Array<DataStreamFrame | undefined> = [];
  private times: number[] = [];
  private sizes: number[] = [];
  private held = 0;
  private head = 0;
  private count = 0;
  private next = 1;
  private sentThrough = 0;
  private deliverableGen = 0;
  /** Numbers below this are covered by what the store holds (see {@link reserve}). */
  private reservedBelow = 1;
  /**
   * When `next` reaches this, {@link ReplayAccount.reservationDue} is told (once: it is then
   * disarmed until the next {@link reserve}). 0 before the first reservation: due at once.
   */
  private renewAt = 0;

  /**
   * @param sessionId - the app session the frames are for
   * @param limits - bounds (validated by the caller, see {@link checkReplayLimits})
   * @param now - wall clock in ms
   * @param state - sequence position to continue from (cloud restart)
   * @param account - where sizes and evictions are reported (the cloud's budget); none by default
   */
  constructor(
    readonly sessionId: string,
    private readonly limits: ReplayLimits,
    private readonly now: () => number,
    state?: ResumeState,
    private readonly account: ReplayAccount = UNACCOUNTED,
  ) {
    if (state) this.importState(state);
  }

  /** The `seq` the next frame gets. */
  get nextSeq(): number {
    return this.next;
  }

  /** Frames kept now (expired ones are dropped on the next append, replay or {@link expire}). */
  get size(): number {
    return this.count;
  }

  /** Bytes kept now: the sum of {@link frameBytes} over the frames kept. */
  get bytes(): number {
    return this.held;
  }

  /** The oldest `seq` kept, or `nextSeq` when nothing is kept. */
  get oldestSeq(): number {
    return this.next - this.count;
  }

  /** The last `seq` written to a socket of this session (0 before the first). */
  get lastSentSeq(): number {
    return this.sentThrough;
  }

  /**
   * Numbers a frame, keeps it and returns it; the caller decides whether to write it now. Frames
   * older than `maxAgeMs` go, then the oldest ones until the new frame fits in `maxMessages` and
   * `maxBytes`. A frame larger than `maxBytes` on its own is not kept (nor is anything before it,
   * so what is kept stays contiguous): a client that misses it is told of the gap.
   */
  append(streamType: string, data: unknown): DataStreamFrame {
    const now = this.now();
    const before = this.held;
    this.evictExpired(now);
    const frame: DataStreamFrame = { type: 'data_stream', sessionId: this.sessionId, streamType, data, seq: this.next };
    this.next += 1;
    if (this.next >= this.renewAt) {
      this.renewAt = Number.POSITIVE_INFINITY;
      this.account.reservationDue?.(this);
    }
    const size = frameBytes(frame, this.account.dataBytes(data));
    if (size > this.limits.maxBytes) {
      this.dropOldest(this.count, 'bytes');
      this.account.evicted('bytes', 1);
    } else {
      this.dropOldest(this.framesOver(this.limits.maxBytes - size), 'bytes');
      if (this.count === this.limits.maxMessages) this.dropOldest(1, 'count');
      this.push(frame, now, size);
    }
    this.settle(before);
    return frame;
  }

  /** Drops the frames older than `maxAgeMs` now; the cloud's sweep calls it on idle buffers. */
  expire(): void {
    const before = this.held;
    this.evictExpired(this.now());
    this.settle(before);
  }

  /** Drops the oldest frames until at most `maxBytes` are kept (the process-wide budget). */
  trimTo(maxBytes: number, reason: EvictionReason): void {
    const before = this.held;
    this.dropOldest(this.framesOver(maxBytes), reason);
    this.settle(before);
  }

  /** Drops everything kept, without counting it as evicted (the session ended). */
  release(): void {
    const before = this.held;
    this.clear();
    this.settle(before);
  }

  /** Records that frame `seq` was written to the current socket. */
  markSent(seq: number): void {
    if (seq > this.sentThrough) this.sentThrough = seq;
  }

  /** Whether live frames may be written to socket `gen`: true once its replay is done. */
  isDeliverable(gen: number): boolean {
    return this.deliverableGen === gen && gen !== 0;
  }

  /** Socket `gen` got its ack and its replay: live frames may follow. */
  markDeliverable(gen: number): void {
    this.deliverableGen = gen;
  }

  /**
   * What a client that (re)connects must be sent before any live frame: everything after its
   * `lastSeq`, or — for a client that sends none (`@mentra/sdk`) — everything after the last
   * frame written to a socket of this session. When frames it missed were already evicted, the
   * plan starts with the gap.
   */
  planReplay(lastSeq: number | undefined): ReplayPlan {
    this.expire();
    let renumberedBy = 0;
    if (lastSeq !== undefined && lastSeq > this.next - 1) {
      // The client counted further than this buffer ever did: its numbers come from a cloud that
      // lost this session's counter. Move ours past them, or the client would drop new frames as
      // duplicates; what it should get is what this buffer has not written yet.
      renumberedBy = lastSeq - this.sentThrough;
      this.renumber(renumberedBy);
    }
    const after = lastSeq ?? this.sentThrough;
    const oldest = this.oldestSeq;
    const gap = after < oldest - 1 ? { lost: oldest - 1 - after, fromSeq: after + 1, toSeq: oldest - 1 } : null;
    const frames: DataStreamFrame[] = [];
    const capacity = this.frames.length;
    for (let k = Math.max(0, after + 1 - oldest); k < this.count; k++) {
      const frame = this.frames[(this.head + k) % capacity];
      if (frame) frames.push(frame);
    }
    return { after, gap, frames, renumberedBy };
  }

  /**
   * The exact position with the frames kept, for a session handed to another node (a drain, or
   * glasses that reconnected elsewhere): the new owner replays them to apps behind.
   */
  exportHandover(): ResumeState {
    this.expire();
    const now = this.now();
    const frames: NonNullable<ResumeState['frames']> = [];
    const capacity = this.frames.length;
    for (let k = 0; k < this.count; k++) {
      const slot = (this.head + k) % capacity;
      const frame = this.frames[slot];
      if (frame) frames.push({ streamType: frame.streamType, data: frame.data, seq: frame.seq, ageMs: Math.max(0, now - (this.times[slot] ?? now)) });
    }
    return { nextSeq: this.next, droppedAtSeq: this.sentThrough, frames };
  }

  /** The exact position to persist across a cloud restart (a clean shutdown: no more frames follow). */
  exportState(): ResumeState {
    return { nextSeq: this.next, droppedAtSeq: this.sentThrough };
  }

  /**
   * The position to persist while frames keep coming (write-through, `sessionPersistence.ts`): a
   * *reservation* rather than the counter, so the store is not written per frame. The returned
   * `nextSeq` is a mark at least `block / 2` ahead of the counter (renewed to `next + block` when
   * less is left); once the counter gets within `block / 2` of the mark, the account is told
   * ({@link ReplayAccount.reservationDue}) and the caller persists a new reservation. A process
   * that dies and is restored from a reservation continues numbering at the mark, past every
   * number it may have handed out, so no `seq` is ever used twice; the unused numbers before the
   * mark are reported as part of the gap to a client behind it (`resume_gap`, an upper bound of
   * what it lost, by less than `block`).
   *
   * @param block - numbers reserved at a time (≥ 2)
   */
  reserve(block: number): ResumeState {
    const half = Math.floor(block / 2);
    if (this.next + half >= this.reservedBelow) this.reservedBelow = this.next + block;
    this.renewAt = this.reservedBelow - half;
    return { nextSeq: this.reservedBelow, droppedAtSeq: this.sentThrough };
  }

  /**
   * Continues the numbering from `state`; what was kept is discarded (a restored session starts
   * with an empty buffer, so a client behind `nextSeq - 1` is told of a gap).
   *
   * @throws RangeError when `state` is not a valid position.
   */
  importState(state: ResumeState): void {
    const { nextSeq, droppedAtSeq = nextSeq - 1 } = state;
    if (!Number.isInteger(nextSeq) || nextSeq < 1 || !Number.isInteger(droppedAtSeq) || droppedAtSeq < 0 || droppedAtSeq >= nextSeq) {
      throw new RangeError(`invalid replay state ${JSON.stringify(state)}`);
    }
    this.release();
    this.next = nextSeq;
    this.sentThrough = droppedAtSeq;
    this.deliverableGen = 0;
    // What was restored is what the store holds: the next reservation starts from here.
    this.reservedBelow = nextSeq;
    this.renewAt = 0;
    if (state.frames) this.importFrames(state.frames);
  }

  /**
   * Keeps the frames of a handover: only a contiguous run ending at `nextSeq - 1` (anything
   * else would misnumber a replay), within this buffer's limits, ages kept.
   */
  private importFrames(frames: NonNullable<ResumeState['frames']>): void {
    const before = this.held;
    const now = this.now();
    let expected = this.next - frames.length;
    const valid = frames.every((frame) => frame.seq === expected++ && typeof frame.streamType === 'string' && Number.isFinite(frame.ageMs));
    if (!valid) return;
    for (const { streamType, data, seq, ageMs } of frames) {
      const frame: DataStreamFrame = { type: 'data_stream', sessionId: this.sessionId, streamType, data, seq };
      const size = frameBytes(frame, this.account.dataBytes(data));
      if (size > this.limits.maxBytes) {
        this.dropOldest(this.count, 'bytes');
        continue;
      }
      this.dropOldest(this.framesOver(this.limits.maxBytes - size), 'bytes');
      if (this.count === this.limits.maxMessages) this.dropOldest(1, 'count');
      this.push(frame, now - ageMs, size);
    }
    this.evictExpired(now);
    this.settle(before);
  }

  /** Keeps `frame` in the next free slot; the caller made room (`count < maxMessages`). */
  private push(frame: DataStreamFrame, at: number, size: number): void {
    this.held += size;
    if (this.count < this.frames.length) {
      const slot = (this.head + this.count) % this.frames.length;
      this.frames[slot] = frame;
      this.times[slot] = at;
      this.sizes[slot] = size;
      this.count += 1;
      return;
    }
    if (this.head !== 0) {
      // Grow a wrapped ring: rare (only after evictions), so straighten it first.
      this.frames = [...this.frames.slice(this.head), ...this.frames.slice(0, this.head)];
      this.times = [...this.times.slice(this.head), ...this.times.slice(0, this.head)];
      this.sizes = [...this.sizes.slice(this.head), ...this.sizes.slice(0, this.head)];
      this.head = 0;
    }
    this.frames.push(frame);
    this.times.push(at);
    this.sizes.push(size);
    this.count += 1;
  }

  private evictExpired(now: number): void {
    const oldestKept = now - this.limits.maxAgeMs;
    const capacity = this.frames.length;
    let expired = 0;
    while (expired < this.count && (this.times[(this.head + expired) % capacity] ?? oldestKept) < oldestKept) expired += 1;
    this.dropOldest(expired, 'age');
  }

  /** How many of the oldest frames must go for at most `maxBytes` to be kept. */
  private framesOver(maxBytes: number): number {
    const capacity = this.frames.length;
    let bytes = this.held;
    let n = 0;
    while (n < this.count && bytes > maxBytes) {
      bytes -= this.sizes[(this.head + n) % capacity] ?? 0;
      n += 1;
    }
    return n;
  }

  private dropOldest(n: number, reason: EvictionReason): void {
    if (n <= 0) return;
    const capacity = this.frames.length;
    for (let k = 0; k < n; k++) {
      this.held -= this.sizes[this.head] ?? 0;
      this.frames[this.head] = undefined;
      this.head = (this.head + 1) % capacity;
    }
    this.count -= n;
    this.account.evicted(reason, n);
    // An idle session gives its memory back.
    if (this.count === 0) this.clear();
  }

  /** Reports the change in bytes since `before` to the account (which may trim again). */
  private settle(before: number): void {
    if (this.held !== before) this.account.resized(this, this.held - before);
  }

  private renumber(by: number): void {
    const capacity = this.frames.length;
    for (let k = 0; k < this.count; k++) {
      const frame = this.frames[(this.head + k) % capacity];
      if (frame) frame.seq += by;
    }
    this.next += by;
    this.sentThrough += by;
  }

  private clear(): void {
    this.frames = [];
    this.times = [];
    this.sizes = [];
    this.head = 0;
    this.count = 0;
    this.held = 0;
  }
}
