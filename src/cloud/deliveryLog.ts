/**
 * Resume without loss, cloud side (ARCHITECTURE.md, "Delivery guarantees"): one
 * {@link ReplayBuffer} per live app session, the replay that follows each app socket's ack, and
 * the per-session state a restarted cloud carries over.
 *
 * The hand-off between replay and live traffic: the router numbers and keeps every frame for a
 * live app session, but writes one to the socket only once that socket is *deliverable* — after
 * its `tpa_connection_ack` and its replay were written, in the same synchronous call
 * ({@link DeliveryLog.resume}, run by the socket actor right after the ack). A frame routed
 * between the adoption of a socket and its ack is therefore kept, not written, and goes out in
 * the replay: no live frame can overtake the replay, and none falls between the two.
 */
import type { InspectionEvent } from 'xstate';
import { appSessionIdOfSystemId, systemIdOf } from '../../machines/sessionApi.js';
import { CloudToAppMessageType, requiredExtension } from '../protocol/cloudToApp.js';
import { silentLogger, type Logger } from '../logger.js';
import { CLOUD_SETTINGS } from './config.js';
import type { SocketEntry } from './link/socketTable.js';
import { writeDataFrame, writeFrame } from './link/writePath.js';
import type { CloudMetrics } from './metrics.js';
import {
  checkReplayLimits,
  EVICTION_REASONS,
  frameText,
  jsonText,
  lengthOfJson,
  ReplayBuffer,
  type DataStreamFrame,
  type EvictionReason,
  type ReplayAccount,
  type ReplayLimits,
  type ResumeState,
} from './replayBuffer.js';

/**
 * Bounds of a buffer where none are given: the defaults of the `replayMaxMessages`,
 * `replayWindowMs` and `replayMaxBytes` settings (1,000 messages, 30 s or 4 MiB, whichever is hit
 * first).
 */
const DEFAULT_REPLAY_LIMITS: Readonly<ReplayLimits> = Object.freeze({
  maxMessages: CLOUD_SETTINGS.replayMaxMessages.default,
  maxAgeMs: CLOUD_SETTINGS.replayWindowMs.default,
  maxBytes: CLOUD_SETTINGS.replayMaxBytes.default,
});

/** How often the expiry sweep runs while some buffer holds frames, in ms. */
const SWEEP_INTERVAL_MS = 1_000;
/** Buffers the sweep checks per tick: 10k buffers take 10 ticks; each check is O(1) plus what it frees. */
const SWEEP_BATCH = 1_000;

/** Options of a {@link DeliveryLog}. */
export interface DeliveryLogOptions {
  /** Bounds of each session's buffer; the settings' defaults where unset. */
  limits?: Partial<ReplayLimits>;
  /** Most bytes all buffers hold together; the `replayBudgetBytes` default where unset. */
  budgetBytes?: number;
  /** Where bytes held and evictions are shown (`/metrics`). */
  metrics?: Pick<CloudMetrics, 'replayBytes' | 'replayEvictions'>;
  /** Wall clock in ms (frame ages); `Date.now` unless a test injects one. */
  now?: () => number;
  logger?: Logger;
}

/** Counters since the cloud started, for logs, tests and reports. */
export interface DeliveryStats {
  /** Sockets that got a replay pass after their ack (each (re)connection of an app). */
  resumes: number;
  /** Frames written by replays. */
  replayed: number;
  /** Resumes whose missed frames were partly evicted already. */
  gaps: number;
  /** Frames reported (or, for a client without the `resume` extension, known) lost by those gaps. */
  lost: number;
  /** Frames that left a buffer before any client asked for them, by reason. */
  evicted: Record<EvictionReason, number>;
  /** Bytes all buffers held at their highest. */
  peakBytes: number;
}

interface Slot {
  buffer: ReplayBuffer;
  /** The app-session actor the buffer belongs to; unknown until the router first sees it. */
  owner: object | undefined;
}

const RESUME_EXTENSION = requiredExtension(CloudToAppMessageType.RESUME_GAP);

