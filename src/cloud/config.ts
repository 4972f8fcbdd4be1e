/**
 * Cloud configuration (ARCHITECTURE.md "Configuration"): every setting has one definition —
 * name, environment variable, default, parser — built with the SDK's `defineSettings`, and the
 * environment names are the ones the cloud documents (`PORT`, `TETHER_DB`, `GRACE_PERIOD_MS` …),
 * not derived. Precedence: overrides in code > environment > default. This is the only cloud
 * module that reads `process.env`.
 */
import { defaultSessionConfig } from '../../machines/policy/sessionConfig.js';
import { MAX_MESSAGE_BYTES } from '../protocol/limits.js';
import {
  ConfigError,
  MAX_TIMER_MS,
  defineSettings,
  describeSettings,
  integerParser,
  resolveSettings,
  type ConfigIssue,
  type SettingRow,
  type SettingsOf,
} from '../sdk/config.js';

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
export const MIN_JWT_SECRET_BYTES = 32;

/** Shortest accepted admin or inspector token, in bytes: long enough that it cannot be a placeholder like `admin`. */
export const MIN_TOKEN_BYTES = 16;

/**
 * Webhook timeouts below this (ms) draw a warning outside tests: `@mentra/sdk` answers only
 * after its ack and the app's `onSession`, and fails by itself after 5 s without an ack.
 */
export const RECOMMENDED_MIN_WEBHOOK_TIMEOUT_MS = 10_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A pino level name. */
export type LogLevel = (typeof LOG_LEVELS)[number];

const parseDurationMs = integerParser({ min: 1, max: MAX_TIMER_MS });

/** Secrets are taken verbatim (no trimming): a space may be part of one. Length in UTF-8 bytes. */
function secretParser(minBytes: number): (raw: unknown) => string {
  return (raw) => {
    if (typeof raw !== 'string' || Buffer.byteLength(raw, 'utf8') < minBytes) {
      throw new Error(`expected a string of at least ${minBytes} bytes`);
    }
    return raw;
  };
}

function parseNonEmptyString(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new Error('expected a non-empty string');
  return raw.trim();
}

function parseLogLevel(raw: unknown): LogLevel {
  const level = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
  if (!LOG_LEVELS.includes(level as LogLevel)) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}`);
  return level as LogLevel;
}

/** Accepts `ws://` and `wss://` URLs; drops a trailing slash so paths can be appended. */
function parsePublicUrl(raw: unknown): string {
  if (typeof raw !== 'string') throw new Error('expected a ws:// or wss:// URL');
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error('expected a ws:// or wss:// URL');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error('expected a ws:// or wss:// URL');
  if (url.search || url.hash) throw new Error('expected a URL without query or fragment (paths are appended to it)');
  return url.href.replace(/\/+$/, '');
}

// Settings whose default is filled in by resolveCloudConfig (secrets, derived URL) carry
// `undefined` here; `default` is typed by the spec, hence the casts.
const unset = undefined as string | undefined;

