/**
 * The hub, driven in-process by real machines through XState's `inspect` option: what it keeps
 * per actor, its bounds, its feed, and that it never breaks the runtime it observes.
 */
import { createActor, createMachine, SimulatedClock, type InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { appSessionSystemId, GLASSES_LINK_ID } from '../../machines/sessionApi.js';
import { createInspectorHub, type InspectorHub } from '../../inspector/hub.js';
import type { FeedServerMessage, MachineJSON, TransitionJSON } from '../../inspector/protocol.js';
import { closeGlassesSocket, startInertUser } from '../support/inertUserSession.js';
import { waitFor } from '../support/net.js';
import { secretMachine } from './support.js';

const PKG = 'com.example.notes';

function startUser(hub: InspectorHub, userId: string, clock = new SimulatedClock()) {
  return startInertUser(userId, PKG, clock, hub.inspect);
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** All transitions of a definition, at any depth. */
function transitionsOf(node: MachineJSON): TransitionJSON[] {
  return [...node.transitions, ...Object.values(node.states).flatMap(transitionsOf)];
}

describe('inspector hub', () => {
  it('keeps each actor with its identity, machine and current state', async () => {
    const hub = createInspectorHub();
    const user = startUser(hub, 'alice');
    await flush();
    const app = user.system.get(appSessionSystemId('alice', PKG));
    app.send({ type: 'app.connected', gen: 1 });

    const summaries = hub.list();
    const userSummary = summaries.find((s) => s.systemId === 'userSession:alice');
    const appSummary = summaries.find((s) => s.systemId === `appSession:alice-${PKG}`);
    expect(userSummary).toMatchObject({
      id: user.sessionId,
      source: 'cloud',
      machineId: 'userSession',
      value: 'connected',
      status: 'active',
      tags: ['canSend'],
      userId: 'alice',
    });
    expect(userSummary?.parentId).toBeUndefined();
    // The socket's link is a machine too, shown as a child of its session.
    expect(summaries.find((s) => s.machineId === 'socketLink' && s.parentId === user.sessionId)).toMatchObject({ status: 'active' });
    expect(appSummary).toMatchObject({ machineId: 'appSession', parentId: user.sessionId, userId: 'alice', packageName: PKG, status: 'active' });
    expect(JSON.stringify(appSummary?.value)).toContain('running');
    // Webhooks are not machines: not listed by default.
    expect(summaries.every((s) => s.machineId !== undefined)).toBe(true);
    user.stop();
  });

  it('records received events and state changes with from and to values', () => {
    const hub = createInspectorHub();
    const user = startUser(hub, 'bob');
    const linkDone = `xstate.done.actor.${GLASSES_LINK_ID}`;
    closeGlassesSocket(user, 1006);
    // Not a desired app: an event, no transition.
    user.send({ type: 'appServer.restarted', packageName: 'com.example.other' });
    user.send({ type: 'glasses.connected', gen: 2 });

    const records = hub.detail(user.sessionId)?.records ?? [];
    const transitions = records.filter((r) => r.kind === 'transition');
    expect(transitions.map((r) => [r.event, r.from, r.to])).toEqual([
      ['xstate.init', undefined, 'connected'],
      [linkDone, 'connected', 'grace'],
      ['glasses.connected', 'grace', 'connected'],
    ]);
    // The event that caused a transition says why.
    expect(transitions[1]?.data).toMatchObject({ output: { gen: 1, cause: 'closed', code: 1006, reason: '' } });
    const events = records.filter((r) => r.kind === 'event').map((r) => r.event);
    expect(events).toEqual(['xstate.init', linkDone, 'appServer.restarted', 'glasses.connected']);
    for (let i = 1; i < records.length; i++) expect(records[i]!.t).toBeGreaterThanOrEqual(records[i - 1]!.t);
    user.stop();
  });

  it('serves the machine definition with nesting, guards and after delays', () => {
    const hub = createInspectorHub();
    const user = startUser(hub, 'carol');
    const definition = hub.detail(user.sessionId)?.definition;
    expect(definition).toMatchObject({ id: 'userSession', type: 'compound' });
    expect(Object.keys(definition!.states)).toEqual(['connected', 'grace', 'disposed']);
    expect(definition!.states.connected!.invoke).toMatchObject([{ id: GLASSES_LINK_ID, src: 'socketLink' }]);
    const all = transitionsOf(definition!);
    expect(all.find((t) => t.eventType === `xstate.done.actor.${GLASSES_LINK_ID}`)?.target).toEqual(['#userSession.grace']);
    expect(all.find((t) => t.delay === 'gracePeriod')?.target).toEqual(['#userSession.disposed']);
    expect(JSON.stringify(definition)).not.toContain('toJSON');

    const parallel = createActor(secretMachine, { input: { userId: 'p' }, inspect: hub.inspect }).start();
    const working = hub.detail(parallel.sessionId)?.definition?.states.working;
    expect(working?.type).toBe('parallel');
    expect(Object.keys(working!.states)).toEqual(['step', 'watch']);
    user.stop();
    parallel.stop();
  });

  it('keeps at most ringSize records per actor, the newest', () => {
    const hub = createInspectorHub({ ringSize: 5 });
    const user = startUser(hub, 'dave');
    for (let i = 1; i <= 20; i++) user.send({ type: 'appServer.restarted', packageName: 'com.example.other' });
    const records = hub.detail(user.sessionId)!.records;
    expect(records).toHaveLength(5);
    expect(records.every((r) => r.event === 'appServer.restarted')).toBe(true);
    user.stop();
  });

  it('shares maxRecords across actors: the more actors, the fewer records each keeps', () => {
    const hub = createInspectorHub({ ringSize: 100, maxRecords: 1_000 });
    const first = startUser(hub, 'early');
    for (let i = 0; i < 150; i++) first.send({ type: 'appServer.restarted', packageName: 'com.example.other' });
    // Alone (with its children), it keeps up to ringSize.
    expect(hub.detail(first.sessionId)!.records).toHaveLength(100);
    const users = Array.from({ length: 40 }, (_, i) => startUser(hub, `late${i}`));
    for (const user of [first, ...users]) {
      for (let i = 0; i < 150; i++) user.send({ type: 'appServer.restarted', packageName: 'com.example.other' });
    }
    const held = [...hub.list()].reduce((sum, actor) => sum + hub.detail(actor.id)!.records.length, 0);
    expect(hub.size).toBeGreaterThan(40);
    expect(held).toBeLessThanOrEqual(1_000);
    // The first actor was cut to the new share at once, and kept its newest records.
    const records = hub.detail(first.sessionId)!.records;
    expect(records.length).toBeLessThan(100);
    expect(records.at(-1)?.event).toBe('appServer.restarted');
    for (const user of [first, ...users]) user.stop();
  });

  it('marks ended actors and drops the oldest beyond maxStopped', () => {
    const hub = createInspectorHub({ maxStopped: 2 });
    const actors = ['u1', 'u2', 'u3', 'u4'].map((id) => createActor(secretMachine, { input: { userId: id }, inspect: hub.inspect }).start());
    const ids = actors.map((a) => a.sessionId);
    actors[0]!.stop();
    expect(hub.summary(ids[0]!)?.status).toBe('stopped');
    actors[1]!.send({ type: 'start' });
    actors[1]!.send({ type: 'finish' });
    expect(hub.summary(ids[1]!)?.status).toBe('done');
    actors[2]!.stop();
    // Three ended, two kept: the first to end went.
    expect(hub.summary(ids[0]!)).toBeUndefined();
    expect(hub.summary(ids[1]!)?.status).toBe('done');
    expect(hub.summary(ids[2]!)?.status).toBe('stopped');
    expect(hub.summary(ids[3]!)?.status).toBe('active');
    expect(hub.size).toBe(3);
    actors[3]!.stop();
  });

  it('keeps snapshots that changed the value or the context, bounded, for replay', () => {
    const hub = createInspectorHub({ snapshotsPerActor: 3 });
    const actor = createActor(secretMachine, { input: { userId: 'replay' }, inspect: hub.inspect }).start();
    actor.send({ type: 'start' });
    actor.send({ type: 'next' });
    actor.send({ type: 'finish' });
    const trace = hub.exportTrace({ id: actor.sessionId });
    expect(trace.version).toBe(1);
    const [traced] = trace.actors;
    expect(traced?.snapshots.map((s) => s.value)).toEqual([
      { working: { step: 'a', watch: {} } },
      { working: { step: 'b', watch: {} } },
      'done',
    ]);
    expect(traced?.snapshots.map((s) => (s.context as { count: number }).count)).toEqual([0, 1, 1]);
    expect(traced?.summary.status).toBe('done');
  });

  it('exports one user: the user session, its app sessions and its socket link', async () => {
    const hub = createInspectorHub();
    const erin = startUser(hub, 'erin');
    const frank = startUser(hub, 'frank');
    await flush();
    const trace = hub.exportTrace({ userId: 'erin' });
    expect(trace.actors.map((a) => a.summary.machineId).sort()).toEqual(['appSession', 'socketLink', 'userSession']);
    expect(trace.actors.every((a) => a.summary.userId === 'erin' && a.definition !== null && a.records.length > 0)).toBe(true);
    expect(hub.exportTrace({ id: erin.sessionId }).actors).toHaveLength(3);
    expect(hub.exportTrace({ userId: 'nobody' }).actors).toEqual([]);
    erin.stop();
    frank.stop();
  });

  it('never throws into the runtime, whatever it is fed', () => {
    const hub = createInspectorHub();
    const bad = [
      null,
      {},
      { type: '@xstate.snapshot' },
      { type: '@xstate.event', actorRef: null },
      { type: '@xstate.actor', actorRef: { get sessionId(): string { throw new Error('boom'); } } },
    ];
    for (const event of bad) expect(() => hub.inspect(event as unknown as InspectionEvent)).not.toThrow();
    // A machine whose context cannot be serialized still runs, and its detail is served.
    const cyclic: Record<string, unknown> = { big: 10n };
    cyclic.self = cyclic;
    const machine = createMachine({ id: 'odd', context: { cyclic }, initial: 'a', states: { a: { on: { go: 'b' } }, b: {} } });
    const actor = createActor(machine, { inspect: hub.inspect }).start();
    actor.send({ type: 'go' });
    expect(actor.getSnapshot().value).toBe('b');
    expect(hub.detail(actor.sessionId)?.snapshot.context).toEqual({ cyclic: { big: '10', self: '[circular]' } });
  });

  it('tracks every actor, not only machines, when asked', () => {
    const hub = createInspectorHub({ actors: 'all' });
    const user = startUser(hub, 'gina');
    // The app session's webhook call is a promise actor, not a machine.
    const app = hub.list().find((s) => s.parentId === user.sessionId && s.machineId === 'appSession');
    const webhook = hub.list().find((s) => s.parentId === app?.id && s.machineId === undefined);
    expect(webhook).toBeDefined();
    expect(webhook?.userId).toBe('gina'); // inherited from its parent
    user.stop();
  });
});

describe('inspector hub feed', () => {
  function connect(hub: InspectorHub) {
    const messages: FeedServerMessage[] = [];
    const feed = hub.connect((m) => messages.push(JSON.parse(JSON.stringify(m)) as FeedServerMessage));
    return { messages, feed };
  }

  it('says hello with every actor, then sends only what changed, coalesced per actor', async () => {
    const hub = createInspectorHub({ batchMs: 20 });
    const clock = new SimulatedClock();
    const user = startUser(hub, 'hank', clock);
    await flush();
    const { messages, feed } = connect(hub);
    const hello = messages[0];
    expect(hello?.type).toBe('hello');
    if (hello?.type !== 'hello') throw new Error('no hello');
    expect(hello.actors.map((a) => a.machineId).sort()).toEqual(['appSession', 'socketLink', 'userSession']);

    closeGlassesSocket(user, 1006);
    user.send({ type: 'glasses.connected', gen: 2 });
    closeGlassesSocket(user, 1006);
    const batch = await waitFor(() => messages.find((m) => m.type === 'actors'));
    if (batch.type !== 'actors') throw new Error('no batch');
    expect(batch.upserts.filter((a) => a.machineId !== 'socketLink')).toHaveLength(1);
    expect(batch.upserts.find((a) => a.id === user.sessionId)).toMatchObject({ value: 'grace' });

    // Events that change nothing a list shows send no batch.
    const before = messages.length;
    user.send({ type: 'glasses.connected', gen: 3 });
    await waitFor(() => messages.length > before);
    const count = messages.length;
    for (let i = 0; i < 5; i++) user.send({ type: 'appServer.restarted', packageName: 'com.example.other' });
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(messages.length).toBe(count);

    user.stop();
    feed.close();
  });

  it('answers select with the detail, then streams records while selected', async () => {
    const hub = createInspectorHub({ batchMs: 20 });
    const user = startUser(hub, 'iris');
    const { messages, feed } = connect(hub);
    feed.receive(JSON.stringify({ type: 'select', id: user.sessionId }));
    const detail = messages.find((m) => m.type === 'detail');
    if (detail?.type !== 'detail') throw new Error('no detail');
    expect(detail.definition?.id).toBe('userSession');
    expect(detail.snapshot).toMatchObject({ value: 'connected', status: 'active', tags: ['canSend'] });
    expect(detail.records.length).toBeGreaterThan(0);

    closeGlassesSocket(user, 1006);
    const records = await waitFor(() => messages.find((m) => m.type === 'records'));
    if (records.type !== 'records') throw new Error('no records');
    const linkDone = `xstate.done.actor.${GLASSES_LINK_ID}`;
    expect(records.records.map((r) => r.event)).toEqual([linkDone, linkDone]);
    expect(records.snapshot.value).toBe('grace');

    feed.receive({ type: 'select', id: 'x:does-not-exist' });
    expect(messages.at(-1)).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
    feed.receive({ type: 'export', userId: 'iris' });
    const exported = messages.at(-1);
    expect(exported?.type === 'export' && exported.trace.actors.length).toBe(3);
    feed.receive({ type: 'export' });
    expect(messages.at(-1)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    user.stop();
    feed.close();
  });

  it('reports removed actors and bounds each batch', async () => {
    const hub = createInspectorHub({ batchMs: 20, maxStopped: 1 });
    const { messages, feed } = connect(hub);
    const actors = Array.from({ length: 700 }, (_, i) => createActor(secretMachine, { input: { userId: `n${i}` }, inspect: hub.inspect }).start());
    const batches = () => messages.filter((m): m is Extract<FeedServerMessage, { type: 'actors' }> => m.type === 'actors');
    const seen = () => new Set(batches().flatMap((b) => b.upserts.map((u) => u.id)));
    await waitFor(() => seen().size === 700);
    expect(batches().length).toBeGreaterThanOrEqual(2);
    expect(batches().every((b) => b.upserts.length <= 500)).toBe(true);

    actors[0]!.stop();
    actors[1]!.stop(); // the first stopped one is now dropped
    const removal = await waitFor(() => messages.find((m) => m.type === 'actors' && m.removed.length > 0));
    expect(removal.type === 'actors' && removal.removed).toEqual([actors[0]!.sessionId]);
    for (const actor of actors) actor.stop();
    feed.close();
  });
});