/** The replay buffers of one cloud, by app session id. */
export class DeliveryLog {
  private readonly slots = new Map<string, Slot>();
  private readonly limits: ReplayLimits;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly counters: Omit<DeliveryStats, 'evicted'> = { resumes: 0, replayed: 0, gaps: 0, lost: 0, peakBytes: 0 };
  private readonly evictions = Object.fromEntries(EVICTION_REASONS.map((reason) => [reason, 0])) as Record<EvictionReason, number>;
  private readonly budgetBytes: number;
  private readonly metrics: DeliveryLogOptions['metrics'];
  /** Bytes held by every buffer, and the buffers holding any (what the budget and the sweep visit). */
  private held = 0;
  private readonly holding = new Set<ReplayBuffer>();
  private reclaiming = false;
  private sweepCursor: Iterator<ReplayBuffer> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private reservationListener: ((sessionId: string) => void) | undefined;
  // The apps one glasses event goes to share its `data`: serialised once, for its size and for
  // the frames (`null`: it cannot be serialised).
  private measured: { data: unknown; json: string | undefined | null } | undefined;

  /** @throws RangeError when a limit or the budget is not a positive integer. */
  constructor(options: DeliveryLogOptions = {}) {
    const { budgetBytes = CLOUD_SETTINGS.replayBudgetBytes.default } = options;
    this.limits = checkReplayLimits({ ...DEFAULT_REPLAY_LIMITS, ...options.limits });
    if (!Number.isInteger(budgetBytes) || budgetBytes < 1) throw new RangeError(`replay budgetBytes must be a positive integer, got ${String(budgetBytes)}`);
    this.budgetBytes = budgetBytes;
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? silentLogger).child({ actor: 'deliveryLog' });
    this.metrics = options.metrics;
    this.metrics?.replayBytes.collect(() => this.held);
  }

  /** Bytes all buffers hold now (as counted by `frameBytes`). */
  get bytes(): number {
    return this.held;
  }

  /** Number of app sessions with a buffer (it falls back when sessions end). */
  get size(): number {
    return this.slots.size;
  }

  /** Counters since start. */
  get stats(): Readonly<DeliveryStats> {
    return { ...this.counters, evicted: { ...this.evictions } };
  }

  /**
   * The wire text of `frame`, the frame {@link ReplayBuffer.append} just returned; its data is
   * serialised once for all the apps of one event. `undefined` when it cannot be serialised.
   */
  textOf(frame: DataStreamFrame): string | undefined {
    const json = this.jsonOf(frame.data);
    return typeof json === 'string' ? frameText(frame, json) : undefined;
  }

  private jsonOf(data: unknown): string | undefined | null {
    const last = this.measured;
    // Only objects: a primitive is as cheap to serialise again as to compare.
    if (last && last.data === data && typeof data === 'object' && data !== null) return last.json;
    const json = jsonText(data);
    this.measured = { data, json };
    return json;
  }

  /**
   * The buffer of app session `sessionId`, owned by actor `owner`; created on first use. Data
   * plane: a map lookup and an identity check.
   */
  open(sessionId: string, owner: object): ReplayBuffer {
    const slot = this.slots.get(sessionId);
    if (slot && (slot.owner === owner || slot.owner === undefined)) {
      slot.owner = owner;
      return slot.buffer;
    }
    // No buffer, or one left by an earlier session with the same id: start afresh.
    slot?.buffer.release();
    const buffer = this.newBuffer(sessionId);
    this.slots.set(sessionId, { buffer, owner });
    return buffer;
  }

  /**
   * Runs right after the ack was written to an app socket, before any live frame may reach it:
   * writes `resume_gap` if frames the client missed are gone (only to a client that listed the
   * `resume` extension), then every kept frame after the client's `lastSeq` (or after the last
   * frame written to this session, for a client that sends none), then marks the socket
   * deliverable. Returns how many frames it replayed.
   *
   * @param entry - the app socket just acknowledged
   * @param owner - the `appSession` actor that adopted it, when known (see {@link open})
   * @param canWrite - whether the socket takes another frame now (backpressure); the rest waits
   *   for {@link flush}
   */
  resume(entry: SocketEntry, owner?: object, canWrite?: (entry: SocketEntry) => boolean): number {
    this.counters.resumes += 1;
    return this.replay(entry, owner, entry.lastSeq, canWrite);
  }

  /**
   * Writes what a congested app socket was not sent while it was congested, in order, once it
   * drained (`link/backpressure.ts`): every kept frame after the last one written to it, or a
   * `resume_gap` first if some were evicted meanwhile. Returns how many frames it wrote.
   */
  flush(entry: SocketEntry, owner: object | undefined, canWrite: (entry: SocketEntry) => boolean): number {
    return this.replay(entry, owner, undefined, canWrite);
  }

  private replay(
    entry: SocketEntry,
    owner: object | undefined,
    lastSeq: number | undefined,
    canWrite: (entry: SocketEntry) => boolean = () => true,
  ): number {
    const { sessionId } = entry;
    if (sessionId === undefined) return 0;
    const buffer = owner ? this.open(sessionId, owner) : this.bufferFor(sessionId);
    const plan = buffer.planReplay(lastSeq);
    const bindings = { sessionId, gen: entry.gen, lastSeq, after: plan.after };
    if (plan.renumberedBy > 0) this.log.warn({ ...bindings, by: plan.renumberedBy }, 'client lastSeq ahead of this cloud; numbering moved forward');
    if (plan.gap) {
      this.counters.gaps += 1;
      this.counters.lost += plan.gap.lost;
      this.log.warn({ ...bindings, ...plan.gap }, 'replay window exceeded');
      if (RESUME_EXTENSION && entry.extensions.has(RESUME_EXTENSION)) writeFrame(entry.ws, { type: CloudToAppMessageType.RESUME_GAP, ...plan.gap });
    }
    let replayed = 0;
    for (const frame of plan.frames) {
      if (!canWrite(entry) || !writeDataFrame(entry.ws, frame)) break;
      buffer.markSent(frame.seq);
      replayed += 1;
    }
    this.counters.replayed += replayed;
    buffer.markDeliverable(entry.gen);
    if (replayed > 0) this.log.info({ ...bindings, replayed }, 'app session resumed');
    else this.log.debug(bindings, 'app session resumed');
    return replayed;
  }

  /**
   * The exact sequence position of `sessionId` to persist at a clean shutdown (no frame is
   * numbered after it), or undefined without one.
   */
  exportState(sessionId: string): ResumeState | undefined {
    return this.slots.get(sessionId)?.buffer.exportState();
  }

  /** The exact position of `sessionId` with the frames kept, for a handover to another node. */
  exportHandover(sessionId: string): ResumeState | undefined {
    return this.slots.get(sessionId)?.buffer.exportHandover();
  }

  /**
   * The position of `sessionId` to persist while it runs: a reservation `block` numbers ahead
   * (`ReplayBuffer.reserve`), or undefined without a buffer. The listener given to
   * {@link watchReservations} hears when it must be renewed.
   */
  reserveState(sessionId: string, block: number): ResumeState | undefined {
    return this.slots.get(sessionId)?.buffer.reserve(block);
  }

  /**
   * Calls `listener` with a session id whenever that session's numbering gets close to its
   * persisted reservation (at most once per reservation, never per frame): persist it again
   * with {@link reserveState}. One listener; a later call replaces it.
   */
  watchReservations(listener: (sessionId: string) => void): void {
    this.reservationListener = listener;
  }

  /**
   * Continues `sessionId`'s numbering from a persisted position; call it before the session's
   * app reconnects. A client behind the restored position is told of the gap.
   *
   * @throws RangeError when `state` is not a valid position.
   */
  importState(sessionId: string, state: ResumeState): void {
    this.bufferFor(sessionId).importState(state);
  }

  /**
   * Drops `sessionId`'s buffer; with `owner`, only if it is that actor's (or nobody's yet), so a
   * late notice about an ended session never drops its successor's buffer. Idempotent.
   */
  forget(sessionId: string, owner?: object): void {
    const slot = this.slots.get(sessionId);
    if (!slot) return;
    if (owner !== undefined && slot.owner !== undefined && slot.owner !== owner) return;
    this.slots.delete(sessionId);
    slot.buffer.release();
  }

  /**
   * Drops the expired frames of up to `maxBuffers` buffers that hold any, continuing where the
   * last call stopped (the sweep's tick; tests call it with their own clock).
   */
  sweep(maxBuffers = SWEEP_BATCH): void {
    const visits = Math.min(maxBuffers, this.holding.size);
    for (let i = 0; i < visits; i++) {
      let step = this.sweepCursor?.next();
      if (!step || step.done) {
        this.sweepCursor = this.holding.values();
        step = this.sweepCursor.next();
        if (step.done) break;
      }
      step.value.expire();
    }
  }

  /**
   * Inspection observer that forgets a session's buffer when its `appSession` actor stops for
   * any reason: its final state, an error, or its parent stopping it (user session disposed,
   * cloud shutdown — export first). Pass it with the cloud's other inspectors.
   */
  readonly observe = (event: InspectionEvent): void => {
    if (event.type !== '@xstate.snapshot') return;
    if ((event.snapshot as { status?: string }).status === 'active') return;
    const sessionId = appSessionIdOfSystemId(systemIdOf(event.actorRef));
    if (sessionId !== undefined) this.forget(sessionId, event.actorRef);
  };

  private bufferFor(sessionId: string): ReplayBuffer {
    const slot = this.slots.get(sessionId);
    if (slot) return slot.buffer;
    const buffer = this.newBuffer(sessionId);
    this.slots.set(sessionId, { buffer, owner: undefined });
    return buffer;
  }

  private newBuffer(sessionId: string): ReplayBuffer {
    return new ReplayBuffer(sessionId, this.limits, this.now, undefined, this.account);
  }

  /** What every buffer reports to: the totals, the budget, the sweep and the counters. */
  private readonly account: ReplayAccount = {
    resized: (buffer, delta) => {
      this.held += delta;
      if (buffer.bytes > 0) this.holding.add(buffer);
      else this.holding.delete(buffer);
      if (this.held > this.budgetBytes && !this.reclaiming) this.reclaim();
      if (this.held > this.counters.peakBytes) this.counters.peakBytes = this.held;
      this.armSweep();
    },
    evicted: (reason, frames) => {
      this.evictions[reason] += frames;
      this.metrics?.replayEvictions.inc({ reason }, frames);
    },
    reservationDue: (buffer) => this.reservationListener?.(buffer.sessionId),
    dataBytes: (data) => lengthOfJson(this.jsonOf(data)),
  };

  /**
   * Over the budget: cuts the largest buffers down to one level, oldest frames first, so that all
   * of them hold at most 7/8 of the budget (see the module comment).
   */
  private reclaim(): void {
    const target = this.budgetBytes - Math.floor(this.budgetBytes / 8);
    const largest = [...this.holding].sort((a, b) => b.bytes - a.bytes);
    // The level L such that the k largest cut to L plus all the others fit in `target`.
    let rest = this.held;
    let level = 0;
    let cut = 0;
    while (cut < largest.length) {
      rest -= largest[cut]!.bytes;
      cut += 1;
      level = Math.floor((target - rest) / cut);
      if (level >= (largest[cut]?.bytes ?? 0)) break;
    }
    const before = this.held;
    this.reclaiming = true;
    try {
      for (const buffer of largest.slice(0, cut)) buffer.trimTo(Math.max(0, level), 'budget');
    } finally {
      this.reclaiming = false;
    }
    this.log.warn({ budgetBytes: this.budgetBytes, freedBytes: before - this.held, buffers: cut, levelBytes: level }, 'replay budget exceeded');
  }

  /** Schedules the next sweep while some buffer holds frames; unref'd, so it never keeps the process up. */
  private armSweep(): void {
    if (this.sweepTimer !== undefined || this.holding.size === 0) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweep();
      this.armSweep();
    }, SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }
}
