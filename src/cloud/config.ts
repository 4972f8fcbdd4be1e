/**
 * Cloud configuration (ARCHITECTURE.md "Configuration"): every setting of the cloud defined once
 * with the framework of `src/config` — name, environment variable, default, zod schema — and the
 * rules between them. Environment names are `TETHER_` + SCREAMING_SNAKE of the setting name
 * (`gracePeriodMs` → `TETHER_GRACE_PERIOD_MS`), except the platform conventions `PORT` and
 * `NODE_ENV`, and `TETHER_DB` for `dbPath` (a file today, a `postgres://` URL with many nodes).
 * Session timings default to the machines' `defaultSessionConfig`, nowhere else. Precedence:
 * overrides in code > environment > default. This is the only cloud module that reads
 * `process.env`.
 */
import { defaultSessionConfig, type SessionConfig } from '../../machines/policy/sessionConfig.js';
import { MAX_JSON_DEPTH, MAX_MESSAGE_BYTES } from '../protocol/limits.js';
import { DEFAULT_MAX_TOKEN_LIFETIME_MS } from './glassesAuth.js';
import { OUTBOUND_POLICIES, type OutboundPolicy } from './outboundPolicy.js';
import {
  baseUrlSchema,
  defineSettings,
  describeSettings,
  durationMsSchema,
  integerSchema,
  nodeIdSchema,
  nonEmptyStringSchema,
  oneOfSchema,
  resolveSettings,
  secretSchema,
  type SettingRow,
  type SettingsOf,
  type SettingsRule,
} from '../config/index.js';

/**
 * JWT secret used when `TETHER_JWT_SECRET` is unset outside production. It is public (it is in
 * this file), so anyone can mint tokens for a cloud that runs with it; hence the warning.
 */
export const DEVELOPMENT_JWT_SECRET = 'tether-development-jwt-secret-not-for-production';

/** Admin token used when `TETHER_ADMIN_TOKEN` is unset outside production; public, like the secret. */
export const DEVELOPMENT_ADMIN_TOKEN = 'tether-development-admin-token';

/**
 * Shortest accepted JWT secret, in bytes: RFC 7518 §3.2 requires an HS256 key of at least the
 * hash size (256 bits).
 */
const MIN_JWT_SECRET_BYTES = 32;

/** Shortest accepted admin or inspector token, in bytes: long enough that it cannot be a placeholder like `admin`. */
const MIN_TOKEN_BYTES = 16;

/**
 * Webhook timeouts below this (ms) draw a warning outside tests: `@mentra/sdk` answers only
 * after its ack and the app's `onSession`, and fails by itself after 5 s without an ack.
 */
