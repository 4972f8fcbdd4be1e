/**
 * The client side of the capacity benchmark, in a child process of its own: one process here
 * may hold at most 20,000 descriptors, and 5,000 users are 15,000 sockets on each side. Started
 * by `startClientChild` as `node --import tsx clientChild.ts <json>` (a {@link ClientChildOptions}),
 * it holds a population of users (`users.ts`) and, against a Tether cloud, the webhooks of its
 * own apps, and answers the parent's {@link ClientChildCall}s over IPC.
 */
import { startAppWebhook, type AppWebhook } from './appWebhook.js';
import { closeAll } from './clients.js';
import { baselineUsers, tetherUsers, type UserPopulation } from './users.js';

/** What the parent tells the child (argv[2], as JSON). */
export interface ClientChildOptions {
  kind: 'tether' | 'baseline';
  glassesUrl: string;
  appUrl: string;
  /** The apps every user runs; against a cloud, each has its webhook in this child. */
  apps: string[];
  /** Users brought up at a time. */
  batch: number;
  /** The child exits by itself after this long, whatever happens, in ms. */
  lifetimeMs: number;
}

/** Sent once the child's webhooks listen: where the parent registers each app. */
export interface ClientChildReady {
  type: 'ready';
  /** Webhook URL per app (empty against the baseline, which has no webhooks). */
  webhooks: Record<string, string>;
}

/** What the parent can ask of the child. */
export type ClientChildCall =
  | { op: 'apiKeys'; keys: Record<string, string> }
  | { op: 'add'; userIds: string[]; tokens: string[] }
  | { op: 'closed' }
  | { op: 'close' };

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as ClientChildOptions;
  setTimeout(() => process.exit(3), options.lifetimeMs).unref();
  process.on('disconnect', () => process.exit(0));

  const hooks: AppWebhook[] = [];
  const webhooks: Record<string, string> = {};
  if (options.kind === 'tether') {
    for (const app of options.apps) {
      const hook = await startAppWebhook(app);
      hooks.push(hook);
      webhooks[app] = hook.url;
    }
  }
  const users: UserPopulation =
    options.kind === 'tether'
      ? tetherUsers(options.glassesUrl, hooks, options.apps, options.batch)
      : baselineUsers(options.glassesUrl, options.appUrl, options.apps, options.batch);

  const answer = async (request: ClientChildCall & { id: number }): Promise<unknown> => {
    switch (request.op) {
      case 'apiKeys':
        for (const [i, hook] of hooks.entries()) hook.apiKey = request.keys[options.apps[i] ?? ''] ?? '';
        return {};
      case 'add':
        await users.add(request.userIds, request.tokens);
        return {};
      case 'closed':
        return users.sockets.concat(hooks.flatMap((h) => h.sockets)).filter((s) => s.closed).length;
      case 'close':
        closeAll(users.sockets);
        for (const hook of hooks) await hook.close();
        setImmediate(() => process.exit(0));
        return {};
    }
  };
  process.on('message', (request: ClientChildCall & { id: number }) => {
    answer(request).then(
      (result) => process.send?.({ id: request.id, ok: true, result }),
      (error: unknown) => process.send?.({ id: request.id, ok: false, error: String((error as Error)?.stack ?? error) }),
    );
  });
  process.send?.({ type: 'ready', webhooks } satisfies ClientChildReady);
}

main().catch((error: unknown) => {
  console.error('bench client child failed:', error);
  process.exit(2);
});
