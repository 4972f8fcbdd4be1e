/**
 * The per-actor share of a hub-wide budget of entries. A count bound per actor alone lets the
 * hub's memory grow with the number of actors (1,000 records × 20,000 actors); with a share,
 * the total stays near the budget whatever the count, and each actor keeps less as there are
 * more of them.
 */

/** Largest power of two not above `n` (1 for n < 2). */
function powerOfTwoFloor(n: number): number {
  return n < 2 ? 1 : 2 ** Math.floor(Math.log2(n));
}

/**
 * Tracks the share as the actor count changes. Shares are powers of two (capped at `max`), and
 * a share grows only once the doubled share fits in half the budget: so a count that wanders
 * around a boundary does not resize every ring on each actor that starts or stops.
 */
export class RingShare {
  private current: number;

  /**
   * @param budget entries kept across all actors
   * @param max entries kept per actor however few actors there are
   * @param min entries kept per actor however many there are (the budget yields to it)
   */
  private readonly min: number;

  constructor(
    private readonly budget: number,
    private readonly max: number,
    min: number,
  ) {
    this.min = Math.min(min, max);
    this.current = this.fit(1);
  }

  /** Entries each actor may keep now. */
  get perActor(): number {
    return this.current;
  }

  /**
   * The share for `actors` actors. Returns `'shrunk'` when the share fell (every ring must be
   * cut now for the budget to hold), `'grew'` when it rose (rings grow as they fill), or
   * `undefined` when it did not move.
   */
  update(actors: number): 'shrunk' | 'grew' | undefined {
    const count = Math.max(1, actors);
    if (this.current > this.min && count * this.current > this.budget) {
      this.current = this.fit(count);
      return 'shrunk';
    }
    const roomy = this.fit(count * 2);
    if (roomy > this.current) {
      this.current = roomy;
      return 'grew';
    }
    return undefined;
  }

  private fit(count: number): number {
    return Math.max(this.min, Math.min(this.max, powerOfTwoFloor(this.budget / count)));
  }
}
