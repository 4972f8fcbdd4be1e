import { describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { appSessionSystemId, userSessionSystemId } from '../../machines/sessionApi.js';
import { MAX_SCREENS_PER_USER, ScreenMemory, type DisplayFrame, type Screen, type ScreenSink } from '../../src/cloud/screenMemory.js';
import type { ScreenRecord } from '../../src/cloud/store.js';

const A = 'com.example.alpha';
const B = 'com.example.beta';

function frame(packageName: string, text: string, extra: Partial<DisplayFrame> = {}, userId = 'u1'): DisplayFrame {
  return {
    type: 'display_event',
    packageName,
    sessionId: `${userId}-${packageName}`,
    view: 'main',
    layout: { layoutType: 'text_wall', text },
    ...extra,
  };
}

/** Texts of the frames, as the glasses would be shown them. */
function texts(frames: readonly DisplayFrame[]): string[] {
  return frames.map((f) => `${f.packageName.slice(12)}/${f.view ?? 'main'}:${(f.layout as { text: string }).text}`);
}

const everyone = () => true;

/** A sink that records what it is told, as the store writer would receive it. */
class RecordingSink implements ScreenSink {
  readonly puts: Screen[] = [];
  readonly removals: string[] = [];
  put(screen: Screen): void {
    this.puts.push(screen);
  }
  remove(sessionId: string, view: string): void {
    this.removals.push(`${sessionId}/${view}`);
  }
}

function memory(options: Partial<ConstructorParameters<typeof ScreenMemory>[0]> = {}) {
  let now = 1_000_000;
  const sink = new RecordingSink();
  const screens = new ScreenMemory({ maxBytesPerUser: 10_000, budgetBytes: 100_000, now: () => now, sink, ...options });
  return { screens, sink, advance: (ms: number) => (now += ms), now: () => now };
}

describe('screen memory', () => {
  it('keeps the latest display of each app session per view and gives them back oldest drawn first', () => {
    const { screens } = memory();
    screens.record('u1', frame(A, 'a1'), 100);
    screens.record('u1', frame(B, 'b1'), 100);
    screens.record('u1', frame(A, 'dash', { view: 'dashboard' }), 100);
    screens.record('u1', frame(A, 'a2'), 100);
    expect(texts(screens.screensOf('u1', everyone))).toEqual(['beta/main:b1', 'alpha/dashboard:dash', 'alpha/main:a2']);
    expect(screens.size).toBe(3);
    expect(screens.bytes).toBe(300);
  });

  it('treats a display without a view as one on main', () => {
    const { screens } = memory();
    screens.record('u1', frame(A, 'first'), 10);
    screens.record('u1', frame(A, 'second', { view: undefined }), 10);
    expect(texts(screens.screensOf('u1', everyone))).toEqual(['alpha/main:second']);
  });

  it("gives back only the sessions the caller counts as current, and nothing of other users'", () => {
    const { screens } = memory();
    screens.record('u1', frame(A, 'a'), 10);
    screens.record('u1', frame(B, 'b'), 10);
    screens.record('u2', frame(A, 'other user', {}, 'u2'), 10);
    expect(texts(screens.screensOf('u1', (sessionId) => sessionId === `u1-${B}`))).toEqual(['beta/main:b']);
    expect(screens.screensOf('nobody', everyone)).toEqual([]);
    expect(screens.has('u2')).toBe(true);
    expect(screens.has('nobody')).toBe(false);
  });

  describe('durations', () => {
    it('restores a timed display with the time it has left', () => {
      const { screens, advance } = memory();
      screens.record('u1', frame(A, 'toast', { durationMs: 5_000 }), 10);
      advance(1_250);
      const [restored] = screens.screensOf('u1', everyone);
      expect(restored?.durationMs).toBe(3_750);
      expect(texts([restored!])).toEqual(['alpha/main:toast']);
    });

    it('does not restore a display whose duration has elapsed, and forgets it', () => {
      const { screens, sink, advance } = memory();
      screens.record('u1', frame(A, 'toast', { durationMs: 5_000 }), 10);
      screens.record('u1', frame(B, 'steady'), 10);
      advance(5_000);
      expect(texts(screens.screensOf('u1', everyone))).toEqual(['beta/main:steady']);
      expect(screens.size).toBe(1);
      expect(sink.removals).toEqual([`u1-${A}/main`]);
    });

    it('keeps a display without a duration however long ago it was drawn', () => {
      const { screens, advance } = memory();
      screens.record('u1', frame(A, 'steady'), 10);
      advance(24 * 3_600_000);
      expect(texts(screens.screensOf('u1', everyone))).toEqual(['alpha/main:steady']);
    });
  });

  describe('bounds', () => {
    it(`keeps at most ${MAX_SCREENS_PER_USER} screens per user by default, dropping the one drawn longest ago`, () => {
      const { screens } = memory({ maxBytesPerUser: 1_000_000 });
      for (let i = 0; i <= MAX_SCREENS_PER_USER; i++) screens.record('u1', frame(`com.example.app${i}`, `s${i}`), 10);
      const kept = screens.screensOf('u1', everyone);
      expect(kept).toHaveLength(MAX_SCREENS_PER_USER);
      expect(kept[0]?.packageName).toBe('com.example.app1');
      expect(screens.stats.evicted).toBe(1);
    });

    it('keeps at most maxBytesPerUser per user, dropping the oldest screens first', () => {
      const { screens, sink } = memory({ maxBytesPerUser: 1_000 });
      screens.record('u1', frame(A, 'a'), 400);
      screens.record('u1', frame(B, 'b'), 400);
      screens.record('u1', frame(A, 'dash', { view: 'dashboard' }), 400);
      expect(texts(screens.screensOf('u1', everyone))).toEqual(['beta/main:b', 'alpha/dashboard:dash']);
      expect(screens.bytes).toBe(800);
      expect(sink.removals).toEqual([`u1-${A}/main`]);
    });

    it('counts a redraw once: replacing a screen frees its old bytes', () => {
      const { screens } = memory({ maxBytesPerUser: 1_000 });
      for (let i = 0; i < 100; i++) screens.record('u1', frame(A, `a${i}`), 600);
      expect(screens.bytes).toBe(600);
      expect(screens.stats.evicted).toBe(0);
    });

    it('does not keep a display larger than the per-user bound, and drops the one it replaced', () => {
      const { screens, sink } = memory({ maxBytesPerUser: 1_000 });
      screens.record('u1', frame(A, 'small'), 100);
      screens.record('u1', frame(B, 'other'), 100);
      screens.record('u1', frame(A, 'huge bitmap'), 1_001);
      expect(texts(screens.screensOf('u1', everyone))).toEqual(['beta/main:other']);
      expect(screens.stats.refused).toBe(1);
      expect(sink.removals).toEqual([`u1-${A}/main`]);
    });

    it('keeps every user together within the budget, dropping the screen drawn longest ago of any user', () => {
      const { screens } = memory({ maxBytesPerUser: 1_000, budgetBytes: 2_000 });
      screens.record('u1', frame(A, 'u1 old', {}, 'u1'), 800);
      screens.record('u2', frame(A, 'u2', {}, 'u2'), 800);
      screens.record('u1', frame(B, 'u1 new', {}, 'u1'), 100);
      screens.record('u3', frame(A, 'u3', {}, 'u3'), 800);
      expect(screens.bytes).toBeLessThanOrEqual(2_000);
      expect(texts(screens.screensOf('u1', everyone))).toEqual(['beta/main:u1 new']);
      expect(screens.has('u2')).toBe(true);
      expect(screens.has('u3')).toBe(true);
      expect(screens.stats.evicted).toBe(1);
    });
  });

  describe('endings', () => {
    it('forgets the screens of an app session that ended, in both views', () => {
      const { screens, sink } = memory();
      screens.record('u1', frame(A, 'a'), 10);
      screens.record('u1', frame(A, 'dash', { view: 'dashboard' }), 10);
      screens.record('u1', frame(B, 'b'), 10);
      screens.forgetSession(`u1-${A}`);
      expect(texts(screens.screensOf('u1', everyone))).toEqual(['beta/main:b']);
      expect(sink.removals).toEqual([`u1-${A}/main`, `u1-${A}/dashboard`]);
    });

    it('forgets every screen of a user whose session ended', () => {
      const { screens } = memory();
      screens.record('u1', frame(A, 'a'), 10);
      screens.record('u1', frame(B, 'b'), 10);
      screens.record('u2', frame(A, 'kept', {}, 'u2'), 10);
      screens.forgetUser('u1');
      expect(screens.has('u1')).toBe(false);
      expect(screens.size).toBe(1);
      expect(screens.bytes).toBe(10);
    });

    it('hears from the inspection stream when an app session or a user session stops', () => {
      const { screens } = memory();
      screens.record('u1', frame(A, 'a'), 10);
      screens.record('u1', frame(B, 'b'), 10);
      screens.record('u2', frame(A, 'u2', {}, 'u2'), 10);
      const machine = setup({}).createMachine({ initial: 'live', states: { live: { on: { end: 'ended' } }, ended: { type: 'final' } } });
      const app = createActor(machine, { systemId: appSessionSystemId('u1', A), inspect: screens.observe }).start();
      const user = createActor(machine, { systemId: userSessionSystemId('u2'), inspect: screens.observe }).start();
      expect(screens.size).toBe(3);
      app.send({ type: 'end' });
      expect(texts(screens.screensOf('u1', everyone))).toEqual(['beta/main:b']);
      user.stop();
      expect(screens.has('u2')).toBe(false);
    });
  });

  describe('sink', () => {
    it('reports each drawn screen and each removal, in order', () => {
      const { screens, sink } = memory();
      screens.record('u1', frame(A, 'a1'), 10);
      screens.record('u1', frame(A, 'a2'), 10);
      screens.forgetUser('u1');
      expect(sink.puts.map((s) => (s.frame.layout as { text: string }).text)).toEqual(['a1', 'a2']);
      expect(sink.puts[1]!.seq).toBeGreaterThan(sink.puts[0]!.seq);
      expect(sink.removals).toEqual([`u1-${A}/main`]);
    });
  });

  describe('load', () => {
    const row = (packageName: string, text: string, seq: number, extra: Partial<ScreenRecord> = {}, userId = 'u1'): ScreenRecord => {
      const f = frame(packageName, text, {}, userId);
      return { sessionId: f.sessionId, view: 'main', userId, json: JSON.stringify(f), seq, shownAt: 1_000, ...extra };
    };

    it('takes back the screens of live sessions in drawing order and removes the others', () => {
      const { screens, sink } = memory();
      const kept = screens.load(
        [row(B, 'b', 7), row(A, 'a', 3), row(A, 'gone user', 5, {}, 'u9'), row(A, 'expired', 6, { expiresAt: 999_999 }, 'u2')],
        (userId) => userId !== 'u9',
      );
      expect(kept).toBe(2);
      expect(texts(screens.screensOf('u1', everyone))).toEqual(['alpha/main:a', 'beta/main:b']);
      expect(sink.puts).toEqual([]);
      expect(sink.removals.sort()).toEqual([`u2-${A}/main`, `u9-${A}/main`]);
      // Screens drawn after a restart are newer than every loaded one.
      screens.record('u1', frame(A, 'after restart'), 10);
      expect(sink.puts[0]!.seq).toBe(8);
    });

    it('removes damaged rows instead of failing the start', () => {
      const { screens, sink } = memory();
      const kept = screens.load(
        [row(A, 'bad json', 1, { json: '{not json' }), row(B, 'bad view', 2, { view: 'hud' }), row(A, 'ok', 3, { view: 'dashboard', json: JSON.stringify(frame(A, 'ok', { view: 'dashboard' })) })],
        everyone,
      );
      expect(kept).toBe(1);
      expect(sink.removals).toEqual([`u1-${A}/main`, `u1-${B}/hud`]);
    });

    it('applies its own bounds to what it loads', () => {
      const { screens, sink } = memory({ maxBytesPerUser: 1_000 });
      const big = (text: string) => JSON.stringify(frame(A, text.padEnd(600, '.')));
      screens.load([row(A, 'x', 1, { json: big('first') }), row(A, 'y', 2, { view: 'dashboard', json: JSON.stringify(frame(A, 'y'.repeat(600), { view: 'dashboard' })) })], everyone);
      expect(screens.size).toBe(1);
      expect(sink.removals).toEqual([`u1-${A}/main`]);
    });
  });
});
