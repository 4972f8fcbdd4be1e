/**
 * How the runtime reads the cloud-side session actors: the id schemes (re-exported from
 * `sessionIds.ts`) and typed selectors over their snapshots. This is the only place outside the
 * machines themselves that knows child ids, system ids, context fields and tags; `src/cloud`
 * asks these functions and never casts a snapshot or matches a state name, so renaming a
 * context field is a compile error here, not a silent break at run time.
 */
import type { ActorRefFrom, AnyActorRef, SnapshotFrom } from 'xstate';
import type { appSessionMachine } from './appSession.js';
import { appChildId, appSessionSystemIdOf, GLASSES_LINK_ID, isRetiringLinkId, packageOfAppChild } from './sessionIds.js';
import type { socketLinkMachine } from './socketLink.js';
import type { userSessionMachine } from './userSession.js';

export * from './sessionIds.js';
export { reviveSessionSnapshot } from './userSession.js';

/** A snapshot of a `userSession` actor. */
export type UserSessionSnapshot = SnapshotFrom<typeof userSessionMachine>;
/** A snapshot of an `appSession` actor. */
export type AppSessionSnapshot = SnapshotFrom<typeof appSessionMachine>;
/** A reference to a running `appSession` actor. */
export type AppSessionRef = ActorRefFrom<typeof appSessionMachine>;
/** A reference to a `userSession` actor. */
export type UserSessionRef = ActorRefFrom<typeof userSessionMachine>;
/** A reference to a `socketLink` actor. */
export type SocketLinkRef = ActorRefFrom<typeof socketLinkMachine>;

// XState types a machine's dynamically spawned children as a plain record of actor refs; the app
// session children are the ones whose id is an app child id (sessionIds.ts).
function appChildren(user: UserSessionSnapshot): Record<string, AppSessionRef | undefined> {
  return user.children as unknown as Record<string, AppSessionRef | undefined>;
}

/**
 * Calls `visit` for every app session child of `user`. Runs for every stream frame on the data
 * plane, so it iterates with `for…in` and allocates nothing.
 */
export function forEachAppSession(user: UserSessionSnapshot, visit: (app: AppSessionRef) => void): void {
  const children = appChildren(user);
  for (const id in children) {
    const child = children[id];
    if (child && packageOfAppChild(id) !== undefined) visit(child);
  }
}

/** The link holding the user's glasses socket, while the session is connected. */
export function glassesLinkOf(user: UserSessionSnapshot): SocketLinkRef | undefined {
  return (user.children as unknown as Record<string, SocketLinkRef | undefined>)[GLASSES_LINK_ID];
}

/** The app session child of `packageName`, whatever its status, if the user session has one. */
export function appSessionChild(user: UserSessionSnapshot, packageName: string): AppSessionRef | undefined {
  return appChildren(user)[appChildId(packageName)];
}

/** The live (`active`) app session `sessionId` in the actor system of `user`, if any. */
export function liveAppSession(user: AnyActorRef, sessionId: string): AppSessionRef | undefined {
  const app = user.system.get(appSessionSystemIdOf(sessionId)) as AppSessionRef | undefined;
  return app?.getSnapshot().status === 'active' ? app : undefined;
}

/** The user id of a user session. */
export function userIdOf(user: UserSessionSnapshot): string {
  return user.context.userId;
}

/** Generation of the glasses socket the user session holds open, or undefined while in grace. */
export function glassesGenOf(user: UserSessionSnapshot): number | undefined {
  return user.status === 'active' && user.hasTag('canSend') ? user.context.gen : undefined;
}

/** Whether `gen` is the newest glasses socket the user session adopted (a replaced one may still be draining). */
export function isCurrentGlassesGen(user: UserSessionSnapshot, gen: number): boolean {
  return user.context.gen === gen;
}

/** Wall time (ms) the glasses were lost, or null while connected. */
export function disconnectedAtOf(user: UserSessionSnapshot): number | null {
  return user.context.disconnectedAt;
}

/** Whether the user wants `packageName` running. */
export function isDesiredApp(user: UserSessionSnapshot, packageName: string): boolean {
  return user.context.desiredApps.includes(packageName);
}

/** Package names of the user's app sessions that are live and not being stopped. */
export function liveAppPackages(user: UserSessionSnapshot): string[] {
  const apps = user.context.apps;
  return Object.keys(apps).filter((pkg) => apps[pkg]?.stopping === false);
}

/** Package names of every app session child the user session lists (stopping ones included). */
export function listedAppPackages(user: UserSessionSnapshot): string[] {
  return Object.keys(user.context.apps);
}

