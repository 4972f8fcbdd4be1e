/**
 * `npm start` as a user runs it (the same entry point, `src/main.ts`, on a free port and a temp
 * database): the cloud answers /health, and the example apps work with simulated glasses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { freePort } from '../support/net.js';

const dir = mkdtempSync(join(tmpdir(), 'tether-start-'));
let child: ChildProcess | undefined;
let glasses: SimulatedGlasses | undefined;

afterAll(async () => {
  await glasses?.destroy();
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child!.once('exit', resolve));
  }
  rmSync(dir, { recursive: true, force: true });
});

it('serves /health and runs the example apps for simulated glasses', async () => {
  const port = await freePort();
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), TETHER_DB: join(dir, 'tether.db'), TETHER_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no token:\n${out}`)), 15_000);
    child!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/Try: npm run sim/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const token = /glasses token for "dev-user" \(24 h\):\s+(\S+)/.exec(out)?.[1];
  expect(token).toBeDefined();

  const health = await fetch(`http://127.0.0.1:${port}/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok' });

  glasses = new SimulatedGlasses({
    url: `ws://127.0.0.1:${port}/glasses-ws`,
    token: token!,
    runningApps: ['com.tether.captions', 'com.tether.notify'],
  });
  await glasses.connect();
  const welcome = await glasses.waitFor((m) => m.type === 'display_event' && m.packageName === 'com.tether.notify', 5000);
  expect(welcome).toMatchObject({ layout: { layoutType: 'reference_card', title: 'Notify' } });
  // Captions subscribes right after its ack; speak until a caption comes back.
  const caption = glasses.waitFor((m) => m.type === 'display_event' && m.packageName === 'com.tether.captions', 5000);
  const speaking = setInterval(() => glasses!.transcribe('testing the captions', { isFinal: true }), 200);
  try {
    expect(await caption).toMatchObject({ layout: { layoutType: 'text_wall', text: 'testing the captions' } });
  } finally {
    clearInterval(speaking);
  }
  glasses.notify({ app: 'Messages', title: 'Ada', content: 'Lunch?' });
  const card = await glasses.waitFor((m) => m.type === 'display_event' && m.packageName === 'com.tether.notify' && (m.layout as { title?: string }).title !== 'Notify', 5000);
  expect(card).toMatchObject({ layout: { layoutType: 'reference_card', text: 'Lunch?' } });
}, 30_000);