const RECOMMENDED_MIN_WEBHOOK_TIMEOUT_MS = 10_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A pino level name. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The cloud's settings, keyed by name. */
export const CLOUD_SETTINGS = defineSettings({
  port: {
    env: 'PORT',
    default: 8002,
    schema: integerSchema({ min: 0, max: 65_535 }),
    description: 'HTTP and WebSocket port (0 = any free port, for tests).',
  },
  dbPath: {
    env: 'TETHER_DB',
    default: './data/tether.db',
    schema: nonEmptyStringSchema(),
    description: 'SQLite database file (its directory is created), :memory:, or a postgres:// URL (the store of many nodes).',
  },
  natsUrl: {
    default: undefined,
    schema: baseUrlSchema(['nats']),
    documentedDefault: 'unset (one node)',
    description: 'nats:// URL of the NATS JetStream server of a cluster; with it this process is one node of many (TETHER_DB must then be a postgres:// URL).',
  },
  nodeId: {
    default: undefined,
    schema: nodeIdSchema(),
    documentedDefault: 'the host name and port',
    description: 'Name of this node in a cluster (stable across its restarts: a restart is a new incarnation of the same node).',
  },
  leaseMs: {
    default: 10_000,
    schema: integerSchema({ min: 300, max: 120_000 }),
    description: 'Lease of a cluster node on its sessions, in ms: a node that cannot renew it within this long stops acting, and its sessions move. The same on every node.',
  },
  jwtSecret: {
    default: undefined,
    schema: secretSchema(MIN_JWT_SECRET_BYTES),
    documentedDefault: 'development value (required in production)',
    description: `HS256 secret of glasses core tokens, at least ${MIN_JWT_SECRET_BYTES} bytes. Required in production.`,
  },
  adminToken: {
    default: undefined,
    schema: secretSchema(MIN_TOKEN_BYTES),
    documentedDefault: 'development value (required in production)',
    description: `Bearer token of the admin API (POST /api/apps), at least ${MIN_TOKEN_BYTES} bytes. Required in production.`,
  },
  publicUrl: {
    default: undefined,
    schema: baseUrlSchema(['ws', 'wss']),
    documentedDefault: 'ws://127.0.0.1:<PORT>',
    description:
      'ws:// or wss:// base of the app WebSocket URL sent in webhooks (…/app-ws is appended); with TETHER_TLS_CERT the derived one is wss://127.0.0.1:<PORT>.',
  },
  gracePeriodMs: {
    default: defaultSessionConfig.gracePeriodMs,
    schema: durationMsSchema(),
    description: 'Time a user session waits for the glasses to reconnect before it is disposed, in ms.',
  },
  heartbeatIntervalMs: {
    default: defaultSessionConfig.heartbeatIntervalMs,
    schema: durationMsSchema(),
    description: 'Time between the cloud’s pings on each socket, in ms.',
  },
  heartbeatTimeoutMs: {
    default: defaultSessionConfig.heartbeatTimeoutMs,
    schema: durationMsSchema(),
    description: 'Silence after which a socket is declared dead and terminated, in ms; must exceed the interval.',
  },
  restartThresholdMs: {
    default: defaultSessionConfig.restartThresholdMs,
    schema: durationMsSchema(),
    description: 'Disconnection longer than this counts as a long reconnect (reported and logged), in ms.',
  },
  appReconnectWindowMs: {
    default: defaultSessionConfig.appReconnectWindowMs,
    schema: durationMsSchema(),
    description: 'Time an app is given to reconnect by itself before the webhook is re-sent, in ms.',
  },
  appPatienceMs: {
    default: defaultSessionConfig.appPatienceMs,
    schema: durationMsSchema(0),
    description:
      'How long a start keeps retrying an app whose server cannot be reached, from its first failure, in ms (0: give up at the first failure); the app stays desired and shows as reconnecting meanwhile.',
  },
  appReleaseWaitMs: {
    default: defaultSessionConfig.appReleaseWaitMs,
    schema: durationMsSchema(),
    description:
      'After an app releases its session with clean_shutdown, how long the cloud waits before it sends session_request again, in ms (a registration or the host answering ends it sooner).',
  },
  webhookRetryMaxDelayMs: {
    default: defaultSessionConfig.webhookRetry.maxDelayMs,
    schema: durationMsSchema(),
    description: 'Cap of the backoff between two session_request attempts of one session, in ms (jitter adds up to half).',
  },
  circuitProbeMaxDelayMs: {
    default: 5000,
    schema: durationMsSchema(),
    description:
      'Cap of the backoff between two probes of an app server that cannot be reached, in ms; while it is down one session_request at a time is let through.',
  },
  webhookTimeoutMs: {
    default: defaultSessionConfig.webhookTimeoutMs,
    schema: durationMsSchema(),
    description:
      'Time allowed for a webhook answer, in ms. Keep it ≥ 10000 outside tests: @mentra/sdk answers only after its ack and onSession.',
  },
  handshakeTimeoutMs: {
    default: 10_000,
    schema: durationMsSchema(),
    description:
      'Time a new glasses or app socket has to send its init frame (connection_init, tpa_connection_init) before it is refused, in ms.',
  },
  maxMessageBytes: {
    default: MAX_MESSAGE_BYTES,
    schema: integerSchema({ min: 1_024, max: 104_857_600 }),
    description: 'Largest WebSocket frame accepted, in bytes; larger frames close the socket with 1009.',
  },
  maxJsonDepth: {
    default: MAX_JSON_DEPTH,
    schema: integerSchema({ min: 8, max: 1_024 }),
    description: 'Deepest nesting of arrays and objects a frame may have; deeper frames are refused with INVALID_FIELDS.',
  },
  socketMessagesPerSecond: {
    default: 500,
    schema: integerSchema({ min: 0, max: 1_000_000 }),
    description: 'Frames one glasses or app socket may send per second; over it the socket is closed 1013 (RATE_LIMITED). 0 = no limit.',
  },
  socketBytesPerSecond: {
    default: 4_194_304,
    schema: integerSchema({ min: 0, max: 1_073_741_824 }),
    description: 'Bytes one glasses or app socket may send per second; over it the socket is closed 1013 (RATE_LIMITED). 0 = no limit.',
  },
  userMessagesPerSecond: {
    default: 2_000,
    schema: integerSchema({ min: 0, max: 1_000_000 }),
    description: 'Frames all sockets of one user (glasses and apps) may send per second together; 0 = no limit.',
  },
  userBytesPerSecond: {
    default: 16_777_216,
    schema: integerSchema({ min: 0, max: 1_073_741_824 }),
    description: 'Bytes all sockets of one user may send per second together; 0 = no limit.',
  },
  socketHighWaterBytes: {
    default: 1_048_576,
    schema: integerSchema({ min: 1_024, max: 1_073_741_824 }),
    description: 'Unsent bytes queued on a socket above which it is congested: data frames wait in the replay buffer (apps) or coalesce per view (glasses displays) until it drains.',
  },
  congestionLimitMs: {
    default: 20_000,
    schema: durationMsSchema(),
    description: 'How long a socket may stay congested before it is closed 1013 so its client reconnects and resumes, in ms.',
  },
  logLevel: {
    default: 'info',
    schema: oneOfSchema(LOG_LEVELS),
    description: `Log level: ${LOG_LEVELS.join(', ')}.`,
  },
  nodeEnv: {
    env: 'NODE_ENV',
    default: 'development',
    schema: nonEmptyStringSchema(),
    description: 'production makes the secrets mandatory and hides the inspector unless TETHER_INSPECTOR_TOKEN is set.',
  },
  inspectorToken: {
    default: undefined,
    schema: secretSchema(MIN_TOKEN_BYTES),
    documentedDefault: 'unset',
    description: `Token that enables the inspector in production, at least ${MIN_TOKEN_BYTES} bytes (optional).`,
  },
  inspectorForwardUrl: {
    default: undefined,
    schema: baseUrlSchema(['ws', 'wss']),
    documentedDefault: 'unset',
    description:
      'ws:// base URL of another cloud whose inspector also shows this process’s actors (its ingest endpoint, with TETHER_INSPECTOR_TOKEN): one node’s inspector then shows which node owns each session.',
  },
  replayWindowMs: {
    default: 30_000,
    schema: durationMsSchema(),
    description: 'Age after which a data frame leaves an app session’s replay buffer, in ms.',
  },
  replayMaxMessages: {
    default: 1_000,
    schema: integerSchema({ min: 1, max: 1_000_000 }),
    description: 'Most data frames an app session’s replay buffer keeps; whichever of the window, count and byte bounds is hit first wins.',
  },
  replayMaxBytes: {
    default: 4_194_304,
    schema: integerSchema({ min: 1_024, max: 1_073_741_824 }),
    description:
      'Most bytes (serialised data frames) an app session’s replay buffer keeps, oldest dropped first; a client that missed dropped frames gets resume_gap.',
  },
  replayBudgetBytes: {
    default: 268_435_456,
    schema: integerSchema({ min: 1_024, max: 68_719_476_736 }),
    description:
      'Most bytes all replay buffers of the process keep together; over it the largest buffers are cut to a common level (oldest frames first) down to 7/8 of it.',
  },
  // Screen restore (issue 11 §3).
  screenMemoryMaxBytes: {
    default: 262_144,
    schema: integerSchema({ min: 1_024, max: 1_073_741_824 }),
    description:
      'Most bytes (display frames as they arrived) of the screens kept for one user, to show their glasses again after a reconnect or a cloud restart; the screen drawn longest ago goes first, a larger display is not kept.',
  },
  screenMemoryBudgetBytes: {
    default: 67_108_864,
    schema: integerSchema({ min: 1_024, max: 68_719_476_736 }),
    description: 'Most bytes of screens the process keeps for all users together; over it the screen drawn longest ago, of any user, goes first.',
  },
  recoveryConcurrency: {
    default: 50,
    schema: integerSchema({ min: 1, max: 10_000 }),
    description: 'Sessions a restart recovery brings back at once per app server (count): its session_request webhooks in flight.',
  },
  // Safe defaults and outbound policy (issue 10).
  host: {
    default: '127.0.0.1',
    schema: nonEmptyStringSchema(),
    description:
      'Interface the cloud listens on. Beyond loopback (0.0.0.0, ::, a LAN address) the inspector is served only with TETHER_INSPECTOR_TOKEN, even in development.',
  },
  outboundPolicy: {
    default: undefined,
    schema: oneOfSchema(OUTBOUND_POLICIES),
    documentedDefault: 'loopback (public in production)',
    description:
      'Addresses webhook URLs and registered serverUrls may resolve to: public, loopback (public + 127/8, ::1) or private (also 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7). Link-local, metadata, multicast and reserved addresses are always refused.',
  },
  maxTokenLifetimeMs: {
    default: DEFAULT_MAX_TOKEN_LIFETIME_MS,
    schema: integerSchema({ min: 1_000, max: Number.MAX_SAFE_INTEGER }),
    description: 'Longest lifetime (exp − iat, and exp − now) of a glasses core token accepted, in ms; a longer one is INVALID_TOKEN.',
  },
  // Control plane from the glasses (issue 10 §2): what one user's start/stop and declaration may cost.
  maxRunningApps: {
    default: 32,
    schema: integerSchema({ min: 1, max: 10_000 }),
    description:
      'Most entries of connection_init.runningApps considered (count); later ones are ignored and reported with INVALID_FIELDS, unregistered ones with UNKNOWN_PACKAGE.',
  },
  appControlPerMinute: {
    default: 120,
    schema: integerSchema({ min: 0, max: 1_000_000 }),
    description:
      'start_app and stop_app frames accepted per user per minute (count; 0 = no limit); more are answered with RATE_LIMITED and the socket stays open.',
  },
  // Connection limits (issue 10): what a new connection may hold before it authenticates.
  maxPendingSockets: {
    default: 1_000,
    schema: integerSchema({ min: 0, max: 1_000_000 }),
    description: 'Most sockets upgraded but not yet authenticated (count); one more is refused with 503 and Retry-After. 0 = no cap.',
  },
  connectionsPerAddressPerMinute: {
    default: 600,
    schema: integerSchema({ min: 0, max: 1_000_000 }),
    description: 'New WebSocket upgrades allowed per remote address per minute (count), enough for a carrier NAT; more are refused with 429 and Retry-After. 0 = no limit.',
  },
  maxConnections: {
    default: 0,
    schema: integerSchema({ min: 0, max: 10_000_000 }),
    description: 'Most open connections (count); more are closed on accept and counted. 0 = the open-file limit less the descriptors in use and a reserve of an eighth (Linux).',
  },
  headersTimeoutMs: {
    default: 10_000,
    schema: integerSchema({ min: 1, max: 300_000 }),
    description: 'Time a new connection has to send its complete request headers, a WebSocket upgrade included, before it is answered 408 and closed, in ms.',
  },
  // HTTP endpoints for apps (issue 12 §1).
  simpleStorageMaxBytes: {
    default: 1_048_576,
    schema: integerSchema({ min: 1_024, max: 1_073_741_824 }),
    description:
      'Most bytes (UTF-8 keys and values) one app may keep in simple storage for one user; a PUT beyond it is refused 413 STORAGE_QUOTA_EXCEEDED and writes nothing.',
  },
  simpleStorageMaxValueBytes: {
    default: 100_000,
    schema: integerSchema({ min: 1, max: 1_073_741_824 }),
    description: 'Largest single simple-storage value, in UTF-8 bytes (@mentra/sdk refuses more than 100000 characters itself); larger is refused 413 MESSAGE_TOO_LARGE.',
  },
  simpleStorageRequestsPerMinute: {
    default: 120,
    schema: integerSchema({ min: 0, max: 1_000_000 }),
    description:
      'Simple-storage requests one app may make per user per minute (count; 0 = no limit); more are refused 429 RATE_LIMITED with Retry-After.',
  },
  tlsCert: {
    default: undefined,
    schema: nonEmptyStringSchema(),
    documentedDefault: 'unset',
    description:
      'PEM certificate file (chain first); with TETHER_TLS_KEY the port answers HTTPS and WSS only (the @mentra/sdk permission check and TTS URLs are always https://).',
  },
  tlsKey: {
    default: undefined,
    schema: nonEmptyStringSchema(),
    documentedDefault: 'unset',
    description: 'PEM private key file of TETHER_TLS_CERT; both are set or neither.',
  },
  // Requests from apps to the glasses (issue 12 §3).
  photoRequestTimeoutMs: {
    default: 25_000,
    schema: durationMsSchema(),
    description:
      "Time the glasses have to upload a photo an app asked for (or report its failure), in ms; then the app's /photo-upload gets a photo_error with GLASSES_REQUEST_TIMEOUT. Keep it under @mentra/sdk's own 30000.",
  },
  audioRequestTimeoutMs: {
    default: 55_000,
    schema: durationMsSchema(),
    description:
      "Time the glasses have to answer an audio_play_request (they answer when playback ends), in ms; then the app gets audio_play_response success false, error GLASSES_REQUEST_TIMEOUT. Keep it under @mentra/sdk's own 60000.",
  },
  glassesRequestTimeoutMs: {
    default: 10_000,
    schema: durationMsSchema(),
    description:
      'Time the glasses have to answer a location poll or an LED request, in ms. A location poll has no failure answer in @mentra/sdk: after this it is forgotten and the SDK rejects at its own 15000.',
  },
  maxPendingRequestsPerSession: {
    default: 32,
    schema: integerSchema({ min: 1, max: 10_000 }),
    description:
      "Most requests one app session may have waiting for its user's glasses (count); one more is answered at once with TOO_MANY_PENDING_REQUESTS.",
  },
});

