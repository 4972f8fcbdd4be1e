/**
 * Notify: mirrors phone notifications onto the glasses, one reference card at a time (seed 01
 * §4, seed 04 §4). Written the way seed 04 says an app should be: there is no cleanup code to
 * forget. The handler, the display timer and the queue all belong to the session and are
 * released with it, whatever ends it.
 */
import { AppServer, type AppServerConfig } from '../../sdk/appServer.js';
import type { AppSession } from '../../sdk/appSession.js';
import type { TimerHandle } from '../../sdk/resourceTracker.js';
import { NotificationQueue, resolveQueueLimits, type NotificationLike, type QueueLimits } from './notificationQueue.js';

/** How long the welcome card stays on screen, in ms (seed 01 §4). */
const WELCOME_DURATION_MS = 3000;
/** Title of the welcome card. */
const WELCOME_TITLE = 'Notify';
/** Body of the welcome card. */
const WELCOME_TEXT = 'Notification service connected';

/** Configuration of a {@link NotifyApp}: an app server's, plus the queue's timings. */
export interface NotifyAppConfig extends AppServerConfig {
  /** How long each notification is shown, in ms (default 5000). */
  displayMs?: number;
  /** Most notifications waiting per session; the oldest is dropped beyond it (default 20). */
  maxQueue?: number;
}

/** A phone notification reduced to what Notify shows; every field a string. */
export interface Notice extends NotificationLike {
  /** The phone's id for the notification, when it sent one. */
  notificationId?: string;
}

/**
 * The Notify app server. Each session gets a welcome card and its own
 * {@link NotificationQueue}, whose timers are session timers.
 */
export class NotifyApp extends AppServer {
  private readonly limits: QueueLimits;

  /** @throws TetherError `INVALID_CONFIG` when a setting is invalid. */
  constructor(config: NotifyAppConfig) {
    super(config);
    // Resolved here so a bad setting fails at construction, not in the first session.
    this.limits = resolveQueueLimits(config);
  }

  protected override async onSession(session: AppSession, sessionId: string, userId: string): Promise<void> {
    const log = this.logger.child({ sessionId, userId });
    const { displayMs, maxQueue } = this.limits;

    const queue = new NotificationQueue<Notice, TimerHandle>({
      display: (notice) => session.layouts.showReferenceCard(cardTitle(notice), notice.content, { durationMs: displayMs }),
      schedule: (fn, ms) => session.setTimeout(fn, ms),
      cancel: (handle) => session.clearTimer(handle),
      displayMs,
      maxQueue,
    });
    // The queue's timer is a session timer and dies with the session anyway; disposing also
    // drops the waiting notifications and makes a late enqueue a no-op.
    session.registerCleanup(() => queue.dispose());

    session.layouts.showReferenceCard(WELCOME_TITLE, WELCOME_TEXT, { durationMs: WELCOME_DURATION_MS });

    session.events.onPhoneNotifications((notification) => {
      const notice = toNotice(notification);
      if (notice === undefined) {
        log.debug('empty phone notification ignored');
        return;
      }
      const queued = queue.enqueue(notice);
      log.debug({ queued, waiting: queue.size }, queued ? 'phone notification queued' : 'duplicate phone notification dropped');
    });
    session.events.onError((error) => log.warn({ err: error.message }, 'session error'));
  }
}

/**
 * Builds a Notify app server from `{ packageName, apiKey, logger? }` (and optionally the queue
 * timings); nothing listens until `listen()` or `start()` is called.
 */
export function createNotifyApp(options: NotifyAppConfig): NotifyApp {
  return new NotifyApp(options);
}

/** Title of a notification's card: `app: title`, or whichever of the two is not empty. */
function cardTitle(notice: NotificationLike): string {
  if (notice.app && notice.title) return `${notice.app}: ${notice.title}`;
  return notice.app || notice.title;
}

/**
 * Reads a `phone_notification` stream event (a `PhoneNotification`) into a {@link Notice},
 * defensively: it comes off the wire, whatever its static type says. `undefined` when there
 * is nothing to show.
 */
function toNotice(data: unknown): Notice | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const record = data as Record<string, unknown>;
  const notice: Notice = { app: text(record.app), title: text(record.title), content: text(record.content) };
  if (!notice.app && !notice.title && !notice.content) return undefined;
  if (typeof record.notificationId === 'string') notice.notificationId = record.notificationId;
  return notice;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}
