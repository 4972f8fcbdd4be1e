/**
 * SDK configuration (seed 02 §4, ARCHITECTURE "Configuration"): every setting has exactly one
 * definition — name, environment variable, default, parser — and one resolver applies the
 * precedence webhook > code > environment > default. This is the only SDK module that reads
 * `process.env`.
 */

import { TetherError } from '../protocol/errors.js';

/** Where a resolved value came from, highest precedence first. */
export type SettingSource = 'webhook' | 'options' | 'env' | 'default';

/**
 * One setting. `parse` receives an untrusted value — a string from the environment, or any
 * JSON value from a webhook or code — and returns the typed value or throws an `Error` whose
 * message says what was expected.
 */
export interface SettingDefinition<T> {
  /** Property name, as in code and webhook payloads (`maxReconnectAttempts`). */
  readonly name: string;
  /** Environment variable (`TETHER_MAX_RECONNECT_ATTEMPTS`). */
  readonly env: string;
  /** Further variables read, in order, when {@link env} is unset (conventions like `PORT`). */
  readonly fallbackEnv?: readonly string[];
  /** Value used when no source sets it. */
  readonly default: T;
  /** One line for users, with the unit of numbers. */
  readonly description: string;
  /** Converts and validates a raw value. */
  readonly parse: (raw: unknown) => T;
}

/** What {@link defineSettings} takes for each setting; `name` comes from the key. */
export interface SettingSpec<T> {
  /** Environment variable; by default `TETHER_` + the name in SCREAMING_SNAKE_CASE. */
  readonly env?: string;
  readonly fallbackEnv?: readonly string[];
  readonly default: T;
  readonly description: string;
  readonly parse: (raw: unknown) => T;
}

/** A set of setting definitions keyed by name. */
export type SettingDefinitions = { readonly [name: string]: SettingDefinition<unknown> };

/** The resolved values of a set of definitions. */
export type SettingsOf<D extends SettingDefinitions> = {
  -readonly [K in keyof D]: D[K] extends SettingDefinition<infer T> ? T : never;
};

/** Raw, unvalidated values for some settings of `D` (from a webhook payload or code). */
export type RawSettings<D extends SettingDefinitions> = { readonly [K in keyof D]?: unknown };

/** The sources {@link resolveSettings} reads. */
export interface SettingSources<D extends SettingDefinitions> {
  /** Values the cloud sent with the webhook; they win over everything. */
  webhook?: RawSettings<D>;
  /**
   * Values given in code (`new AppServer({ port })`). Explicit arguments win over the
   * environment, as in most libraries: a value written in code is never silently replaced.
   */
  options?: RawSettings<D>;
  /** Environment; `process.env` when omitted. Empty strings count as unset. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** One invalid value, as listed on an `INVALID_CONFIG` error. */
export interface ConfigIssue {
  setting: string;
  env: string;
  source: Exclude<SettingSource, 'default'> | 'combination';
  reason: string;
}

/**
 * The error {@link resolveSettings} throws: a {@link TetherError} with code `INVALID_CONFIG`
 * whose message names every bad setting and its environment variable; `issues` lists them.
 */
export class ConfigError extends TetherError {
  /** One entry per invalid value. */
  readonly issues: readonly ConfigIssue[];

