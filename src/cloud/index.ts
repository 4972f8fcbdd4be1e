/** The Tether cloud runtime: `createCloud(config)` and the pieces it is built from. */
export { createCloud, WS_PATHS, type Cloud, type CreateCloudOptions } from './cloud.js';
export { resolveCloudConfig, describeCloudSettings, type CloudConfig, type CloudSettings } from './config.js';
export { createSqliteStore, type Store, type AppRecord } from './store.js';
export { createCoreToken, verifyCoreToken } from './glassesAuth.js';
export { generateApiKey, hashApiKey, verifyApiKey } from './apiKeys.js';
export type { SessionRegistry, UserSessionActor } from './sessionRegistry.js';
export { REGISTER_PATHS, type RegistrationRequest, type RegistrationResponse } from './registration.js';
export type { RecoveryReport, RecoveryResult } from './recovery.js';
