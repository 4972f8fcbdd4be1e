/**
 * `userSession` with its I/O stubbed out — links whose sockets never say anything and never go
 * silent, webhooks that answer 200 at once — so that only the machines run. The inspector's
 * tests and its throughput benchmark drive it with the runtime's events and with socket closes
 * played on the links ({@link closeGlassesSocket}). Imports no test framework, so `bench/` can
 * use it too.
 */
import { createActor, fromPromise, type InspectionEvent, type SimulatedClock } from 'xstate';
import { appSessionMachine } from '../../machines/appSession.js';
import { defaultSessionConfig } from '../../machines/policy/sessionConfig.js';
import { glassesLinkOf, userSessionSystemId } from '../../machines/sessionApi.js';
import { socketLinkMachine } from '../../machines/socketLink.js';
import { userSessionMachine } from '../../machines/userSession.js';

const quiet = () => {};

/** Links over sockets that exist, stay silent about everything, and are always alive. */
const inertLink = socketLinkMachine.provide({
  actions: {
    attachSocket: quiet,
    detachSocket: quiet,
    acceptSocket: quiet,
    pingSocket: quiet,
    terminateSocket: quiet,
    closeSocket: quiet,
    closeCongestedSocket: quiet,
    writeMessage: quiet,
  },
  guards: { isSilent: () => false, isCongested: () => false },
});

/** `userSessionMachine` with inert links and an immediately successful webhook. */
const inertUserSessionMachine = userSessionMachine.provide({
  actors: {
    socketLink: inertLink,
    appSession: appSessionMachine.provide({
      actors: { socketLink: inertLink, appWebhook: fromPromise(async () => ({ status: 200 })) as never },
    }),
  },
});

type InertUser = ReturnType<typeof startInertUser>;

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
    systemId: userSessionSystemId(userId),
    input: { userId, gen: 1, persistedApps: [packageName], config: defaultSessionConfig, now: () => clock.now(), random: () => 0.5 },
    ...(inspect ? { inspect } : {}),
  });
  actor.start();
  return actor;
}

/**
 * The glasses socket the user session holds closes with `code`, as the wire side reports it to
 * its link; the user session hears it as the link's end. A no-op while in grace.
 */
export function closeGlassesSocket(user: InertUser, code = 1006, reason = ''): void {
  const link = glassesLinkOf(user.getSnapshot());
  const gen = link?.getSnapshot().context.gen;
  if (link && gen !== undefined) link.send({ type: 'socket.closed', gen, code, reason });
}
