import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ScreenMemory, type DisplayFrame } from '../../src/cloud/screenMemory.js';
import { SCREEN_WRITE_INTERVAL_MS, ScreenWriter } from '../../src/cloud/screenWriter.js';
import { createSqliteStore, type ScreenKey, type ScreenRecord, type Store } from '../../src/cloud/store.js';

const A = 'com.example.alpha';
const silent = pino({ level: 'silent' });

function frame(text: string, packageName = A, userId = 'u1'): DisplayFrame {
  return { type: 'display_event', packageName, sessionId: `${userId}-${packageName}`, view: 'main', layout: { layoutType: 'text_wall', text } };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A store that counts the batches it is given, around a real SQLite store. */
function countingStore(store: Store) {
  const batches: Array<{ puts: readonly ScreenRecord[]; removals: readonly ScreenKey[] }> = [];
  return {
    batches,
    async saveScreens(puts: readonly ScreenRecord[], removals: readonly ScreenKey[]) {
      batches.push({ puts, removals });
      await store.saveScreens(puts, removals);
    },
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('screen writer', () => {
  it('coalesces the changes of one tick per screen into one batch', async () => {
    const store = createSqliteStore(':memory:');
    const counting = countingStore(store);
    const writer = new ScreenWriter({ store: counting, logger: silent, minIntervalMs: 0 });
    const screens = new ScreenMemory({ maxBytesPerUser: 10_000, budgetBytes: 100_000, sink: writer });
    for (let i = 0; i < 50; i++) screens.record('u1', frame(`caption ${i}`), 30);
    screens.record('u2', frame('other', A, 'u2'), 30);
    expect(counting.batches).toHaveLength(0);
    await tick();
    expect(counting.batches).toHaveLength(1);
    expect(counting.batches[0]!.puts).toHaveLength(2);
    const rows = await store.loadScreens();
    expect(rows.map((r) => JSON.parse(r.json).layout.text)).toEqual(['caption 49', 'other']);
    screens.forgetUser('u1');
    await tick();
    expect((await store.loadScreens()).map((r) => r.userId)).toEqual(['u2']);
    await store.close();
  });

  it(`writes the first change after a quiet spell on the next tick, later ones at most every ${SCREEN_WRITE_INTERVAL_MS} ms`, async () => {
    vi.useFakeTimers();
    try {
      const store = createSqliteStore(':memory:');
      const counting = countingStore(store);
      const writer = new ScreenWriter({ store: counting, logger: silent, now: () => Date.now() });
      const screens = new ScreenMemory({ maxBytesPerUser: 10_000, budgetBytes: 100_000, sink: writer });
      screens.record('u1', frame('first'), 30);
      vi.advanceTimersByTime(0);
      expect(counting.batches).toHaveLength(1);
      // A captions app redrawing every 100 ms: one write per interval, with the latest text.
      for (let i = 1; i <= 25; i++) {
        vi.advanceTimersByTime(100);
        screens.record('u1', frame(`caption ${i}`), 30);
      }
      expect(counting.batches).toHaveLength(3);
      expect(counting.batches.map((b) => b.puts.map((p) => JSON.parse(p.json).layout.text))).toEqual([['first'], ['caption 9'], ['caption 19']]);
      vi.advanceTimersByTime(SCREEN_WRITE_INTERVAL_MS);
      expect(counting.batches.at(-1)!.puts.map((p) => JSON.parse(p.json).layout.text)).toEqual(['caption 25']);
      vi.advanceTimersByTime(10 * SCREEN_WRITE_INTERVAL_MS);
      expect(counting.batches).toHaveLength(4);
      await store.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes every changed screen of 1,000 users × 2 apps in one transaction', async () => {
    const store = createSqliteStore(':memory:');
    const counting = countingStore(store);
    const writer = new ScreenWriter({ store: counting, logger: silent });
    const screens = new ScreenMemory({ maxBytesPerUser: 262_144, budgetBytes: 67_108_864, sink: writer });
    for (let u = 0; u < 1_000; u++) {
      for (const app of [A, 'com.example.beta']) screens.record(`u${u}`, frame(`caption ${'x'.repeat(200)}`, app, `u${u}`), 300);
    }
    const started = performance.now();
    await writer.flush();
    const ms = performance.now() - started;
    expect(counting.batches).toHaveLength(1);
    expect(await store.loadScreens()).toHaveLength(2_000);
    console.log(`[screenWriter] 2,000 changed screens written in one transaction: ${ms.toFixed(1)} ms (${((ms * 1000) / 2_000).toFixed(1)} µs a screen)`);
    await store.close();
  });

  it('flushes what is pending on close and writes nothing afterwards', async () => {
    const store = createSqliteStore(':memory:');
    const writer = new ScreenWriter({ store, logger: silent });
    const screens = new ScreenMemory({ maxBytesPerUser: 10_000, budgetBytes: 100_000, sink: writer });
    screens.record('u1', frame('first words'), 30);
    await tick();
    // Within the interval of that write: pending, until close writes it.
    screens.record('u1', frame('last words'), 30);
    await tick();
    expect(JSON.parse((await store.loadScreens())[0]!.json).layout.text).toBe('first words');
    await writer.close();
    expect((await store.loadScreens()).map((r) => JSON.parse(r.json).layout.text)).toEqual(['last words']);
    // The cloud stops every actor after this: forgetting in memory must not reach the store.
    screens.forgetUser('u1');
    await tick();
    expect(await store.loadScreens()).toHaveLength(1);
    await store.close();
  });

  it('logs a failed write instead of throwing into the data plane', async () => {
    const store = createSqliteStore(':memory:');
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    const writer = new ScreenWriter({ store, logger });
    const screens = new ScreenMemory({ maxBytesPerUser: 10_000, budgetBytes: 100_000, sink: writer });
    await store.close();
    screens.record('u1', frame('nobody will store this'), 30);
    await tick();
    expect(lines.join('\n')).toContain('could not save screens');
  });
});

describe('screens table', () => {
  it('keeps screens across reopening the file, with their deadlines and order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-screens-'));
    dirs.push(dir);
    const path = join(dir, 'tether.db');
    const first = createSqliteStore(path);
    await first.saveScreens(
      [
        { sessionId: 's2', view: 'main', userId: 'u', json: '{"n":2}', seq: 2, shownAt: 20 },
        { sessionId: 's1', view: 'dashboard', userId: 'u', json: '{"n":1}', seq: 1, shownAt: 10, expiresAt: 5_000 },
        { sessionId: 's3', view: 'main', userId: 'u', json: '{"n":3}', seq: 3, shownAt: 30 },
      ],
      [],
    );
    await first.saveScreens([{ sessionId: 's2', view: 'main', userId: 'u', json: '{"n":22}', seq: 4, shownAt: 40 }], [{ sessionId: 's3', view: 'main' }]);
    await first.close();
    const second = createSqliteStore(path);
    expect(await second.loadScreens()).toEqual([
      { sessionId: 's1', view: 'dashboard', userId: 'u', json: '{"n":1}', seq: 1, shownAt: 10, expiresAt: 5_000 },
      { sessionId: 's2', view: 'main', userId: 'u', json: '{"n":22}', seq: 4, shownAt: 40 },
    ]);
    await second.close();
  });

  it('is added to a database created before it existed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-screens-'));
    dirs.push(dir);
    const path = join(dir, 'tether.db');
    await createSqliteStore(path).close();
    const raw = new Database(path);
    raw.exec('DROP TABLE screens');
    raw.close();
    const store = createSqliteStore(path);
    await store.saveScreens([{ sessionId: 's', view: 'main', userId: 'u', json: '{}', seq: 1, shownAt: 1 }], []);
    expect(await store.loadScreens()).toHaveLength(1);
    await store.close();
  });
});
