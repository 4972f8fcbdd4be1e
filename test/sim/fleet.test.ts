import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedGlassesError, startFleet } from '../../src/sim/index.js';
import type { Fleet } from '../../src/sim/index.js';
import { activeResourceCounts, resourcesAbove, waitFor } from '../support/net.js';
import { startGlassesServer } from './glassesServer.js';
import type { GlassesServer } from './glassesServer.js';

let server: GlassesServer | undefined;
let fleet: Fleet | undefined;

afterEach(async () => {
  await fleet?.closeAll();
  fleet = undefined;
  await server?.stop();
  server = undefined;
});

describe('startFleet', () => {
  it('opens every client with at most `concurrency` handshakes in flight', async () => {
    server = await startGlassesServer({ ackDelayMs: 10 });
    const tokens = Array.from({ length: 30 }, (_, i) => `token-${i}`);

    fleet = await startFleet({ url: server.url, tokens, concurrency: 5, runningApps: ['a'] });

    expect(fleet.failures).toEqual([]);
    expect(fleet.glasses).toHaveLength(30);
    expect(fleet.glasses.every((glasses) => glasses.state === 'open')).toBe(true);
    expect(server.maxPending).toBeLessThanOrEqual(5);
    expect(server.maxPending).toBeGreaterThan(1);
    const authorizations = server.connections.map((conn) => conn.authorization).sort();
    expect(authorizations).toEqual(tokens.map((token) => `Bearer ${token}`).sort());
    expect(server.connections[0]?.frames[0]).toEqual({ type: 'connection_init', runningApps: ['a'] });
  });

  it('asks a token function for each user id', async () => {
    server = await startGlassesServer();
    const asked: string[] = [];

    fleet = await startFleet({
      url: server.url,
      count: 4,
      concurrency: 2,
      tokenIn: 'init',
      tokens: async (userId) => {
        asked.push(userId);
        return `jwt-for-${userId}`;
      },
    });

    expect(fleet.glasses).toHaveLength(4);
    expect(asked.sort()).toEqual(['sim-user-0', 'sim-user-1', 'sim-user-2', 'sim-user-3']);
    const coreTokens = server.connections.map((conn) => (conn.frames[0] as { coreToken?: string }).coreToken).sort();
    expect(coreTokens).toEqual(asked.map((userId) => `jwt-for-${userId}`));
  });

  it('collects refused clients as failures, in index order, and releases their sockets', async () => {
    server = await startGlassesServer({
      reply: (index) => (index % 2 === 0 ? { kind: 'ack' } : { kind: 'refuse', code: 'INVALID_TOKEN', message: 'no' }),
    });
    const baseline = activeResourceCounts();

    fleet = await startFleet({ url: server.url, tokens: ['t0', 't1', 't2', 't3'], concurrency: 1 });

    expect(fleet.glasses).toHaveLength(2);
    expect(fleet.failures.map((failure) => failure.index)).toEqual([1, 3]);
    expect(fleet.failures[0]?.error).toBeInstanceOf(SimulatedGlassesError);
    expect(fleet.failures[0]?.error).toMatchObject({ code: 'INVALID_TOKEN', closeCode: 4001 });

    await fleet.closeAll();
    expect(server.connections.map((conn) => conn.closed?.code)).toEqual([1000, 4001, 1000, 4001]);
    await waitFor(() => resourcesAbove(baseline).length === 0, {
      message: `handles left: ${resourcesAbove(baseline).join(', ')}`,
    });
  });

  it('refuses a count without enough tokens', async () => {
    await expect(startFleet({ url: 'ws://127.0.0.1:1/glasses-ws', tokens: ['a'], count: 2 })).rejects.toThrow(RangeError);
    await expect(startFleet({ url: 'ws://127.0.0.1:1/glasses-ws', tokens: () => 'a' })).rejects.toThrow(RangeError);
  });
});