  /** @param issues - the invalid values, at least one. */
  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map((i) => `setting "${i.setting}" (env ${i.env}) ${SOURCE_LABEL[i.source]}: ${i.reason}`);
    super(
      'INVALID_CONFIG',
      lines.length === 1 ? `Invalid configuration: ${lines[0]}` : `Invalid configuration:\n  ${lines.join('\n  ')}`,
      { issues },
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const SOURCE_LABEL: Record<ConfigIssue['source'], string> = {
  webhook: 'from the webhook',
  options: 'from code options',
  env: 'from the environment',
  combination: 'in combination',
};

/** One row of the README configuration table. */
export interface SettingRow {
  name: string;
  env: string;
  default: string;
  description: string;
}

/**
 * Builds definitions from specs keyed by setting name, deriving each environment variable
 * (`TETHER_` + SCREAMING_SNAKE of the name) unless the spec names one.
 */
export function defineSettings<S extends { readonly [name: string]: SettingSpec<any> }>(
  specs: S,
): { readonly [K in keyof S]: SettingDefinition<S[K] extends SettingSpec<infer T> ? T : never> } {
  const out: Record<string, SettingDefinition<unknown>> = {};
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = {
      name,
      env: spec.env ?? envNameFor(name),
      ...(spec.fallbackEnv !== undefined ? { fallbackEnv: spec.fallbackEnv } : {}),
      default: spec.default,
      description: spec.description,
      parse: spec.parse,
    };
  }
  return out as never;
}

/** `maxReconnectAttempts` → `TETHER_MAX_RECONNECT_ATTEMPTS`. */
export function envNameFor(name: string): string {
  return `TETHER_${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * Resolves every setting of `definitions`: webhook > options > environment > default. All
 * invalid values are collected and reported together, so a misconfigured deployment is fixed
 * in one round rather than one variable per restart.
 *
 * @throws {@link ConfigError} (code `INVALID_CONFIG`) whose message names each bad setting, its
 *   environment variable, and where the bad value came from.
 */
export function resolveSettings<D extends SettingDefinitions>(
  definitions: D,
  sources: SettingSources<D> = {},
): SettingsOf<D> {
  const env = sources.env ?? process.env;
  const out: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];

  for (const [key, def] of Object.entries(definitions)) {
    const picked = pick(key, def, sources, env);
    if (picked === undefined) {
      out[key] = def.default;
      continue;
    }
    try {
      out[key] = def.parse(picked.raw);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      issues.push({
        setting: def.name,
        env: picked.envVar ?? def.env,
        source: picked.source,
        reason: `${describeRaw(picked.raw)} is invalid: ${reason}`,
      });
    }
  }

  if (issues.length > 0) throw new ConfigError(issues);
  return out as SettingsOf<D>;
}

/**
 * Rows for the README configuration table (name, environment variable, default, description),
 * by default for every AppSession and AppServer setting.
 */
export function describeSettings(
  definitions: SettingDefinitions = { ...APP_SESSION_SETTINGS, ...APP_SERVER_SETTINGS },
): SettingRow[] {
  return Object.values(definitions).map((def) => ({
    name: def.name,
    env: [def.env, ...(def.fallbackEnv ?? [])].join(', '),
    default: String(def.default),
    description: def.description,
  }));
}

// ---------------------------------------------------------------------------------------------
// Parsers

/**
 * Parses a boolean: `true`/`false` as values, or the strings `"true"`, `"false"`, `"1"`, `"0"`
 * (case and surrounding spaces ignored).
 */
export function parseBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const text = raw.trim().toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
  }
  throw new Error('expected true, false, 1 or 0');
}

/**
 * Makes a parser of integers in `[min, max]` that accepts numbers and decimal strings. Strings
 * must be plain digits: `parseInt`'s habit of reading `"10s"` as 10 or `"1e3"` as 1 would hide
 * typos, and `Number("")` is 0.
 */
export function integerParser(bounds: { min: number; max: number }): (raw: unknown) => number {
  const expected =
    bounds.max === Number.MAX_SAFE_INTEGER
      ? `an integer ≥ ${bounds.min}`
      : `an integer from ${bounds.min} to ${bounds.max}`;
  return (raw) => {
    let value: number;
    if (typeof raw === 'number') {
      value = raw;
    } else if (typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw)) {
      value = Number(raw);
    } else {
      throw new Error(`expected ${expected}`);
    }
    if (!Number.isInteger(value) || value < bounds.min || value > bounds.max) {
      throw new Error(`expected ${expected}`);
    }
    return value;
  };
}

/**
 * Largest delay Node timers honour, in ms (2³¹−1, about 24.8 days): a larger one fires after
 * 1 ms instead, which would turn a typo into a reconnect or ping storm.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration in ms: an integer from 1 to {@link MAX_TIMER_MS}. */
const parseDurationMs = integerParser({ min: 1, max: MAX_TIMER_MS });

/**
 * Parses an `http://` or `https://` base URL without query or fragment (paths are appended to
 * it) and drops trailing slashes. `null` stays `null` (unset).
 */
export function parseHttpBaseUrl(raw: unknown): string | null {
  if (raw === null) return null;
  const expected = 'expected an http:// or https:// URL without query or fragment';
  if (typeof raw !== 'string') throw new Error(expected);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(expected);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) throw new Error(expected);
  return url.href.replace(/\/+$/, '');
}

// ---------------------------------------------------------------------------------------------
// The settings

/** Settings of each `AppSession`: its connection to the cloud. Numbers are ms unless stated. */
export const APP_SESSION_SETTINGS = defineSettings({
  autoReconnect: {
    default: true,
    parse: parseBoolean,
    description: 'Reconnect by itself after an abnormal close.',
  },
  maxReconnectAttempts: {
    default: 10,
    parse: integerParser({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    description: 'Retries after a drop before giving up (count; 0 = never retry).',
  },
  reconnectDelay: {
    default: 1000,
    parse: parseDurationMs,
    description: 'Base delay before the first retry, in ms; grows 1.5× per attempt, plus up to 50% jitter.',
  },
  maxReconnectDelay: {
    default: 30_000,
    parse: parseDurationMs,
    description: 'Cap on the retry delay before jitter, in ms.',
  },
  heartbeatInterval: {
    default: 15_000,
    parse: parseDurationMs,
    description: 'Time between pings to the cloud, in ms.',
  },
  heartbeatTimeout: {
    default: 45_000,
    parse: parseDurationMs,
    description: 'Silence after which the connection is declared dead and replaced, in ms.',
  },
  connectTimeout: {
    default: 5000,
    parse: parseDurationMs,
    description: 'Time allowed from opening the socket to the ack, in ms; counts as a failed attempt.',
  },
  stableAfter: {
    default: 10_000,
    parse: parseDurationMs,
    description: 'Time a connection must stay open before the retry counter resets, in ms.',
  },
  outboxLimit: {
    default: 100,
    parse: integerParser({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    description: 'Messages kept while disconnected (count); the oldest is dropped beyond it.',
  },
});

/**
 * Settings of the `AppServer`. The port is read from `TETHER_APP_PORT` rather than the derived
 * `TETHER_PORT`, so it cannot collide with the cloud's own port when both run from one shell
 * or `.env`; `PORT` is read when that is unset, because hosting platforms inject it and apps
 * written for `@mentra/sdk` conventionally use it. The default 7010 is `@mentra/sdk`'s.
 */
export const APP_SERVER_SETTINGS = defineSettings({
  port: {
    env: 'TETHER_APP_PORT',
    fallbackEnv: ['PORT'],
    default: 7010,
    parse: integerParser({ min: 0, max: 65_535 }),
    description: 'HTTP port of the app server (0 = any free port); PORT is read if TETHER_APP_PORT is unset.',
  },
  registrationRefreshMs: {
    default: 60_000,
    parse: parseDurationMs,
    description: 'Time between re-registrations of the app server with the cloud, in ms.',
  },
  cloudUrl: {
    default: null as string | null,
    parse: parseHttpBaseUrl,
    description:
      'HTTP base URL of the cloud (http://cloud.example:8002). When set, the server registers there when it listens; null: it never registers.',
  },
  serverUrl: {
    default: null as string | null,
    parse: parseHttpBaseUrl,
    description:
      'Public base URL of this app server, sent when registering (the cloud posts webhooks to it + /webhook); null: http://127.0.0.1:<port>.',
  },
});

/** Resolved AppSession settings. */
export type AppSessionSettings = SettingsOf<typeof APP_SESSION_SETTINGS>;

/** Resolved AppServer settings. */
export type AppServerSettings = SettingsOf<typeof APP_SERVER_SETTINGS>;

/**
 * Resolves the AppSession settings and checks the ones that only make sense together.
 *
 * @throws {@link ConfigError} (code `INVALID_CONFIG`).
 */
export function resolveAppSessionSettings(
  sources: SettingSources<typeof APP_SESSION_SETTINGS> = {},
): AppSessionSettings {
  const settings = resolveSettings(APP_SESSION_SETTINGS, sources);
  const issues: ConfigIssue[] = [];
  // A timeout no longer than the interval declares a healthy connection dead before its
  // first pong can arrive.
  if (settings.heartbeatTimeout <= settings.heartbeatInterval) {
    issues.push({
      setting: 'heartbeatTimeout',
      env: APP_SESSION_SETTINGS.heartbeatTimeout.env,
      source: 'combination',
      reason: `${settings.heartbeatTimeout} must be greater than heartbeatInterval (${settings.heartbeatInterval})`,
    });
  }
  if (settings.maxReconnectDelay < settings.reconnectDelay) {
    issues.push({
      setting: 'maxReconnectDelay',
      env: APP_SESSION_SETTINGS.maxReconnectDelay.env,
      source: 'combination',
      reason: `${settings.maxReconnectDelay} must be at least reconnectDelay (${settings.reconnectDelay})`,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return settings;
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

// ---------------------------------------------------------------------------------------------

interface Picked {
  raw: unknown;
  source: Exclude<SettingSource, 'default'>;
  envVar?: string;
}

function pick(
  key: string,
  def: SettingDefinition<unknown>,
  sources: SettingSources<SettingDefinitions>,
  env: Readonly<Record<string, string | undefined>>,
): Picked | undefined {
  // null counts as "not given": JSON payloads use it for "no opinion".
  const fromWebhook = sources.webhook?.[key];
  if (fromWebhook !== undefined && fromWebhook !== null) return { raw: fromWebhook, source: 'webhook' };
  const fromOptions = sources.options?.[key];
  if (fromOptions !== undefined && fromOptions !== null) return { raw: fromOptions, source: 'options' };
  for (const name of [def.env, ...(def.fallbackEnv ?? [])]) {
    const value = env[name];
    // `FOO= npm start` and empty lines in .env files set "", which means unset, not 0.
    if (value !== undefined && value.trim() !== '') return { raw: value, source: 'env', envVar: name };
  }
  return undefined;
}

function describeRaw(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(raw);
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
}
