/**
 * Shows returning glasses their current screens (issue 11 §3). Every glasses socket a session
 * adopts — a reconnect in grace, a network switch's new socket, the first socket after a cloud
 * restart — gets, right after its `connection_ack`, each running app's remembered display per
 * view (`screenMemory.ts`), oldest drawn first, through the router's write gate.
 *
 * Order on the wire: `connection_ack`, then `app_state_change`, then the screens, so the
 * glasses know which apps run before they are shown what those apps drew. The ack is written by
 * the socket's link as it starts; the session emits its app change before that, in the same
 * macrostep, and the registry writes it from a `setImmediate` it schedules then
 * (`sessionRegistry.ts`, coalesced per tick). The restore is scheduled with `setImmediate` from
 * the ack, per socket, so it always runs after that app change: callbacks run in the order they
 * were scheduled.
 */
import { appSessionId, liveAppPackages } from '../../machines/sessionApi.js';
import type { SocketEntry } from './link/socketTable.js';
import type { Router } from './router.js';
import type { ScreenMemory } from './screenMemory.js';
import type { SessionRegistry } from './sessionRegistry.js';

/** What {@link createScreenRestore} needs. */
export interface ScreenRestoreDeps {
  sessions: SessionRegistry;
  screens: ScreenMemory;
  router: Router;
}

/**
 * Returns the glasses' `afterAck` hook: schedules the screens of `entry`'s user for the socket
 * just acknowledged. Nothing is scheduled for a user with no remembered screen.
 */
export function createScreenRestore({ sessions, screens, router }: ScreenRestoreDeps): (entry: SocketEntry) => void {
  const restore = (entry: SocketEntry): void => {
    // A newer socket may have replaced this one meanwhile; it has a restore of its own.
    const glasses = sessions.glassesSocketOf(entry.userId);
    if (glasses !== entry) return;
    const user = sessions.get(entry.userId)?.getSnapshot();
    if (!user) return;
    const running = new Set(liveAppPackages(user).map((packageName) => appSessionId(entry.userId, packageName)));
    for (const frame of screens.screensOf(entry.userId, (sessionId) => running.has(sessionId))) router.show(glasses, frame);
  };
  return (entry) => {
    if (screens.has(entry.userId)) setImmediate(restore, entry);
  };
}
