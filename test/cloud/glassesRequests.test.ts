import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PendingGlassesRequests, type PendingGlassesRequest, type RequestEndReason } from '../../src/cloud/glassesRequests.js';

const timeoutsMs = { photo: 3000, audio: 5000, led: 1000, location: 1000 };

function table(maxPerSession = 3) {
  const ended: Array<{ request: PendingGlassesRequest; reason: RequestEndReason }> = [];
  const pending = new PendingGlassesRequests({ timeoutsMs, maxPerSession, onEnded: (request, reason) => ended.push({ request, reason }) });
  const add = (kind: PendingGlassesRequest['kind'], sessionId = 'u1-com.example.a', userId = 'u1', glassesGen = 7) =>
    pending.add({ kind, appRequestId: `app-${Math.random()}`, userId, sessionId, packageName: 'com.example.a', glassesGen });
  return { pending, ended, add };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('requests waiting for the glasses', () => {
  it('ends each one at its kind\'s timeout, once, and then holds no timer', () => {
    const { pending, ended, add } = table();
    add('led');
    add('photo');
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(999);
    expect(ended).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ended.map((e) => [e.request.kind, e.reason])).toEqual([['led', 'timeout']]);
    vi.advanceTimersByTime(2000);
    expect(ended.map((e) => e.request.kind)).toEqual(['led', 'photo']);
    expect(pending.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives every request a fresh id and photos an upload token', () => {
    const { add } = table();
    const a = add('photo')!;
    const b = add('audio')!;
    expect(a.glassesRequestId).not.toBe(b.glassesRequestId);
    expect(a.uploadToken).toMatch(/^[\w-]{32}$/);
    expect(b.uploadToken).toBeUndefined();
  });

  it('refuses a request over the per-session bound, while other sessions still get theirs', () => {
    const { pending, add } = table(2);
    expect(add('audio')).toBeDefined();
    expect(add('audio')).toBeDefined();
    expect(add('audio')).toBeUndefined();
    expect(add('audio', 'u2-com.example.a', 'u2')).toBeDefined();
    expect(pending.countFor('u1-com.example.a')).toBe(2);
  });

  it('is answered only by the user it was sent to, for its own kind, and only once', () => {
    const { pending, ended, add } = table();
    const request = add('audio')!;
    expect(pending.take('u2', 'audio', request.glassesRequestId)).toBeUndefined();
    expect(pending.take('u1', 'led', request.glassesRequestId)).toBeUndefined();
    expect(pending.take('u1', 'audio', request.glassesRequestId)).toBe(request);
    expect(pending.take('u1', 'audio', request.glassesRequestId)).toBeUndefined();
    vi.advanceTimersByTime(10_000);
    expect(ended).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('takes an upload only with its token', () => {
    const { pending, add } = table();
    const photo = add('photo')!;
    expect(pending.takeUpload(photo.glassesRequestId, 'wrong-token-of-the-same-length-xx')).toBeUndefined();
    expect(pending.takeUpload(photo.glassesRequestId, photo.uploadToken!)).toBe(photo);
    expect(pending.takeUpload(photo.glassesRequestId, photo.uploadToken!)).toBeUndefined();
  });

  it('forgets an ended app session\'s requests without answering them', () => {
    const { pending, ended, add } = table();
    add('photo');
    add('led');
    const other = add('audio', 'u1-com.example.b');
    pending.dropSession('u1-com.example.a');
    expect(pending.size).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(ended.map((e) => e.request)).toEqual([other]);
  });

  it('ends with glassesGone what was sent to a socket the user no longer holds', () => {
    const { pending, ended, add } = table();
    add('photo', 'u1-com.example.a', 'u1', 7);
    add('audio', 'u2-com.example.a', 'u2', 8);
    pending.glassesChanged('u1', 7);
    expect(ended).toEqual([]);
    pending.glassesChanged('u1', 9);
    expect(ended.map((e) => [e.request.userId, e.reason])).toEqual([['u1', 'glassesGone']]);
    pending.glassesChanged('u2', undefined);
    expect(ended.map((e) => e.request.userId)).toEqual(['u1', 'u2']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears every timer on shutdown', () => {
    const { pending, ended, add } = table();
    for (let i = 0; i < 3; i++) add('location');
    pending.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(ended).toEqual([]);
  });
});
