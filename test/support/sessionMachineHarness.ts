/**
 * The pieces every session machine test plays the cloud runtime with: socket links whose I/O
 * records what the machine does to each socket, webhook calls the test settles by hand, and a
 * simulated clock that fires each timer at its own due time.
 */
import {
  createActor,
  fromPromise,
  SimulatedClock,
  type Actor,
  type ActorOptions,
  type AnyActorRef,
  type AnyStateMachine,
  type InputFrom,
} from 'xstate';
import { CloseCode, CloseReason } from '../../machines/policy/closePolicy.js';
import type { WireMessage } from '../../machines/ports.js';
import type { AppWebhookFailure, AppWebhookInput, AppWebhookOutput } from '../../machines/sessionPorts.js';
import { socketLinkMachine, type SocketLinkEvent } from '../../machines/socketLink.js';
import { reviveSessionSnapshot } from '../../machines/userSession.js';

/** What a link did to its socket, in order. */
export type FakeSocketCommand =
  | { type: 'socket.accept' }
  | { type: 'socket.ping' }
  | { type: 'socket.send'; message: WireMessage }
  | { type: 'socket.close'; code: number; reason: string }
  | { type: 'socket.terminate'; reason: string };

/** One socket (one generation) as the test sees it, whichever links held it. */
export interface FakeSocket {
  /** Id of the link that first held it (`glassesLink`, `appLink`, or a retiring link's id). */
  id: string;
  gen: number;
  commands: FakeSocketCommand[];
  /** The link that first held it has ended or was stopped: its session let it go. */
  stopped: boolean;
  /** A live peer answers every ping (ws does it by itself); a force-quit one never does. */
  answersPings: boolean;
  packageName?: string;
  /** Simulated time of the latest frame or pong from the peer. */
  heardAt: number;
  /** True once the socket has closed. */
  closed: boolean;
  /** The peer stopped reading long enough that the socket counts as congested past its limit. */
  congested: boolean;
  /** The link holding it now, if any; the socket's close is reported there. */
  link: AnyActorRef | undefined;
  /** The peer sends a frame: any inbound traffic counts as a sign of life. */
  hear(): void;
  /** The socket closes (the peer's close, or a network loss seen as 1006). */
  close(code: number, reason?: string, ownershipRelease?: string | null): void;
}

/** One webhook call a machine made; it stays in flight until the test settles it. */
export interface FakeWebhook {
  input: AppWebhookInput;
  /** The machine abandoned the call (its invoked actor was stopped). */
  aborted: boolean;
  /** The test has resolved or rejected the call. */
  settled: boolean;
  resolve: (output?: AppWebhookOutput) => void;
  reject: (failure: AppWebhookFailure) => void;
}

/** Lets pending promise callbacks and zero-delay timers run. */
export const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Moves the simulated clock to `target` (ms), firing every timer at its own due time.
 * `SimulatedClock.increment` fires late timers at the end time, so a periodic timer re-armed
 * from inside it would drift.
 */
export function advanceTo(clock: SimulatedClock, target: number): void {
  const timeouts = (clock as unknown as { timeouts: Map<number, { start: number; timeout: number }> }).timeouts;
  for (;;) {
    const due = Math.min(...[...timeouts.values()].map((t) => t.start + t.timeout));
    if (!(due <= target)) break;
    clock.set(Math.max(due, clock.now()));
  }
  clock.set(Math.max(target, clock.now()));
}

/** Moves the simulated clock forward by `ms`, firing every timer at its own due time. */
export function advance(clock: SimulatedClock, ms: number): void {
  advanceTo(clock, clock.now() + ms);
}

/**
 * The `socketLink` machine with fake I/O: one {@link FakeSocket} per generation, handed to
 * `onCreate` when a link first attaches to it. With `answersPings`, every new socket's peer
 * answers pings (the test can turn it off per socket).
 */
