/**
 * `socketLink`: one adopted (or retiring) socket on the cloud side, glasses or app
 * (ARCHITECTURE.md, "socketLink"). `userSession.connected` and `appSession.running` invoke one
 * for the socket they hold; a socket they will not keep gets a short-lived *retiring* link that
 * closes it and waits for the close. The link owns the socket's generation, the handshake ack,
 * the close, and liveness; the session machines only ever see how it ended (its output).
 *
 * Liveness costs one timer and one macrostep per heartbeat interval, and no event per pong or
 * per frame: the wire side stamps the time of each inbound frame and pong (a plain write on the
 * hot path), and each tick of the link asks it whether the socket has been silent for
 * `heartbeatTimeoutMs` (the guard `isSilent`, provided with the I/O: the fact lives on the wire
 * side, and reading it in the guard keeps a tick to one microstep with no context change), then
 * pings. A socket is declared dead at the first tick that finds it silent that long: never before
 * the timeout, and at most one interval after it (exactly at it for a peer that answers pings,
 * since pongs follow the ticks).
 *
 * Every action that touches the socket is I/O and is provided by the runtime with
 * `socketLinkMachine.provide({ actions })` (`src/cloud/link/`); the placeholders throw
 * `ACTOR_NOT_PROVIDED`. The wire side sends back one fact, `socket.closed`.
 */
import { assertEvent, assign, setup } from 'xstate';
import { actorNotProvided, type WireMessage } from './ports.js';
import { CloseCode, CloseReason } from './policy/closePolicy.js';

/** Which peer the socket belongs to; the wire side picks the handshake ack by it. */
export type SocketLinkKind = 'glasses' | 'app';

/** How a link ended. */
export type SocketLinkCause =
  /** The socket closed (the peer's close, or a network loss seen as 1006). */
  | 'closed'
  /** The socket stayed silent for `heartbeatTimeoutMs`: the link terminated it. */
  | 'heartbeatTimeout'
  /** A retiring link closed its socket (replaced by a newer one, or refused) and saw it close. */
  | 'replaced'
  /** The socket's writes stayed over the high-water mark for the congestion limit: closed 1013. */
  | 'congested';

/** The link's output: all a session machine learns about its socket. */
export interface SocketLinkOutput {
  gen: number;
  cause: SocketLinkCause;
  /** Close code observed (1006 for a terminated or vanished socket). */
  code: number;
  reason: string;
  /**
   * The `reason` of the `ownership_release` the peer sent before the close, null when it sent
   * none: `switching_clouds` (a newer socket takes over; the 1005 after it is no failure,
   * MENTRA-SDK-WIRE §1.5), `clean_shutdown` (its server is going down on purpose) or
   * `user_logout` (the user left this app).
   */
  ownershipRelease: string | null;
}

/** What a link is created with. */
export interface SocketLinkInput {
  kind: SocketLinkKind;
  /** Generation the runtime gave the socket. */
  gen: number;
  /**
   * `adopted`: send the handshake ack and watch liveness until the socket ends. `retiring`:
   * close the socket with `closeCode`/`closeReason` and end once it has closed.
   */
  role: 'adopted' | 'retiring';
  closeCode?: number;
  closeReason?: string;
  /** Time between pings, in ms. */
  heartbeatIntervalMs: number;
  /** Silence (no pong, no frame) after which the socket is dead, in ms. */
  heartbeatTimeoutMs: number;
}

/** What the link remembers. */
export interface SocketLinkContext {
  kind: SocketLinkKind;
  gen: number;
  role: 'adopted' | 'retiring';
  closeCode: number;
  closeReason: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** Set when the link ends; its output. */
  end: SocketLinkOutput | null;
}

/**
 * Events the link accepts: `socket.closed` from the wire side when its socket closed,
 * `link.send` from the session (a control message to write, such as `user_reconnected`).
 */
export type SocketLinkEvent =
  | { type: 'socket.closed'; gen: number; code: number; reason: string; ownershipRelease?: string | null }
  | { type: 'link.send'; message: WireMessage };

function ioNotProvided(name: string) {
  return () => actorNotProvided(`socketLink.${name}`);
}

/**
 * The link statechart. States: `open` (`watching`) or `retiring`, then `ended`
 * (final, with a {@link SocketLinkOutput}).
 */
