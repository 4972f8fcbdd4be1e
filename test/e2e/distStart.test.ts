/**
 * The production start (issue 11 §4): `npm run build` compiles the cloud to `dist/` (with what it
 * needs at run time, like the inspector page) and bundles it (`dist/bundle/cloud.mjs`, issue 13),
 * and either, run with `node` — no npm, no tsx in the signal path — starts, serves, and shuts
 * down cleanly on a SIGTERM sent to its whole process group, repeated while it closes, as Ctrl-C
 * or systemd send it. The demo entry (`dist/src/main.js`) starts too.
 */
import Database from 'better-sqlite3';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCoreToken } from '../../src/cloud/glassesAuth.js';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { RecordingApp } from '../support/cloudHarness.js';
import { CLOUD_PROCESS_SECRET, createAppOver, killCloudProcess, startCloudProcess, type CloudProcess } from '../support/cloudProcess.js';
import { freePort, waitFor } from '../support/net.js';

const dir = mkdtempSync(join(tmpdir(), 'tether-dist-'));
let cloud: CloudProcess | undefined;
let demo: ChildProcess | undefined;
let buildMs = 0;

beforeAll(async () => {
  const started = performance.now();
  await promisify(execFile)('npm', ['run', 'build'], { timeout: 120_000 });
  buildMs = performance.now() - started;
}, 150_000);

afterAll(() => {
  killCloudProcess(cloud?.child);
  killCloudProcess(demo);
  rmSync(dir, { recursive: true, force: true });
});

/** The JSON log lines the process printed (pino, one object per line). */
function logLines(stdout: string): Array<{ msg?: string; signal?: string; persisted?: number }> {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string });
}

it.each(['dist/bundle/cloud.mjs', 'dist/src/cloud/main.js'])('runs the compiled cloud (%s) and shuts it down cleanly on repeated signals to its process group', async (entry) => {
  const port = await freePort();
  const dbPath = join(dir, `${entry.replace(/\W+/g, '-')}.db`);
  cloud = await startCloudProcess({ port, dbPath, entry, detached: true, env: { TETHER_LOG_LEVEL: 'info' } });
  const base = `http://127.0.0.1:${port}`;
  expect((await fetch(`${base}/health`)).status).toBe(200);
  // What the compiled cloud reads from disk at run time came along: the inspector page.
  const page = await fetch(`${base}/inspector/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<html');

  const appPort = await freePort();
  const apiKey = await createAppOver(base, 'com.example.dist', `http://127.0.0.1:${appPort}/webhook`);
  const served = new RecordingApp({ packageName: 'com.example.dist', apiKey });
  await served.listen(appPort, '127.0.0.1');
  const glasses = new SimulatedGlasses({ url: `ws://127.0.0.1:${port}/glasses-ws`, token: await createCoreToken('dana', CLOUD_PROCESS_SECRET), runningApps: ['com.example.dist'] });
  try {
    await glasses.connect();
    await waitFor(() => served.sessions[0]?.isConnectionHealthy(), { timeoutMs: 5000 });

    // Ctrl-C in a terminal, or systemd's default: the signal goes to the whole group, and again.
    const pid = cloud.child.pid!;
    process.kill(-pid, 'SIGTERM');
    process.kill(-pid, 'SIGINT');
    process.kill(-pid, 'SIGTERM');
    expect(await cloud.exited).toEqual({ code: 0, signal: null });
    expect(glasses.closeEvents.at(-1)?.code).toBe(1012);

    const lines = logLines(cloud.stdout());
    expect(lines.filter((l) => l.msg === 'shutting down')).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'already shutting down; signal ignored').length).toBeGreaterThanOrEqual(1);
    expect(lines.find((l) => l.msg === 'cloud closed')).toMatchObject({ persisted: 1 });
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.prepare('SELECT user_id FROM session_snapshots').pluck().all()).toEqual(['dana']);
    } finally {
      db.close();
    }
  } finally {
    await glasses.destroy();
    await served.stop();
  }
  console.log(`npm run build took ${(buildMs / 1000).toFixed(1)} s; ${entry} was ready in ${cloud.readyMs.toFixed(0)} ms`);
}, 30_000);

it('runs the compiled demo (cloud and example apps)', async () => {
  const port = await freePort();
  demo = spawn(process.execPath, ['dist/src/main.js'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), TETHER_DB: join(dir, 'demo.db'), TETHER_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  let out = '';
  demo.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => demo!.once('exit', (code) => resolve(code)));
  await waitFor(() => out.includes('Try: npm run sim'), { timeoutMs: 15_000, intervalMs: 50 });
  expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  process.kill(-demo.pid!, 'SIGINT');
  process.kill(-demo.pid!, 'SIGINT');
  expect(await exited).toBe(0);
}, 30_000);
