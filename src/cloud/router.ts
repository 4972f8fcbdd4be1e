/**
 * The data plane (ARCHITECTURE.md, principle 1): stream events from the glasses to the apps that
 * subscribed to them, display events from an app to its user's glasses. No actor events per
 * message: the router reads the actors' snapshots through `machines/sessionApi.ts` (tags,
 * subscriptions, current `gen`) and writes to the sockets directly.
 */
import {
  appSocketGenOf,
  forEachAppSession,
  isBuffering,
  sessionIdOf,
  subscriptionsOf,
  type AppSessionRef,
  type AppSessionSnapshot,
} from '../../machines/sessionApi.js';
import { toDataStream, type GlassesStreamEvent } from '../protocol/glassesToCloud.js';
import { DeliveryLog } from './deliveryLog.js';
import type { WriteGate } from './link/backpressure.js';
import type { SocketEntry, SocketTable } from './link/socketTable.js';
import { writeDataText, writeFrame } from './link/writePath.js';
import type { DisplayFrame, ScreenMemory } from './screenMemory.js';
import type { SessionRegistry } from './sessionRegistry.js';

/** Routes data frames between one cloud's glasses and apps. */
export class Router {
  constructor(
    private readonly sessions: SessionRegistry,
    private readonly sockets: SocketTable,
    private readonly deliveries: DeliveryLog,
    private readonly gate: WriteGate,
    private readonly screens: ScreenMemory,
  ) {}

  /**
   * Delivers a glasses stream event as `data_stream` to each subscribed app. Every frame for a
   * live app session is numbered and kept for replay (`deliveryLog.ts`), also while its socket
   * is down (tag `buffering`); it is written only to a socket that is open (`canSend`), has
   * had its replay and is not congested (then it waits in the buffer for the drain). Returns how
   * many sockets it was written to.
   */
  fromGlasses(userId: string, event: GlassesStreamEvent): number {
    const user = this.sessions.get(userId);
    if (!user) return 0;
    const { streamType, data, alsoAs } = toDataStream(event);
    let delivered = 0;
    forEachAppSession(user.getSnapshot(), (child: AppSessionRef) => {
      const app = child.getSnapshot();
      // Exact match: `@mentra/sdk` drops `transcription` for a `transcription:en-US` handler.
      const subscriptions = subscriptionsOf(app);
      if (subscriptions.includes(streamType)) delivered += this.deliver(child, app, streamType, data);
      if (alsoAs !== undefined && subscriptions.includes(alsoAs)) delivered += this.deliver(child, app, alsoAs, data);
    });
    return delivered;
  }

  /** Numbers, keeps and (when it can) writes one `data_stream` to one app session; 1 if written. */
  private deliver(child: AppSessionRef, app: AppSessionSnapshot, streamType: string, data: unknown): number {
    const gen = appSocketGenOf(app);
    if (gen === undefined && !isBuffering(app)) return 0;
    const buffer = this.deliveries.open(sessionIdOf(app), child);
    const frame = buffer.append(streamType, data);
    if (gen === undefined || !buffer.isDeliverable(gen)) return 0;
    const socket = this.sockets.get(gen);
    if (!socket || !this.gate.canWrite(socket)) return 0;
    const text = this.deliveries.textOf(frame);
    if (text !== undefined && writeDataText(socket.ws, text)) {
      buffer.markSent(frame.seq);
      return 1;
    }
    return 0;
  }

  /**
   * Sends an app's display event to its user's glasses, if they are connected, and remembers it
   * as that app's current screen in its view (also while the glasses are away: they are shown
   * it when they come back, `screenRestore.ts`).
   *
   * @param bytes - the frame's size as it arrived, what the screen memory counts it with
   */
  toGlasses(userId: string, message: DisplayFrame, bytes: number): boolean {
    this.screens.record(userId, message, bytes);
    const glasses = this.sessions.glassesSocketOf(userId);
    return glasses ? this.show(glasses, message) : false;
  }

  /**
   * Writes a display to a glasses socket through the write gate. While the socket is congested
   * only the latest display per app and view is kept, and written when it drains
   * ({@link flushHeldDisplays}): a screen nobody could see in between need not be drawn.
   * Returns whether it was written now.
   */
  show(glasses: SocketEntry, message: DisplayFrame): boolean {
    if (this.gate.canWrite(glasses)) return writeFrame(glasses.ws, message);
    const held = (glasses.heldDisplays ??= new Map());
    const key = `${message.packageName}\u0000${message.view ?? 'main'}`;
    held.delete(key);
    held.set(key, message);
    return false;
  }
}

/** Writes the displays a glasses socket held while congested, oldest first, as long as it takes them. */
export function flushHeldDisplays(glasses: SocketEntry, gate: WriteGate): void {
  const held = glasses.heldDisplays;
  if (!held) return;
  for (const [key, message] of held) {
    if (!gate.canWrite(glasses)) return;
    held.delete(key);
    writeFrame(glasses.ws, message);
  }
}
