/**
 * The socket table's census, which `tether_sockets` and `tether_duplicate_sockets` serve: open
 * sockets by kind, and those a session holds beyond its one.
 */
import type { WebSocket } from 'ws';
import type { AnyActorRef } from 'xstate';
import { describe, expect, it } from 'vitest';
import { SocketTable, type SocketEntry } from '../../src/cloud/link/socketTable.js';

const OPEN = 1;
const CLOSING = 2;
const link = {} as AnyActorRef;

function entry(table: SocketTable, fields: Pick<SocketEntry, 'kind' | 'userId'> & Partial<SocketEntry> & { readyState?: number }): SocketEntry {
  const { readyState = OPEN, ...rest } = fields;
  const added: SocketEntry = {
    gen: table.nextGen(),
    ws: { readyState, OPEN } as unknown as WebSocket,
    extensions: new Set(),
    ownershipRelease: null,
    heardAt: 0,
    link: undefined,
    ...rest,
  };
  table.add(added);
  return added;
}

describe('SocketTable.census', () => {
  it('counts open sockets by kind and flags a second held socket for the same user or (user, app)', () => {
    const table = new SocketTable();
    entry(table, { kind: 'glasses', userId: 'u1', link });
    entry(table, { kind: 'glasses', userId: 'u2', link });
    // Authenticated, not yet adopted: a handshake in flight is no duplicate.
    entry(table, { kind: 'glasses', userId: 'u1' });
    // Being closed by its replacement: not open any more.
    entry(table, { kind: 'glasses', userId: 'u2', link, readyState: CLOSING });
    entry(table, { kind: 'app', userId: 'u1', packageName: 'com.a', link });
    entry(table, { kind: 'app', userId: 'u1', packageName: 'com.b', link });
    expect(table.census()).toEqual({ open: { glasses: 3, app: 2 }, duplicates: { glasses: 0, app: 0 } });

    entry(table, { kind: 'glasses', userId: 'u1', link });
    entry(table, { kind: 'app', userId: 'u1', packageName: 'com.a', link });
    expect(table.census()).toEqual({ open: { glasses: 4, app: 3 }, duplicates: { glasses: 1, app: 1 } });
  });
});
