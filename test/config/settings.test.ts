import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  MAX_TIMER_MS,
  baseUrlSchema,
  booleanSchema,
  defineSettings,
  describeSettings,
  durationMsSchema,
  envNameFor,
  integerSchema,
  oneOfSchema,
  resolveSettings,
  secretSchema,
  type ConfigError,
  type SettingsOf,
  type SettingsRule,
} from '../../src/config/index.js';
import { TetherError } from '../../src/protocol/errors.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TetherError);
    expect((error as TetherError).code).toBe('INVALID_CONFIG');
    return error as ConfigError;
  }
  throw new Error('expected an INVALID_CONFIG error');
}

const defs = defineSettings({
  gracePeriodMs: { default: 60_000, schema: durationMsSchema(), description: 'Grace, in ms.' },
  intervalMs: { default: 100, schema: durationMsSchema(), description: 'Interval, in ms.' },
  timeoutMs: { default: 300, schema: durationMsSchema(), aliases: ['timeout'], description: 'Timeout, in ms.' },
  verbose: { default: false, schema: booleanSchema(), description: 'Chatty logs.' },
  port: { env: 'PORT', default: 8080, schema: integerSchema({ min: 0, max: 65_535 }), description: 'Port.' },
  token: { default: undefined, schema: secretSchema(4), documentedDefault: 'unset', description: 'A token.' },
  homeUrl: { default: null, schema: baseUrlSchema(['http', 'https']).nullable(), description: 'Base URL.' },
});
type Values = SettingsOf<typeof defs>;
const rules: readonly SettingsRule<Values>[] = [
  {
    setting: 'timeoutMs',
    holds: (s) => s.timeoutMs > s.intervalMs,
    reason: (s) => `${s.timeoutMs} must be greater than intervalMs (${s.intervalMs})`,
  },
];

