/** Notify: phone notifications on the glasses, one card at a time (seeds 01 §4 and 04 §4). */
export { NotifyApp, createNotifyApp, type NotifyAppConfig } from './notifyApp.js';
