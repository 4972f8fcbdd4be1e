/**
 * What the chaos world's apps received, summed from the app processes' reports: per session the
 * highest k seen (across the app server's lives), and in all the messages delivered, those that
 * did not rise (duplicates or out of order), `seq` gaps nobody reported (lost inside the replay
 * window) and frames the cloud reported lost (`resume_gap`).
 */
import type { DeliveryDelta } from '../fixtures/appProcess.js';

/** Totals per SDK. */
export interface DeliveryTotals {
  delivered: number;
  /** Handler calls whose k did not rise, within one app process or across its restart. */
  duplicatedOrReordered: number;
  /** Tether SDK: frames missing by `seq` that the cloud did not report (must be 0). */
  lostUnreported: number;
  /**
   * Tether SDK: `seq` numbers the cloud reported skipped (`resume_gap`): frames past the replay
   * window or held by a killed cloud, and after a SIGKILL the unused rest of each reserved block.
   */
  reportedSkipped: number;
  /**
   * Messages the glasses sent that the app never got, from k gaps between arrivals: sent into a
   * glasses socket that was dying, while the app server was down, or (stock SDK) written into an
   * app socket that was already dead.
   */
  notDelivered: number;
}

/** The deliveries of every app session of the world. */
export class DeliveryLedger {
  private readonly lastK = new Map<string, number>();
  private readonly seqGaps = new Map<string, number>();
  private readonly reported = new Map<string, number>();
  readonly totals: Record<'tether' | 'mentra', DeliveryTotals> = {
    tether: { delivered: 0, duplicatedOrReordered: 0, lostUnreported: 0, reportedSkipped: 0, notDelivered: 0 },
    mentra: { delivered: 0, duplicatedOrReordered: 0, lostUnreported: 0, reportedSkipped: 0, notDelivered: 0 },
  };

  /** Adds one report of an app process on `sdk`. */
  record(sdk: 'tether' | 'mentra', deltas: readonly DeliveryDelta[]): void {
    const totals = this.totals[sdk];
    for (const delta of deltas) {
      totals.delivered += delta.delivered;
      totals.duplicatedOrReordered += delta.notRising;
      totals.notDelivered += delta.kGaps;
      const before = this.lastK.get(delta.sessionId);
      // The process checks order within its life; across a restart of the app server the first k must still rise.
      if (before !== undefined && delta.firstK <= before && delta.notRising === 0) totals.duplicatedOrReordered += 1;
      this.lastK.set(delta.sessionId, Math.max(before ?? -1, delta.lastK));
      if (sdk === 'tether') {
        this.seqGaps.set(delta.sessionId, (this.seqGaps.get(delta.sessionId) ?? 0) + delta.seqGaps);
        this.reported.set(delta.sessionId, (this.reported.get(delta.sessionId) ?? 0) + delta.reportedLost);
        totals.reportedSkipped += delta.reportedLost;
      }
    }
    // Gaps and reports of one session may land in different reports: settled per session.
    let unreported = 0;
    for (const [sessionId, gaps] of this.seqGaps) unreported += Math.max(0, gaps - (this.reported.get(sessionId) ?? 0));
    this.totals.tether.lostUnreported = unreported;
  }

  /** The highest k session `sessionId` has seen, or -1. */
  lastKOf(sessionId: string): number {
    return this.lastK.get(sessionId) ?? -1;
  }
}
