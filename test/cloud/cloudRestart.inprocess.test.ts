import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startPostgres, type LocalPostgres } from '../../scripts/localServers/postgres.js';
import { CLOSE_ANSWER_TIMEOUT_MS } from '../../src/util/closeSocket.js';
import { RecordingApp, startTestCloud } from '../support/cloudHarness.js';
import { waitFor } from '../support/net.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let postgres: LocalPostgres | undefined;
afterAll(() => postgres?.stop());

function sqliteFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tether-restart-'));
  dirs.push(dir);
  return join(dir, 'tether.db');
}

it.each([
  ['', 0],
  [' after a reconnect storm ran the generation counter ahead of the clock', 100_000],
])('restores persisted sessions into grace and adopts the returning glasses and apps without a webhook%s', async (_label, storm) => {
  await restartAndResume(sqliteFile(), storm);
});

it('does the same on the PostgreSQL store', async () => {
  postgres ??= await startPostgres();
  await restartAndResume(postgres.url, 0);
}, 30_000);

async function restartAndResume(dbPath: string, storm: number): Promise<void> {
  const first = await startTestCloud({ settings: { dbPath, appReconnectWindowMs: 5000, gracePeriodMs: 5000 } });
  const { server } = await first.serveApp('com.example.echo', (apiKey) => new RecordingApp({ packageName: 'com.example.echo', apiKey, session: { reconnectDelayMs: 200 } }));
  const app = server as RecordingApp;
  // Generations handed out faster than one per ms put the counter ahead of the next process's clock.
  for (let i = 0; i < storm; i++) first.cloud.sockets.nextGen();
  const g = await first.glassesFor('rita', ['com.example.echo']);
  await g.connect();
  await waitFor(() => app.sessions.length === 1, { timeoutMs: 3000 });
  const port = first.cloud.port;
  await first.cloud.close();
  expect(g.closeEvents.at(-1)?.code).toBe(1012);
  const second = await startTestCloud({ settings: { dbPath, port, appReconnectWindowMs: 5000, gracePeriodMs: 5000 } });
  expect(second.cloud.restoredSessions).toBe(1);
  expect(second.cloud.sessions.get('rita')?.getSnapshot().value).toBe('grace');
  await waitFor(() => app.sessions[0]!.isConnectionHealthy(), { timeoutMs: 4000 });
  await g.connect();
  await waitFor(() => second.cloud.sessions.appSession('rita', 'rita-com.example.echo')?.getSnapshot().hasTag('canSend'), { timeoutMs: 4000 });
  expect(g.closeEvents.filter((c) => c.code === 4003)).toEqual([]);
  g.transcribe('after restart');
  await waitFor(() => app.transcripts.includes('after restart'), { timeoutMs: 3000 });
  expect(app.sessions).toHaveLength(1);
  await first.close(); // the app server and glasses belong to the first harness
  await second.close();
}

it('does not wait on a peer that never answers its close frame longer than the close-answer timeout', async () => {
  const h = await startTestCloud();
  const g = await h.glassesFor('uma');
  await g.connect();
  // A peer that completes the upgrade and then reads nothing more: it never answers a close frame.
  const silent = connect(h.cloud.port, '127.0.0.1');
  silent.write(
    `GET /glasses-ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((resolve) => silent.once('data', () => resolve()));
  silent.pause();
  const started = performance.now();
  await h.cloud.close();
  const tookMs = performance.now() - started;
  expect(g.closeEvents.at(-1)?.code).toBe(1012);
  expect(tookMs).toBeGreaterThanOrEqual(CLOSE_ANSWER_TIMEOUT_MS - 10);
  // Not much longer either, with room for a loaded machine.
  expect(tookMs).toBeLessThan(CLOSE_ANSWER_TIMEOUT_MS + 500);
  silent.destroy();
  await h.close();
});
