/**
 * Exactly-once delivery on the SDK side (ARCHITECTURE.md, "Delivery guarantees"): the cloud
 * numbers every `data_stream` of a session (`seq`) and, on a reconnect, replays what came after
 * the `lastSeq` the SDK sends in `tpa_connection_init`. This guard remembers the highest `seq`
 * handed to the app's handlers and refuses anything at or below it, so a handler never sees the
 * same frame twice — whatever the cloud re-sends.
 */

/** What the guard has seen; exposed as `AppSession.delivery`. */
export interface DeliveryInfo {
  /** Highest `seq` handed to the handlers; undefined before the first numbered frame. */
  lastSeq: number | undefined;
  /** Frames refused because their `seq` had already been delivered. */
  duplicatesDropped: number;
  /** Frames missed and reported by the cloud as no longer available (`resume_gap`). */
  reportedLost: number;
}

/** Tracks the delivered `seq` of one session. */
export class SequenceGuard {
  #lastSeq: number | undefined;
  #duplicates = 0;
  #lost = 0;

  /**
   * Whether a frame numbered `seq` may go to the handlers; if so it counts as delivered. A frame
   * without `seq` (a cloud that does not number frames) always may.
   */
  admit(seq: number | undefined): boolean {
    if (seq === undefined) return true;
    if (this.#lastSeq !== undefined && seq <= this.#lastSeq) {
      this.#duplicates += 1;
      return false;
    }
    this.#lastSeq = seq;
    return true;
  }

  /** Counts frames the cloud reported lost. */
  recordGap(lost: number): void {
    this.#lost += lost;
  }

  /**
   * The `lastSeq` to put in `tpa_connection_init`: the highest delivered `seq`; on a reconnect
   * before anything was delivered, 0 (so the cloud replays everything it kept rather than
   * treating the client as one that cannot resume); on a first connection with nothing
   * delivered, none.
   *
   * @param reconnecting - whether this session has been connected before
   */
  resumeFrom(reconnecting: boolean): number | undefined {
    return this.#lastSeq ?? (reconnecting ? 0 : undefined);
  }

  /** A snapshot of the counters. */
  get info(): DeliveryInfo {
    return { lastSeq: this.#lastSeq, duplicatesDropped: this.#duplicates, reportedLost: this.#lost };
  }
}
