/**
 * The id schemes of the cloud-side session actors, defined once. The machines name their
 * children and system ids with these; the runtime reaches them through `sessionApi.ts`, which
 * re-exports them. Nothing outside `machines/` builds or parses these strings.
 */

const USER_SESSION_SYSTEM_PREFIX = 'userSession:';
const APP_SESSION_SYSTEM_PREFIX = 'appSession:';
const APP_CHILD_PREFIX = 'appSession.';
const RETIRING_LINK_PREFIX = 'retiringLink.';

/** Child id of the glasses socket's link in `userSession`. */
export const GLASSES_LINK_ID = 'glassesLink';
/** Child id of the app socket's link in `appSession`. */
export const APP_LINK_ID = 'appLink';

/**
 * The session id of `packageName` for `userId`: `${userId}-${packageName}`, as the real
 * protocol has it. Package names contain no dash, so the id parses back unambiguously.
 */
export function appSessionId(userId: string, packageName: string): string {
  return `${userId}-${packageName}`;
}

/** The user id inside `sessionId` when it is a session of `packageName`, else undefined. */
export function userIdOfAppSession(sessionId: string, packageName: string): string | undefined {
  const suffix = `-${packageName}`;
  if (!sessionId.endsWith(suffix) || sessionId.length === suffix.length) return undefined;
  return sessionId.slice(0, -suffix.length);
}

/** `systemId` of the user session of `userId`. */
export function userSessionSystemId(userId: string): string {
  return `${USER_SESSION_SYSTEM_PREFIX}${userId}`;
}

/** `systemId` of the app session of `packageName` for `userId`. */
export function appSessionSystemId(userId: string, packageName: string): string {
  return appSessionSystemIdOf(appSessionId(userId, packageName));
}

/** `systemId` of the app session `sessionId`. */
export function appSessionSystemIdOf(sessionId: string): string {
  return `${APP_SESSION_SYSTEM_PREFIX}${sessionId}`;
}

/** The session id of an app session's `systemId`, or undefined for any other actor. */
export function appSessionIdOfSystemId(systemId: string | undefined): string | undefined {
  return systemId?.startsWith(APP_SESSION_SYSTEM_PREFIX) ? systemId.slice(APP_SESSION_SYSTEM_PREFIX.length) : undefined;
}

/** The user id of a user session's `systemId`, or undefined for any other actor. */
export function userIdOfSystemId(systemId: string | undefined): string | undefined {
  return systemId?.startsWith(USER_SESSION_SYSTEM_PREFIX) ? systemId.slice(USER_SESSION_SYSTEM_PREFIX.length) || undefined : undefined;
}

/** Local id of the app session child of `packageName` in its `userSession`. */
export function appChildId(packageName: string): string {
  return `${APP_CHILD_PREFIX}${packageName}`;
}

/** The package name of an app session child id, or undefined for any other child. */
export function packageOfAppChild(childId: string): string | undefined {
  return childId.startsWith(APP_CHILD_PREFIX) ? childId.slice(APP_CHILD_PREFIX.length) : undefined;
}

/** Whether `childId` names a retiring link. */
export function isRetiringLinkId(childId: string): boolean {
  return childId.startsWith(RETIRING_LINK_PREFIX);
}

/** Child id of the retiring link that closes the socket of generation `gen`. */
export function retiringLinkId(gen: number): string {
  return `${RETIRING_LINK_PREFIX}${gen}`;
}
