/**
 * Idle user populations for the capacity benchmark: per user, glasses and the same
 * apps, over real `ws` to 127.0.0.1, opened in batches (each batch up before the next one opens,
 * so that webhooks do not pile up).
 * - On a Tether cloud the glasses declare the apps running (`connection_init { runningApps }`),
 *   so the cloud sends each app's webhook a `session_request` and the app opens its socket.
 * - On the bare `ws` baseline this process opens the same sockets with the same frames itself:
 *   `connection_init` → `connection_ack`, then per app `tpa_connection_init` →
 *   `tpa_connection_ack` and `subscription_update []`.
 */
import type { AppWebhook } from './appWebhook.js';
import { openAcked, openGlasses, type ClientSocket } from './clients.js';
import { until } from './report.js';

/** A population that grows by batches of users. */
export interface UserPopulation {
  /** Every socket this side holds (the glasses; on the baseline, the app sockets too). */
  readonly sockets: ClientSocket[];
  /** Brings `userIds` up with their `tokens`, `batch` users at a time. */
  add(userIds: readonly string[], tokens: readonly string[]): Promise<void>;
}

/** Users of a Tether cloud: glasses with every app of `hooks` declared running, each app socket acked. */
export function tetherUsers(glassesUrl: string, hooks: readonly AppWebhook[], apps: readonly string[], batch: number): UserPopulation {
  const sockets: ClientSocket[] = [];
  return {
    sockets,
    async add(_userIds, tokens) {
      const opened = await openGlasses(glassesUrl, tokens, {
        batch,
        runningApps: apps,
        onBatch: (count) =>
          until(
            () => hooks.every((hook) => hook.acked >= sockets.length + count),
            60_000,
            () => `app sockets acked: ${hooks.map((h) => h.acked).join(', ')} of ${sockets.length + count} each`,
          ),
      });
      sockets.push(...opened);
    },
  };
}

/** The same sockets per user, with the same frames, on the baseline server. */
export function baselineUsers(glassesUrl: string, appUrl: string, apps: readonly string[], batch: number): UserPopulation {
  const sockets: ClientSocket[] = [];
  return {
    sockets,
    async add(userIds, tokens) {
      for (let start = 0; start < userIds.length; start += batch) {
        const ids = userIds.slice(start, start + batch);
        sockets.push(...(await openGlasses(glassesUrl, tokens.slice(start, start + batch), { batch, runningApps: apps })));
        const opened = await Promise.all(
          ids.flatMap((userId) =>
            apps.map(async (packageName) => {
              const sessionId = `${userId}-${packageName}`;
              const socket = await openAcked(appUrl, { type: 'tpa_connection_init', sessionId, packageName, apiKey: 'baseline-api-key' }, 'tpa_connection_ack');
              socket.ws.send(JSON.stringify({ type: 'subscription_update', packageName, subscriptions: [] }));
              return socket;
            }),
          ),
        );
        sockets.push(...opened);
      }
    },
  };
}
