/**
 * Issue 14, done when: three cloud nodes in child processes on a real NATS JetStream and
 * PostgreSQL, behind a balancer, with users streaming from their glasses to one app on each SDK.
 * One node killed with SIGKILL; one paused with SIGSTOP past its lease and resumed; every node
 * drained and started again, one after the other.
 */
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { OWNERS_BUCKET } from '../../src/cloud/cluster/buckets.js';
import { userOfKey } from '../../src/cloud/cluster/ownership.js';
import { useClusterServers } from '../support/clusterServers.js';
import { MENTRA_PKG, startClusterWorld, TETHER_PKG, type ClusterWorld, type WorldNode } from '../support/clusterWorld.js';
import { sleep, waitFor } from '../support/net.js';
import { queryRows } from '../support/pgQuery.js';


const USERS = Number(process.env['TETHER_CLUSTER_USERS'] ?? 300);
const LEASE_MS = 3000;
const servers = useClusterServers();
let world: ClusterWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** Which node owns each user now, from the owners bucket. */
async function owners(): Promise<Map<string, string>> {
  return new Map([...(await ownership())].map(([user, { nodeId }]) => [user, nodeId]));
}

/** Each owned user's node and epoch (the entry's revision), from the owners bucket. */
async function ownership(): Promise<Map<string, { nodeId: string; epoch: number }>> {
  const nc = await connect({ servers: servers.nats.url });
  try {
    const kv = await new Kvm(nc).open(OWNERS_BUCKET);
    const result = new Map<string, { nodeId: string; epoch: number }>();
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key);
      if (entry?.operation === 'PUT') result.set(userOfKey(key), { nodeId: entry.json<{ nodeId: string }>().nodeId, epoch: entry.revision });
    }
    return result;
  } finally {
    await nc.close();
  }
}

/** Streams a transcript from every pair of glasses every `everyMs` until stopped; returns the rounds said. */
function stream(w: ClusterWorld, everyMs: number): { stop(): Promise<number> } {
  let round = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      w.say(++round);
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return round;
    },
  };
}

/** Waits until round `rounds`, the last said, has reached every user's Tether app: everything said has arrived. */
function lastRoundHeard(w: ClusterWorld, rounds: number): Promise<unknown> {
  return waitFor(() => w.users.every((u) => w.tether.heard.get(tetherSession(u.userId))?.includes(`${u.userId}#${rounds}`)), {
    timeoutMs: 10_000,
    message: 'the last round never reached every Tether app',
  });
}

/** Transcripts the glasses sent that an app never heard, over every user. */
function missing(w: ClusterWorld, heard: Map<string, string[]>, sessionOf: (userId: string) => string, users?: ReadonlySet<string>): number {
  let count = 0;
  for (const user of w.users) {
    if (users && !users.has(user.userId)) continue;
    const got = new Set(heard.get(sessionOf(user.userId)) ?? []);
    count += user.said.filter((text) => !got.has(text)).length;
  }
  return count;
}

/** With TETHER_CLUSTER_DEBUG: what the nodes logged of the first session started twice. */
function explain(w: ClusterWorld): void {
  if (!process.env['TETHER_CLUSTER_DEBUG']) return;
  const again = [...w.tetherHooks.sessionRequests, ...w.mentraHooks.sessionRequests].filter(([, n]) => n > 1).map(([id]) => id);
  if (again.length === 0) return;
  console.log('started twice:', again.join(' '));
  const user = again[0]!.split('-')[0]!;
  for (const node of w.nodes) {
    for (const line of node.lines) {
      const text = JSON.stringify(line);
      if (text.includes(`${user}-`) || text.includes(`"${user}"`)) console.log(node.nodeId, JSON.stringify({ ...line, pid: undefined, hostname: undefined, name: undefined, level: undefined }));
    }
  }
}

/** What each app heard, checked for duplicates. */
function duplicates(heard: Map<string, string[]>): number {
  let count = 0;
  for (const texts of heard.values()) count += texts.length - new Set(texts).size;
  return count;
}

const tetherSession = (userId: string) => `${userId}-${TETHER_PKG}`;
const mentraSession = (userId: string) => `${userId}-${MENTRA_PKG}`;
const secondRequests = (requests: ReadonlyMap<string, number>) => [...requests.values()].filter((n) => n > 1).length;

