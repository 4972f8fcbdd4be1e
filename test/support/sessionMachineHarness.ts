/**
 * The pieces every session machine test plays the cloud runtime with: socket actors that record
 * the commands the machine gives them, webhook calls the test settles by hand, and a simulated
 * clock that fires each timer at its own due time.
 */
import {
  createActor,
  fromCallback,
  fromPromise,
  SimulatedClock,
  type Actor,
  type ActorOptions,
  type AnyActorRef,
  type AnyStateMachine,
  type InputFrom,
} from 'xstate';
import type {
  AppWebhookFailure,
  AppWebhookInput,
  AppWebhookOutput,
  SessionSocketCommand,
} from '../../machines/sessionPorts.js';
import { reviveSessionSnapshot } from '../../machines/userSession.js';

/** One socket actor a machine invoked, as the test sees it. */
export interface FakeSocket {
  id: string;
  gen: number;
  commands: SessionSocketCommand[];
  stopped: boolean;
  /** A live peer answers every ping (ws does it by itself); a force-quit one never does. */
  answersPings: boolean;
  packageName?: string;
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
 * A socket actor that hands each new socket to `onCreate` and records the commands it is given.
 * With `alive`, it answers every ping with that event while `answersPings` holds; without, the
 * test plays the peer's answers itself.
 */
export function fakeSocket<I extends { gen: number }>(
  onCreate: (socket: FakeSocket, input: I) => void,
  alive?: (gen: number) => { type: string; gen: number },
) {
  return fromCallback<SessionSocketCommand, I>(({ input, receive, sendBack, self }) => {
    const socket: FakeSocket = {
      id: self.id,
      gen: input.gen,
      commands: [],
      stopped: false,
      answersPings: alive !== undefined,
    };
    onCreate(socket, input);
    receive((command) => {
      socket.commands.push(command);
      if (alive && command.type === 'socket.ping' && socket.answersPings) sendBack(alive(input.gen));
    });
    return () => {
      socket.stopped = true;
    };
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
