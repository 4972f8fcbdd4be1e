/**
 * Writing a control answer (a request's outcome, a message from another app) to the socket an
 * app session holds now. Found through the session's snapshot, never kept: a session that
 * reconnected gets it on its new socket, and one without a socket does not get it at all
 * (answers are not replayed; the SDK's own timeout ends what was waiting).
 */
import { appSessionChild, appSocketGenOf, userIdOf, type AppSessionRef } from '../../machines/sessionApi.js';
import type { CloudToAppMessage } from '../protocol/cloudToApp.js';
import type { WriteGate } from './link/backpressure.js';
import type { SocketEntry, SocketTable } from './link/socketTable.js';
import { writeFrame } from './link/writePath.js';
import type { SessionRegistry } from './sessionRegistry.js';
import { mayWriteTo } from './link/outboundFence.js';

/** Finds app sessions' sockets and writes to them. */
export class AppSender {
  constructor(
    private readonly sessions: SessionRegistry,
    private readonly sockets: SocketTable,
    private readonly gate: WriteGate,
  ) {}

  /** The open socket app session `sessionId` of `userId` holds, if any. */
  socketOf(userId: string, sessionId: string): SocketEntry | undefined {
    const app = this.sessions.appSession(userId, sessionId)?.getSnapshot();
    const gen = app ? appSocketGenOf(app) : undefined;
    return gen === undefined ? undefined : this.sockets.get(gen);
  }

  /** Writes `message` to app session `sessionId` of `userId`; returns whether it was written. */
  send(userId: string, sessionId: string, message: CloudToAppMessage): boolean {
    const socket = this.socketOf(userId, sessionId);
    return socket ? writeFrame(socket.ws, message) : false;
  }

  /**
   * Every app session of `packageName` in this cloud with an open socket, as `{ userId,
   * sessionId, socket }`. One look per user session: the cost of a broadcast or a discovery
   * grows with the users of the cloud (they are rate-limited like every app frame).
   */
  *liveSessionsOf(packageName: string): Generator<{ userId: string; sessionId: string; socket: SocketEntry }> {
    for (const user of this.sessions.values()) {
      const snapshot = user.getSnapshot();
      const app: AppSessionRef | undefined = appSessionChild(snapshot, packageName);
      const appSnapshot = app?.getSnapshot();
      const gen = appSnapshot ? appSocketGenOf(appSnapshot) : undefined;
      const socket = gen === undefined ? undefined : this.sockets.get(gen);
      if (socket?.sessionId !== undefined) yield { userId: userIdOf(snapshot), sessionId: socket.sessionId, socket };
    }
  }

  /**
   * Writes one serialised frame to `socket` unless it is congested (then it is dropped: a
   * broadcast is not worth holding for a reader that cannot keep up). Returns whether it was written.
   */
  sendText(socket: SocketEntry, text: string): boolean {
    if (!this.gate.canWrite(socket) || socket.ws.readyState !== socket.ws.OPEN || !mayWriteTo(socket.ws)) return false;
    socket.ws.send(text);
    return true;
  }
}
