import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DisplayThrottle } from '../../src/apps/captions/displayThrottle.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

function setup(intervalMs = 200) {
  const shown: string[] = [];
  const throttle = new DisplayThrottle({ intervalMs, schedule: (fn, ms) => setTimeout(fn, ms) });
  return { shown, request: (text: string) => throttle.request(() => shown.push(text)) };
}

describe('DisplayThrottle', () => {
  it('shows the first request at once', () => {
    const { shown, request } = setup();
    request('a');
    expect(shown).toEqual(['a']);
  });

  it('shows at most once per interval and always shows the latest request', () => {
    const { shown, request } = setup();
    request('a');
    vi.advanceTimersByTime(50);
    request('b');
    vi.advanceTimersByTime(50);
    request('c');
    expect(shown).toEqual(['a']);
    vi.advanceTimersByTime(100);
    expect(shown).toEqual(['a', 'c']);
    request('d');
    vi.advanceTimersByTime(199);
    expect(shown).toEqual(['a', 'c']);
    vi.advanceTimersByTime(1);
    expect(shown).toEqual(['a', 'c', 'd']);
  });

  it('leaves no timer behind once the requests stop', () => {
    const { shown, request } = setup();
    request('a');
    request('b');
    vi.advanceTimersByTime(1000);
    expect(shown).toEqual(['a', 'b']);
    expect(vi.getTimerCount()).toBe(0);
    request('c');
    expect(shown).toEqual(['a', 'b', 'c']);
  });
});
