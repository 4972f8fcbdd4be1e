/**
 * The `ws` side of `socketLink` (machines/socketLink.ts): the I/O actions the link is provided
 * with, and the listeners every authenticated socket carries for its whole life. It translates
 * and decides nothing: the link decides when to ping, when a socket is dead, what to close it
 * with. The machines name sockets only by `gen`; the adapter finds them in the socket table.
 */
import { WebSocket } from 'ws';
import type { ActorRef, Snapshot } from 'xstate';
import { socketLinkMachine, type SocketLinkEvent, type SocketLinkKind } from '../../../machines/socketLink.js';
import { CloseCode, CloseReason, replacedCloseCode } from '../../protocol/closeCodes.js';
import { WriteGate } from './backpressure.js';
import type { SocketEntry, SocketTable } from './socketTable.js';
import { writeFrame } from './writePath.js';

/** What differs between glasses and app sockets, supplied by the runtime. */
export interface SocketLinkHooks {
  /** The handshake acknowledgement written when the link adopts the socket. */
  ack(entry: SocketEntry): object;
  /**
   * Runs right after the ack was written, in the same call, so nothing can come between the two
   * (the replay of missed data frames, `deliveryLog.ts`).
   */
  afterAck?(entry: SocketEntry): void;
}

/** Options of {@link createSocketLinkLogic}. */
export interface SocketLinkLogicOptions {
  sockets: SocketTable;
  kinds: Record<SocketLinkKind, SocketLinkHooks>;
  /** How long a socket may stay congested before its link closes it 1013, in ms. */
  congestionLimitMs: number;
  /** Called when a link terminates its socket for missing the heartbeat. */
  onHeartbeatTimeout?(kind: SocketLinkKind): void;
  /** Called when a link closes its socket for staying congested. */
  onCongestionClose?(kind: SocketLinkKind): void;
  /** Called when a link closes its socket as replaced by a newer one, with the code used and how long ago the socket was last heard. */
  onReplaced?(entry: SocketEntry, code: number, heardAgoMs: number): void;
}

/** What {@link isActive} reads of a socket's link: the status of its snapshot. */
type LinkStatusRef = Pick<ActorRef<Snapshot<unknown>, SocketLinkEvent>, 'getSnapshot'>;

function isActive(link: LinkStatusRef): boolean {
  return link.getSnapshot().status === 'active';
}

/**
 * Registers an authenticated socket and attaches the listeners it keeps until it closes:
 * every inbound frame and pong stamps `heardAt`, and the close goes to whichever link holds
 * the socket at that moment.
 */
export function registerSocket(sockets: SocketTable, entry: SocketEntry): void {
  sockets.add(entry);
  const { ws } = entry;
  const heard = () => {
    entry.heardAt = performance.now();
  };
  ws.on('pong', heard);
  ws.on('message', heard);
  ws.once('close', (code: number, reason: Buffer) => {
    ws.off('pong', heard);
    ws.off('message', heard);
    sockets.remove(entry);
    const { link } = entry;
    if (!link || !isActive(link)) return;
    const closed: SocketLinkEvent = {
      type: 'socket.closed',
      gen: entry.gen,
      code,
      reason: reason.toString(),
      ownershipRelease: entry.ownershipRelease,
    };
    link.send(closed);
  });
}

/**
 * The `socketLink` machine with its I/O provided over `sockets`. One provided machine serves
 * every link of the cloud (providing one per session would rebuild its state tree each time).
 */
export function createSocketLinkLogic(options: SocketLinkLogicOptions) {
  const { sockets, kinds } = options;
  const open = (gen: number): SocketEntry | undefined => {
    const entry = sockets.get(gen);
    return entry && entry.ws.readyState === WebSocket.OPEN ? entry : undefined;
  };

  return socketLinkMachine.provide({
    guards: {
      isSilent: ({ context }) => {
        const entry = sockets.get(context.gen);
        return entry === undefined || performance.now() - entry.heardAt >= context.heartbeatTimeoutMs;
      },
      isCongested: ({ context }) => {
        const entry = sockets.get(context.gen);
        return entry !== undefined && WriteGate.congestedFor(entry, options.congestionLimitMs);
      },
    },
    actions: {
      attachSocket: ({ context, self }) => {
        const entry = sockets.get(context.gen);
        if (!entry || entry.ws.readyState === WebSocket.CLOSED) {
          // A restored snapshot, or a socket that closed before its link started: it is gone.
          self.send({ type: 'socket.closed', gen: context.gen, code: CloseCode.ABNORMAL, reason: '' });
          return;
        }
        entry.link = self;
        // A link stopped by its session (it left the state that held the socket) runs no exit
        // action. If no other link took the socket over by the end of this turn (a retiring
        // link does, in the same macrostep) and it is still open, nobody owns it: cut it.
        // A close handshake already under way is left alone.
        self.subscribe({
          complete: () =>
            queueMicrotask(() => {
              if (entry.link !== self) return;
              entry.link = undefined;
              if (entry.ws.readyState === WebSocket.OPEN) entry.ws.terminate();
            }),
        });
      },
      detachSocket: ({ context, self }) => {
        const entry = sockets.get(context.gen);
        if (entry?.link === self) entry.link = undefined;
      },
      acceptSocket: ({ context }) => {
        const entry = open(context.gen);
        if (!entry) return;
        const hooks = kinds[entry.kind];
        if (writeFrame(entry.ws, hooks.ack(entry))) hooks.afterAck?.(entry);
      },
      pingSocket: ({ context }) => {
        open(context.gen)?.ws.ping();
      },
      terminateSocket: ({ context }) => {
        options.onHeartbeatTimeout?.(context.kind);
        sockets.get(context.gen)?.ws.terminate();
      },
      closeCongestedSocket: ({ context }) => {
        options.onCongestionClose?.(context.kind);
        open(context.gen)?.ws.close(CloseCode.TRY_AGAIN_LATER, CloseReason.CONGESTED);
      },
      closeSocket: ({ context }) => {
        const entry = open(context.gen);
        if (!entry) return;
        const replaced = context.closeCode === CloseCode.REPLACED;
        const code = replaced ? replacedCloseCode(entry.kind === 'glasses' || entry.extensions.size > 0) : context.closeCode;
        if (replaced) options.onReplaced?.(entry, code, performance.now() - entry.heardAt);
        entry.ws.close(code, context.closeReason);
      },
      writeMessage: ({ context, event }) => {
        const entry = open(context.gen);
        if (entry && event.type === 'link.send') writeFrame(entry.ws, event.message);
      },
    },
  });
}