/** Resolved values of {@link CLOUD_SETTINGS}, before defaults that depend on other settings. */
export type CloudSettings = SettingsOf<typeof CLOUD_SETTINGS>;

/**
 * The cloud's resolved configuration: every setting of {@link CLOUD_SETTINGS} (durations in ms,
 * sizes in bytes; see each one's description), with the secrets and the public URL filled in.
 */
export interface CloudConfig extends Omit<CloudSettings, 'jwtSecret' | 'adminToken' | 'publicUrl' | 'outboundPolicy'> {
  /** Outbound policy: the one configured, else `public` in production and `loopback` outside it. */
  outboundPolicy: OutboundPolicy;
  /** HS256 secret of core tokens (the development value when unset outside production). */
  jwtSecret: string;
  /** Admin API bearer token (the development value when unset outside production). */
  adminToken: string;
  /**
   * Base of the app WebSocket URL sent in webhooks, without trailing slash. When
   * `TETHER_PUBLIC_URL` is unset it is `ws://127.0.0.1:<port>` and {@link publicUrlDerived} is
   * true; with port 0 use {@link effectivePublicUrl} once the port is bound.
   */
  publicUrl: string;
  /** Whether {@link publicUrl} was derived from the port rather than configured. */
  publicUrlDerived: boolean;
  /** `nodeEnv === 'production'`. */
  production: boolean;
  /**
   * Problems that do not stop the cloud but must be seen (a development secret in use, a short
   * webhook timeout); the runtime logs each at `warn` on start-up.
   */
  warnings: string[];
}

