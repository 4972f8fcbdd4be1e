/**
 * Write-through of user sessions (issue 11 §4): what the store holds while the cloud runs, tick by
 * tick, with the session machines on inert I/O and a simulated clock.
 */
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultSessionConfig } from '../../machines/policy/sessionConfig.js';
import { appSessionId, appSessionSystemId } from '../../machines/sessionApi.js';
import { silentLogger } from '../../src/logger.js';
import { DeliveryLog } from '../../src/cloud/deliveryLog.js';
import { SEQ_RESERVATION, SessionPersistence } from '../../src/cloud/sessionPersistence.js';
import { createSqliteStore, type Store } from '../../src/cloud/store.js';
import { closeGlassesSocket, startInertUser } from '../support/inertUserSession.js';

const PKG = 'com.example.notes';

/** The app's SDK connects: the runtime tells its app session (a transition of the child alone). */
function connectApp(user: ReturnType<typeof startInertUser>, userId: string) {
  user.system.get(appSessionSystemId(userId, PKG))!.send({ type: 'app.connected', gen: 2, extensions: [] });
}
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Row {
  snapshot: { value: unknown; status: string; children: Record<string, { snapshot: { value: unknown } }> };
  delivery: Record<string, { nextSeq: number; droppedAtSeq: number }>;
}

async function rows(store: Store): Promise<Map<string, Row>> {
  return new Map((await store.loadSessionSnapshots()).map((r) => [r.userId, JSON.parse(r.json) as Row]));
}

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

function setup(options: { writeThrough?: boolean; store?: Store } = {}) {
  const store = options.store ?? createSqliteStore(':memory:');
  stores.push(store);
  const clock = new SimulatedClock();
  const delivery = new DeliveryLog({ now: () => clock.now() });
  const persistence = new SessionPersistence({ store, logger: silentLogger, delivery, ...options });
  const user = (userId: string) => {
    const actor = startInertUser(userId, PKG, clock);
    persistence.track(userId, actor);
    return actor;
  };
  return { store, clock, delivery, persistence, user };
}

