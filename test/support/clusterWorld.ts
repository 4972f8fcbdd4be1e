/**
 * Three cloud nodes in child processes on a real NATS JetStream and PostgreSQL, behind the tests'
 * balancer, with users whose glasses stream and who run one app on each SDK (issue 14). The
 * glasses reconnect through the balancer whenever the cloud closes them, as real glasses do; the
 * balancer reports every frame each node sends (the oracle of who delivered what, and when).
 */
import { AppServer as MentraAppServer, type AppSession as MentraAppSession } from '@mentra/sdk';
import { startBalancer, type Backend, type LocalBalancer } from '../../scripts/localServers/balancer.js';
import { createCoreToken } from '../../src/cloud/glassesAuth.js';
import type { AppSession as TetherAppSession } from '../../src/sdk/index.js';
import { SimulatedGlasses } from '../../src/sim/glassesClient.js';
import { RecordingApp } from './cloudHarness.js';
import { CLOUD_PROCESS_SECRET, createAppOver, killCloudProcess, startCloudProcess, type CloudProcess } from './cloudProcess.js';
import { serveMentraApp, type MentraAppWithLiveSessions, type ServedMentraApp } from './mentraApp.js';
import { freePort, sleep, waitFor } from './net.js';
import { countWebhooks, type WebhookCounter } from './webhookCounter.js';

export const TETHER_PKG = 'com.example.clustertether';
export const MENTRA_PKG = 'com.example.clustermentra';

/** A Tether SDK app that keeps each session and the texts it heard, by session. */
class ClusterTetherApp extends RecordingApp {
  readonly bySession = new Map<string, TetherAppSession>();
  readonly heard = new Map<string, string[]>();
  protected override async onSession(session: TetherAppSession, sessionId: string, userId: string) {
    this.bySession.set(sessionId, session);
    session.events.onTranscription((t) => {
      const list = this.heard.get(sessionId) ?? [];
      list.push(t.text);
      this.heard.set(sessionId, list);
    });
    await super.onSession(session, sessionId, userId);
  }
}

/** A `@mentra/sdk` app that keeps its live sessions, the texts they heard and the sessions that stopped. */
class ClusterMentraApp extends MentraAppServer implements MentraAppWithLiveSessions {
  readonly live = new Map<string, MentraAppSession>();
  readonly heard = new Map<string, string[]>();
  readonly stopped: string[] = [];
  protected override async onSession(session: MentraAppSession, sessionId: string): Promise<void> {
    this.live.set(sessionId, session);
    session.events.onTranscription((data) => {
      const list = this.heard.get(sessionId) ?? [];
      list.push(data.text);
      this.heard.set(sessionId, list);
    });
  }
  protected override async onStop(sessionId: string, userId: string, reason: string): Promise<void> {
    this.live.delete(sessionId);
    this.stopped.push(sessionId);
    await super.onStop(sessionId, userId, reason);
  }
}

/** One node of the world. */
export interface WorldNode {
  readonly nodeId: string;
  readonly port: number;
  process: CloudProcess;
  /** What the node logged (info and above), parsed. */
  readonly lines: Array<Record<string, unknown>>;
}

/** One user: their glasses and how often the cloud made them reconnect. */
export interface WorldUser {
  readonly userId: string;
  readonly glasses: SimulatedGlasses;
  /** Times the glasses were closed by the cloud (or lost it) and came back, with when. */
  readonly reconnects: number[];
  /** The transcripts these glasses sent (written to an open socket). */
  readonly said: string[];
}

