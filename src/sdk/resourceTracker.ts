/**
 * Session-owned resources (seed 04, ARCHITECTURE principle 6): timers, handlers and cleanup
 * functions registered by app code belong to the session and are released with it, without
 * the app having to remember to do so.
 */

/** A timer handle as returned by Node's `setTimeout` / `setInterval`. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** A function that releases one resource. */
export type Disposer = () => void;

/** An object that releases itself with `dispose()` (a subscription, a feed, a child process wrapper). */
export interface DisposableLike {
  dispose(): void;
}

/** What failed when the tracker reports an error: a cleanup function or a timer's callback. */
export type ResourceErrorSource = 'cleanup' | 'timeout' | 'interval';

/** Options of {@link ResourceTracker}. */
export interface ResourceTrackerOptions {
  /**
   * Called with everything a cleanup function or a tracked timer's callback throws. It is how
   * one broken resource is reported without stopping the release of the others or crashing an
   * app server that hosts many sessions. Defaults to `process.emitWarning`.
   */
  onError?: (error: unknown, source: ResourceErrorSource) => void;
}

type TimerKind = 'timeout' | 'interval';

/**
 * Owns every releasable resource of one session and releases them all, once, when the session
 * ends.
 *
 * Release order: timers are cleared first (clearing has no side effects and stops any of them
 * from firing into a half-torn-down session), then cleanup functions and tracked disposers run
 * in reverse registration order, like stacked `finally` blocks: what was set up last, often on
 * top of what came before, is torn down first.
 *
 * After {@link releaseAll}, the tracker stays released: anything registered later is released
 * at once (a timer set after the session ended never runs, a cleanup registered late runs
 * immediately). The alternative — tracking it until some later release that never comes — is
 * exactly the leak seed 04 describes, from app code that keeps running after its session ended
 * (an `await` that resumes late, an interval callback already queued).
 */
export class ResourceTracker {
  private readonly timers = new Map<TimerHandle, TimerKind>();
  /** Cleanups and tracked disposers, in registration order (Map keeps insertion order). */
  private readonly disposers = new Map<symbol, Disposer>();
  private readonly onError: (error: unknown, source: ResourceErrorSource) => void;
  private isReleased = false;

  /** @param options - see {@link ResourceTrackerOptions}. */
  constructor(options: ResourceTrackerOptions = {}) {
    this.onError = options.onError ?? defaultOnError;
  }

  /** Number of live tracked resources: pending timers, cleanup functions and tracked disposers. */
  get size(): number {
    return this.timers.size + this.disposers.size;
  }

  /** True once {@link releaseAll} has run; from then on every registration is released at once. */
  get released(): boolean {
    return this.isReleased;
  }

