import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedGlasses, SimulatedGlassesError } from '../../src/sim/index.js';
import type { GlassesState, SimulatedGlassesOptions } from '../../src/sim/index.js';
import { activeResourceCounts, freePort, resourcesAbove, sleep, waitFor } from '../support/net.js';
import { startGlassesServer } from './glassesServer.js';
import type { GlassesServer, GlassesServerOptions, ServerConnection } from './glassesServer.js';

const TOKEN = 'core-token-1';
/** How long a silent peer gets to prove it is silent, ms. */
const SILENCE_MS = 200;

let server: GlassesServer | undefined;
const clients: SimulatedGlasses[] = [];

async function serve(options: GlassesServerOptions = {}): Promise<GlassesServer> {
  server = await startGlassesServer(options);
  return server;
}

function glasses(options: Partial<SimulatedGlassesOptions> = {}): SimulatedGlasses {
  if (!server) throw new Error('start the server first');
  const client = new SimulatedGlasses({ url: server.url, token: TOKEN, connectTimeoutMs: 2000, ...options });
  clients.push(client);
  return client;
}

function connection(index: number): ServerConnection {
  const found = server?.connections[index];
  if (!found) throw new Error(`no server connection #${index}`);
  return found;
}

function statesOf(client: SimulatedGlasses): GlassesState[] {
  const states: GlassesState[] = [];
  client.on('state', (state) => states.push(state));
  return states;
}

async function pongWithin(conn: ServerConnection, ms: number): Promise<boolean> {
  const before = conn.pongs.length;
  conn.socket.ping();
  try {
    await waitFor(() => conn.pongs.length > before, { timeoutMs: ms });
    return true;
  } catch {
    return false;
  }
}

beforeEach(() => {
  server = undefined;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.destroy()));
  await server?.stop();
});

describe('SimulatedGlasses handshake', () => {
  it('sends the token in the Authorization header by default and resolves with the ack', async () => {
    await serve();
    const client = glasses({ runningApps: ['com.example.captions'] });
    expect(client.state).toBe('idle');

    const ack = await client.connect();

    expect(ack).toMatchObject({ type: 'connection_ack', sessionId: 'session-0' });
    expect(client.state).toBe('open');
    expect(client.sessionId).toBe('session-0');
    expect(client.gen).toBe(1);
    expect(connection(0).authorization).toBe(`Bearer ${TOKEN}`);
    expect(connection(0).frames[0]).toEqual({ type: 'connection_init', runningApps: ['com.example.captions'] });
  });

  it('sends the token as coreToken in connection_init when told to', async () => {
    await serve();
    const client = glasses({ tokenIn: 'init' });

    await client.connect();

    expect(connection(0).authorization).toBeUndefined();
    expect(connection(0).frames[0]).toEqual({ type: 'connection_init', coreToken: TOKEN });
  });

  it('rejects with the connection_error code and the close code that follows it', async () => {
    await serve({ reply: { kind: 'refuse', code: 'INVALID_TOKEN', message: 'Invalid token' } });
    const client = glasses();

    const error = await client.connect().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SimulatedGlassesError);
    expect(error).toMatchObject({ code: 'INVALID_TOKEN', closeCode: 4001 });
    expect(client.state).toBe('closed');
    expect(client.closeEvents).toEqual([expect.objectContaining({ code: 4001, initiatedBy: 'server', gen: 1 })]);
  });

  it('rejects with CONNECT_TIMEOUT when no ack comes, and drops the socket', async () => {
    await serve({ reply: { kind: 'silent' } });
    const client = glasses({ connectTimeoutMs: 100 });

    await expect(client.connect()).rejects.toMatchObject({ code: 'CONNECT_TIMEOUT' });

    expect(client.state).toBe('closed');
    expect((await connection(0).whenClosed).code).toBe(1006);
  });

  it('rejects with CONNECTION_FAILED when nothing listens', async () => {
    const port = await freePort();
    const client = new SimulatedGlasses({ url: `ws://127.0.0.1:${port}/glasses-ws`, token: TOKEN });
    clients.push(client);

    await expect(client.connect()).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    expect(client.state).toBe('closed');
  });

  it('rejects a pending connect with CONNECTION_CLOSED when closed before the ack', async () => {
    await serve({ reply: { kind: 'silent' } });
    const client = glasses();
    const connecting = client.connect();
    await waitFor(() => server?.connections.length === 1);

    await client.close();

    await expect(connecting).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(client.state).toBe('closed');
  });

  it('refuses to connect twice', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    await expect(client.connect()).rejects.toThrow(/while open/);
  });
});

