/**
 * Runs the pure `appConnection` machine with a scripted socket and a simulated clock, so machine
 * tests can play socket facts and read the commands the machine gave each socket generation.
 */
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import {
  appConnectionMachine,
  type AppConnectionConfig,
  type AppConnectionEmitted,
} from '../../machines/appConnection.js';
import type { AppSocketCommand, AppSocketInput, WireMessage } from '../../machines/ports.js';
import { seededRandom } from './seededRandom.js';

/** Short, round defaults so tests read as arithmetic. */
export const testConfig: AppConnectionConfig = {
  url: 'ws://127.0.0.1:1/app-ws',
  packageName: 'com.example.test',
  apiKey: 'key',
  autoReconnect: true,
  maxReconnectAttempts: 3,
  reconnectDelayMs: 1000,
  maxReconnectDelayMs: 30_000,
  heartbeatIntervalMs: 15_000,
  heartbeatTimeoutMs: 45_000,
  connectTimeoutMs: 5000,
  stableMs: 10_000,
  outboxLimit: 5,
  extensions: [],
};

export interface SocketRecord {
  gen: number;
  commands: AppSocketCommand[];
  stopped: boolean;
}

export function startConnection(overrides: Partial<AppConnectionConfig> = {}, seed = 7) {
  const clock = new SimulatedClock();
  const sockets: SocketRecord[] = [];
  const emitted: AppConnectionEmitted[] = [];
  const scriptedSocket = fromCallback<AppSocketCommand, AppSocketInput>(({ input, receive }) => {
    const record: SocketRecord = { gen: input.gen, commands: [], stopped: false };
    sockets.push(record);
    receive((command) => record.commands.push(command));
    return () => {
      record.stopped = true;
    };
  });
  const actor = createActor(appConnectionMachine.provide({ actors: { appSocket: scriptedSocket } }), {
    input: { config: { ...testConfig, ...overrides }, random: seededRandom(seed) },
    clock,
  });
  actor.on('*', (event) => emitted.push(event));
  actor.start();

  const gen = () => actor.getSnapshot().context.gen;
  const last = () => sockets.at(-1)!;
  const sent = (record: SocketRecord = last()): WireMessage[] =>
    record.commands.flatMap((c) => (c.type === 'socket.send' ? [c.message] : []));

  return {
    actor,
    clock,
    sockets,
    emitted,
    gen,
    last,
    sent,
    state: () => actor.getSnapshot().value,
    ofType: <T extends AppConnectionEmitted['type']>(type: T) =>
      emitted.filter((e): e is Extract<AppConnectionEmitted, { type: T }> => e.type === type),
    /** Plays a successful handshake on a new socket (the first one, or after a backoff). */
    handshake() {
      actor.send({ type: 'socket.opened', gen: gen() });
      actor.send({ type: 'ack.received', gen: gen(), ack: { type: 'tpa_connection_ack', settings: [] } });
    },
    connect(sessionId = 'user-com.example.test') {
      actor.send({ type: 'connect.requested', sessionId });
      this.handshake();
    },
    close(code: number, reason = '', wasClean = code !== 1006) {
      actor.send({ type: 'socket.closed', gen: gen(), code, reason, wasClean });
    },
  };
}
