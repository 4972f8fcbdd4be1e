/**
 * SDK configuration (seed 02 §4, ARCHITECTURE "Configuration"): the settings of each
 * `AppSession` and of the `AppServer`, defined once each with the framework of `src/config` —
 * environment `TETHER_` + SCREAMING_SNAKE of the name, precedence options in code > environment
 * > default. Every duration is in ms and named `…Ms`.
 */
import {
  baseUrlSchema,
  booleanSchema,
  defineSettings,
  durationMsSchema,
  integerSchema,
  resolveSettings,
  type SettingSources,
  type SettingsOf,
  type SettingsRule,
} from '../config/index.js';

export { ConfigError, describeSettings, type ConfigIssue } from '../config/index.js';

/** Settings of each `AppSession`: its connection to the cloud. */
export const APP_SESSION_SETTINGS = defineSettings({
  autoReconnect: {
    default: true,
    schema: booleanSchema(),
    description: 'Reconnect by itself after an abnormal close.',
  },
  maxReconnectAttempts: {
    default: 10,
    schema: integerSchema({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    description: 'Retries after a drop before giving up (count; 0 = never retry).',
  },
  reconnectDelayMs: {
    default: 1000,
    schema: durationMsSchema(),
    // `@mentra/sdk`'s option name: an app switching SDKs keeps its `reconnectDelay`.
    aliases: ['reconnectDelay'],
    description:
      'Base delay before the first retry, in ms; grows 1.5× per attempt, plus up to 50% jitter. In code also reconnectDelay (@mentra/sdk’s name).',
  },
  maxReconnectDelayMs: {
    default: 30_000,
    schema: durationMsSchema(),
    description: 'Cap on the retry delay before jitter, in ms; at least reconnectDelayMs.',
  },
  heartbeatIntervalMs: {
    default: 15_000,
    schema: durationMsSchema(),
    description: 'Time between pings to the cloud, in ms.',
  },
  heartbeatTimeoutMs: {
    default: 45_000,
    schema: durationMsSchema(),
    description: 'Silence after which the connection is declared dead and replaced, in ms; must exceed the interval.',
  },
  connectTimeoutMs: {
    default: 5000,
    schema: durationMsSchema(),
    description: 'Time allowed from opening the socket to the ack, in ms; counts as a failed attempt.',
  },
  stableMs: {
    default: 10_000,
    schema: durationMsSchema(),
    description: 'Time a connection must stay open before the retry counter resets, in ms.',
  },
  outboxLimit: {
    default: 100,
    schema: integerSchema({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    description: 'Messages kept while disconnected (count); the oldest is dropped beyond it.',
  },
});

/**
 * Settings of the `AppServer`. `PORT` is read when `TETHER_PORT` is unset because hosting
 * platforms inject it and apps written for `@mentra/sdk` conventionally use it; the cloud's own
 * port is `PORT` alone, so `TETHER_PORT` sets an app server apart when both share a shell. The
 * default 7010 is `@mentra/sdk`'s.
 */
export const APP_SERVER_SETTINGS = defineSettings({
  port: {
    fallbackEnv: ['PORT'],
    default: 7010,
    schema: integerSchema({ min: 0, max: 65_535 }),
    description: 'HTTP port of the app server (0 = any free port); PORT is read if TETHER_PORT is unset.',
  },
  registrationRefreshMs: {
    default: 60_000,
    schema: durationMsSchema(),
    description: 'Time between re-registrations of the app server with the cloud, in ms.',
  },
  cloudUrl: {
    default: null,
    schema: baseUrlSchema(['http', 'https']).nullable(),
    description:
      'HTTP base URL of the cloud (http://cloud.example:8002). When set, the server registers there when it listens; null: it never registers.',
  },
  serverUrl: {
    default: null,
    schema: baseUrlSchema(['http', 'https']).nullable(),
    description:
      'Public base URL of this app server, sent when registering (the cloud posts webhooks to it + /webhook); null: http://127.0.0.1:<port>.',
  },
});

/** Resolved AppSession settings. */
export type AppSessionSettings = SettingsOf<typeof APP_SESSION_SETTINGS>;

/** Resolved AppServer settings. */
export type AppServerSettings = SettingsOf<typeof APP_SERVER_SETTINGS>;

/** AppSession settings as given in code: any of them, and `@mentra/sdk`'s names. */
export type AppSessionOptions = Partial<AppSessionSettings> & {
  /** `@mentra/sdk`'s name of {@link AppSessionSettings.reconnectDelayMs}, in ms; the `…Ms` name wins. */
  reconnectDelay?: number;
};

const APP_SESSION_RULES: readonly SettingsRule<AppSessionSettings>[] = [
  {
    // A timeout no longer than the interval declares a healthy connection dead before its
    // first pong can arrive.
    setting: 'heartbeatTimeoutMs',
    holds: (s) => s.heartbeatTimeoutMs > s.heartbeatIntervalMs,
    reason: (s) =>
      `${s.heartbeatTimeoutMs} must be greater than heartbeatIntervalMs (${APP_SESSION_SETTINGS.heartbeatIntervalMs.env} = ${s.heartbeatIntervalMs})`,
  },
  {
    setting: 'maxReconnectDelayMs',
    holds: (s) => s.maxReconnectDelayMs >= s.reconnectDelayMs,
    reason: (s) =>
      `${s.maxReconnectDelayMs} must be at least reconnectDelayMs (${APP_SESSION_SETTINGS.reconnectDelayMs.env} = ${s.reconnectDelayMs})`,
  },
];

/**
 * Resolves the AppSession settings and checks the ones that only make sense together.
 *
 * @throws {@link ConfigError} (code `INVALID_CONFIG`).
 */
export function resolveAppSessionSettings(
  sources: { options?: AppSessionOptions; env?: SettingSources<typeof APP_SESSION_SETTINGS>['env'] } = {},
): AppSessionSettings {
  return resolveSettings(APP_SESSION_SETTINGS, sources, APP_SESSION_RULES);
}

/**
 * Resolves the AppServer settings.
 *
 * @throws {@link ConfigError} (code `INVALID_CONFIG`).
 */
export function resolveAppServerSettings(
  sources: SettingSources<typeof APP_SERVER_SETTINGS> = {},
): AppServerSettings {
  return resolveSettings(APP_SERVER_SETTINGS, sources);
}
