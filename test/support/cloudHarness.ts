/**
 * Starts a real cloud on 127.0.0.1 with short timings and an in-memory store, plus helpers to
 * run apps and glasses against it. Every test that uses it must `await harness.close()`.
 */
import { pino } from 'pino';
import { createCloud, type CreateCloudOptions } from '../../src/cloud/cloud.js';
import type { NewAppRequest } from '../../src/cloud/httpApi.js';
import type { CloudSettings } from '../../src/cloud/config.js';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { AppServer, type AppSession } from '../../src/sdk/index.js';

/** Short but safe timings for integration tests (ms). */
const fastCloudSettings: Partial<CloudSettings> = {
  port: 0,
  dbPath: ':memory:',
  gracePeriodMs: 1500,
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 300,
  restartThresholdMs: 500,
  appReconnectWindowMs: 300,
  webhookTimeoutMs: 2000,
  logLevel: 'silent',
  nodeEnv: 'test',
  // Every test client connects from 127.0.0.1: hundreds of users from one address is the test, not
  // a flood. test/cloud/connectionLimits.test.ts sets the limit it tests.
  connectionsPerAddressPerMinute: 0,
};

/** Log lines captured from the cloud, parsed. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export async function startTestCloud(options: CreateCloudOptions & { settings?: Partial<CloudSettings> } = {}) {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  const cloud = await createCloud({
    host: '127.0.0.1',
    logger,
    session: { webhookRetry: { baseDelayMs: 100, maxDelayMs: 400 }, appConnectTimeoutMs: 2000 },
    ...options,
    overrides: { ...fastCloudSettings, ...options.settings },
  });
  const glasses: SimulatedGlasses[] = [];
  const servers: AppServer[] = [];
  const closers: Array<() => Promise<void>> = [];
  return {
    cloud,
    lines,
    /** A simulated glasses client for `userId`, with a fresh token. */
    async glassesFor(userId: string, runningApps?: string[]) {
      const g = new SimulatedGlasses({ url: cloud.glassesUrl, token: await cloud.createGlassesToken(userId), ...(runningApps ? { runningApps } : {}) });
      glasses.push(g);
      return g;
    },
    /** Registers an app and serves it from `server` on 127.0.0.1; returns its key. */
    async serveApp(packageName: string, make: (apiKey: string) => AppServer) {
      const { apiKey } = await cloud.registerApp({ packageName, name: packageName, webhookUrl: 'http://127.0.0.1:1/webhook' });
      const server = make(apiKey);
      const port = await server.listen(0, '127.0.0.1');
      await cloud.store.setWebhookUrl(packageName, `http://127.0.0.1:${port}/webhook`);
      servers.push(server);
      return { server, apiKey, port };
    },
    /**
     * Registers an app served by any HTTP stack: `start` gets the app's key, listens on
     * 127.0.0.1 and returns its port and how to close it; the webhook then points at
     * `http://127.0.0.1:<port>/webhook`. `close` runs in {@link close}, after the glasses.
     * `definition`: the app's settings and permissions, as the admin API takes them. Resolves
     * with what `start` returned and the key.
     */
    async serveWebhook<T extends { port: number; close(): Promise<void> }>(
      packageName: string,
      start: (apiKey: string) => Promise<T>,
      definition: Pick<NewAppRequest, 'settings' | 'permissions'> = {},
    ) {
      const { apiKey } = await cloud.registerApp({ packageName, name: packageName, webhookUrl: 'http://127.0.0.1:1/webhook', ...definition });
      const served = await start(apiKey);
      closers.push(() => served.close());
      await cloud.store.setWebhookUrl(packageName, `http://127.0.0.1:${served.port}/webhook`);
      return { app: served, apiKey };
    },
    async close() {
      for (const g of glasses) await g.destroy();
      for (const s of servers) await s.stop();
      for (const c of closers) await c();
      await cloud.close();
    },
  };
}


/** A Tether SDK app that records its sessions and what it received. */
export class RecordingApp extends AppServer {
  readonly sessions: AppSession[] = [];
  readonly transcripts: string[] = [];
  protected override async onSession(session: AppSession, _sessionId: string, _userId: string) {
    this.sessions.push(session);
    session.events.onTranscription((t) => {
      this.transcripts.push(t.text);
      session.layouts.showTextWall(`echo: ${t.text}`);
    });
  }
}
