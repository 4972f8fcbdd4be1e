/**
 * Contracts of the I/O actors that `appConnection` invokes. The machines only know these
 * shapes; `src/sdk` provides the real implementations with `machine.provide({ actors })`, and
 * tests provide scripted ones. The placeholders throw, so a machine run without its I/O fails
 * loudly instead of hanging.
 */
import { fromCallback } from 'xstate';

/** Thrown by a placeholder actor that the runtime forgot to provide. */
export function actorNotProvided(name: string): never {
  const error = new Error(`the ${name} actor was not provided; use machine.provide({ actors })`);
  (error as Error & { code: string }).code = 'ACTOR_NOT_PROVIDED';
  throw error;
}

/** A JSON message on the wire; its `type` is one of the protocol's type strings. */
export interface WireMessage {
  type: string;
  [field: string]: unknown;
}

/** Input of one app socket: every socket gets a new, increasing generation. */
export interface AppSocketInput {
  url: string;
  gen: number;
  /**
   * Whatever the runtime passed as `socketContext` in the machine's input, handed back to each
   * socket untouched. It lets one provided machine serve every session (providing a machine per
   * session rebuilds its whole state tree), while each socket still reaches its own session.
   */
  socketContext: unknown;
}

/**
 * Facts an app socket reports to its machine. Each carries the socket's `gen` so that a late
 * event from a replaced socket is recognised and dropped.
 * `socket.alive` is sent at most once per `socket.ping` command, after the first pong or inbound
 * frame that follows it: liveness costs one event per heartbeat, never one per message.
 */
export type AppSocketFact =
  | { type: 'socket.opened'; gen: number }
  | { type: 'socket.closed'; gen: number; code: number; reason: string; wasClean: boolean }
  | { type: 'ack.received'; gen: number; ack: WireMessage }
  | { type: 'connectionError.received'; gen: number; code: string; message: string }
  | { type: 'socket.alive'; gen: number };

/**
 * Commands a machine gives its app socket. When the actor is stopped it must release the
 * socket: a socket still connecting is terminated, an open one closed with 1000.
 */
export type AppSocketCommand =
  | { type: 'socket.send'; message: WireMessage }
  | { type: 'socket.ping' }
  | { type: 'socket.close'; code: number; reason: string }
  | { type: 'socket.terminate' };

/** Placeholder for the app socket; `src/sdk/appSocket.ts` provides the `ws` one. */
export const appSocketPort = fromCallback<AppSocketCommand, AppSocketInput>(() => actorNotProvided('appSocket'));