export const socketLinkMachine = setup({
  types: {
    context: {} as SocketLinkContext,
    events: {} as SocketLinkEvent,
    input: {} as SocketLinkInput,
    output: {} as SocketLinkOutput,
  },
  guards: {
    isRetiring: ({ context }) => context.role === 'retiring',
    isOwnSocket: ({ context, event }) => 'gen' in event && event.gen === context.gen,
    /** I/O, provided: no frame or pong from the socket for `heartbeatTimeoutMs`. */
    isSilent: (): boolean => actorNotProvided('socketLink.isSilent'),
    /** I/O, provided: the socket's writes have stayed over the high-water mark for the congestion limit. */
    isCongested: (): boolean => actorNotProvided('socketLink.isCongested'),
  },
  delays: {
    heartbeatInterval: ({ context }) => context.heartbeatIntervalMs,
  },
  actions: {
    // I/O, provided by the runtime (src/cloud/link/socketAdapter.ts).
    /** Finds the socket by `gen` and routes its close to this link; reports `socket.closed` at once if it is gone. */
    attachSocket: ioNotProvided('attachSocket'),
    /** Stops routing the socket's facts to this link. */
    detachSocket: ioNotProvided('detachSocket'),
    /** Writes the handshake ack (and, for an app, the replay of missed frames right after it). */
    acceptSocket: ioNotProvided('acceptSocket'),
    /** Writes a ws ping. */
    pingSocket: ioNotProvided('pingSocket'),
    /** Destroys the socket (the peer sees 1006). */
    terminateSocket: ioNotProvided('terminateSocket'),
    /** Closes the socket 1013 "congested": its client reconnects and resumes from the replay buffer. */
    closeCongestedSocket: ioNotProvided('closeCongestedSocket'),
    /** Closes the socket with `closeCode` and `closeReason`. */
    closeSocket: ioNotProvided('closeSocket'),
    /** Writes the `link.send` message. */
    writeMessage: ioNotProvided('writeMessage'),
    recordClose: assign({
      end: ({ context, event }) => {
        assertEvent(event, 'socket.closed');
        return {
          gen: context.gen,
          cause: context.role === 'retiring' ? ('replaced' as const) : ('closed' as const),
          code: event.code,
          reason: event.reason,
          ownershipRelease: event.ownershipRelease ?? null,
        };
      },
    }),
    recordCongestion: assign({
      end: ({ context }) => ({
        gen: context.gen,
        cause: 'congested' as const,
        code: CloseCode.TRY_AGAIN_LATER,
        reason: CloseReason.CONGESTED,
        ownershipRelease: null,
      }),
    }),
    recordTimeout: assign({
      end: ({ context }) => ({
        gen: context.gen,
        cause: 'heartbeatTimeout' as const,
        code: CloseCode.ABNORMAL,
        reason: CloseReason.HEARTBEAT_TIMEOUT,
        ownershipRelease: null,
      }),
    }),
  },
}).createMachine({
  id: 'socketLink',
  description: 'One socket held by a session: generation, handshake ack, close, liveness.',
  context: ({ input }) => ({
    kind: input.kind,
    gen: input.gen,
    role: input.role,
    closeCode: input.closeCode ?? CloseCode.REPLACED,
    closeReason: input.closeReason ?? CloseReason.REPLACED,
    heartbeatIntervalMs: input.heartbeatIntervalMs,
    heartbeatTimeoutMs: input.heartbeatTimeoutMs,
    end: null,
  }),
  output: ({ context }) =>
    context.end ?? {
      gen: context.gen,
      cause: 'closed',
      code: CloseCode.ABNORMAL,
      reason: '',
      ownershipRelease: null,
    },
  entry: 'attachSocket',
  initial: 'starting',
  states: {
    starting: {
      description: 'Chooses the role the session gave the link.',
      always: [
        { guard: 'isRetiring', target: 'retiring', description: 'A socket the session will not keep.' },
        { target: 'open', description: 'The socket the session adopted.' },
      ],
    },
    open: {
      description:
        'The adopted socket: acked on entry, pinged every heartbeatInterval; silence for heartbeatTimeout ends it.',
      entry: 'acceptSocket',
      initial: 'watching',
      states: {
        watching: {
          description:
            'Each heartbeatInterval: a socket silent for heartbeatTimeout is dead, one congested too long is closed; ' +
            'any other is pinged.',
          after: {
            heartbeatInterval: [
              {
                guard: 'isSilent',
                target: '#socketLink.ended',
                actions: ['terminateSocket', 'recordTimeout'],
                description: 'Silent for heartbeatTimeout (force-quit, half-open TCP): terminate the socket.',
              },
              {
                guard: 'isCongested',
                target: '#socketLink.ended',
                actions: ['closeCongestedSocket', 'recordCongestion'],
                description: 'Its writes have not drained for the congestion limit (a peer that stopped reading): close 1013.',
              },
              {
                target: 'watching',
                reenter: true,
                actions: 'pingSocket',
                description: 'Alive, or not silent long enough: ping.',
              },
            ],
          },
        },
      },
      on: {
        'socket.closed': {
          guard: 'isOwnSocket',
          target: 'ended',
          actions: 'recordClose',
          description: 'The socket closed, whatever the code.',
        },
        'link.send': { actions: 'writeMessage', description: 'Write a control message to the socket.' },
      },
    },
    retiring: {
      description: 'Closes the socket with the code and reason the session chose, then waits for the close.',
      entry: 'closeSocket',
      on: {
        'socket.closed': {
          guard: 'isOwnSocket',
          target: 'ended',
          actions: 'recordClose',
          description: 'The retired socket finished closing.',
        },
      },
    },
    ended: {
      description: 'The socket is gone; the output says how.',
      type: 'final',
      entry: 'detachSocket',
    },
  },
});
