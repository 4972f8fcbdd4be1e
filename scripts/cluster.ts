/**
 * `npm run cluster`: a whole cluster on one machine (README "Many nodes"). NATS JetStream and
 * PostgreSQL (throwaway servers in temporary directories, or the ones `TETHER_NATS_URL` and
 * `TETHER_DB` name), three cloud nodes as child processes, the tests' balancer in front of them,
 * and the example apps (Notify, Live Captions) registered and served. Ctrl-C drains the nodes
 * one after the other, as a rolling deploy would, then stops everything it started, by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCaptionsApp } from '../src/apps/captions/index.js';
import { createNotifyApp } from '../src/apps/notify/index.js';
import { createCoreToken } from '../src/cloud/glassesAuth.js';
import { createLogger } from '../src/logger.js';
import type { AppServer } from '../src/sdk/index.js';
import { startBalancer } from './localServers/balancer.js';
import { freePort } from './localServers/freePort.js';
import { startNats } from './localServers/nats.js';
import { startPostgres } from './localServers/postgres.js';

const NODES = ['node-1', 'node-2', 'node-3'];
/** The cluster's development secrets: the nodes share them (tokens minted by one are good on all). */
const JWT_SECRET = process.env['TETHER_JWT_SECRET'] ?? 'tether-cluster-development-secret-32b!';
const ADMIN_TOKEN = process.env['TETHER_ADMIN_TOKEN'] ?? 'tether-cluster-development-admin';
const logger = createLogger({ level: 'info', name: 'cluster' });

const stops: Array<() => Promise<void>> = [];
const nats = process.env['TETHER_NATS_URL'] ? undefined : await startNats();
if (nats) stops.push(() => nats.stop());
const postgres = process.env['TETHER_DB']?.startsWith('postgres') ? undefined : await startPostgres();
if (postgres) stops.push(() => postgres.stop());
const natsUrl = process.env['TETHER_NATS_URL'] ?? nats!.url;
const dbPath = postgres?.url ?? process.env['TETHER_DB']!;

const balancer = await startBalancer([]);
const nodes: Array<{ nodeId: string; port: number; child: ChildProcess }> = [];
for (const nodeId of NODES) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cloud/main.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      TETHER_DB: dbPath,
      TETHER_NATS_URL: natsUrl,
      TETHER_NODE_ID: nodeId,
      TETHER_PUBLIC_URL: `ws://127.0.0.1:${balancer.port}`,
      TETHER_JWT_SECRET: JWT_SECRET,
      TETHER_ADMIN_TOKEN: ADMIN_TOKEN,
      // The first node's inspector shows every node's actors, grouped by the node that owns them.
      ...(nodes[0] ? { TETHER_INSPECTOR_FORWARD_URL: `ws://127.0.0.1:${nodes[0].port}` } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(chunk.toString().replace(/^/gm, `[${nodeId}] `)));
  nodes.push({ nodeId, port, child });
  await waitForHealth(port);
}
balancer.backends = nodes.map(({ nodeId, port }) => ({ nodeId, port }));
const base = `http://127.0.0.1:${balancer.port}`;

const apps: AppServer[] = [];
for (const [packageName, name, make] of [
  ['com.tether.notify', 'Notify', (apiKey: string) => createNotifyApp({ packageName: 'com.tether.notify', apiKey, logger })],
  ['com.tether.captions', 'Live Captions', (apiKey: string) => createCaptionsApp({ packageName: 'com.tether.captions', apiKey, logger })],
] as const) {
  const port = await freePort();
  const app = make(await createApp(packageName, name, `http://127.0.0.1:${port}/webhook`));
  await app.listen(port, '127.0.0.1');
  apps.push(app);
}
const token = await createCoreToken('dev-user', JWT_SECRET);

console.log(`
A Tether cluster is running.
  balancer     ${base}   (glasses ws://127.0.0.1:${balancer.port}/glasses-ws, apps ws://127.0.0.1:${balancer.port}/app-ws)
  inspector    http://127.0.0.1:${nodes[0]!.port}/inspector/   (every node's sessions, each under the node that owns it)
${nodes.map(({ nodeId, port }) => `  ${nodeId.padEnd(12)} http://127.0.0.1:${port}   (its own inspector …/inspector/, health …/health)`).join('\n')}
  NATS         ${natsUrl}
  PostgreSQL   ${dbPath}
  glasses token for "dev-user" (24 h):
    ${token}
Try: npm run sim -- --url ws://127.0.0.1:${balancer.port}/glasses-ws --token <token> --apps com.tether.captions
Ctrl-C drains the nodes one after the other, then stops everything.
`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      for (const app of apps) await app.stop();
      for (const node of nodes) {
        const exited = new Promise((resolve) => node.child.once('exit', resolve));
        node.child.kill('SIGTERM');
        await exited;
      }
      await balancer.close();
      for (const stop of stops.reverse()) await stop();
    })().then(() => process.exit(0));
  });
}

/** Creates an app through the admin API (any node: they share the store); resolves with its key. */
async function createApp(packageName: string, name: string, webhookUrl: string): Promise<string> {
  const response = await fetch(`${base}/api/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ packageName, name, webhookUrl }),
  });
  // A store kept from an earlier run (TETHER_DB given) still has the app, with a key hashed away.
  if (response.status === 409) throw new Error(`${packageName} exists in ${dbPath} already: its key cannot be recovered; use a new database`);
  if (!response.ok) throw new Error(`creating ${packageName} failed with ${response.status}`);
  return ((await response.json()) as { apiKey: string }).apiKey;
}

async function waitForHealth(port: number): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`node on port ${port} never answered /health`);
}