/** Sources of {@link resolveCloudConfig}. */
export interface CloudConfigSources {
  /** Environment; `process.env` when omitted. Empty strings count as unset. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Values given in code (tests, embedding); they win over the environment and are validated alike. */
  overrides?: Partial<CloudSettings>;
}

/**
 * Variables the cloud read before every name followed the rule. One still set draws a warning
 * naming its replacement, rather than being ignored without a word.
 */
const FORMER_ENV_NAMES = {
  GRACE_PERIOD_MS: 'gracePeriodMs',
  HEARTBEAT_INTERVAL_MS: 'heartbeatIntervalMs',
  HEARTBEAT_TIMEOUT_MS: 'heartbeatTimeoutMs',
  RESTART_THRESHOLD_MS: 'restartThresholdMs',
  APP_RECONNECT_WINDOW_MS: 'appReconnectWindowMs',
  WEBHOOK_TIMEOUT_MS: 'webhookTimeoutMs',
  MAX_MESSAGE_BYTES: 'maxMessageBytes',
  LOG_LEVEL: 'logLevel',
  REPLAY_WINDOW_MS: 'replayWindowMs',
  REPLAY_MAX_MESSAGES: 'replayMaxMessages',
  RECOVERY_CONCURRENCY: 'recoveryConcurrency',
} as const satisfies Record<string, keyof typeof CLOUD_SETTINGS>;

