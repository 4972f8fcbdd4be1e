/**
 * The settings framework (ARCHITECTURE.md "Configuration"). Every setting is defined once — name,
 * environment variable, default, zod schema, description — and one resolver applies the
 * precedence
 *
 *   options given in code > environment variable > default,
 *
 * checks the rules that tie settings together, and reports every problem at once as one
 * `INVALID_CONFIG` error naming each bad setting and its environment variable.
 *
 * Environment names follow one rule: `TETHER_` + the setting name in SCREAMING_SNAKE_CASE
 * (`gracePeriodMs` → `TETHER_GRACE_PERIOD_MS`, see {@link envNameFor}). A setting names its
 * variable itself only to follow a platform convention (`PORT`, `NODE_ENV`). Every duration
 * setting is named `…Ms` and holds milliseconds.
 *
 * The module knows no setting of its own: `src/sdk/config.ts` and `src/cloud/config.ts` define
 * theirs with it. {@link resolveSettings} is the only place that reads `process.env`.
 */
import { z } from 'zod';
import { TetherError } from '../protocol/errors.js';

/** Where a resolved value came from, highest precedence first. */
export type SettingSource = 'options' | 'env' | 'default';

/** What {@link defineSettings} takes for each setting; its name is the key. */
export interface SettingSpec<S extends z.ZodType = z.ZodType, D = unknown> {
  /**
   * Validates and converts a raw value: a string from the environment or a value given in
   * code. Its messages say what was expected (`expected an integer from 1 to 65535`).
   */
  readonly schema: S;
  /**
   * Value used when no source sets it, or `undefined` for "unset". A defined default must pass
   * {@link schema}; {@link defineSettings} throws otherwise.
   */
  readonly default: D;
  /** One line for users, with the unit of numbers. */
  readonly description: string;
  /**
   * Environment variable, only where a platform convention overrides the rule (`PORT`,
   * `NODE_ENV`); otherwise `TETHER_` + SCREAMING_SNAKE of the name.
   */
  readonly env?: string;
  /** Further variables read, in order, when {@link env} is unset (a convention like `PORT`). */
  readonly fallbackEnv?: readonly string[];
  /** Other names accepted in code options, after the name (`@mentra/sdk`'s `reconnectDelay`). */
  readonly aliases?: readonly string[];
  /**
   * The default as documentation shows it, where {@link default} is unset or filled in later
   * (`ws://127.0.0.1:<PORT>`).
   */
  readonly documentedDefault?: string;
}

/** One setting, as {@link defineSettings} builds it. `T` is its resolved type. */
export interface SettingDefinition<T = unknown> {
  /** Property name in code options (`maxReconnectAttempts`). */
  readonly name: string;
  /** Environment variable (`TETHER_MAX_RECONNECT_ATTEMPTS`). */
  readonly env: string;
  /** Variables read, in order, when {@link env} is unset. */
  readonly fallbackEnv: readonly string[];
  /** Other names accepted in code options. */
  readonly aliases: readonly string[];
  /** Value used when no source sets it; `undefined` means unset. */
  readonly default: T;
  /** Validator and converter of raw values. */
  readonly schema: z.ZodType;
  /** One line for users. */
  readonly description: string;
  /** The default as documentation shows it. */
  readonly documentedDefault: string;
}

/** A set of setting definitions keyed by name. */
export type SettingDefinitions = { readonly [name: string]: SettingDefinition };

/** The resolved values of a set of definitions. */
export type SettingsOf<D extends SettingDefinitions> = {
  -readonly [K in keyof D]: D[K] extends SettingDefinition<infer T> ? T : never;
};

/** Raw, unvalidated values for some settings of `D`, as given in code. */
export type RawSettings<D extends SettingDefinitions> = { readonly [K in keyof D]?: unknown };