describe('SimulatedGlasses messages', () => {
  it('sends glasses messages while open and nothing before or after', async () => {
    await serve();
    const client = glasses({ runningApps: ['a'] });
    expect(client.pressButton()).toBe(false);
    await client.connect();

    expect(client.transcribe('hello', { language: 'fr-FR', isFinal: false })).toBe(true);
    client.transcribe('world');
    client.pressButton('side', 'long');
    client.notify({ app: 'Mail', title: 'Hi', content: 'there' });
    client.startApp('b');
    client.stopApp('a');
    client.send({ type: 'head_position', position: 'up' });
    client.sendRaw('not json');

    await waitFor(() => connection(0).frames.length === 9);
    expect(connection(0).frames.slice(1)).toEqual([
      { type: 'local_transcription', text: 'hello', isFinal: false, transcribeLanguage: 'fr-FR' },
      { type: 'local_transcription', text: 'world', isFinal: true },
      { type: 'button_press', buttonId: 'side', pressType: 'long' },
      { type: 'phone_notification', app: 'Mail', title: 'Hi', content: 'there' },
      { type: 'start_app', packageName: 'b' },
      { type: 'stop_app', packageName: 'a' },
      { type: 'head_position', position: 'up' },
      'not json',
    ]);
    expect(client.runningApps).toEqual(['b']);

    await client.close();
    expect(client.heartbeat()).toBe(false);
    expect(client.sendRaw('x')).toBe(false);
  });

  it('records every cloud frame in order, with display_events apart and bad frames kept aside', async () => {
    await serve();
    const client = glasses();
    await client.connect();
    const before = Date.now();
    const layout = { layoutType: 'text_wall', text: 'hi' };

    connection(0).socket.send(JSON.stringify({ type: 'display_event', layout }));
    connection(0).socket.send('{"type":"no_such_thing"}');
    client.heartbeat();
    await client.waitFor('heartbeat_ack');

    expect(client.received.map((frame) => frame.message.type)).toEqual([
      'connection_ack',
      'display_event',
      'heartbeat_ack',
    ]);
    expect(client.displays).toHaveLength(1);
    expect(client.displays[0]?.message.layout).toMatchObject(layout);
    expect(client.displays[0]?.gen).toBe(1);
    expect(client.displays[0]?.receivedAt).toBeGreaterThanOrEqual(before);
    expect(client.badFrames.map((frame) => frame.error.code)).toEqual(['UNKNOWN_TYPE']);
  });

  it('waitFor matches frames already received, then new ones, and times out', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    await expect(client.waitFor('connection_ack', 50)).resolves.toMatchObject({ sessionId: 'session-0' });
    const later = client.waitFor(
      (message) => message.type === 'display_event' && message.layout.layoutType === 'text_wall',
      { since: client.received.length },
    );
    connection(0).socket.send(JSON.stringify({ type: 'display_event', layout: { layoutType: 'text_wall', text: 'x' } }));
    await expect(later).resolves.toMatchObject({ type: 'display_event' });
    await expect(client.waitFor('app_state_change', 50)).rejects.toThrow(/within 50 ms/);
  });
});