const isProduction = (s: CloudSettings): boolean => s.nodeEnv === 'production';

/** In production a secret must be set, and must not be the public development value. */
function productionSecretRules(key: 'jwtSecret' | 'adminToken', developmentValue: string): SettingsRule<CloudSettings>[] {
  return [
    {
      setting: key,
      holds: (s) => !isProduction(s) || s[key] !== undefined,
      reason: () => 'is required when NODE_ENV=production',
    },
    {
      setting: key,
      holds: (s) => !isProduction(s) || s[key] !== developmentValue,
      reason: () => 'is the public development value, which must not be used when NODE_ENV=production',
    },
  ];
}

const CLOUD_RULES: readonly SettingsRule<CloudSettings>[] = [
  ...productionSecretRules('jwtSecret', DEVELOPMENT_JWT_SECRET),
  ...productionSecretRules('adminToken', DEVELOPMENT_ADMIN_TOKEN),
  {
    // A timeout no longer than the interval declares a healthy socket dead before its first pong.
    setting: 'heartbeatTimeoutMs',
    holds: (s) => s.heartbeatTimeoutMs > s.heartbeatIntervalMs,
    reason: (s) =>
      `${s.heartbeatTimeoutMs} must be greater than heartbeatIntervalMs (${CLOUD_SETTINGS.heartbeatIntervalMs.env} = ${s.heartbeatIntervalMs})`,
  },
  {
    // Nodes share their sessions through the store: a file of one machine cannot be shared.
    setting: 'natsUrl',
    holds: (s) => s.natsUrl === undefined || /^postgres(ql)?:\/\//i.test(s.dbPath),
    reason: () => `is set, so ${CLOUD_SETTINGS.dbPath.env} must be a postgres:// URL (the nodes of a cluster share one store)`,
  },
  // The one that is set is the one named: the other has nothing to point at.
  ...([
    ['tlsCert', 'tlsKey'],
    ['tlsKey', 'tlsCert'],
  ] as const).map(
    ([key, other]): SettingsRule<CloudSettings> => ({
      setting: key,
      holds: (s) => s[key] === undefined || s[other] !== undefined,
      reason: () => `is set without ${CLOUD_SETTINGS[other].env}: a TLS port needs both`,
    }),
  ),
];