/** The sources {@link resolveSettings} reads. */
export interface SettingSources<D extends SettingDefinitions> {
  /**
   * Values given in code (`new AppServer({ port })`). They win over the environment, as in most
   * libraries: a value written in code is never silently replaced. `undefined` and `null` count
   * as not given.
   */
  options?: RawSettings<D>;
  /** Environment; `process.env` when omitted. Empty and blank strings count as unset. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * A rule between settings, checked once each value is valid on its own, as a zod refinement of
 * the whole set. When it fails, {@link setting} is reported with {@link reason}.
 */
export interface SettingsRule<V> {
  /** The setting reported as invalid (`heartbeatTimeoutMs`). */
  readonly setting: keyof V & string;
  /** True when the values are acceptable together. */
  readonly holds: (settings: V) => boolean;
  /** Why they are not (`45000 must be greater than …`), naming the other settings involved. */
  readonly reason: (settings: V) => string;
}

/** One invalid value, as listed on a {@link ConfigError}. */
export interface ConfigIssue {
  /** Setting name. */
  setting: string;
  /** Environment variable of the setting (the one actually read, for a fallback). */
  env: string;
  /** Where the bad value came from; `combination` for a broken {@link SettingsRule}. */
  source: Exclude<SettingSource, 'default'> | 'combination';
  reason: string;
}

const SOURCE_LABEL: Record<ConfigIssue['source'], string> = {
  options: 'from code options',
  env: 'from the environment',
  combination: 'in combination',
};

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

/** The value type a spec resolves to: its schema's output, or its default (`undefined`: unset). */
type ValueOfSpec<P> = P extends SettingSpec<infer S, infer D> ? z.output<S> | D : never;

/**
 * Builds definitions from specs keyed by setting name, deriving each environment variable with
 * {@link envNameFor} unless the spec names one.
 *
 * @throws Error when a defined default does not pass its own schema (a programming error, seen
 *   at import).
 */
export function defineSettings<const S extends { readonly [name: string]: SettingSpec }>(
  specs: S,
): { readonly [K in keyof S]: SettingDefinition<ValueOfSpec<S[K]>> } {
  const out: Record<string, SettingDefinition> = {};
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.default !== undefined && !spec.schema.safeParse(spec.default).success) {
      throw new Error(`default of setting "${name}" does not pass its schema: ${JSON.stringify(spec.default)}`);
    }
    out[name] = {
      name,
      env: spec.env ?? envNameFor(name),
      fallbackEnv: spec.fallbackEnv ?? [],
      aliases: spec.aliases ?? [],
      default: spec.default,
      schema: spec.schema,
      description: spec.description,
      documentedDefault: spec.documentedDefault ?? String(spec.default),
    };
  }
  return out as never;
}

