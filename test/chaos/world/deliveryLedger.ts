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
  /** Handler calls with a k the session had already seen: one glasses message delivered twice (must be 0). */
  duplicated: number;
  /**
   * Handler calls with a k below one already seen, seen for the first time: the message arrived
   * after a later one. The cloud orders by arrival; a phone that switches networks can deliver
   * the last frames of its old socket after the first of its new one.
   */
  reordered: number;
  /** Tether SDK: handler calls whose `seq` did not rise within one session (must be 0). */
  seqNotRising: number;
  /** Tether SDK: frames missing by `seq` that the cloud did not report (must be 0). */
  lostUnreported: number;
  /**
   * Tether SDK: `seq` numbers the cloud reported skipped (`resume_gap`): frames past the replay
   * window or held by a killed cloud, and after a SIGKILL the unused rest of each reserved block.
   */
  reportedSkipped: number;
  /**
   * Messages between a session's first and last k that never arrived: sent into a glasses
   * socket that was dying, while the app or its server was down, or (stock SDK) written into an
   * app socket that was already dead.
   */
  notDelivered: number;
}

interface SessionLedger {
  seen: Set<number>;
  maxK: number;
  minK: number;
  seqGaps: number;
  reported: number;
}

/** The deliveries of every app session of the world. */
export class DeliveryLedger {
  private readonly sessions = new Map<string, SessionLedger & { sdk: 'tether' | 'mentra' }>();
  private readonly counts: Record<'tether' | 'mentra', Omit<DeliveryTotals, 'lostUnreported' | 'notDelivered'>> = {
    tether: { delivered: 0, duplicated: 0, reordered: 0, seqNotRising: 0, reportedSkipped: 0 },
    mentra: { delivered: 0, duplicated: 0, reordered: 0, seqNotRising: 0, reportedSkipped: 0 },
  };

  /** Adds one report of an app process on `sdk`. */
  record(sdk: 'tether' | 'mentra', deltas: readonly DeliveryDelta[]): void {
    const counts = this.counts[sdk];
    for (const delta of deltas) {
      let session = this.sessions.get(delta.sessionId);
      if (!session) this.sessions.set(delta.sessionId, (session = { sdk, seen: new Set(), maxK: -1, minK: Infinity, seqGaps: 0, reported: 0 }));
      for (const k of delta.ks) {
        counts.delivered += 1;
        if (session.seen.has(k)) counts.duplicated += 1;
        else if (k < session.maxK) counts.reordered += 1;
        session.seen.add(k);
        session.maxK = Math.max(session.maxK, k);
        session.minK = Math.min(session.minK, k);
      }
      counts.seqNotRising += delta.seqNotRising;
      counts.reportedSkipped += delta.reportedLost;
      session.seqGaps += delta.seqGaps;
      session.reported += delta.reportedLost;
    }
  }

  /** The totals so far. Gaps and their reports may land in different reports: they are settled per session here. */
  get totals(): Record<'tether' | 'mentra', DeliveryTotals> {
    const totals = {
      tether: { ...this.counts.tether, lostUnreported: 0, notDelivered: 0 },
      mentra: { ...this.counts.mentra, lostUnreported: 0, notDelivered: 0 },
    };
    for (const session of this.sessions.values()) {
      const into = totals[session.sdk];
      if (session.sdk === 'tether') into.lostUnreported += Math.max(0, session.seqGaps - session.reported);
      if (session.maxK >= 0) into.notDelivered += session.maxK - session.minK + 1 - session.seen.size;
    }
    return totals;
  }

  /** Sessions whose `seq` gaps exceed what the cloud reported, with both counts (a post-mortem of `lostUnreported`). */
  unreportedGaps(): Array<{ sessionId: string; seqGaps: number; reported: number }> {
    return [...this.sessions]
      .filter(([, s]) => s.sdk === 'tether' && s.seqGaps > s.reported)
      .map(([sessionId, s]) => ({ sessionId, seqGaps: s.seqGaps, reported: s.reported }));
  }

  /** The highest k session `sessionId` has seen, or -1. */
  lastKOf(sessionId: string): number {
    return this.sessions.get(sessionId)?.maxK ?? -1;
  }
}
