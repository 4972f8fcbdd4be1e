/**
 * `userSession` with its I/O stubbed out — sockets that never send anything, webhooks that answer
 * 200 at once — so that only the machines run. The inspector's tests and its throughput
 * benchmark drive it by sending the socket facts themselves. Imports no test framework, so
 * `bench/` can use it too.
 */
import { createActor, fromCallback, fromPromise, type InspectionEvent, type SimulatedClock } from 'xstate';
import { appSessionMachine } from '../../machines/appSession.js';
import { defaultSessionConfig } from '../../machines/policy/sessionConfig.js';
import { userSessionMachine } from '../../machines/userSession.js';

/** `userSessionMachine` with inert sockets and an immediately successful webhook. */
const inertUserSessionMachine = userSessionMachine.provide({
  actors: {
    glassesSocket: fromCallback(() => () => {}) as never,
    appSession: appSessionMachine.provide({
      actors: {
        appSocket: fromCallback(() => () => {}) as never,
        appWebhook: fromPromise(async () => ({ status: 200 })) as never,
      },
    }),
  },
});

/**
 * Starts `userSession:<userId>` on `clock` with the default session config, glasses socket
 * generation 1 and `packageName` as its one persisted app; `inspect`, when given, observes it.
 */
export function startInertUser(
  userId: string,
  packageName: string,
  clock: SimulatedClock,
  inspect?: (event: InspectionEvent) => void,
) {
  const actor = createActor(inertUserSessionMachine, {
    clock,
    systemId: `userSession:${userId}`,
    input: { userId, gen: 1, persistedApps: [packageName], config: defaultSessionConfig, now: () => clock.now(), random: () => 0.5 },
    ...(inspect ? { inspect } : {}),
  });
  actor.start();
  return actor;
}
