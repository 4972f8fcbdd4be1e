/**
 * Restart recovery's runtime policy (seed 02 §3.4), with an in-process Tether SDK app server:
 * sessions that failed while the server was down come back when it registers with a new boot
 * id, never more than `TETHER_RECOVERY_CONCURRENCY` webhooks at once, the most recently active users
 * first, each with its correlation id; what cannot come back ends with an error on the glasses,
 * and both outcomes are counted in `/metrics`.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppServer, type AppSession } from '../../src/sdk/index.js';
import { RecoveryCalls } from '../../src/cloud/recovery.js';
import type { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { startTestCloud } from '../support/cloudHarness.js';
import { sleep, waitFor } from '../support/net.js';

const PKG = 'com.example.recovering';
const USERS = 12;
const CONCURRENCY = 3;
const userIdFor = (i: number) => `rec-${String(i).padStart(2, '0')}`;
const UNLUCKY_INDEX = 5;
const UNLUCKY = userIdFor(UNLUCKY_INDEX);

/** Starts sessions slowly, counting how many `onSession`s run at once. */
class SlowApp extends AppServer {
  readonly started: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  protected override async onSession(_session: AppSession, _sessionId: string, userId: string): Promise<void> {
    this.started.push(userId);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await sleep(40);
    this.inFlight -= 1;
  }
}

let h: Awaited<ReturnType<typeof startTestCloud>>;
let apiKey: string;
let server: SlowApp | undefined;
let http: Server | undefined;
const glasses: SimulatedGlasses[] = [];

async function recoveries(outcome: string): Promise<number> {
  const line = (await h.cloud.metrics.render()).split('\n').find((l) => l.startsWith(`tether_app_recoveries_total{outcome="${outcome}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

beforeAll(async () => {
  h = await startTestCloud({ settings: { recoveryConcurrency: CONCURRENCY, appPatienceMs: 0 } });
  ({ apiKey } = await h.cloud.registerApp({ packageName: PKG, name: PKG, webhookUrl: 'http://127.0.0.1:1/webhook' }));
  // The app's previous server process registered once, then died before the users came.
  const registered = await fetch(`${h.cloud.url}/api/tpa/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ packageName: PKG, apiKey, serverUrl: 'http://127.0.0.1:1', version: '1', bootId: 'previous-boot' }),
  });
  expect(registered.status).toBe(200);
});

afterAll(async () => {
  await server?.stop();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  await h?.close();
});

describe('seed 02 §3.4: restart recovery', () => {
  it('starts again, at most TETHER_RECOVERY_CONCURRENCY at once and most recently active first, the sessions that failed while the server was down', async () => {
    for (let i = 0; i < USERS; i++) {
      const g = await h.glassesFor(userIdFor(i), [PKG]);
      await g.connect();
      glasses.push(g);
    }
    // Every start fails against the dead server: the app stays desired, with an error shown.
    await waitFor(() => glasses.every((g) => g.received.some((f) => f.message.type === 'app_state_change' && 'error' in f.message)), {
      timeoutMs: 5000,
    });
    for (let i = 0; i < USERS; i++) {
      expect(h.cloud.sessions.appSession(userIdFor(i), `${userIdFor(i)}-${PKG}`)).toBeUndefined();
      expect(h.cloud.sessions.get(userIdFor(i))?.getSnapshot().context.desiredApps).toEqual([PKG]);
    }
    // Users act in index order: the last one is the most recently active.
    for (const g of glasses) {
      g.pressButton();
      await sleep(5);
    }
    await sleep(50);
    const errorsBefore = glasses.map((g) => g.received.filter((f) => f.message.type === 'app_state_change' && 'error' in f.message).length);

    // The new server process, in front of which a proxy refuses the unlucky user's sessions.
    server = new SlowApp({ packageName: PKG, apiKey, cloudUrl: h.cloud.url });
    const front = express();
    front.use(express.json());
    front.post('/webhook', (req, res, next) => {
      if ((req.body as { userId?: string }).userId === UNLUCKY) res.status(500).json({ status: 'error', message: 'Failed to connect' });
      else next();
    });
    front.use(server.getExpressApp());
    http = await new Promise<Server>((resolve) => {
      const listening = front.listen(0, '127.0.0.1', () => resolve(listening));
    });
    await server.registerWithCloud(`http://127.0.0.1:${(http.address() as AddressInfo).port}`);
    await waitFor(() => h.lines.some((l) => l.msg === 'app server recovery finished'), { timeoutMs: 10_000 });

    const served = Array.from({ length: USERS }, (_, i) => userIdFor(i)).filter((u) => u !== UNLUCKY);
    for (const userId of served) {
      expect(h.cloud.sessions.appSession(userId, `${userId}-${PKG}`)?.getSnapshot().matches('running'), userId).toBe(true);
    }
    expect([...server.started].sort()).toEqual(served);
    expect(server.maxInFlight).toBeLessThanOrEqual(CONCURRENCY);
    expect(server.maxInFlight).toBeGreaterThan(1);
    // Most recently active first: the first ones served are the last to have pressed a button.
    expect(new Set(server.started.slice(0, CONCURRENCY))).toEqual(new Set(served.slice(-CONCURRENCY).reverse()));
    expect(new Set(server.started.slice(-CONCURRENCY))).toEqual(new Set(served.slice(0, CONCURRENCY)));

    expect(h.lines.find((l) => l.msg === 'app server recovery finished')).toMatchObject({ planned: USERS, recovered: USERS - 1, failed: 1 });
    expect(await recoveries('recovered')).toBe(USERS - 1);
    expect(await recoveries('failed')).toBe(1);
    // Each recovery's webhooks carry its correlation id.
    const registration = h.lines.find((l) => l.msg === 'app server registered' && l.restarted === true) as { registrationId: string };
    expect(h.lines.some((l) => l.correlationId === `recovery:${registration.registrationId}:${userIdFor(0)}-${PKG}`)).toBe(true);

    // Recovered users were shown nothing new but the app in the running list; the unlucky one an error.
    const newErrors = () =>
      glasses.map((g, i) => g.received.filter((f) => f.message.type === 'app_state_change' && 'error' in f.message).length - errorsBefore[i]!);
    await waitFor(() => newErrors()[UNLUCKY_INDEX] === 1, { message: 'no error shown to the user whose app could not be recovered' });
    expect(newErrors()).toEqual(glasses.map((_, i) => (userIdFor(i) === UNLUCKY ? 1 : 0)));
    for (const g of glasses) await g.close();
  }, 20_000);
});

describe('RecoveryCalls', () => {
  it('is idle for a correlation id once each of its calls has answered', async () => {
    const calls = new RecoveryCalls();
    await calls.idle('recovery:r:s');
    const first = calls.begin('recovery:r:s');
    const second = calls.begin('recovery:r:s');
    let idle = false;
    const waiting = calls.idle('recovery:r:s').then(() => (idle = true));
    first();
    first();
    await sleep(1);
    expect(idle).toBe(false);
    expect(calls.size).toBe(1);
    second();
    await waiting;
    expect(calls.size).toBe(0);
  });
});