describe('SimulatedGlasses close', () => {
  it('closes with the given code, seen by the server, and resolves once closed', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    await client.close(1000);

    expect(client.state).toBe('closed');
    expect(connection(0).closed).toEqual({ code: 1000, reason: '' });
    expect(client.closeEvents).toEqual([expect.objectContaining({ code: 1000, initiatedBy: 'client', gen: 1 })]);
  });

  it('sends a non-default code and reason', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    await client.close(4000, 'leaving');

    expect(connection(0).closed).toEqual({ code: 4000, reason: 'leaving' });
  });

  it('drops the TCP connection for close(1006), which cannot be sent in a frame', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    await client.close(1006);

    expect((await connection(0).whenClosed).code).toBe(1006);
    await expect(client.close(1005)).rejects.toThrow(RangeError);
  });

  it('records a close started by the server', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    connection(0).socket.close(1001, 'going away');
    await waitFor(() => client.state === 'closed');

    expect(client.closeEvents).toEqual([
      expect.objectContaining({ code: 1001, reason: 'going away', initiatedBy: 'server', gen: 1 }),
    ]);
  });

  it('reconnect closes, then connects again declaring the current running apps', async () => {
    await serve();
    const client = glasses({ runningApps: ['a'] });
    await client.connect();
    client.startApp('b');

    const ack = await client.reconnect();

    expect(ack.sessionId).toBe('session-1');
    expect(connection(0).closed?.code).toBe(1000);
    expect(connection(1).frames[0]).toEqual({ type: 'connection_init', runningApps: ['a', 'b'] });
    expect(client.state).toBe('open');
    expect(client.gen).toBe(2);
  });
});

describe('SimulatedGlasses force-quit (seed 05)', () => {
  it('answers pings until force-quit, then leaves the server socket open, silent and without a close frame', async () => {
    await serve();
    const client = glasses();
    await client.connect();
    const conn = connection(0);
    expect(await pongWithin(conn, 1000)).toBe(true);

    client.forceQuit();

    expect(client.state).toBe('zombie');
    expect(await pongWithin(conn, SILENCE_MS)).toBe(false);
    expect(conn.closed).toBeUndefined();
    expect(conn.socket.readyState).toBe(conn.socket.OPEN);
    expect(client.send({ type: 'heartbeat' })).toBe(false);
    expect(client.sendRaw('x')).toBe(false);
    expect(conn.frames).toHaveLength(1);
  });

  it('reads nothing once force-quit: no frame recorded, no close frame answered', async () => {
    await serve();
    const client = glasses();
    await client.connect();
    const conn = connection(0);
    client.forceQuit();

    conn.socket.send(JSON.stringify({ type: 'display_event', layout: { layoutType: 'text_wall', text: 'x' } }));
    conn.socket.close(1000, 'bye');
    await sleep(SILENCE_MS);

    expect(conn.closed).toBeUndefined();
    expect(client.displays).toHaveLength(0);
    expect(client.closeEvents).toHaveLength(0);
    expect(client.state).toBe('zombie');
  });

  it('reopens after a force-quit with a new socket, leaving the zombie open until destroy', async () => {
    await serve();
    const client = glasses({ runningApps: ['a'] });
    await client.connect();
    client.forceQuit();

    await client.connect();

    expect(client.state).toBe('open');
    expect(client.gen).toBe(2);
    expect(connection(0).closed).toBeUndefined();
    expect(connection(1).frames[0]).toEqual({ type: 'connection_init', runningApps: ['a'] });

    await client.close();
    expect(connection(1).closed?.code).toBe(1000);
    expect(connection(0).closed).toBeUndefined();

    await client.destroy();
    expect((await connection(0).whenClosed).code).toBe(1006);
  });

  it('rejects a pending connect when force-quit before the ack', async () => {
    await serve({ reply: { kind: 'silent' } });
    const client = glasses();
    const connecting = client.connect();
    await waitFor(() => server?.connections[0]?.frames.length === 1);

    client.forceQuit();

    await expect(connecting).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(client.state).toBe('zombie');
    expect(connection(0).closed).toBeUndefined();
  });
});