/**
 * Whether the user's app `packageName` lost its app: it is desired, not being stopped, and its
 * session is missing (it failed) or has no open socket. Restart recovery brings these back.
 */
export function hasLostApp(user: UserSessionSnapshot, packageName: string): boolean {
  if (user.status !== 'active' || !isDesiredApp(user, packageName)) return false;
  const entry = user.context.apps[packageName];
  if (!entry) return true;
  if (entry.stopping) return false;
  const app = appSessionChild(user, packageName)?.getSnapshot();
  return app !== undefined && app.status === 'active' && !app.hasTag('canSend');
}

/** The session id of an app session. */
export function sessionIdOf(app: AppSessionSnapshot): string {
  return app.context.sessionId;
}

/** Generation of the app socket the session holds open, or undefined when it has none. */
export function appSocketGenOf(app: AppSessionSnapshot): number | undefined {
  return app.status === 'active' && app.hasTag('canSend') ? app.context.gen : undefined;
}

/** Whether the data plane keeps this session's frames for replay (it is live, socket or not). */
export function isBuffering(app: AppSessionSnapshot): boolean {
  return app.hasTag('buffering');
}

/** Whether the app session holds an open socket the router may write to. */
export function canSendToApp(app: AppSessionSnapshot): boolean {
  return app.hasTag('canSend');
}

/** The app's current stream subscriptions (exact stream names). */
export function subscriptionsOf(app: AppSessionSnapshot): readonly string[] {
  return app.context.subscriptions;
}

/** Whether a `session_request` of this session is being answered right now. */
export function isWebhookInFlight(app: AppSessionSnapshot): boolean {
  return app.hasTag('webhookInFlight');
}

/**
 * Where a session stands, for restart recovery: `running` (open socket), `pending` (live but not
 * running yet), `failed` (it could not be started or brought back, or crashed), `stopped` (a stop
 * was requested), `ended` (the app closed its session itself), `gone` (stopped with its user
 * session).
 */
export type AppSessionStanding = 'running' | 'pending' | 'failed' | 'stopped' | 'ended' | 'gone';

/** The {@link AppSessionStanding} of an app session snapshot. */
export function standingOf(app: AppSessionSnapshot): AppSessionStanding {
  switch (app.status) {
    case 'active':
      return app.hasTag('canSend') ? 'running' : 'pending';
    case 'done': {
      const outcome = app.output?.outcome ?? 'stopped';
      // Logging out is the user's intent, like a stop.
      return outcome === 'loggedOut' ? 'stopped' : outcome;
    }
    case 'error':
      return 'failed';
    default:
      return 'gone';
  }
}

/** The top-level state name of a session snapshot (`connected`, `running`, …), for metrics. */
export function topStateOf(snapshot: UserSessionSnapshot | AppSessionSnapshot): string {
  const { value } = snapshot;
  return typeof value === 'string' ? value : (Object.keys(value)[0] ?? 'unknown');
}

/**
 * The largest socket generation a persisted user session snapshot remembers, its app sessions'
 * included. A process that restores it must hand out larger ones, or returning sockets would
 * look older than the ones the snapshot remembers and be refused as replaced.
 */
export function highestGenIn(persisted: unknown): number {
  if (typeof persisted !== 'object' || persisted === null) return 0;
  const { context, children } = persisted as { context?: { gen?: unknown }; children?: Record<string, { snapshot?: unknown }> };
  const own = typeof context?.gen === 'number' ? context.gen : 0;
  let highest = own;
  for (const child of Object.values(children ?? {})) highest = Math.max(highest, highestGenIn(child?.snapshot));
  return highest;
}

/** The `systemId` of an actor (user and app sessions have one; links do not). */
export function systemIdOf(actor: object): string | undefined {
  return 'systemId' in actor && typeof actor.systemId === 'string' ? actor.systemId : undefined;
}

/**
 * The persisted snapshot of a user session, ready to store: XState's persisted snapshot without
 * the retiring links (at any depth). Their sockets belong to this process, so a restored one would
 * wait for a close that never comes and stay a child for the session's whole life.
 */
export function persistableSnapshot(user: { getPersistedSnapshot(): unknown }): unknown {
  const strip = (snapshot: unknown): unknown => {
    if (typeof snapshot !== 'object' || snapshot === null) return snapshot;
    const { children } = snapshot as { children?: Record<string, { snapshot?: unknown }> };
    if (!children) return snapshot;
    const kept: Record<string, unknown> = {};
    for (const [id, child] of Object.entries(children)) {
      if (!isRetiringLinkId(id)) kept[id] = { ...child, snapshot: strip(child.snapshot) };
    }
    return { ...snapshot, children: kept };
  };
  return strip(user.getPersistedSnapshot());
}