/** The environment variable of a setting by the rule: `maxReconnectAttempts` → `TETHER_MAX_RECONNECT_ATTEMPTS`. */
export function envNameFor(name: string): string {
  return `TETHER_${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

const NO_RULES: readonly never[] = Object.freeze([]);

/**
 * Resolves every setting of `definitions`: options > environment > default, each value through
 * its schema, then `rules` over the whole set. All invalid values are collected and reported
 * together, so a misconfigured deployment is fixed in one round rather than one variable per
 * restart; the rules run once every value is valid on its own.
 *
 * @param rules - cross-field rules; pass a module-level constant (the compiled schema is cached
 *   per definitions and rules)
 * @throws {@link ConfigError} (code `INVALID_CONFIG`) whose message names each bad setting, its
 *   environment variable, and where the bad value came from.
 */
export function resolveSettings<D extends SettingDefinitions>(
  definitions: D,
  sources: SettingSources<D> = {},
  rules: readonly SettingsRule<SettingsOf<D>>[] = NO_RULES,
): SettingsOf<D> {
  const env = sources.env ?? process.env;
  const input: Record<string, unknown> = {};
  const picked = new Map<string, Picked>();
  for (const [key, def] of Object.entries(definitions)) {
    const found = pick(def, sources.options, env);
    if (found === undefined) continue;
    input[key] = found.raw;
    picked.set(key, found);
  }

  const result = compiledSchema(definitions, rules).safeParse(input);
  if (!result.success) throw new ConfigError(issuesOf(definitions, result.error.issues, picked));
  const settings = result.data as Record<string, unknown>;
  // zod leaves out optional keys that had no value; every setting is present in the result.
  for (const [key, def] of Object.entries(definitions)) if (!(key in settings)) settings[key] = def.default;
  return settings as SettingsOf<D>;
}

/** One row of a README configuration table. */
export interface SettingRow {
  name: string;
  /** The variables read, in order, comma-separated (`TETHER_PORT, PORT`). */
  env: string;
  /** The default as documented. */
  default: string;
  description: string;
}

/** Rows of a README configuration table: name, environment variables, default, description. */
export function describeSettings(definitions: SettingDefinitions): SettingRow[] {
  return Object.values(definitions).map((def) => ({
    name: def.name,
    env: [def.env, ...def.fallbackEnv].join(', '),
    default: def.documentedDefault,
    description: def.description,
  }));
}

// ---------------------------------------------------------------------------------------------

interface Picked {
  raw: unknown;
  source: Exclude<SettingSource, 'default'>;
  /** The variable read, for a value from the environment. */
  envVar?: string;
}

function pick(
  def: SettingDefinition,
  options: Readonly<Record<string, unknown>> | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Picked | undefined {
  for (const name of [def.name, ...def.aliases]) {
    const value = options?.[name];
    if (value !== undefined && value !== null) return { raw: value, source: 'options' };
  }
  for (const name of [def.env, ...def.fallbackEnv]) {
    const value = env[name];
    // `FOO= npm start` and empty lines in .env files set "", which means unset, not 0.
    if (value !== undefined && value.trim() !== '') return { raw: value, source: 'env', envVar: name };
  }
  return undefined;
}

/** Marks the issues raised by rules, as against a custom check inside one setting's schema. */
const RULE_ISSUE = 'tether.settingsRule';

const compiled = new WeakMap<SettingDefinitions, WeakMap<readonly SettingsRule<never>[], z.ZodType>>();

/** The object schema of a whole set of settings, with defaults and the rules as a refinement. */
function compiledSchema(definitions: SettingDefinitions, rules: readonly SettingsRule<never>[]): z.ZodType {
  let byRules = compiled.get(definitions);
  if (!byRules) compiled.set(definitions, (byRules = new WeakMap()));
  let schema = byRules.get(rules);
  if (schema) return schema;

  const shape: Record<string, z.ZodType> = {};
  for (const [key, def] of Object.entries(definitions)) {
    // A default is taken as it is (it was checked by defineSettings); `undefined` stays unset.
    shape[key] = def.default === undefined ? def.schema.optional() : def.schema.default(def.default as never);
  }
  schema = z.object(shape).superRefine(
    (settings, ctx) => {
      for (const rule of rules as readonly SettingsRule<Record<string, unknown>>[]) {
        if (rule.holds(settings)) continue;
        ctx.addIssue({ code: 'custom', path: [rule.setting], message: rule.reason(settings), params: { [RULE_ISSUE]: true } });
      }
    },
    // zod would run the rules after a continuable issue (a number out of range) too, judging a
    // combination on a value already reported as invalid.
    { when: (payload) => payload.issues.length === 0 },
  );
  byRules.set(rules, schema);
  return schema;
}

function issuesOf(
  definitions: SettingDefinitions,
  zodIssues: readonly z.core.$ZodIssue[],
  picked: ReadonlyMap<string, Picked>,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const reported = new Set<string>();
  for (const issue of zodIssues) {
    const key = String(issue.path[0]);
    const def = definitions[key];
    if (!def) continue;
    if (issue.code === 'custom' && issue.params?.[RULE_ISSUE] === true) {
      issues.push({ setting: def.name, env: def.env, source: 'combination', reason: issue.message });
      continue;
    }
    // One line per bad value: a value can break several checks of its schema at once.
    if (reported.has(key)) continue;
    reported.add(key);
    const found = picked.get(key);
    issues.push({
      setting: def.name,
      env: found?.envVar ?? def.env,
      source: found?.source ?? 'options',
      reason: `${describeRaw(found?.raw)} is invalid: ${issue.message}`,
    });
  }
  return issues;
}

function describeRaw(raw: unknown): string {
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
}