export function fakeLinks(
  clock: SimulatedClock,
  options: { onCreate: (socket: FakeSocket) => void; answersPings?: boolean },
) {
  const sockets = new Map<number, FakeSocket>();
  const socketOf = (gen: number, linkId: string): FakeSocket => {
    const existing = sockets.get(gen);
    if (existing) return existing;
    const socket: FakeSocket = {
      id: linkId,
      gen,
      commands: [],
      stopped: false,
      answersPings: options.answersPings ?? false,
      heardAt: clock.now(),
      closed: false,
      congested: false,
      link: undefined,
      hear: () => {
        socket.heardAt = clock.now();
      },
      close: (code, reason = '', ownershipRelease = null) => {
        if (socket.closed) return;
        socket.closed = true;
        const closed: SocketLinkEvent = { type: 'socket.closed', gen, code, reason, ownershipRelease };
        if (socket.link?.getSnapshot().status === 'active') socket.link.send(closed);
      },
    };
    sockets.set(gen, socket);
    options.onCreate(socket);
    return socket;
  };

  return socketLinkMachine.provide({
    guards: {
      isSilent: ({ context }) => clock.now() - (sockets.get(context.gen)?.heardAt ?? clock.now()) >= context.heartbeatTimeoutMs,
      isCongested: ({ context }) => sockets.get(context.gen)?.congested === true,
    },
    actions: {
      attachSocket: ({ context, self }) => {
        const socket = socketOf(context.gen, self.id);
        if (socket.closed) {
          self.send({ type: 'socket.closed', gen: context.gen, code: CloseCode.ABNORMAL, reason: '' });
          return;
        }
        const first = socket.link === undefined && !socket.stopped && socket.id === self.id;
        socket.link = self;
        self.subscribe({
          complete: () => {
            if (first) socket.stopped = true;
            if (socket.link === self) socket.link = undefined;
          },
        });
      },
      detachSocket: () => {},
      acceptSocket: ({ context }) => {
        sockets.get(context.gen)?.commands.push({ type: 'socket.accept' });
      },
      pingSocket: ({ context }) => {
        const socket = sockets.get(context.gen);
        if (!socket) return;
        socket.commands.push({ type: 'socket.ping' });
        if (socket.answersPings && !socket.closed) socket.hear();
      },
      terminateSocket: ({ context }) => {
        const socket = sockets.get(context.gen);
        if (!socket) return;
        socket.commands.push({ type: 'socket.terminate', reason: CloseReason.HEARTBEAT_TIMEOUT });
        socket.closed = true;
      },
      closeCongestedSocket: ({ context }) => {
        sockets.get(context.gen)?.commands.push({ type: 'socket.close', code: CloseCode.TRY_AGAIN_LATER, reason: CloseReason.CONGESTED });
      },
      closeSocket: ({ context }) => {
        sockets.get(context.gen)?.commands.push({ type: 'socket.close', code: context.closeCode, reason: context.closeReason });
      },
      writeMessage: ({ context, event }) => {
        if (event.type === 'link.send') sockets.get(context.gen)?.commands.push({ type: 'socket.send', message: event.message });
      },
    },
  });
}

/** A webhook actor whose every call is pushed onto `calls` for the test to settle. */
export function fakeWebhook(calls: FakeWebhook[]) {
  return fromPromise<AppWebhookOutput, AppWebhookInput>(
    ({ input, signal }) =>
      new Promise((resolve, reject) => {
        const call: FakeWebhook = {
          input,
          aborted: false,
          settled: false,
          resolve: (output = { status: 200 }) => {
            call.settled = true;
            resolve(output);
          },
          reject: (failure) => {
            call.settled = true;
            // An Error carrying the failure's fields, as the real webhook client's rejections are.
            reject(Object.assign(new Error(failure.message), failure));
          },
        };
        signal.addEventListener('abort', () => {
          call.aborted = true;
        });
        calls.push(call);
      }),
  );
}

/**
 * The runtime's restart, played on one session actor: persists `t.actor` through JSON (as the
 * store keeps it), stops it, and revives the snapshot on a new simulated clock `awayMs` ms
 * later. Returns the revived actor, not started yet, and its clock.
 */
export function restartAfter<M extends AnyStateMachine>(
  t: { actor: AnyActorRef; clock: SimulatedClock; machine: M; input: InputFrom<M> },
  awayMs: number,
): { restored: Actor<M>; clock: SimulatedClock } {
  const stored = JSON.stringify(t.actor.getPersistedSnapshot());
  t.actor.stop();
  const clock = new SimulatedClock();
  clock.set(t.clock.now() + awayMs);
  // Functions do not survive JSON: the runtime gives the restored actor its clock back.
  const persisted = reviveSessionSnapshot(JSON.parse(stored) as object, { now: () => clock.now(), random: () => 0.5 });
  const restored = createActor<M>(t.machine, { snapshot: persisted, clock, input: t.input } as ActorOptions<M>);
  return { restored, clock };
}