/** The cloud's settings, keyed by name, with their exact environment variables. */
export const CLOUD_SETTINGS = defineSettings({
  port: {
    env: 'PORT',
    default: 8002,
    parse: integerParser({ min: 0, max: 65_535 }),
    description: 'HTTP and WebSocket port (0 = any free port, for tests).',
  },
  dbPath: {
    env: 'TETHER_DB',
    default: './data/tether.db',
    parse: parseNonEmptyString,
    description: 'SQLite database file (its directory is created), or :memory:.',
  },
  jwtSecret: {
    env: 'TETHER_JWT_SECRET',
    default: unset,
    parse: secretParser(MIN_JWT_SECRET_BYTES),
    description: `HS256 secret of glasses core tokens, at least ${MIN_JWT_SECRET_BYTES} bytes. Required in production.`,
  },
  adminToken: {
    env: 'TETHER_ADMIN_TOKEN',
    default: unset,
    parse: secretParser(MIN_TOKEN_BYTES),
    description: `Bearer token of the admin API (POST /api/apps), at least ${MIN_TOKEN_BYTES} bytes. Required in production.`,
  },
  publicUrl: {
    env: 'TETHER_PUBLIC_URL',
    default: unset,
    parse: parsePublicUrl,
    description: 'ws:// or wss:// base of the app WebSocket URL sent in webhooks (…/app-ws is appended).',
  },
  gracePeriodMs: {
    env: 'GRACE_PERIOD_MS',
    default: defaultSessionConfig.gracePeriodMs,
    parse: parseDurationMs,
    description: 'Time a user session waits for the glasses to reconnect before it is disposed, in ms.',
  },
  heartbeatIntervalMs: {
    env: 'HEARTBEAT_INTERVAL_MS',
    default: defaultSessionConfig.heartbeatIntervalMs,
    parse: parseDurationMs,
    description: 'Time between the cloud’s pings on each socket, in ms.',
  },
  heartbeatTimeoutMs: {
    env: 'HEARTBEAT_TIMEOUT_MS',
    default: defaultSessionConfig.heartbeatTimeoutMs,
    parse: parseDurationMs,
    description: 'Silence after which a socket is declared dead and terminated, in ms; must exceed the interval.',
  },
  restartThresholdMs: {
    env: 'RESTART_THRESHOLD_MS',
    default: defaultSessionConfig.restartThresholdMs,
    parse: parseDurationMs,
    description: 'Disconnection longer than this counts as a long reconnect (reported and logged), in ms.',
  },
  appReconnectWindowMs: {
    env: 'APP_RECONNECT_WINDOW_MS',
    default: defaultSessionConfig.appReconnectWindowMs,
    parse: parseDurationMs,
    description: 'Time an app is given to reconnect by itself before the webhook is re-sent, in ms.',
  },
  webhookTimeoutMs: {
    env: 'WEBHOOK_TIMEOUT_MS',
    default: defaultSessionConfig.webhookTimeoutMs,
    parse: parseDurationMs,
    description:
      'Time allowed for a webhook answer, in ms. Keep it ≥ 10000 outside tests: @mentra/sdk answers only after its ack and onSession.',
  },
  maxMessageBytes: {
    env: 'MAX_MESSAGE_BYTES',
    default: MAX_MESSAGE_BYTES,
    parse: integerParser({ min: 1_024, max: 104_857_600 }),
    description: 'Largest WebSocket frame accepted, in bytes; larger frames close the socket with 1009.',
  },
  logLevel: {
    env: 'LOG_LEVEL',
    default: 'info' as LogLevel,
    parse: parseLogLevel,
    description: `Log level: ${LOG_LEVELS.join(', ')}.`,
  },
  nodeEnv: {
    env: 'NODE_ENV',
    default: 'development',
    parse: parseNonEmptyString,
    description: 'production makes the secrets mandatory and hides the inspector unless TETHER_INSPECTOR_TOKEN is set.',
  },
  inspectorToken: {
    env: 'TETHER_INSPECTOR_TOKEN',
    default: unset,
    parse: secretParser(MIN_TOKEN_BYTES),
    description: `Token that enables the inspector in production, at least ${MIN_TOKEN_BYTES} bytes (optional).`,
  },
  replayWindowMs: {
    env: 'REPLAY_WINDOW_MS',
    default: 30_000,
    parse: parseDurationMs,
    description: 'Age after which a data frame leaves an app session’s replay buffer, in ms.',
  },
  replayMaxMessages: {
    env: 'REPLAY_MAX_MESSAGES',
    default: 1_000,
    parse: integerParser({ min: 1, max: 1_000_000 }),
    description: 'Most data frames an app session’s replay buffer keeps; the smaller of the two bounds wins.',
  },
  recoveryConcurrency: {
    env: 'RECOVERY_CONCURRENCY',
    default: 50,
    parse: integerParser({ min: 1, max: 10_000 }),
    description: 'Sessions a restart recovery brings back at once per app server (count): its session_request webhooks in flight.',
  },
});

/** Raw resolved values of {@link CLOUD_SETTINGS}, before defaults that depend on other settings. */
export type CloudSettings = SettingsOf<typeof CLOUD_SETTINGS>;