describe('settings framework', () => {
  describe('environment names', () => {
    it('derives TETHER_ + SCREAMING_SNAKE of the name', () => {
      expect(envNameFor('maxReconnectAttempts')).toBe('TETHER_MAX_RECONNECT_ATTEMPTS');
      expect(envNameFor('gracePeriodMs')).toBe('TETHER_GRACE_PERIOD_MS');
      expect(envNameFor('port')).toBe('TETHER_PORT');
      expect(defs.gracePeriodMs.env).toBe('TETHER_GRACE_PERIOD_MS');
      expect(defs.port.env).toBe('PORT');
    });
  });

  describe('resolution', () => {
    it('types each setting by its schema and default', () => {
      const values = resolveSettings(defs, { env: {} });
      expectTypeOf(values.gracePeriodMs).toEqualTypeOf<number>();
      expectTypeOf(values.verbose).toEqualTypeOf<boolean>();
      expectTypeOf(values.token).toEqualTypeOf<string | undefined>();
      expectTypeOf(values.homeUrl).toEqualTypeOf<string | null>();
    });

    it('resolves every default, unset ones as undefined', () => {
      expect(resolveSettings(defs, { env: {} })).toEqual({
        gracePeriodMs: 60_000,
        intervalMs: 100,
        timeoutMs: 300,
        verbose: false,
        port: 8080,
        token: undefined,
        homeUrl: null,
      });
      expect(Object.keys(resolveSettings(defs, { env: {} }))).toContain('token');
    });

    it('prefers options over the environment over the default', () => {
      const values = resolveSettings(defs, {
        env: { TETHER_GRACE_PERIOD_MS: '500', TETHER_INTERVAL_MS: '50', PORT: '9000' },
        options: { gracePeriodMs: 700 },
      });
      expect(values).toMatchObject({ gracePeriodMs: 700, intervalMs: 50, port: 9000, timeoutMs: 300 });
    });

    it('accepts an alias in options, after the name', () => {
      expect(resolveSettings(defs, { env: {}, options: { timeout: 400 } as never }).timeoutMs).toBe(400);
      expect(resolveSettings(defs, { env: {}, options: { timeout: 400, timeoutMs: 500 } as never }).timeoutMs).toBe(500);
    });

    it('treats empty environment values and undefined or null options as unset', () => {
      const values = resolveSettings(defs, {
        env: { TETHER_GRACE_PERIOD_MS: '', TETHER_INTERVAL_MS: '  ' },
        options: { verbose: undefined, homeUrl: null },
      });
      expect(values).toMatchObject({ gracePeriodMs: 60_000, intervalMs: 100, verbose: false, homeUrl: null });
    });

    it('reads process.env when no environment is given', () => {
      const saved = process.env['TETHER_VERBOSE'];
      process.env['TETHER_VERBOSE'] = 'true';
      try {
        expect(resolveSettings(defs).verbose).toBe(true);
      } finally {
        if (saved === undefined) delete process.env['TETHER_VERBOSE'];
        else process.env['TETHER_VERBOSE'] = saved;
      }
    });

    it('refuses a default that does not pass its own schema', () => {
      expect(() => defineSettings({ bad: { default: 0, schema: durationMsSchema(), description: 'x' } })).toThrow(/bad/);
    });
  });

  describe('invalid values', () => {
    it('names the setting, its variable, the source and the raw value', () => {
      const error = configError(() => resolveSettings(defs, { env: { TETHER_GRACE_PERIOD_MS: '10s' } }));
      expect(error.message).toContain('gracePeriodMs');
      expect(error.message).toContain('TETHER_GRACE_PERIOD_MS');
      expect(error.message).toContain('"10s"');
      expect(error.message).toContain('from the environment');
      expect(error.issues).toEqual([
        expect.objectContaining({ setting: 'gracePeriodMs', env: 'TETHER_GRACE_PERIOD_MS', source: 'env' }),
      ]);
    });

    it('reports a bad code option with its source', () => {
      const error = configError(() => resolveSettings(defs, { env: {}, options: { verbose: 'maybe' } }));
      expect(error.issues).toEqual([expect.objectContaining({ setting: 'verbose', env: 'TETHER_VERBOSE', source: 'options' })]);
      expect(error.message).toContain('from code options');
    });

    it('lists every invalid setting at once, one line each', () => {
      const error = configError(() =>
        resolveSettings(defs, { env: { TETHER_INTERVAL_MS: '0.5', PORT: '-1', TETHER_TOKEN: 'ab', TETHER_HOME_URL: 'ftp://x' } }),
      );
      expect(error.issues.map((i) => i.setting).sort()).toEqual(['homeUrl', 'intervalMs', 'port', 'token']);
    });

    it('checks cross-field rules once every value is valid, as combination issues', () => {
      const error = configError(() => resolveSettings(defs, { env: { TETHER_INTERVAL_MS: '300' } }, rules));
      expect(error.issues).toEqual([
        { setting: 'timeoutMs', env: 'TETHER_TIMEOUT_MS', source: 'combination', reason: '300 must be greater than intervalMs (300)' },
      ]);
      expect(error.message).toContain('in combination');
      // A bad value is reported alone: the rule cannot be judged on it.
      const bad = configError(() => resolveSettings(defs, { env: { TETHER_INTERVAL_MS: 'x' } }, rules));
      expect(bad.issues.map((i) => i.source)).toEqual(['env']);
    });
  });

  describe('schemas', () => {
    it('reads integers from numbers and decimal strings only', () => {
      const schema = integerSchema({ min: 0, max: 100 });
      expect(schema.parse('42')).toBe(42);
      expect(schema.parse(' 7 ')).toBe(7);
      expect(schema.parse(0)).toBe(0);
      for (const bad of ['', 'abc', '-1', '1.5', '10s', '1e2', '0x10', 'NaN', Number.NaN, -3, 2.5, 101, true, {}]) {
        expect(schema.safeParse(bad).success, `value ${JSON.stringify(bad)}`).toBe(false);
      }
      expect(schema.safeParse('101').error?.issues[0]?.message).toBe('expected an integer from 0 to 100');
    });

    it('rejects durations that would overflow Node timers', () => {
      expect(durationMsSchema().parse(String(MAX_TIMER_MS))).toBe(MAX_TIMER_MS);
      expect(durationMsSchema().safeParse(String(MAX_TIMER_MS + 1)).success).toBe(false);
      expect(durationMsSchema().safeParse(0).success).toBe(false);
    });

    it('reads booleans from true/false/1/0, unlike z.coerce.boolean', () => {
      const schema = booleanSchema();
      expect(schema.parse('true')).toBe(true);
      expect(schema.parse(' TRUE ')).toBe(true);
      expect(schema.parse('1')).toBe(true);
      expect(schema.parse('false')).toBe(false);
      expect(schema.parse('0')).toBe(false);
      expect(schema.parse(false)).toBe(false);
      for (const bad of ['yes', '', 1, null]) expect(schema.safeParse(bad).success, String(bad)).toBe(false);
      expect(z.coerce.boolean().parse('false')).toBe(true);
    });

    it('reads base URLs without query or fragment, trailing slash dropped', () => {
      const schema = baseUrlSchema(['http', 'https']);
      expect(schema.parse(' https://apps.example/notify/ ')).toBe('https://apps.example/notify');
      for (const bad of ['ws://x', 'http://a.example/?x=1', 'http://a.example/#f', 'not a url', 3]) {
        expect(schema.safeParse(bad).success, String(bad)).toBe(false);
      }
    });

    it('reads one of a list case-insensitively', () => {
      const schema = oneOfSchema(['info', 'debug']);
      expect(schema.parse(' DEBUG ')).toBe('debug');
      expect(schema.safeParse('loud').error?.issues[0]?.message).toBe('expected one of info, debug');
    });

    it('measures secrets in UTF-8 bytes and keeps them verbatim', () => {
      expect(secretSchema(4).parse(' é ')).toBe(' é ');
      expect(secretSchema(5).safeParse('éé').success).toBe(false);
    });
  });

  describe('describeSettings', () => {
    it('lists every setting with its variables, documented default and description', () => {
      const rows = describeSettings(defs);
      expect(rows.map((r) => r.name)).toEqual(Object.keys(defs));
      expect(rows).toContainEqual({ name: 'port', env: 'PORT', default: '8080', description: 'Port.' });
      expect(rows.find((r) => r.name === 'token')?.default).toBe('unset');
      expect(rows.find((r) => r.name === 'homeUrl')?.default).toBe('null');
    });
  });
});
