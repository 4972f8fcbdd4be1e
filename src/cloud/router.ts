/**
 * The data plane (ARCHITECTURE.md, principle 1): stream events from the glasses to the apps that
 * subscribed to them, display events from an app to its user's glasses. No actor events per
 * message: the router reads the actors' snapshots (tags, subscriptions, current `gen`) and
 * writes to the sockets directly.
 */
import type { AnyActorRef } from 'xstate';
import { toDataStream, type GlassesStreamEvent } from '../protocol/glassesToCloud.js';
import { DeliveryLog } from './deliveryLog.js';
import type { SessionRegistry } from './sessionRegistry.js';
import { send } from './sessionSocket.js';
import type { SocketTable } from './socketTable.js';

interface AppSessionView {
  hasTag(tag: string): boolean;
  context: { gen: number; sessionId: string; subscriptions: readonly string[] };
}

const APP_CHILD_PREFIX = 'appSession.';

/** Routes data frames between one cloud's glasses and apps. */
export class Router {
  constructor(
    private readonly sessions: SessionRegistry,
    private readonly sockets: SocketTable,
    private readonly deliveries: DeliveryLog = new DeliveryLog(),
  ) {}

  /**
   * Delivers a glasses stream event as `data_stream` to each subscribed app. Every frame for a
   * live app session is numbered and kept for replay (`deliveryLog.ts`), also while its socket
   * is down (tag `buffering`); it is written only to a socket that is open (`canSend`) and has
   * had its replay. Returns how many sockets it was written to.
   */
  fromGlasses(userId: string, event: GlassesStreamEvent): number {
    const user = this.sessions.get(userId);
    if (!user) return 0;
    const { streamType, data } = toDataStream(event);
    let delivered = 0;
    const children = user.getSnapshot().children as Record<string, AnyActorRef | undefined>;
    // `for…in` rather than `Object.entries`: this runs for every stream frame, and allocates nothing.
    for (const id in children) {
      const child = children[id];
      if (!child || !id.startsWith(APP_CHILD_PREFIX)) continue;
      const app = child.getSnapshot() as AppSessionView;
      // Exact match: `@mentra/sdk` drops `transcription` for a `transcription:en-US` handler.
      if (!app.context.subscriptions.includes(streamType)) continue;
      const open = app.hasTag('canSend');
      if (!open && !app.hasTag('buffering')) continue;
      const buffer = this.deliveries.open(app.context.sessionId, child);
      const frame = buffer.append(streamType, data);
      if (!open || !buffer.isDeliverable(app.context.gen)) continue;
      const socket = this.sockets.get(app.context.gen);
      if (socket && send(socket.ws, frame)) {
        buffer.markSent(frame.seq);
        delivered++;
      }
    }
    return delivered;
  }

  /** Sends an app's display event to its user's glasses, if they are connected. */
  toGlasses(userId: string, message: object): boolean {
    const user = this.sessions.get(userId)?.getSnapshot();
    if (!user?.hasTag('canSend')) return false;
    const glasses = this.sockets.get(user.context.gen);
    return glasses ? send(glasses.ws, message) : false;
  }

  /** Whether `gen` is the glasses socket the user's session currently holds. */
  isCurrentGlasses(userId: string, gen: number): boolean {
    return this.sessions.get(userId)?.getSnapshot().context.gen === gen;
  }
}