describe('SessionPersistence', () => {
  it('writes the sessions that changed in a tick in one transaction, each once', async () => {
    const { store, persistence, user } = setup();
    const actors = ['ann', 'ben', 'cid'].map(user);
    for (const actor of actors) actor.send({ type: 'app.startRequested', packageName: 'com.example.maps' });
    expect(await store.loadSessionSnapshots()).toEqual([]); // nothing before the tick ends
    await tick();
    expect(persistence.stats).toEqual({ batches: 1, saved: 3, removed: 0 });
    const row = (await rows(store)).get('ann')!;
    expect(row.snapshot.value).toBe('connected');
    expect(Object.keys(row.snapshot.children).sort()).toEqual(['appSession.com.example.maps', `appSession.${PKG}`, 'glassesLink']);
  });

  it('writes an app session’s own transition, which its user session’s observers never see', async () => {
    const { store, persistence, user } = setup();
    const ann = user('ann');
    connectApp(ann, 'ann');
    await tick();
    let userSnapshots = 0;
    ann.subscribe(() => userSnapshots++);
    const before = persistence.stats.batches;
    // A subscription update changes only the app session (adopting the socket also tells the parent).
    ann.system.get(appSessionSystemId('ann', PKG))!.send({ type: 'subscriptions.updated', gen: 2, subscriptions: ['button_press'] });
    await tick();
    expect(userSnapshots).toBe(0);
    expect(persistence.stats.batches).toBe(before + 1);
    const app = (await rows(store)).get('ann')!.snapshot.children[`appSession.${PKG}`]!.snapshot as { value: unknown; context?: { subscriptions?: string[] } };
    expect(app.value).toBe('running');
    expect(app.context?.subscriptions).toEqual(['button_press']);
  });

  it('writes nothing for the heartbeat ticks of the links', async () => {
    const { clock, persistence, user } = setup();
    const ann = user('ann');
    connectApp(ann, 'ann');
    await tick();
    const before = persistence.stats;
    // Ten pings on the glasses link and on the app link, each a re-entry of their `watching` state.
    for (let i = 0; i < 10; i++) clock.increment(defaultSessionConfig.heartbeatIntervalMs);
    await tick();
    expect(ann.getSnapshot().value).toBe('connected');
    expect(persistence.stats).toEqual(before);
  });

  it('deletes the row of a disposed session, and keeps the rows of sessions stopped at shutdown', async () => {
    const { store, clock, persistence, user } = setup();
    const ann = user('ann');
    const ben = user('ben');
    await tick();
    closeGlassesSocket(ann);
    await tick();
    expect((await rows(store)).get('ann')!.snapshot.value).toBe('grace');
    clock.increment(60_000); // the grace period: disposed
    expect(ann.getSnapshot().status).toBe('done');
    await tick();
    expect([...(await rows(store)).keys()]).toEqual(['ben']);
    expect(persistence.stats.removed).toBe(1);
    await persistence.finish();
    ben.stop();
    await tick();
    expect([...(await rows(store)).keys()]).toEqual(['ben']);
  });

  it('reserves delivery positions ahead and writes again only when the numbering nears the mark', async () => {
    const { store, delivery, persistence, user } = setup();
    const ann = user('ann');
    const sessionId = appSessionId('ann', PKG);
    await tick();
    const batches = () => persistence.stats.batches;
    const start = batches();
    // The router opens the buffer with the app session's first frame, which asks for a reservation.
    const buffer = delivery.open(sessionId, {});
    buffer.append('transcription:en-US', { text: 'first' });
    await tick();
    expect(batches()).toBe(start + 1);
    expect((await rows(store)).get('ann')!.delivery[sessionId]).toEqual({ nextSeq: 2 + SEQ_RESERVATION, droppedAtSeq: 0 });
    // 100 frames a tick: the reservation is renewed each time the counter gets within half a block.
    for (let t = 0; t < 16; t++) {
      for (let i = 0; i < 100; i++) buffer.append('transcription:en-US', { text: `m${t}.${i}` });
      await tick();
    }
    expect(batches()).toBe(start + 3); // twice in 1,600 frames (written with next = 602, then 1,202), not per frame
    const reserved = (await rows(store)).get('ann')!.delivery[sessionId]!;
    expect(reserved.nextSeq).toBeGreaterThan(buffer.nextSeq + SEQ_RESERVATION / 2);
    // A clean shutdown writes the exact position.
    await persistence.finish();
    expect((await rows(store)).get('ann')!.delivery[sessionId]).toEqual({ nextSeq: buffer.nextSeq, droppedAtSeq: 0 });
    ann.stop();
  });

  it('keeps rows once loaded with write-through, deletes them without, and drops unreadable ones', async () => {
    const store = createSqliteStore(':memory:');
    await store.saveSessionSnapshot('ann', JSON.stringify({ version: 1, snapshot: { value: 'grace' }, delivery: {} }));
    await store.saveSessionSnapshot('bad', '{not json');
    const on = setup({ store });
    expect((await on.persistence.load()).map((s) => s.userId)).toEqual(['ann']);
    expect((await store.loadSessionSnapshots()).map((r) => r.userId)).toEqual(['ann']);
    const off = new SessionPersistence({ store, logger: silentLogger, writeThrough: false });
    expect((await off.load()).map((s) => s.userId)).toEqual(['ann']);
    expect(await store.loadSessionSnapshots()).toEqual([]);
  });

  it('without write-through writes only at shutdown, every live session', async () => {
    const { store, persistence, user } = setup({ writeThrough: false });
    const ann = user('ann');
    user('ben');
    await tick();
    expect(await store.loadSessionSnapshots()).toEqual([]);
    expect(await persistence.finish()).toBe(2);
    expect([...(await rows(store)).keys()]).toEqual(['ann', 'ben']);
    ann.stop();
  });

  it('keeps the sessions of a failed write dirty and writes them with the next batch', async () => {
    const real = createSqliteStore(':memory:');
    let failures = 1;
    const flaky: Store = Object.assign(Object.create(real) as Store, {
      async writeSessionSnapshots(changes: Parameters<Store['writeSessionSnapshots']>[0]) {
        if (failures-- > 0) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
        return real.writeSessionSnapshots(changes);
      },
    });
    const { persistence, user } = setup({ store: flaky });
    user('ann');
    await tick();
    expect(await real.loadSessionSnapshots()).toEqual([]);
    user('ben');
    await tick();
    expect((await real.loadSessionSnapshots()).map((r) => r.userId)).toEqual(['ann', 'ben']);
    expect(persistence.stats.batches).toBe(1);
  });

  it('discards every stored session on a shutdown without persistence', async () => {
    const { store, persistence, user } = setup();
    user('ann');
    await tick();
    await persistence.discardAll();
    expect(await store.loadSessionSnapshots()).toEqual([]);
  });
});
