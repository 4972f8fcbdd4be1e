/**
 * The Tether SDK: build an app on `AppServer` and `AppSession`. Switching from `@mentra/sdk`
 * is a change of import for the parts covered here.
 */
export { AppServer, SESSION_REQUESTS_PER_MINUTE, type AppServerConfig } from './appServer.js';
export { AppSession, SDK_EXTENSIONS, type AppSessionConfig } from './appSession.js';
export * from './eventManager.js';
export * from './layoutManager.js';
export * from './streamData.js';
export { ResourceTracker, type TimerHandle } from './resourceTracker.js';
export { type RegistrationState, type RegistrationStatus } from './registrationClient.js';
export type { DeliveryInfo } from './sequenceGuard.js';
export {
  APP_SERVER_SETTINGS,
  APP_SESSION_SETTINGS,
  ConfigError,
  describeSettings,
  resolveAppServerSettings,
  resolveAppSessionSettings,
  type AppServerSettings,
  type AppSessionOptions,
  type AppSessionSettings,
  type ConfigIssue,
} from './config.js';
export { TetherError } from '../protocol/errors.js';

import { AppServer } from './appServer.js';
import { AppSession } from './appSession.js';

/** The seeds' name for {@link AppSession}. */
export const TpaSession = AppSession;
/** The seeds' name for {@link AppSession}. */
export type TpaSession = AppSession;
/** The seeds' name for {@link AppServer}. */
export const TpaServer = AppServer;
/** The seeds' name for {@link AppServer}. */
export type TpaServer = AppServer;
