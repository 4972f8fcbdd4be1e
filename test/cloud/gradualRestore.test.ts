/**
 * A start brings the previous process's sessions back gradually (sessionRegistry.ts): the cloud
 * answers as soon as it listens, a session whose glasses or app return is restored on that first
 * use, the rest a few per turn of the event loop; a shutdown in the middle leaves the sessions
 * not yet restored in the store for the next start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startTestCloud } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';

const USERS = 100;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function storeWithSessions(): Promise<{ dbPath: string; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-gradual-restore-'));
  dirs.push(dir);
  const dbPath = join(dir, 'tether.db');
  const first = await startTestCloud({ settings: { dbPath, gracePeriodMs: 60_000 } });
  for (let i = 0; i < USERS; i++) await (await first.glassesFor(`user${i}`, [])).connect();
  const port = first.cloud.port;
  await first.close();
  return { dbPath, port };
}

it(`restores ${USERS} sessions on first use and the rest in the background, every one into grace`, async () => {
  const { dbPath, port } = await storeWithSessions();
  const second = await startTestCloud({ settings: { dbPath, port, gracePeriodMs: 60_000 } });
  try {
    expect(second.cloud.restoredSessions).toBe(USERS);
    expect(second.cloud.sessions.size).toBe(USERS);
    // A lookup brings its session back at once, whether or not the background got to it.
    expect(second.cloud.sessions.get('user77')?.getSnapshot().value).toBe('grace');
    await waitFor(() => second.cloud.sessions.restoring === 0, { timeoutMs: 5000 });
    const states = [...second.cloud.sessions.values()].map((user) => user.getSnapshot().value);
    expect(states).toEqual(Array.from({ length: USERS }, () => 'grace'));
    const health = (await (await fetch(`${second.cloud.url}/health`)).json()) as { users: number; restoring: number };
    expect(health).toMatchObject({ users: USERS, restoring: 0 });
  } finally {
    await second.close();
  }
});

it('keeps the sessions not restored yet in the store when the cloud stops mid-restore', async () => {
  const { dbPath, port } = await storeWithSessions();
  const second = await startTestCloud({ settings: { dbPath, port, gracePeriodMs: 60_000 } });
  const pendingAtClose = second.cloud.sessions.restoring;
  expect(pendingAtClose).toBeGreaterThan(0); // the stop below does come mid-restore
  await second.close();
  const third = await startTestCloud({ settings: { dbPath, port, gracePeriodMs: 60_000 } });
  try {
    expect(third.cloud.restoredSessions).toBe(USERS);
    await waitFor(() => third.cloud.sessions.restoring === 0, { timeoutMs: 5000 });
    expect([...third.cloud.sessions.values()]).toHaveLength(USERS);
    console.log(`stopped with ${pendingAtClose} of ${USERS} sessions not restored yet; the next start restored all ${USERS}`);
  } finally {
    await third.close();
  }
});