/** The cloud's resolved configuration. Durations are ms, sizes bytes. */
export interface CloudConfig {
  /** HTTP and WebSocket port; 0 binds any free port. */
  port: number;
  /** SQLite file or `:memory:`. */
  dbPath: string;
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
  /** Time a user session waits in `grace` for the glasses, in ms. */
  gracePeriodMs: number;
  /** Time between the cloud's pings on each socket, in ms. */
  heartbeatIntervalMs: number;
  /** Silence after which a socket is terminated as dead, in ms (> {@link heartbeatIntervalMs}). */
  heartbeatTimeoutMs: number;
  /** Disconnection above which a reconnect counts as long, in ms. */
  restartThresholdMs: number;
  /** Time an app gets to reconnect by itself before its webhook is re-sent, in ms. */
  appReconnectWindowMs: number;
  /** Webhook timeout, in ms (below 10 000 only in tests; see `warnings`). */
  webhookTimeoutMs: number;
  /** WebSocket `maxPayload`, in bytes. */
  maxMessageBytes: number;
  /** Root logger level. */
  logLevel: LogLevel;
  /** `NODE_ENV` as given (`development` when unset). */
  nodeEnv: string;
  /** `nodeEnv === 'production'`. */
  production: boolean;
  /** Inspector token, when set. */
  inspectorToken: string | undefined;
  /** Age after which a data frame leaves an app session's replay buffer, in ms. */
  replayWindowMs: number;
  /** Most data frames kept per app session for replay. */
  replayMaxMessages: number;
  /** Sessions one restart recovery brings back at once (webhooks in flight, count). */
  recoveryConcurrency: number;
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
  const settings = resolveSettings(CLOUD_SETTINGS, {
    ...(sources.env !== undefined ? { env: sources.env } : {}),
    ...(sources.overrides !== undefined ? { options: sources.overrides } : {}),
  });
  const production = settings.nodeEnv === 'production';
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];

  const secret = (key: 'jwtSecret' | 'adminToken', developmentValue: string): string => {
    const def = CLOUD_SETTINGS[key];
    const value = settings[key];
    if (production) {
      if (value === undefined) {
        issues.push({ setting: key, env: def.env, source: 'combination', reason: 'is required when NODE_ENV=production' });
      } else if (value === developmentValue) {
        issues.push({
          setting: key,
          env: def.env,
          source: 'combination',
          reason: 'is the public development value, which must not be used when NODE_ENV=production',
        });
      }
      return value ?? '';
    }
    if (value !== undefined) return value;
    warnings.push(
      `${def.env} is not set: using the public development value. Anyone can use it against this cloud; set ${def.env} (it is required with NODE_ENV=production).`,
    );
    return developmentValue;
  };
  const jwtSecret = secret('jwtSecret', DEVELOPMENT_JWT_SECRET);
  const adminToken = secret('adminToken', DEVELOPMENT_ADMIN_TOKEN);

  // A timeout no longer than the interval declares a healthy socket dead before its first pong.
  if (settings.heartbeatTimeoutMs <= settings.heartbeatIntervalMs) {
    issues.push({
      setting: 'heartbeatTimeoutMs',
      env: CLOUD_SETTINGS.heartbeatTimeoutMs.env,
      source: 'combination',
      reason: `${settings.heartbeatTimeoutMs} must be greater than heartbeatIntervalMs (${settings.heartbeatIntervalMs})`,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  if (settings.webhookTimeoutMs < RECOMMENDED_MIN_WEBHOOK_TIMEOUT_MS && settings.nodeEnv !== 'test') {
    warnings.push(
      `WEBHOOK_TIMEOUT_MS is ${settings.webhookTimeoutMs}: below ${RECOMMENDED_MIN_WEBHOOK_TIMEOUT_MS} ms, apps on @mentra/sdk whose onSession takes a few seconds will be reported as failed.`,
    );
  }
  if (settings.restartThresholdMs >= settings.gracePeriodMs) {
    warnings.push(
      `RESTART_THRESHOLD_MS (${settings.restartThresholdMs}) is not below GRACE_PERIOD_MS (${settings.gracePeriodMs}): no reconnect will ever count as long.`,
    );
  }

  return {
    port: settings.port,
    dbPath: settings.dbPath,
    jwtSecret,
    adminToken,
    publicUrl: settings.publicUrl ?? publicUrlForPort(settings.port),
    publicUrlDerived: settings.publicUrl === undefined,
    gracePeriodMs: settings.gracePeriodMs,
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
    heartbeatTimeoutMs: settings.heartbeatTimeoutMs,
    restartThresholdMs: settings.restartThresholdMs,
    appReconnectWindowMs: settings.appReconnectWindowMs,
    webhookTimeoutMs: settings.webhookTimeoutMs,
    maxMessageBytes: settings.maxMessageBytes,
    logLevel: settings.logLevel,
    nodeEnv: settings.nodeEnv,
    production,
    inspectorToken: settings.inspectorToken,
    replayWindowMs: settings.replayWindowMs,
    replayMaxMessages: settings.replayMaxMessages,
    recoveryConcurrency: settings.recoveryConcurrency,
    warnings,
  };
}

/**
 * The public URL derived from a port when `TETHER_PUBLIC_URL` is unset: `ws://127.0.0.1:<port>`
 * (an address, not `localhost`, which may resolve to ::1 where the cloud does not listen).
 */
export function publicUrlForPort(port: number): string {
  return `ws://127.0.0.1:${port}`;
}

/**
 * The public URL to put in webhooks once the server is listening: the configured one, or one
 * derived from the port actually bound (which differs from `config.port` when that is 0).
 *
 * @param boundPort - the port the HTTP server listens on
 */
export function effectivePublicUrl(config: Pick<CloudConfig, 'publicUrl' | 'publicUrlDerived'>, boundPort: number): string {
  return config.publicUrlDerived ? publicUrlForPort(boundPort) : config.publicUrl;
}

/** Rows of README's cloud configuration table (name, environment variable, default, description). */
export function describeCloudSettings(): SettingRow[] {
  const shownDefaults: Partial<Record<keyof typeof CLOUD_SETTINGS, string>> = {
    jwtSecret: 'development value (required in production)',
    adminToken: 'development value (required in production)',
    publicUrl: 'ws://127.0.0.1:<PORT>',
    inspectorToken: 'unset',
  };
  return describeSettings(CLOUD_SETTINGS).map((row) => ({
    ...row,
    default: shownDefaults[row.name as keyof typeof CLOUD_SETTINGS] ?? row.default,
  }));
}
