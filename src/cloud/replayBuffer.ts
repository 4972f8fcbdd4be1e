/**
 * The replay buffer of one app session (ARCHITECTURE.md, "Delivery guarantees"): it numbers
 * every `data_stream` for the session (`seq` 1, 2, 3… for as long as the session lives) and
 * keeps the most recent ones — at most `maxMessages`, none older than `maxAgeMs` — so that a
 * reconnecting app gets exactly what it missed. Pure bookkeeping: no sockets, no timers; time
 * comes from the `now()` it is given. The socket side lives in `deliveryLog.ts`.
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
}

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
  // A ring over two parallel arrays that grow to `maxMessages` only as traffic needs.
  private frames: Array<DataStreamFrame | undefined> = [];
  private times: number[] = [];
  private head = 0;
  private count = 0;
  private next = 1;
  private sentThrough = 0;
  private deliverableGen = 0;

  /**
   * @param sessionId - the app session the frames are for
   * @param limits - bounds (validated by the caller, see {@link checkReplayLimits})
   * @param now - wall clock in ms
   * @param state - sequence position to continue from (cloud restart)
   */
  constructor(
    readonly sessionId: string,
    private readonly limits: ReplayLimits,
    private readonly now: () => number,
    state?: ResumeState,
  ) {
    if (state) this.importState(state);
  }

  /** The `seq` the next frame gets. */
  get nextSeq(): number {
    return this.next;
  }

  /** Frames kept now (expired ones are dropped lazily, on the next append or replay). */
  get size(): number {
    return this.count;
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
   * Numbers a frame, keeps it and returns it; the caller decides whether to write it now. The
   * oldest frame is dropped when the buffer is full, and frames older than `maxAgeMs` go.
   */
  append(streamType: string, data: unknown): DataStreamFrame {
    const now = this.now();
    this.evictExpired(now);
    const frame: DataStreamFrame = { type: 'data_stream', sessionId: this.sessionId, streamType, data, seq: this.next };
    this.next += 1;
    this.push(frame, now);
    return frame;
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
    this.evictExpired(this.now());
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

  /** The position to persist across a cloud restart. */
  exportState(): ResumeState {
    return { nextSeq: this.next, droppedAtSeq: this.sentThrough };
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
    this.clear();
    this.next = nextSeq;
    this.sentThrough = droppedAtSeq;
    this.deliverableGen = 0;
  }

  private push(frame: DataStreamFrame, at: number): void {
    const max = this.limits.maxMessages;
    if (this.count === max) {
      // Full (the arrays have reached `max`): the newest frame takes the oldest one's slot.
      this.frames[this.head] = frame;
      this.times[this.head] = at;
      this.head = (this.head + 1) % max;
      return;
    }
    if (this.count < this.frames.length) {
      const slot = (this.head + this.count) % this.frames.length;
      this.frames[slot] = frame;
      this.times[slot] = at;
      this.count += 1;
      return;
    }
    if (this.head !== 0) {
      // Grow a wrapped ring: rare (only after expiries), so straighten it first.
      this.frames = [...this.frames.slice(this.head), ...this.frames.slice(0, this.head)];
      this.times = [...this.times.slice(this.head), ...this.times.slice(0, this.head)];
      this.head = 0;
    }
    this.frames.push(frame);
    this.times.push(at);
    this.count += 1;
  }

  private evictExpired(now: number): void {
    const oldestKept = now - this.limits.maxAgeMs;
    while (this.count > 0 && (this.times[this.head] ?? oldestKept) < oldestKept) {
      this.frames[this.head] = undefined;
      this.head = (this.head + 1) % this.frames.length;
      this.count -= 1;
    }
    // An idle session gives its memory back.
    if (this.count === 0 && this.frames.length > 0) this.clear();
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
    this.head = 0;
    this.count = 0;
  }
}