/**
 * Resolves the cloud configuration: overrides > environment > default, every value validated,
 * every problem reported at once.
 *
 * Outside production, a missing `TETHER_JWT_SECRET` or `TETHER_ADMIN_TOKEN` falls back to a
 * fixed development value with an entry in `warnings`. With `NODE_ENV=production` a missing
 * one — or one equal to the public development value — is an error.
 *
 * @throws ConfigError (a `TetherError` with code `INVALID_CONFIG`) naming each bad setting and
 *   its environment variable.
 */
export function resolveCloudConfig(sources: CloudConfigSources = {}): CloudConfig {
  const settings = resolveSettings(
    CLOUD_SETTINGS,
    {
      ...(sources.env !== undefined ? { env: sources.env } : {}),
      ...(sources.overrides !== undefined ? { options: sources.overrides } : {}),
    },
    CLOUD_RULES,
  );
  const warnings: string[] = [];
  const env = (key: keyof typeof CLOUD_SETTINGS): string => CLOUD_SETTINGS[key].env;

  const environment = sources.env ?? process.env;
  for (const [former, key] of Object.entries(FORMER_ENV_NAMES)) {
    if (environment[former]?.trim()) warnings.push(`${former} is set but no longer read: the variable of ${key} is ${env(key)}.`);
  }

  const secret = (key: 'jwtSecret' | 'adminToken', developmentValue: string): string => {
    const value = settings[key];
    if (value !== undefined) return value;
    warnings.push(
      `${env(key)} is not set: using the public development value. Anyone can use it against this cloud; set ${env(key)} (it is required with NODE_ENV=production).`,
    );
    return developmentValue;
  };
  const jwtSecret = secret('jwtSecret', DEVELOPMENT_JWT_SECRET);
  const adminToken = secret('adminToken', DEVELOPMENT_ADMIN_TOKEN);

  if (settings.webhookTimeoutMs < RECOMMENDED_MIN_WEBHOOK_TIMEOUT_MS && settings.nodeEnv !== 'test') {
    warnings.push(
      `${env('webhookTimeoutMs')} is ${settings.webhookTimeoutMs}: below ${RECOMMENDED_MIN_WEBHOOK_TIMEOUT_MS} ms, apps on @mentra/sdk whose onSession takes a few seconds will be reported as failed.`,
    );
  }
  if (settings.restartThresholdMs >= settings.gracePeriodMs) {
    warnings.push(
      `${env('restartThresholdMs')} (${settings.restartThresholdMs}) is not below ${env('gracePeriodMs')} (${settings.gracePeriodMs}): no reconnect will ever count as long.`,
    );
  }

  return {
    ...settings,
    jwtSecret,
    adminToken,
    publicUrl: settings.publicUrl ?? publicUrlForPort(settings.port, settings.tlsCert !== undefined),
    publicUrlDerived: settings.publicUrl === undefined,
    outboundPolicy: settings.outboundPolicy ?? (isProduction(settings) ? 'public' : 'loopback'),
    production: isProduction(settings),
    warnings,
  };
}

