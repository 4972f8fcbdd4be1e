import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NotificationQueue, type NotificationLike } from '../../src/apps/notify/notificationQueue.js';
import { TetherError } from '../../src/protocol/errors.js';

const note = (title: string, app = 'Messages', content = `body of ${title}`): NotificationLike => ({ app, title, content });

function setup(options: { displayMs?: number; maxQueue?: number; withClear?: boolean } = {}) {
  const shown: string[] = [];
  let clears = 0;
  const queue = new NotificationQueue({
    display: (n) => shown.push(n.title),
    ...(options.withClear === false ? {} : { clear: () => void clears++ }),
    schedule: (fn, ms) => setTimeout(fn, ms),
    cancel: (handle) => clearTimeout(handle),
    ...(options.displayMs === undefined ? {} : { displayMs: options.displayMs }),
    ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
  });
  return { queue, shown, clears: () => clears };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('NotificationQueue', () => {
  it('shows the first notification at once and queues the others behind it', () => {
    const { queue, shown } = setup();
    expect(queue.enqueue(note('a'))).toBe(true);
    expect(queue.enqueue(note('b'))).toBe(true);
    expect(shown).toEqual(['a']);
    expect(queue.current?.title).toBe('a');
    expect(queue.size).toBe(1);
  });

  it('shows each notification for displayMs, one at a time, in arrival order', () => {
    const { queue, shown, clears } = setup({ displayMs: 1000 });
    queue.enqueue(note('a'));
    queue.enqueue(note('b'));
    queue.enqueue(note('c'));

    vi.advanceTimersByTime(999);
    expect(shown).toEqual(['a']);
    vi.advanceTimersByTime(1);
    expect(shown).toEqual(['a', 'b']);
    expect(queue.current?.title).toBe('b');
    expect(queue.size).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(shown).toEqual(['a', 'b', 'c']);
    expect(clears()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(queue.current).toBeUndefined();
    expect(queue.size).toBe(0);
    expect(clears()).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('uses 5000 ms by default', () => {
    const { queue, shown } = setup();
    queue.enqueue(note('a'));
    queue.enqueue(note('b'));
    vi.advanceTimersByTime(4999);
    expect(shown).toEqual(['a']);
    vi.advanceTimersByTime(1);
    expect(shown).toEqual(['a', 'b']);
  });

  it('shows a notification at once when it arrives after the screen went idle', () => {
    const { queue, shown } = setup({ displayMs: 100, withClear: false });
    queue.enqueue(note('a'));
    vi.advanceTimersByTime(500);
    expect(queue.current).toBeUndefined();
    queue.enqueue(note('b'));
    expect(shown).toEqual(['a', 'b']);
  });

  it('drops a duplicate of a queued notification', () => {
    const { queue, shown } = setup({ displayMs: 100 });
    queue.enqueue(note('a'));
    queue.enqueue(note('b'));
    expect(queue.enqueue(note('b'))).toBe(false);
    expect(queue.size).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(shown).toEqual(['a', 'b']);
  });

  it('drops a duplicate of the notification on screen', () => {
    const { queue, shown } = setup({ displayMs: 100 });
    queue.enqueue(note('a'));
    expect(queue.enqueue(note('a'))).toBe(false);
    expect(queue.size).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(shown).toEqual(['a']);
  });

  it('treats notifications that differ in app, title or content as distinct', () => {
    const { queue } = setup();
    queue.enqueue(note('a', 'Messages', 'x'));
    expect(queue.enqueue(note('a', 'Mail', 'x'))).toBe(true);
    expect(queue.enqueue(note('b', 'Messages', 'x'))).toBe(true);
    expect(queue.enqueue(note('a', 'Messages', 'y'))).toBe(true);
    expect(queue.size).toBe(3);
  });

  it('shows the same notification again once it has left the screen', () => {
    const { queue, shown } = setup({ displayMs: 100 });
    queue.enqueue(note('a'));
    vi.advanceTimersByTime(100);
    expect(queue.enqueue(note('a'))).toBe(true);
    expect(shown).toEqual(['a', 'a']);
  });

  it('drops the oldest waiting notification beyond maxQueue', () => {
    const { queue, shown } = setup({ displayMs: 100, maxQueue: 2 });
    for (const title of ['a', 'b', 'c', 'd']) queue.enqueue(note(title));
    expect(queue.current?.title).toBe('a');
    expect(queue.size).toBe(2);
    vi.advanceTimersByTime(1000);
    expect(shown).toEqual(['a', 'c', 'd']);
  });

  it('keeps at most 20 waiting by default', () => {
    const { queue } = setup();
    for (let i = 0; i < 30; i++) queue.enqueue(note(`n${i}`));
    expect(queue.size).toBe(20);
  });

  it('cancels its timer and forgets everything on dispose', () => {
    const { queue, shown, clears } = setup({ displayMs: 100 });
    queue.enqueue(note('a'));
    queue.enqueue(note('b'));
    expect(vi.getTimerCount()).toBe(1);
    queue.dispose();
    expect(vi.getTimerCount()).toBe(0);
    expect(queue.current).toBeUndefined();
    expect(queue.size).toBe(0);
    expect(queue.isDisposed).toBe(true);
    vi.advanceTimersByTime(1000);
    expect(shown).toEqual(['a']);
    expect(clears()).toBe(0);
  });

  it('ignores notifications after dispose, and a second dispose', () => {
    const { queue, shown } = setup();
    queue.dispose();
    queue.dispose();
    expect(queue.enqueue(note('a'))).toBe(false);
    expect(shown).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps going when display throws', () => {
    let calls = 0;
    const queue = new NotificationQueue({
      display: () => {
        calls++;
        if (calls === 1) throw new Error('screen broke');
      },
      schedule: (fn, ms) => setTimeout(fn, ms),
      cancel: (handle) => clearTimeout(handle),
      displayMs: 100,
    });
    expect(() => queue.enqueue(note('a'))).toThrow('screen broke');
    queue.enqueue(note('b'));
    vi.advanceTimersByTime(100);
    expect(calls).toBe(2);
    expect(queue.current?.title).toBe('b');
  });

  it.each([
    { displayMs: 0 },
    { displayMs: -1 },
    { displayMs: Number.NaN },
    { maxQueue: 0 },
    { maxQueue: 1.5 },
  ])('rejects invalid limits %o with INVALID_CONFIG', (limits) => {
    const create = () => new NotificationQueue({ display() {}, schedule: () => 0, cancel() {}, ...limits });
    expect(create).toThrow(TetherError);
    try {
      create();
    } catch (error) {
      expect((error as TetherError).code).toBe('INVALID_CONFIG');
    }
  });
});