export interface ClusterWorld {
  readonly nodes: WorldNode[];
  readonly users: WorldUser[];
  readonly balancer: LocalBalancer;
  readonly tether: ClusterTetherApp;
  readonly mentra: ServedMentraApp<ClusterMentraApp>;
  readonly tetherHooks: WebhookCounter;
  readonly mentraHooks: WebhookCounter;
  /** Data frames (text or binary) each node sent, with when. */
  readonly delivered: Map<string, number[]>;
  /** Sends one transcript from every connected pair of glasses; returns how many were sent. */
  say(round: number): number;
  /** Starts a node process again on its port (a deploy or a restart), and puts it back in the balancer. */
  restart(node: WorldNode): Promise<void>;
  /** Takes a node out of the balancer (its health check failed). */
  unroute(node: WorldNode): void;
  /** Waits for every user's glasses and both apps to be connected. */
  settled(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startClusterWorld}. */
export interface ClusterWorldOptions {
  readonly users: number;
  readonly natsUrl: string;
  readonly dbPath: string;
  readonly leaseMs: number;
}

/** Starts the nodes, the balancer, both apps and every user's glasses, and waits until all are connected. */
export async function startClusterWorld(options: ClusterWorldOptions): Promise<ClusterWorld> {
  const delivered = new Map<string, number[]>();
  const balancer = await startBalancer([], {
    tap: (nodeId, opcode, at) => {
      if (opcode !== 1 && opcode !== 2) return;
      const list = delivered.get(nodeId) ?? [];
      list.push(at);
      delivered.set(nodeId, list);
    },
  });
  const cleanups: Array<() => Promise<void>> = [() => balancer.close()];
  const nodes: WorldNode[] = [];
  const envOf = (nodeId: string) => ({
    TETHER_NATS_URL: options.natsUrl,
    TETHER_NODE_ID: nodeId,
    TETHER_LEASE_MS: String(options.leaseMs),
    TETHER_PUBLIC_URL: `ws://127.0.0.1:${balancer.port}`,
    TETHER_GRACE_PERIOD_MS: '30000',
    TETHER_APP_RECONNECT_WINDOW_MS: '20000',
    TETHER_LOG_LEVEL: 'info',
  });
  const spawnNode = async (nodeId: string, port: number, lines: Array<Record<string, unknown>>) => {
    let partial = '';
    return startCloudProcess({
      port,
      dbPath: options.dbPath,
      env: envOf(nodeId),
      readyTimeoutMs: 30_000,
      onStdout: (chunk) => {
        partial += chunk;
        const complete = partial.split('\n');
        partial = complete.pop() ?? '';
        for (const line of complete) {
          try {
            const parsed = JSON.parse(line) as Record<string, unknown>;
            if ((parsed['level'] as number) >= 30) lines.push(parsed);
          } catch {
            // Not a log line.
          }
        }
      },
    });
  };
  try {
    for (const nodeId of ['node-1', 'node-2', 'node-3']) {
      const port = await freePort();
      const lines: Array<Record<string, unknown>> = [];
      nodes.push({ nodeId, port, lines, process: await spawnNode(nodeId, port, lines) });
    }
  } catch (error) {
    for (const node of nodes) killCloudProcess(node.process.child);
    await balancer.close();
    throw error;
  }
  cleanups.push(async () => {
    for (const node of nodes) killCloudProcess(node.process.child);
  });
  const route = () => nodes.filter((node) => node.process.child.exitCode === null && node.process.child.signalCode === null);
  const backendsOf = (list: WorldNode[]): Backend[] => list.map((node) => ({ nodeId: node.nodeId, port: node.port }));
  balancer.backends = backendsOf(route());
  const base = `http://127.0.0.1:${nodes[0]!.port}`;

  let tetherPort = 0;
  const tetherHooks = await countWebhooks(() => tetherPort);
  cleanups.push(() => tetherHooks.close());
  const tether = new ClusterTetherApp({
    packageName: TETHER_PKG,
    apiKey: await createAppOver(base, TETHER_PKG, tetherHooks.url),
    session: { reconnectDelayMs: 200, maxReconnectDelayMs: 1000 },
  });
  tetherPort = await tether.listen(0, '127.0.0.1');
  cleanups.push(() => tether.stop());
  let mentraPort = 0;
  const mentraHooks = await countWebhooks(() => mentraPort);
  cleanups.push(() => mentraHooks.close());
  const mentraKey = await createAppOver(base, MENTRA_PKG, mentraHooks.url);
  const mentra = await serveMentraApp(() => new ClusterMentraApp({ packageName: MENTRA_PKG, apiKey: mentraKey, port: 0 }));
  cleanups.push(() => mentra.close());
  mentraPort = mentra.port;

  let closing = false;
  const users: WorldUser[] = [];
  const returning = new Set<SimulatedGlasses>();
  for (let i = 0; i < options.users; i++) {
    const userId = `user${i}`;
    const glasses = new SimulatedGlasses({
      url: `ws://127.0.0.1:${balancer.port}/glasses-ws`,
      token: await createCoreToken(userId, CLOUD_PROCESS_SECRET),
      runningApps: [TETHER_PKG, MENTRA_PKG],
      record: false,
    });
    const user: WorldUser = { userId, glasses, reconnects: [], said: [] };
    // Real glasses come back on their own when the cloud closes them, after a short backoff.
    glasses.on('close', (event) => {
      // A refused attempt closes too: one loss, one way back.
      if (closing || event.initiatedBy === 'client' || returning.has(glasses)) return;
      user.reconnects.push(performance.now());
      returning.add(glasses);
      void comeBack(glasses).finally(() => returning.delete(glasses));
    });
    users.push(user);
  }
  const comeBack = async (glasses: SimulatedGlasses) => {
    for (let attempt = 0; !closing && attempt < 200; attempt++) {
      await sleep(100 + Math.floor(Math.random() * 150));
      if (closing || glasses.state === 'open') return;
      if (await glasses.connect().then(() => true, () => false)) return;
    }
  };
  cleanups.push(async () => {
    closing = true;
    for (const user of users) await user.glasses.destroy();
  });
  for (let at = 0; at < users.length; at += 25) {
    await Promise.all(users.slice(at, at + 25).map((user) => waitFor(() => user.glasses.connect().then(() => true, () => false), { timeoutMs: 20_000, intervalMs: 200 })));
  }

  const world: ClusterWorld = {
    nodes,
    users,
    balancer,
    tether,
    mentra,
    tetherHooks,
    mentraHooks,
    delivered,
    say(round) {
      let sent = 0;
      for (const user of users) {
        const text = `${user.userId}#${round}`;
        if (user.glasses.state === 'open' && user.glasses.transcribe(text)) {
          user.said.push(text);
          sent++;
        }
      }
      return sent;
    },
    async restart(node) {
      const lines = node.lines;
      node.process = await spawnNode(node.nodeId, node.port, lines);
      balancer.backends = backendsOf(route());
    },
    unroute(node) {
      balancer.backends = backendsOf(route().filter((n) => n !== node));
    },
    async settled(timeoutMs) {
      const census = () => ({
        glassesOpen: users.filter((user) => user.glasses.state === 'open').length,
        tetherSessions: tether.bySession.size,
        tetherHealthy: [...tether.bySession.values()].filter((session) => session.isConnectionHealthy()).length,
        mentraLive: mentra.app.live.size,
      });
      const done = () => {
        const c = census();
        return c.glassesOpen === users.length && c.tetherSessions === users.length && c.tetherHealthy === users.length && c.mentraLive === users.length;
      };
      await waitFor(done, { timeoutMs, intervalMs: 100 }).catch(() => {
        const unhealthy = [...tether.bySession].filter(([, session]) => !session.isConnectionHealthy()).map(([id]) => id).slice(0, 5);
        const closed = users.filter((user) => user.glasses.state !== 'open').map((user) => user.userId).slice(0, 5);
        if (process.env['TETHER_CLUSTER_DEBUG'] && unhealthy[0]) {
          const user = unhealthy[0].split('-')[0]!;
          for (const node of nodes) {
            for (const line of node.lines) {
              const text = JSON.stringify(line);
              if (text.includes(`${user}-`) || text.includes(`"${user}"`)) console.log(node.nodeId, JSON.stringify({ ...line, pid: undefined, hostname: undefined, name: undefined, level: undefined }));
            }
          }
        }
        throw new Error(`the world never settled: ${JSON.stringify(census())} of ${users.length}; unhealthy ${unhealthy.join(',')}; glasses not open ${closed.join(',')}`);
      });
    },
    async close() {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    },
  };
  return world;
}