/** The session settings a cloud configuration names; {@link sessionConfigOf} copies them. */
const SESSION_SETTINGS = [
  'gracePeriodMs',
  'heartbeatIntervalMs',
  'heartbeatTimeoutMs',
  'restartThresholdMs',
  'appReconnectWindowMs',
  'webhookTimeoutMs',
  'appPatienceMs',
  'appReleaseWaitMs',
] as const satisfies readonly (keyof SessionConfig & keyof CloudSettings)[];

/**
 * The session machines' timings for a cloud configuration: {@link defaultSessionConfig} with
 * every timing the configuration names (grace period, heartbeat, restart threshold, app
 * reconnect window, webhook timeout; all ms) taken from it.
 */
export function sessionConfigOf(
  config: Pick<CloudConfig, (typeof SESSION_SETTINGS)[number] | 'webhookRetryMaxDelayMs'>,
): SessionConfig {
  const session: SessionConfig = { ...defaultSessionConfig };
  for (const key of SESSION_SETTINGS) session[key] = config[key];
  session.webhookRetry = { ...defaultSessionConfig.webhookRetry, maxDelayMs: config.webhookRetryMaxDelayMs };
  return session;
}

/**
 * The public URL derived from a port when `TETHER_PUBLIC_URL` is unset: `ws://127.0.0.1:<port>`,
 * `wss://` when the port speaks TLS (an address, not `localhost`, which may resolve to ::1 where
 * the cloud does not listen).
 */
function publicUrlForPort(port: number, tls: boolean): string {
  return `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`;
}

/**
 * The public URL to put in webhooks once the server is listening: the configured one, or one
 * derived from the port actually bound (which differs from `config.port` when that is 0).
 *
 * @param boundPort - the port the HTTP server listens on
 */
export function effectivePublicUrl(config: Pick<CloudConfig, 'publicUrl' | 'publicUrlDerived' | 'tlsCert'>, boundPort: number): string {
  return config.publicUrlDerived ? publicUrlForPort(boundPort, config.tlsCert !== undefined) : config.publicUrl;
}

/** Rows of README's cloud configuration table (name, environment variable, default, description). */
export function describeCloudSettings(): SettingRow[] {
  return describeSettings(CLOUD_SETTINGS);
}
