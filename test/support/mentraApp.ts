/**
 * Serves an unmodified `@mentra/sdk` app on 127.0.0.1 for a test. Its `AppServer.start()` is
 * never called (it contacts api.mentra.glass): its express app is served instead.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppServer as MentraAppServer, logger as mentraRootLogger, type AppSession as MentraAppSession } from '@mentra/sdk';

/** A `@mentra/sdk` app that keeps its sessions not yet stopped, by id, so they can be released. */
export interface MentraAppWithLiveSessions extends MentraAppServer {
  readonly live: Map<string, MentraAppSession>;
}

/** A `@mentra/sdk` app served by {@link serveMentraApp}. */
export interface ServedMentraApp<A> {
  readonly app: A;
  readonly port: number;
  /** Disconnects the live sessions, closes the HTTP server and undoes what the SDK changed in the process. */
  close: () => Promise<void>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Builds the app with `makeApp` (its logging silenced) and serves its express app on a free port. */
export async function serveMentraApp<A extends MentraAppWithLiveSessions>(makeApp: () => A): Promise<ServedMentraApp<A>> {
  // The SDK exports its root pino logger; the server's and sessions' loggers are children of it
  // created later (they inherit the level), and some modules log through it directly.
  const rootLevel = mentraRootLogger.level;
  mentraRootLogger.level = 'silent';
  // Its constructor adds SIGTERM/SIGINT listeners that call process.exit: remove exactly those.
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const app = makeApp();
  const added = SIGNALS.flatMap((signal) =>
    process.listeners(signal).filter((listener) => !before.get(signal)?.has(listener)).map((listener) => ({ signal, listener })),
  );
  const server: Server = app.getExpressApp().listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return {
    app,
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const session of app.live.values()) await session.disconnect();
      app.live.clear();
      for (const { signal, listener } of added) process.off(signal, listener);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      mentraRootLogger.level = rootLevel;
    },
  };
}
