/**
 * Issue 5, cloud restarts: the cloud runs in a child process (`src/cloud/main.ts`, configured
 * by environment only), is stopped with SIGTERM and started again on the same port and
 * database while the glasses and the apps keep their clients in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createCoreToken } from '../../src/cloud/glassesAuth.js';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { RecordingApp } from '../support/cloudHarness.js';
import { freePort, sleep, waitFor } from '../support/net.js';

const SECRET = 'cloud-restart-test-secret-of-32-bytes!!';
const ADMIN = 'cloud-restart-admin-token';
const PKG = 'com.example.restart';
const USERS = 10;

const dir = mkdtempSync(join(tmpdir(), 'tether-cloud-restart-'));
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function startCloudProcess(port: number): Promise<{ child: ChildProcess; readyMs: number }> {
  const started = performance.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cloud/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      TETHER_DB: join(dir, 'tether.db'),
      TETHER_JWT_SECRET: SECRET,
      TETHER_ADMIN_TOKEN: ADMIN,
      TETHER_GRACE_PERIOD_MS: '20000',
      TETHER_HEARTBEAT_INTERVAL_MS: '1000',
      TETHER_HEARTBEAT_TIMEOUT_MS: '3000',
      TETHER_APP_RECONNECT_WINDOW_MS: '8000',
      TETHER_WEBHOOK_TIMEOUT_MS: '5000',
      TETHER_LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cloud process did not start')), 15_000);
    proc.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Tether cloud on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`cloud process exited with ${code}`)));
  });
  return { child: proc, readyMs: performance.now() - started };
}

it('continues every session across a SIGTERM restart without a second session_request', async () => {
  const port = await freePort();
  const appPort = await freePort();
  ({ child } = await startCloudProcess(port));
  const base = `http://127.0.0.1:${port}`;

  const registered = await fetch(`${base}/api/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ packageName: PKG, name: 'Restart', webhookUrl: `http://127.0.0.1:${appPort}/webhook` }),
  });
  const { apiKey } = (await registered.json()) as { apiKey: string };
  const app = new RecordingApp({ packageName: PKG, apiKey, session: { reconnectDelayMs: 300, maxReconnectDelayMs: 1000 } });
  await app.listen(appPort, '127.0.0.1');

  const glasses: SimulatedGlasses[] = [];
  for (let i = 0; i < USERS; i++) {
    const g = new SimulatedGlasses({ url: `ws://127.0.0.1:${port}/glasses-ws`, token: await createCoreToken(`user${i}`, SECRET), runningApps: [PKG] });
    await g.connect();
    glasses.push(g);
  }
  await waitFor(() => app.sessions.length === USERS, { timeoutMs: 10_000 });
  for (const [i, g] of glasses.entries()) g.transcribe(`user${i} before`);
  await waitFor(() => app.transcripts.filter((t) => t.includes('before')).length === USERS, { timeoutMs: 5000 });

  // A burst right up to the SIGTERM: what the cloud accepted must reach the app.
  for (let k = 0; k < 5; k++) for (const [i, g] of glasses.entries()) g.transcribe(`user${i} burst ${k}`);
  const stoppedAt = performance.now();
  child.kill('SIGTERM');
  await new Promise((resolve) => child!.once('exit', resolve));
  expect(glasses.every((g) => g.closeEvents.at(-1)?.code === 1012)).toBe(true);
  const restarted = await startCloudProcess(port);
  child = restarted.child;

  // Glasses come back by themselves in real life; here the test reconnects each one.
  for (const g of glasses) {
    await waitFor(async () => g.connect().then(() => true, () => false), { timeoutMs: 10_000, intervalMs: 200 });
  }
  await waitFor(() => app.sessions.every((s) => s.isConnectionHealthy()), { timeoutMs: 10_000 });
  const backMs = performance.now() - stoppedAt;
  // An app may be acked before its user's glasses are back: let every route settle.
  await sleep(200);
  for (const [i, g] of glasses.entries()) g.transcribe(`user${i} after`);
  await waitFor(() => app.transcripts.filter((t) => t.includes('after')).length === USERS, { timeoutMs: 5000 });

  expect(app.sessions).toHaveLength(USERS); // no second session_request: onSession ran once per session
  // Numbering continued across the restart and nothing numbered went missing: each session
  // received exactly as many frames as its last seq, none twice, no gap reported.
  for (const session of app.sessions) {
    const received = app.transcripts.filter((t) => t.startsWith(`${session.userId} `)).length;
    expect(session.delivery).toEqual({ lastSeq: received, duplicatesDropped: 0, reportedLost: 0 });
    expect(received).toBeGreaterThanOrEqual(2);
  }
  console.log(`cloud restart: new process ready in ${restarted.readyMs.toFixed(0)} ms; all ${USERS} sessions healthy ${backMs.toFixed(0)} ms after SIGTERM`);

  for (const g of glasses) await g.destroy();
  await app.stop();
  child.kill('SIGTERM');
  await new Promise((resolve) => child!.once('exit', resolve));
}, 60_000);
