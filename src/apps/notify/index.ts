/** Notify: phone notifications on the glasses, one card at a time (seeds 01 §4 and 04 §4). */
export {
  NotifyApp,
  createNotifyApp,
  cardTitle,
  toNotice,
  WELCOME_DURATION_MS,
  WELCOME_TEXT,
  WELCOME_TITLE,
  type Notice,
  type NotifyAppConfig,
} from './notifyApp.js';
export {
  NotificationQueue,
  resolveQueueLimits,
  DEFAULT_DISPLAY_MS,
  DEFAULT_MAX_QUEUE,
  type NotificationLike,
  type NotificationQueueOptions,
  type QueueLimits,
} from './notificationQueue.js';
