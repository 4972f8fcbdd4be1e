import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ResourceTracker, type ResourceErrorSource } from '../../src/sdk/resourceTracker.js';

function trackerWithErrors() {
  const errors: Array<{ error: unknown; source: ResourceErrorSource }> = [];
  const tracker = new ResourceTracker({ onError: (error, source) => errors.push({ error, source }) });
  return { tracker, errors };
}

describe('ResourceTracker', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('timers', () => {
    it('fires a tracked timeout once and stops tracking it', () => {
      const { tracker } = trackerWithErrors();
      const fn = vi.fn();
      tracker.setTimeout(fn, 1000);
      expect(tracker.size).toBe(1);

      vi.advanceTimersByTime(999);
      expect(fn).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(fn).toHaveBeenCalledTimes(1);
      expect(tracker.size).toBe(0);

      vi.advanceTimersByTime(10_000);
      expect(fn).toHaveBeenCalledTimes(1);
    });

    it('fires a tracked interval until it is cleared', () => {
      const { tracker } = trackerWithErrors();
      const fn = vi.fn();
      const handle = tracker.setInterval(fn, 100);

      vi.advanceTimersByTime(350);
      expect(fn).toHaveBeenCalledTimes(3);
      expect(tracker.size).toBe(1);

      tracker.clearTimer(handle);
      expect(tracker.size).toBe(0);
      vi.advanceTimersByTime(1000);
      expect(fn).toHaveBeenCalledTimes(3);
    });

    it('cancels a timeout cleared with clearTimer', () => {
      const { tracker } = trackerWithErrors();
      const fn = vi.fn();
      const handle = tracker.setTimeout(fn, 100);
      tracker.clearTimer(handle);
      tracker.clearTimer(handle);
      vi.advanceTimersByTime(1000);
      expect(fn).not.toHaveBeenCalled();
      expect(tracker.size).toBe(0);
    });

    it('clears every pending timer on releaseAll', () => {
      const { tracker } = trackerWithErrors();
      const timeout = vi.fn();
      const interval = vi.fn();
      const registered = vi.fn();
      tracker.setTimeout(timeout, 100);
      tracker.setInterval(interval, 100);
      const handle = tracker.registerTimer(setTimeout(registered, 100));
      expect(handle).toBeDefined();
      expect(tracker.size).toBe(3);

      tracker.releaseAll();
      expect(tracker.size).toBe(0);
      vi.advanceTimersByTime(1000);
      expect(timeout).not.toHaveBeenCalled();
      expect(interval).not.toHaveBeenCalled();
      expect(registered).not.toHaveBeenCalled();
    });

    it('clears a registered interval on releaseAll', () => {
      const { tracker } = trackerWithErrors();
      const fn = vi.fn();
      tracker.registerTimer(setInterval(fn, 100));
      vi.advanceTimersByTime(250);
      tracker.releaseAll();
      vi.advanceTimersByTime(1000);
      expect(fn).toHaveBeenCalledTimes(2);
    });

    it('reports a throwing timer callback and keeps the interval running', () => {
      const { tracker, errors } = trackerWithErrors();
      const boom = new Error('boom');
      tracker.setTimeout(() => {
        throw boom;
      }, 10);
      let ticks = 0;
      tracker.setInterval(() => {
        ticks += 1;
        throw new Error(`tick ${ticks}`);
      }, 100);

      vi.advanceTimersByTime(200);
      expect(ticks).toBe(2);
      expect(errors.map((e) => e.source)).toEqual(['timeout', 'interval', 'interval']);
      expect(errors[0]?.error).toBe(boom);
    });
  });

  describe('releaseAll', () => {
    it('runs cleanups once, in reverse registration order', () => {
      const { tracker } = trackerWithErrors();
      const order: string[] = [];
      tracker.registerCleanup(() => order.push('first'));
      tracker.track(() => order.push('second'));
      tracker.track({ dispose: () => order.push('third') });
      expect(tracker.size).toBe(3);

      tracker.releaseAll();
      tracker.releaseAll();
      expect(order).toEqual(['third', 'second', 'first']);
      expect(tracker.size).toBe(0);
      expect(tracker.released).toBe(true);
    });

    it('runs the other cleanups when one throws, and reports it', () => {
      const { tracker, errors } = trackerWithErrors();
      const ran: string[] = [];
      const boom = new Error('cleanup failed');
      tracker.registerCleanup(() => ran.push('a'));
      tracker.registerCleanup(() => {
        throw boom;
      });
      tracker.registerCleanup(() => ran.push('c'));

      expect(() => tracker.releaseAll()).not.toThrow();
      expect(ran).toEqual(['c', 'a']);
      expect(errors).toEqual([{ error: boom, source: 'cleanup' }]);
    });

    it('survives an onError that throws', () => {
      const tracker = new ResourceTracker({
        onError: () => {
          throw new Error('reporter broken');
        },
      });
      const after = vi.fn();
      tracker.registerCleanup(after);
      tracker.registerCleanup(() => {
        throw new Error('cleanup failed');
      });
      expect(() => tracker.releaseAll()).not.toThrow();
      expect(after).toHaveBeenCalledTimes(1);
    });
  });

  describe('after release', () => {
    it('never runs a timer set after the session ended', () => {
      const { tracker } = trackerWithErrors();
      tracker.releaseAll();
      const timeout = vi.fn();
      const interval = vi.fn();
      const registered = vi.fn();
      tracker.setTimeout(timeout, 10);
      tracker.setInterval(interval, 10);
      tracker.registerTimer(setTimeout(registered, 10));
      vi.advanceTimersByTime(1000);
      expect(timeout).not.toHaveBeenCalled();
      expect(interval).not.toHaveBeenCalled();
      expect(registered).not.toHaveBeenCalled();
      expect(tracker.size).toBe(0);
    });

    it('runs a cleanup registered after release at once', () => {
      const { tracker, errors } = trackerWithErrors();
      tracker.releaseAll();
      const cleanup = vi.fn();
      const disposer = vi.fn();
      const unregister = tracker.registerCleanup(cleanup);
      const dispose = tracker.track(disposer);
      expect(cleanup).toHaveBeenCalledTimes(1);
      expect(disposer).toHaveBeenCalledTimes(1);

      unregister();
      dispose();
      expect(disposer).toHaveBeenCalledTimes(1);
      expect(tracker.size).toBe(0);

      tracker.registerCleanup(() => {
        throw new Error('late');
      });
      expect(errors).toHaveLength(1);
    });

    it('runs at once a cleanup that another cleanup registers during release', () => {
      const { tracker } = trackerWithErrors();
      const late = vi.fn();
      tracker.registerCleanup(() => tracker.registerCleanup(late));
      tracker.releaseAll();
      expect(late).toHaveBeenCalledTimes(1);
    });
  });

  describe('unregistering', () => {
    it('forgets a cleanup whose unregister function was called', () => {
      const { tracker } = trackerWithErrors();
      const cleanup = vi.fn();
      const unregister = tracker.registerCleanup(cleanup);
      unregister();
      unregister();
      expect(tracker.size).toBe(0);
      tracker.releaseAll();
      expect(cleanup).not.toHaveBeenCalled();
    });

    it('disposes a tracked resource early exactly once', () => {
      const { tracker } = trackerWithErrors();
      const disposer = vi.fn();
      const dispose = tracker.track(disposer);
      dispose();
      dispose();
      expect(disposer).toHaveBeenCalledTimes(1);
      expect(tracker.size).toBe(0);
      tracker.releaseAll();
      dispose();
      expect(disposer).toHaveBeenCalledTimes(1);
    });

    it('does not dispose again through the early-dispose function after release', () => {
      const { tracker } = trackerWithErrors();
      const disposer = vi.fn();
      const dispose = tracker.track(disposer);
      tracker.releaseAll();
      dispose();
      expect(disposer).toHaveBeenCalledTimes(1);
    });
  });

  it('reports through process warnings when no onError is given', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const tracker = new ResourceTracker();
      tracker.registerCleanup(() => {
        throw new Error('nobody listening');
      });
      tracker.releaseAll();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain('nobody listening');
    } finally {
      warn.mockRestore();
    }
  });
});
