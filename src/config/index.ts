/**
 * The settings framework shared by the SDK and the cloud: definitions, the resolver (options in
 * code > environment > default), cross-field rules, `INVALID_CONFIG` errors, README rows, and the
 * zod schemas settings are built from. Imports only `src/protocol`.
 */
export {
  ConfigError,
  defineSettings,
  describeSettings,
  envNameFor,
  resolveSettings,
  type ConfigIssue,
  type SettingRow,
  type SettingSources,
  type SettingsOf,
  type SettingsRule,
} from './settings.js';
export {
  MAX_TIMER_MS,
  baseUrlSchema,
  booleanSchema,
  durationMsSchema,
  integerSchema,
  nodeIdSchema,
  nonEmptyStringSchema,
  oneOfSchema,
  secretSchema,
} from './schemas.js';
