/**
 * The display queue of the Notify app (seed 01 §4, seed 04 §4.1): phone notifications are shown
 * one at a time, each for a fixed time, in arrival order. It owns no timer of its own — the
 * scheduler is injected, so in the app every timer is a session timer (released with the
 * session, seed 04) and in tests it is a fake one.
 */
import { TetherError } from '../../protocol/errors.js';

/** Default time each notification stays on screen, in ms. */
const DEFAULT_DISPLAY_MS = 5000;
/** Default number of notifications waiting behind the one shown. */
const DEFAULT_MAX_QUEUE = 20;

/** What identifies a notification for duplicate suppression: same app, title and content. */
export interface NotificationLike {
  app: string;
  title: string;
  content: string;
}

/** Options of a {@link NotificationQueue}. `H` is the scheduler's handle type. */
export interface NotificationQueueOptions<N extends NotificationLike, H> {
  /** Shows one notification; called when it reaches the front of the queue. */
  display(notification: N): void;
  /** Called when the last notification's time is up and nothing is waiting. */
  clear?(): void;
  /** Runs `fn` once after `ms` milliseconds (in the app: `session.setTimeout`). */
  schedule(fn: () => void, ms: number): H;
  /** Cancels a handle returned by {@link schedule} (in the app: `session.clearTimer`). */
  cancel(handle: H): void;
  /** How long each notification is shown, in ms (default {@link DEFAULT_DISPLAY_MS}). */
  displayMs?: number;
  /** Most notifications waiting behind the one shown; the oldest is dropped beyond it (default {@link DEFAULT_MAX_QUEUE}). */
  maxQueue?: number;
}

/** The queue's timing and size, resolved. */
export interface QueueLimits {
  /** How long each notification is shown, in ms. */
  displayMs: number;
  /** Most notifications waiting behind the one shown. */
  maxQueue: number;
}

/**
 * Applies the defaults to `displayMs` and `maxQueue` and checks them.
 *
 * @throws TetherError `INVALID_CONFIG` when `displayMs` is not a finite number of ms > 0 or
 *   `maxQueue` not an integer ≥ 1.
 */
export function resolveQueueLimits(options: Partial<QueueLimits>): QueueLimits {
  const displayMs = options.displayMs ?? DEFAULT_DISPLAY_MS;
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  if (typeof displayMs !== 'number' || !Number.isFinite(displayMs) || displayMs <= 0) {
    throw new TetherError('INVALID_CONFIG', `displayMs must be a number of milliseconds > 0, got ${String(displayMs)}`);
  }
  if (!Number.isInteger(maxQueue) || maxQueue < 1) {
    throw new TetherError('INVALID_CONFIG', `maxQueue must be an integer ≥ 1, got ${String(maxQueue)}`);
  }
  return { displayMs, maxQueue };
}

/**
 * Shows queued notifications one at a time, each for `displayMs`. A notification equal (same
 * app, title and content) to one waiting or on screen is dropped: phones re-post the same
 * notification when it is updated, and seed 04's Notify showed each copy in turn. When more
 * than `maxQueue` are waiting, the oldest waiting one is dropped — on glasses a stale
 * notification is worth less than a fresh one.
 */
export class NotificationQueue<N extends NotificationLike = NotificationLike, H = unknown> {
  private readonly options: NotificationQueueOptions<N, H>;
  private readonly displayMs: number;
  private readonly maxQueue: number;
  private readonly waiting: N[] = [];
  private shown: N | undefined;
  private timer: { handle: H } | undefined;
  private disposed = false;

  /** @throws TetherError `INVALID_CONFIG` when `displayMs` or `maxQueue` is invalid (see {@link resolveQueueLimits}). */
  constructor(options: NotificationQueueOptions<N, H>) {
    const limits = resolveQueueLimits(options);
    this.options = options;
    this.displayMs = limits.displayMs;
    this.maxQueue = limits.maxQueue;
  }

  /** Number of notifications waiting behind the one shown. */
  get size(): number {
    return this.waiting.length;
  }

  /** The notification on screen, or `undefined`. */
  get current(): N | undefined {
    return this.shown;
  }

  /** Whether {@link dispose} has run. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Queues a notification, showing it at once when nothing is on screen.
   *
   * @returns `false` when it was dropped as a duplicate or the queue is disposed.
   */
  enqueue(notification: N): boolean {
    if (this.disposed) return false;
    if (this.isDuplicate(notification)) return false;
    if (this.shown === undefined) {
      this.show(notification);
      return true;
    }
    this.waiting.push(notification);
    if (this.waiting.length > this.maxQueue) this.waiting.shift();
    return true;
  }

  /**
   * Cancels the pending timer and forgets every notification, without calling `display` or
   * `clear`: it runs when the session ends, when there is no screen left to update. Later
   * {@link enqueue} calls are ignored. Idempotent.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const timer = this.timer;
    this.timer = undefined;
    this.shown = undefined;
    this.waiting.length = 0;
    if (timer) this.options.cancel(timer.handle);
  }

  private isDuplicate(notification: N): boolean {
    const same = (other: N | undefined): boolean =>
      other !== undefined &&
      other.app === notification.app &&
      other.title === notification.title &&
      other.content === notification.content;
    return same(this.shown) || this.waiting.some(same);
  }

  private show(notification: N): void {
    this.shown = notification;
    // Schedule before displaying: a display that throws must not leave the queue stuck.
    this.timer = { handle: this.options.schedule(() => this.advance(), this.displayMs) };
    this.options.display(notification);
  }

  private advance(): void {
    this.timer = undefined;
    this.shown = undefined;
    if (this.disposed) return;
    const next = this.waiting.shift();
    if (next !== undefined) this.show(next);
    else this.options.clear?.();
  }
}
