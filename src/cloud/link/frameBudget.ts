/**
 * Inbound budgets: how many frames and bytes one socket, and all sockets of one user together,
 * may send per second. Checked for every frame before it is parsed, so the check is synchronous
 * and allocates nothing — a fixed one-second window per budget. rate-limiter-flexible (used for
 * the HTTP limits) answers through a promise per call, which the data plane cannot afford per
 * frame; that is why this one is written here.
 */

/** Limits of one budget; 0 turns a limit off. */
export interface FrameLimits {
  messagesPerSecond: number;
  bytesPerSecond: number;
}

/** The frames and bytes spent in the current second of one socket or one user. */
export class FrameBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private messages = 0;
  private bytes = 0;

  /** @param now monotonic clock in ms */
  constructor(
    private readonly limits: FrameLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Spends one frame of `size` bytes; false once this second's budget is exceeded. */
  spend(size: number): boolean {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.messages = 0;
      this.bytes = 0;
    }
    this.messages += 1;
    this.bytes += size;
    const { messagesPerSecond, bytesPerSecond } = this.limits;
    return !((messagesPerSecond > 0 && this.messages > messagesPerSecond) || (bytesPerSecond > 0 && this.bytes > bytesPerSecond));
  }
}

/** One shared budget per user, held while the user has sockets. */
export class UserBudgets {
  private readonly budgets = new Map<string, { budget: FrameBudget; holders: number }>();

  constructor(
    private readonly limits: FrameLimits,
    private readonly now?: () => number,
  ) {}

  /** The budget of `userId`; call {@link release} once when the socket that took it closes. */
  acquire(userId: string): FrameBudget {
    const held = this.budgets.get(userId) ?? { budget: new FrameBudget(this.limits, this.now), holders: 0 };
    held.holders += 1;
    this.budgets.set(userId, held);
    return held.budget;
  }

  release(userId: string): void {
    const held = this.budgets.get(userId);
    if (!held) return;
    held.holders -= 1;
    if (held.holders <= 0) this.budgets.delete(userId);
  }

  /** Users holding a budget (count). */
  get size(): number {
    return this.budgets.size;
  }
}

/** Size in bytes of a frame as `ws` hands it to a `message` listener. */
export function frameSize(data: Buffer | ArrayBuffer | Buffer[] | string): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (Array.isArray(data)) return data.reduce((n, chunk) => n + chunk.length, 0);
  return data.byteLength;
}