describe('SimulatedGlasses network switch', () => {
  it('opens and acks the new socket before the old one closes', async () => {
    await serve();
    const client = glasses({ runningApps: ['a'] });
    await client.connect();

    const ack = await client.networkSwitch();

    expect(ack.sessionId).toBe('session-1');
    await connection(0).whenClosed;
    expect(server?.log).toEqual(['open#0', 'init#0', 'ack#0', 'open#1', 'init#1', 'ack#1', 'close#0:1000']);
    expect(connection(0).closed).toEqual({ code: 1000, reason: 'network switch' });
    expect(connection(1).frames[0]).toEqual({ type: 'connection_init', runningApps: ['a'] });
    expect(client.state).toBe('open');
    expect(client.gen).toBe(2);

    client.pressButton();
    await waitFor(() => connection(1).frames.length === 2);
    expect(connection(0).frames).toHaveLength(1);
  });

  it('drops the old socket without a close frame with closeOld terminate', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    await client.networkSwitch({ closeOld: 'terminate' });

    await connection(0).whenClosed;
    expect(server?.log.slice(-2)).toEqual(['ack#1', 'close#0:1006']);
    expect(client.state).toBe('open');
  });

  it('leaves the old socket open and alive with closeOld never', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    await client.networkSwitch({ closeOld: 'never' });

    expect(connection(0).closed).toBeUndefined();
    expect(await pongWithin(connection(0), 1000)).toBe(true);
    await client.close();
    expect(connection(0).closed?.code).toBe(1000);
    expect(connection(1).closed?.code).toBe(1000);
  });

  it('leaves the old socket open but silent with closeOld zombie', async () => {
    await serve();
    const client = glasses();
    await client.connect();

    await client.networkSwitch({ closeOld: 'zombie' });

    expect(client.state).toBe('open');
    expect(await pongWithin(connection(0), SILENCE_MS)).toBe(false);
    expect(await pongWithin(connection(1), 1000)).toBe(true);
    expect(connection(0).closed).toBeUndefined();
  });

  it('stays usable when the cloud replaces the old socket (4003) before acking the new one', async () => {
    await serve({ replaceOld: true });
    const client = glasses();
    await client.connect();
    const states = statesOf(client);

    await client.networkSwitch();

    expect(client.state).toBe('open');
    expect(states).not.toContain('closed');
    expect(client.closeEvents).toEqual([expect.objectContaining({ code: 4003, gen: 1, initiatedBy: 'server' })]);
  });

  it('keeps the old socket current when the new handshake fails', async () => {
    await serve({
      reply: (index) => (index === 0 ? { kind: 'ack' } : { kind: 'refuse', code: 'TOKEN_EXPIRED', message: 'expired' }),
    });
    const client = glasses();
    await client.connect();

    await expect(client.networkSwitch()).rejects.toMatchObject({ code: 'TOKEN_EXPIRED', closeCode: 4001 });

    expect(client.state).toBe('open');
    expect(client.gen).toBe(1);
    expect(connection(0).closed).toBeUndefined();
    expect(client.pressButton()).toBe(true);
  });
});

describe('SimulatedGlasses destroy', () => {
  it('leaves no active handles behind, zombies included', async () => {
    await serve();
    const baseline = activeResourceCounts();
    const zombie = glasses();
    const open = glasses();
    const switched = glasses();
    await Promise.all([zombie.connect(), open.connect(), switched.connect()]);
    await switched.networkSwitch({ closeOld: 'never' });
    zombie.forceQuit();
    const pending = zombie.waitFor('app_state_change', 10_000).catch((error: unknown) => error);

    await Promise.all([zombie.destroy(), open.destroy(), switched.destroy()]);

    expect(await pending).toBeInstanceOf(Error);
    expect([zombie.state, open.state, switched.state]).toEqual(['closed', 'closed', 'closed']);
    await waitFor(() => server?.connections.every((conn) => conn.closed !== undefined));
    await waitFor(() => resourcesAbove(baseline).length === 0, {
      message: `handles left: ${resourcesAbove(baseline).join(', ')}`,
    });
    await expect(zombie.connect()).rejects.toThrow(/destroyed/);
  });
});
