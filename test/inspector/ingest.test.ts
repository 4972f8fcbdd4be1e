/**
 * `/inspector/ingest` over real WebSockets on 127.0.0.1: messages in the format
 * `@statelyai/inspect`'s `createWebSocketInspector` sends, and the Tether client
 * (`createIngestInspector`) end to end — redaction before sending, the queue while
 * disconnected, reconnection and re-announcement to a restarted cloud.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createActor, type AnyActorRef, type InspectionEvent } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createInspectorHub, type InspectorHub } from '../../inspector/hub.js';
import { createIngestInspector, type IngestInspector } from '../../inspector/ingestClient.js';
import { createInspectorServer, type InspectorServer } from '../../inspector/server.js';
import { frameText } from '../../src/protocol/parse.js';
import { waitFor } from '../support/net.js';
import { SECRETS, secretMachine, startInspectorHttp } from './support.js';

/**
 * What `@statelyai/inspect` (its `convertXStateEvent`, then its WebSocket adapter's JSON
 * round-trip) makes of an XState inspection event; it drops microsteps and actions.
 */
function statelyMessage(event: InspectionEvent): object | undefined {
  const base = { _version: '0.4.0', createdAt: Date.now().toString(), id: null, rootId: event.rootId };
  const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
  switch (event.type) {
    case '@xstate.actor': {
      const ref = event.actorRef as AnyActorRef & { logic: { config?: { id?: string } }; _parent?: AnyActorRef };
      const config = ref.logic.config;
      return {
        ...base,
        type: '@xstate.actor',
        name: config?.id ?? ref.id,
        sessionId: ref.sessionId,
        parentId: ref._parent?.sessionId,
        definition:
          typeof config === 'object'
            ? JSON.stringify(config, (_key, value: unknown) => (typeof value === 'function' ? { type: (value as { name: string }).name } : value))
            : JSON.stringify({ id: ref.id }),
        snapshot: json(ref.getSnapshot()),
      };
    }
    case '@xstate.event':
      return { ...base, type: '@xstate.event', event: json(event.event), sourceId: event.sourceRef?.sessionId, sessionId: event.actorRef.sessionId };
    case '@xstate.snapshot':
      return { ...base, type: '@xstate.snapshot', event: json(event.event), snapshot: json(event.snapshot), sessionId: event.actorRef.sessionId };
    default:
      return undefined;
  }
}

/** A program streaming its actors the way `createWebSocketInspector` does (deferred, one JSON frame each). */
async function statelyInspector(url: string): Promise<{ inspect: (event: InspectionEvent) => void; close(): void }> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return {
    inspect: (event) =>
      setImmediate(() => {
        const message = statelyMessage(event);
        if (message) ws.send(JSON.stringify(message));
      }),
    close: () => ws.close(),
  };
}

/** An actor's state value as JSON text, '' while the hub does not know it. */
function valueText(hub: InspectorHub, id: string): string {
  return JSON.stringify(hub.summary(id)?.value ?? null);
}

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function serve(hub: InspectorHub) {
  const server = await startInspectorHttp({ hub });
  closers.push(() => server.close());
  return server;
}