/** Starts the world on `dbPath` and waits until every user is up and its glasses have streamed for 1.5 s. */
async function streamingWorld(dbPath: string): Promise<{ w: ClusterWorld; talk: ReturnType<typeof stream> }> {
  const w = await startClusterWorld({ users: USERS, natsUrl: servers.nats.url, dbPath, leaseMs: LEASE_MS });
  world = w;
  await w.settled(60_000);
  // The apps' subscriptions reach the cloud just after their acks: the first round must not race them.
  await sleep(1000);
  const talk = stream(w, 500);
  await sleep(1500);
  return { w, talk };
}

describe(`three nodes, ${USERS} users, both SDKs`, () => {
  it('survives a node killed with SIGKILL: every user back, losses only from its buffers and reported, no duplicate, no second session_request', async () => {
    const { w, talk } = await streamingWorld(await servers.postgres.createDatabase('nodedeath'));
    const before = await owners();
    const victim = w.nodes[1]!;
    const victims = new Set([...before].filter(([, node]) => node === victim.nodeId).map(([user]) => user));
    expect(victims.size).toBeGreaterThan(0);

    const killedAt = performance.now();
    victim.process.child.kill('SIGKILL');
    w.unroute(victim);
    await victim.process.exited;
    await w.settled(30_000);
    const backMs = performance.now() - killedAt;
    await sleep(1500);
    const rounds = await talk.stop();
    await lastRoundHeard(w, rounds);

    const after = await owners();
    expect([...after.values()].filter((node) => node === victim.nodeId)).toEqual([]);
    let lostFromVictims = 0;
    for (const user of w.users) {
      const session = w.tether.bySession.get(tetherSession(user.userId))!;
      expect(session.delivery.duplicatesDropped).toBe(0);
      if (victims.has(user.userId)) lostFromVictims += session.delivery.reportedLost;
      // A session on a surviving node lost nothing.
      else expect({ user: user.userId, lost: session.delivery.reportedLost }).toEqual({ user: user.userId, lost: 0 });
    }
    expect(duplicates(w.tether.heard)).toBe(0);
    expect(duplicates(w.mentra.app.heard)).toBe(0);
    explain(w);
    expect(secondRequests(w.tetherHooks.sessionRequests)).toBe(0);
    expect(secondRequests(w.mentraHooks.sessionRequests)).toBe(0);
    expect(w.mentra.app.stopped).toEqual([]);
    const survivors = new Set(w.users.map((u) => u.userId).filter((u) => !victims.has(u)));
    expect(missing(w, w.tether.heard, tetherSession, survivors)).toBe(0);
    console.log(
      `[cluster] node death: ${USERS} users, ${victims.size} on the killed node; every user and app back ${backMs.toFixed(0)} ms after the SIGKILL ` +
        `(lease ${LEASE_MS} ms); transcripts sent and never heard: Tether ${missing(w, w.tether.heard, tetherSession)} ` +
        `(only users of the killed node may miss any), @mentra/sdk ${missing(w, w.mentra.app.heard, mentraSession)}; reported as resume_gap ${lostFromVictims} ` +
        `(an upper bound: the dead node's reserved numbers); duplicates 0; second session_requests 0`,
    );
  }, 240_000);

  it('fences the owner of its sessions paused with SIGSTOP past its lease: they move, and once resumed it writes nothing, sends nothing, closes their sockets with 1012', async () => {
    const dbPath = await servers.postgres.createDatabase('fencing');
    const { w, talk } = await streamingWorld(dbPath);
    const before = await owners();
    const counts = new Map<WorldNode, number>(w.nodes.map((node) => [node, [...before.values()].filter((id) => id === node.nodeId).length]));
    const victim = [...counts].sort((x, y) => y[1] - x[1])[0]![0];
    const victims = new Set([...before].filter(([, node]) => node === victim.nodeId).map(([user]) => user));

    victim.process.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    w.unroute(victim);
    // Its users' glasses notice the silence (real glasses by their heartbeat) and come back through the balancer.
    const moved = w.users.filter((u) => victims.has(u.userId));
    await Promise.all(moved.map((u) => waitFor(() => u.glasses.reconnect(1006).then(() => true, () => false), { timeoutMs: 30_000, intervalMs: 250 })));
    await waitFor(async () => [...(await owners())].every(([user, node]) => !victims.has(user) || node !== victim.nodeId), { timeoutMs: 30_000, message: 'the paused node’s sessions never moved' });
    const movedMs = performance.now() - stoppedAt;

    victim.process.child.kill('SIGCONT');
    const resumedAt = performance.now();
    await waitFor(() => victim.lines.some((line) => line['msg'] === 'sessions taken back after the lost lease'), { timeoutMs: 20_000, message: 'the resumed node never came back' });
    await w.settled(60_000);
    await sleep(1500);
    const rounds = await talk.stop();
    await lastRoundHeard(w, rounds);

    // The oracle: every frame a node sent went through the balancer; the paused node sent no data frame after its pause.
    const late = (w.delivered.get(victim.nodeId) ?? []).filter((at) => at > stoppedAt).length;
    explain(w);
    expect(late).toBe(0);
    const taken = victim.lines.find((line) => line['msg'] === 'sessions taken back after the lost lease')!;
    expect(taken).toMatchObject({ kept: 0, lost: victims.size });
    expect(victim.lines.find((line) => line['msg'] === 'sessions lost to another node: their sockets closed with 1012')).toMatchObject({ sessions: victims.size });
    // Every moved session's row was last written under its new owner's epoch: nothing of the paused node's landed.
    const now = await ownership();
    const rows = await queryRows<{ user_id: string; epoch: string }>(dbPath, 'SELECT user_id, epoch FROM session_epochs');
    const epochs = new Map(rows.map((row) => [row.user_id, Number(row.epoch)]));
    for (const user of victims) expect({ user, epoch: epochs.get(user) }).toEqual({ user, epoch: now.get(user)?.epoch });
    for (const user of w.users) expect(w.tether.bySession.get(tetherSession(user.userId))!.delivery.duplicatesDropped).toBe(0);
    expect(duplicates(w.tether.heard)).toBe(0);
    expect(duplicates(w.mentra.app.heard)).toBe(0);
    expect(secondRequests(w.tetherHooks.sessionRequests)).toBe(0);
    console.log(
      `[cluster] fencing: ${victims.size} sessions on the paused node; moved ${movedMs.toFixed(0)} ms after the SIGSTOP (lease ${LEASE_MS} ms); ` +
        `data frames it sent after the pause: ${late}; after SIGCONT: kept ${String(taken['kept'])}, lost ${String(taken['lost'])}, resumed to done ${(performance.now() - resumedAt).toFixed(0)} ms; ` +
        `rows under the new owners' epochs: ${victims.size}/${victims.size}`,
    );
  }, 240_000);

  it('rolls a deploy through all three nodes (drain, start) while users stream: nothing lost or duplicated, no second session_request, each glasses back once per drained node', async () => {
    const { w, talk } = await streamingWorld(await servers.postgres.createDatabase('rolling'));
    const windows: number[] = [];
    const drains: string[] = [];
    for (const node of w.nodes) {
      windows.push(performance.now());
      const started = performance.now();
      node.process.child.kill('SIGTERM');
      w.unroute(node);
      await node.process.exited;
      const drainedMs = performance.now() - started;
      await w.restart(node);
      await w.settled(60_000);
      drains.push(`${node.nodeId} ${drainedMs.toFixed(0)} ms`);
      await sleep(1000);
    }
    windows.push(performance.now());
    const rounds = await talk.stop();
    await lastRoundHeard(w, rounds);

    let unread = 0;
    for (const user of w.users) {
      const { duplicatesDropped, reportedLost } = w.tether.bySession.get(tetherSession(user.userId))!.delivery;
      expect({ user: user.userId, duplicatesDropped, reportedLost }).toEqual({ user: user.userId, duplicatesDropped: 0, reportedLost: 0 });
      // At most once per drained node.
      for (let i = 0; i + 1 < windows.length; i++) {
        const back = user.reconnects.filter((at) => at >= windows[i]! && at < windows[i + 1]!).length;
        expect({ user: user.userId, node: i, back: Math.min(back, 2) }).toEqual({ user: user.userId, node: i, back: Math.min(back, 1) });
      }
    }
    unread = missing(w, w.tether.heard, tetherSession);
    explain(w);
    expect(duplicates(w.tether.heard)).toBe(0);
    expect(duplicates(w.mentra.app.heard)).toBe(0);
    expect(secondRequests(w.tetherHooks.sessionRequests)).toBe(0);
    expect(secondRequests(w.mentraHooks.sessionRequests)).toBe(0);
    expect(w.mentra.app.stopped).toEqual([]);
    const reconnects = w.users.reduce((sum, u) => sum + u.reconnects.length, 0);
    console.log(
      `[cluster] rolling deploy: ${USERS} users, drains ${drains.join(', ')}; Tether: reported lost 0, duplicates 0; ` +
        `transcripts sent into a draining node's socket after it stopped reading (never taken by any node): ${unread}; ` +
        `glasses reconnects ${reconnects} (${(reconnects / USERS).toFixed(2)} per user over 3 drains); second session_requests 0; @mentra/sdk sessions given up 0`,
    );
  }, 300_000);
});
