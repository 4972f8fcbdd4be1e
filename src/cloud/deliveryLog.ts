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
import { writeFrame } from './link/writePath.js';
import { checkReplayLimits, ReplayBuffer, type ReplayLimits, type ResumeState } from './replayBuffer.js';

/**
 * Bounds of a buffer where none are given: the defaults of the `replayMaxMessages` and
 * `replayWindowMs` settings (1,000 messages or 30 s, whichever is smaller).
 */
const DEFAULT_REPLAY_LIMITS: Readonly<ReplayLimits> = Object.freeze({
  maxMessages: CLOUD_SETTINGS.replayMaxMessages.default,
  maxAgeMs: CLOUD_SETTINGS.replayWindowMs.default,
});

/** Options of a {@link DeliveryLog}. */
export interface DeliveryLogOptions {
  /** Bounds of each session's buffer; the settings' defaults where unset. */
  limits?: Partial<ReplayLimits>;
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
  private readonly counters: DeliveryStats = { resumes: 0, replayed: 0, gaps: 0, lost: 0 };

  /** @throws RangeError when a limit is not a positive integer. */
  constructor(options: DeliveryLogOptions = {}) {
    this.limits = checkReplayLimits({ ...DEFAULT_REPLAY_LIMITS, ...options.limits });
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? silentLogger).child({ actor: 'deliveryLog' });
  }

  /** Number of app sessions with a buffer (it falls back when sessions end). */
  get size(): number {
    return this.slots.size;
  }

  /** Counters since start. */
  get stats(): Readonly<DeliveryStats> {
    return { ...this.counters };
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
    const buffer = new ReplayBuffer(sessionId, this.limits, this.now);
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
      if (!canWrite(entry) || !writeFrame(entry.ws, frame)) break;
      buffer.markSent(frame.seq);
      replayed += 1;
    }
    this.counters.replayed += replayed;
    buffer.markDeliverable(entry.gen);
    if (replayed > 0) this.log.info({ ...bindings, replayed }, 'app session resumed');
    else this.log.debug(bindings, 'app session resumed');
    return replayed;
  }

  /** The sequence position of `sessionId` to persist (cloud restart), or undefined without one. */
  exportState(sessionId: string): ResumeState | undefined {
    return this.slots.get(sessionId)?.buffer.exportState();
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
    const buffer = new ReplayBuffer(sessionId, this.limits, this.now);
    this.slots.set(sessionId, { buffer, owner: undefined });
    return buffer;
  }
}