  /**
   * Like the global `setTimeout`, but the timer dies with the session. Once it has fired it is
   * no longer tracked. A callback that throws is reported through `onError` instead of becoming
   * an uncaught exception that would take down every session of the app server.
   *
   * @param fn - called once after `ms`.
   * @param ms - delay in milliseconds.
   * @returns the timer handle; pass it to {@link clearTimer} (or `clearTimeout`) to cancel.
   */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = setTimeout(() => {
      this.timers.delete(handle);
      this.runGuarded(fn, 'timeout');
    }, ms);
    return this.adopt(handle, 'timeout');
  }

  /**
   * Like the global `setInterval`, but the interval dies with the session. A callback that
   * throws is reported through `onError` and the interval keeps running.
   *
   * @param fn - called every `ms`.
   * @param ms - period in milliseconds.
   * @returns the timer handle; pass it to {@link clearTimer} (or `clearInterval`) to cancel.
   */
  setInterval(fn: () => void, ms: number): TimerHandle {
    const handle = setInterval(() => this.runGuarded(fn, 'interval'), ms);
    return this.adopt(handle, 'interval');
  }

  /**
   * Tracks a timer created elsewhere (seed 04's `registerTimer(setTimeout(...))`), so it is
   * cleared when the session ends. Unlike timers made with {@link setTimeout}, the tracker cannot
   * see such a timer fire: it stays tracked (counted in {@link size}) until
   * {@link clearTimer} or {@link releaseAll}.
   *
   * @param handle - a handle from `setTimeout` or `setInterval`.
   * @returns the same handle, so the call can wrap the timer's creation.
   */
  registerTimer(handle: TimerHandle): TimerHandle {
    // Node and the fake timers used in tests accept clearTimeout for intervals too.
    return this.adopt(handle, 'timeout');
  }

  /**
   * Cancels a timer and stops tracking it. Harmless for a handle that already fired, was
   * already cleared, or was never tracked (it is still cancelled).
   *
   * @param handle - a timer handle.
   */
  clearTimer(handle: TimerHandle): void {
    const kind = this.timers.get(handle) ?? 'timeout';
    this.timers.delete(handle);
    cancel(handle, kind);
  }

  /**
   * Registers a function to run when the session ends. A function registered after the
   * session ended runs at once (its errors go to `onError`).
   *
   * @param fn - the cleanup; a throw is reported through `onError` and never stops the others.
   * @returns a function that unregisters `fn` without running it (idempotent).
   */
  registerCleanup(fn: Disposer): () => void {
    if (this.isReleased) {
      this.runGuarded(fn, 'cleanup');
      return noop;
    }
    const key = Symbol('cleanup');
    this.disposers.set(key, fn);
    return () => {
      this.disposers.delete(key);
    };
  }

  /**
   * Tracks a resource that knows how to release itself, and hands back the way to release it
   * early. Where {@link registerCleanup}'s return value forgets the cleanup, this one runs it:
   * it is what an `on*` method returns as its unsubscribe function.
   *
   * @param resource - a disposer function, or an object with `dispose()`.
   * @returns a function that disposes the resource now and stops tracking it. It disposes at
   *   most once, however often it is called and whether or not {@link releaseAll} ran first;
   *   a throw from an early dispose propagates to its caller, who asked for it.
   */
  track(resource: Disposer | DisposableLike): () => void {
    const dispose: Disposer =
      typeof resource === 'function' ? resource : () => resource.dispose();
    if (this.isReleased) {
      this.runGuarded(dispose, 'cleanup');
      return noop;
    }
    const key = Symbol('tracked');
    this.disposers.set(key, dispose);
    return () => {
      // Deleting first makes the call idempotent and keeps releaseAll from running it again.
      if (this.disposers.delete(key)) dispose();
    };
  }

  /**
   * Releases everything: clears all timers, then runs cleanups and disposers in reverse
   * registration order, each isolated so one throwing cleanup never keeps the others from
   * running. Idempotent: a second call does nothing.
   */
  releaseAll(): void {
    if (this.isReleased) return;
    this.isReleased = true;

    for (const [handle, kind] of this.timers) cancel(handle, kind);
    this.timers.clear();

    // Snapshot and empty first: a cleanup that registers or unregisters something while we
    // iterate must not change what this pass runs (late registrations run at once, see above).
    const pending = [...this.disposers.values()].reverse();
    this.disposers.clear();
    for (const dispose of pending) this.runGuarded(dispose, 'cleanup');
  }

  private adopt(handle: TimerHandle, kind: TimerKind): TimerHandle {
    if (this.isReleased) {
      cancel(handle, kind);
    } else {
      this.timers.set(handle, kind);
    }
    return handle;
  }

  private runGuarded(fn: () => void, source: ResourceErrorSource): void {
    try {
      fn();
    } catch (error) {
      try {
        this.onError(error, source);
      } catch {
        // A failing error reporter must not turn a reported error into a crash or stop a release.
      }
    }
  }
}

function cancel(handle: TimerHandle, kind: TimerKind): void {
  if (kind === 'interval') clearInterval(handle);
  else clearTimeout(handle);
}

function noop(): void {}

function defaultOnError(error: unknown, source: ResourceErrorSource): void {
  const message = error instanceof Error ? error.message : String(error);
  process.emitWarning(`session ${source} threw: ${message}`, { code: 'TETHER_RESOURCE_ERROR' });
}