describe('inspector ingest', () => {
  it('accepts what @statelyai/inspect sends and shows those actors as a separate source', async () => {
    const hub = createInspectorHub();
    const server = await serve(hub);
    const remote = await statelyInspector(`${server.wsUrl}/inspector/ingest?source=stately-app`);
    closers.push(() => remote.close());

    const actor = createActor(secretMachine, { input: { userId: 'remote-user' }, inspect: remote.inspect }).start();
    actor.send({ type: 'start' });
    actor.send({ type: 'next' });
    const id = `stately-app/${actor.sessionId}`;
    const summary = await waitFor(() => (valueText(hub, id).includes('"b"') ? hub.summary(id) : undefined));
    expect(summary).toMatchObject({ source: 'stately-app', machineId: 'secretHolder', status: 'active', userId: 'remote-user', packageName: 'com.example.secret' });
    expect(summary.value).toEqual({ working: { step: 'b', watch: {} } });

    const detail = hub.detail(id);
    // The config it sent is turned into the same definition format as local machines.
    expect(detail?.definition?.id).toBe('secretHolder');
    expect(detail?.definition?.states.working?.type).toBe('parallel');
    const watch = detail?.definition?.states.working?.states.watch;
    expect(watch?.transitions[0]).toMatchObject({ delay: 'patience', target: ['#secretHolder.done'] });
    // It redacts nothing itself: the hub does, before anything leaves.
    const out = JSON.stringify([detail, hub.exportTrace({ id })]);
    for (const secret of Object.values(SECRETS)) expect(out).not.toContain(secret);
    expect(detail?.records.filter((r) => r.kind === 'transition').map((r) => r.to)).toEqual([
      'idle',
      { working: { step: 'a', watch: {} } },
      { working: { step: 'b', watch: {} } },
    ]);

    actor.send({ type: 'finish' });
    await waitFor(() => hub.summary(id)?.status === 'done');
    actor.stop();
  });

  it('ignores what it cannot read and keeps the connection', async () => {
    const hub = createInspectorHub();
    const server = await serve(hub);
    const ws = new WebSocket(`${server.wsUrl}/inspector/ingest`);
    closers.push(() => ws.close());
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('not json');
    ws.send(JSON.stringify({ type: '@xstate.nonsense', sessionId: 'x:1' }));
    ws.send(JSON.stringify({ type: '@xstate.snapshot', sessionId: 'x:1', snapshot: 'no' }));
    // A frame holding an array is a batch; an actor never announced still shows from its snapshot.
    ws.send(
      JSON.stringify([
        { type: '@xstate.snapshot', sessionId: 'x:9', snapshot: { value: 'on', status: 'active', context: { token: 'hidden' } }, event: { type: 'turnOn' } },
      ]),
    );
    await waitFor(() => hub.list().length === 1);
    const [summary] = hub.list();
    expect(summary).toMatchObject({ source: 'ingest-1', value: 'on' });
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('marks a source’s actors stopped when its connection ends', async () => {
    const hub = createInspectorHub();
    const server = await serve(hub);
    const client = createIngestInspector({ url: `${server.wsUrl}/inspector/ingest`, source: 'app-1' });
    const actor = createActor(secretMachine, { input: { userId: 'u' }, inspect: client.inspect }).start();
    await waitFor(() => hub.summary(`app-1/${actor.sessionId}`)?.value === 'idle');
    await client.close();
    await waitFor(() => hub.summary(`app-1/${actor.sessionId}`)?.status === 'stopped');
    actor.stop();
  });
});

describe('ingest client (createIngestInspector)', () => {
  let client: IngestInspector | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
  });

  it('streams its actors, redacted before they leave the process', async () => {
    const hub = createInspectorHub();
    const server = await serve(hub);
    client = createIngestInspector({ url: `${server.wsUrl}/inspector/ingest`, source: 'com.example.app' });
    await waitFor(() => client?.connected);

    const actor = createActor(secretMachine, { input: { userId: 'sdk-user' }, inspect: client.inspect }).start();
    actor.send({ type: 'start' });
    actor.send({ type: 'next', authorization: `Bearer ${SECRETS.token}` });
    const id = `com.example.app/${actor.sessionId}`;
    await waitFor(() => valueText(hub, id).includes('"b"'));
    const detail = hub.detail(id);
    expect(detail?.definition?.states.working?.type).toBe('parallel');
    expect(detail?.snapshot.context).toMatchObject({ apiKey: '[redacted]', count: 1, now: '[function]' });
    // The hub never saw the secrets: they were redacted in the sending process.
    const everything = JSON.stringify(hub.exportTrace({ id }));
    for (const secret of Object.values(SECRETS)) expect(everything).not.toContain(secret);
    actor.stop();
    await waitFor(() => hub.summary(id)?.status === 'stopped');
  });

  it('queues while the cloud is away, boundedly, and re-announces its live actors to a restarted cloud', async () => {
    // One listening socket throughout (no port reuse races); what answers upgrades changes.
    let endpoints: InspectorServer | undefined;
    const server = createServer();
    server.on('upgrade', (req, socket, head) => (endpoints ? endpoints.handleUpgrade(req, socket, head) : socket.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      await endpoints?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as AddressInfo;
    client = createIngestInspector({ url: `ws://127.0.0.1:${port}/inspector/ingest`, source: 'sdk', maxQueue: 20, reconnectDelayMs: 20, maxReconnectDelayMs: 50 });
    const actor = createActor(secretMachine, { input: { userId: 'queued' }, inspect: client.inspect }).start();
    actor.send({ type: 'start' });
    for (let i = 0; i < 50; i++) actor.send({ type: 'next' });
    expect(client.connected).toBe(false);
    expect(client.dropped).toBeGreaterThan(0);

    // The cloud comes up: the actor appears in its current state although its start was dropped.
    const first = createInspectorHub();
    endpoints = createInspectorServer({ hub: first });
    const id = `sdk/${actor.sessionId}`;
    await waitFor(() => valueText(first, id).includes('"b"'), { timeoutMs: 3000 });
    expect(first.summary(id)?.machineId).toBe('secretHolder');

    // The cloud restarts with an empty hub: the live actor is announced again.
    const closing = endpoints;
    endpoints = undefined;
    await closing.close();
    await waitFor(() => first.summary(id)?.status === 'stopped');
    const second = createInspectorHub();
    endpoints = createInspectorServer({ hub: second });
    await waitFor(() => second.summary(id)?.status === 'active' && valueText(second, id).includes('"b"'), { timeoutMs: 3000 });
    expect(second.detail(id)?.definition?.id).toBe('secretHolder');
    actor.stop();
  });
});

describe('ingest client wire format', () => {
  it('sends @statelyai/inspect messages with secrets already redacted', async () => {
    const { WebSocketServer } = await import('ws');
    const frames: string[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const { port } = wss.address() as AddressInfo;
    const requests: Array<{ url?: string; authorization?: string }> = [];
    wss.on('connection', (ws, req) => {
      requests.push({ url: req.url, authorization: req.headers.authorization });
      ws.on('message', (data) => frames.push(frameText(data)));
    });
    closers.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const client = createIngestInspector({ url: `ws://127.0.0.1:${port}/inspector/ingest`, source: 'wire', token: 'inspector-token-0123' });
    closers.push(() => client.close());
    const actor = createActor(secretMachine, { input: { userId: 'w' }, inspect: client.inspect }).start();
    actor.send({ type: 'start' });
    actor.send({ type: 'next', authorization: `Bearer ${SECRETS.token}` });
    await waitFor(() => frames.length >= 7);
    actor.stop();

    expect(requests[0]).toEqual({ url: '/inspector/ingest?source=wire', authorization: 'Bearer inspector-token-0123' });
    const messages = frames.map((f) => JSON.parse(f) as Record<string, unknown>);
    expect(messages[0]).toMatchObject({ type: '@xstate.actor', name: 'secretHolder', sessionId: actor.sessionId, id: null });
    expect(typeof messages[0]?.definition).toBe('string');
    expect(JSON.parse(messages[0]?.definition as string)).toMatchObject({ id: 'secretHolder', initial: 'idle' });
    for (const m of messages) {
      expect(['@xstate.actor', '@xstate.event', '@xstate.snapshot']).toContain(m.type);
      expect(m).toMatchObject({ sessionId: actor.sessionId, _version: expect.any(String), createdAt: expect.stringMatching(/^\d+$/) });
    }
    const snapshot = messages.find((m) => m.type === '@xstate.snapshot')?.snapshot;
    expect(snapshot).toMatchObject({ value: 'idle', status: 'active', context: { apiKey: '[redacted]', now: '[function]' } });
    const text = frames.join('\n');
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
  });
});
