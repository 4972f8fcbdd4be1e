/**
 * Issue 5, cloud restarts: the cloud runs in a child process (`src/cloud/main.ts`, configured
 * by environment only), is stopped with SIGTERM and started again on the same port and
 * database while the glasses and the apps keep their clients in this process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createCoreToken } from '../../src/cloud/glassesAuth.js';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { RecordingApp } from '../support/cloudHarness.js';
import { CLOUD_PROCESS_SECRET as SECRET, createAppOver, killCloudProcess, startCloudProcess, type CloudProcess } from '../support/cloudProcess.js';
import { freePort, sleep, waitFor } from '../support/net.js';

const PKG = 'com.example.restart';
const USERS = 10;

const dir = mkdtempSync(join(tmpdir(), 'tether-cloud-restart-'));
const dbPath = join(dir, 'tether.db');
let cloud: CloudProcess | undefined;
afterAll(() => {
  killCloudProcess(cloud?.child);
  rmSync(dir, { recursive: true, force: true });
});

it('continues every session across a SIGTERM restart without a second session_request', async () => {
  const port = await freePort();
  const appPort = await freePort();
  cloud = await startCloudProcess({ port, dbPath });
  const apiKey = await createAppOver(`http://127.0.0.1:${port}`, PKG, `http://127.0.0.1:${appPort}/webhook`);
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
  cloud.child.kill('SIGTERM');
  await cloud.exited;
  expect(glasses.every((g) => g.closeEvents.at(-1)?.code === 1012)).toBe(true);
  const restarted = await startCloudProcess({ port, dbPath });
  cloud = restarted;

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
  cloud.child.kill('SIGTERM');
  await cloud.exited;
}, 60_000);
