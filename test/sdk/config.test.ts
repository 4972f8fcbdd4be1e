import { describe, expect, it, expectTypeOf } from 'vitest';
import {
  APP_SERVER_SETTINGS,
  APP_SESSION_SETTINGS,
  defineSettings,
  describeSettings,
  envNameFor,
  integerParser,
  parseBoolean,
  resolveAppServerSettings,
  resolveAppSessionSettings,
  resolveSettings,
  type AppSessionSettings,
  type ConfigError,
} from '../../src/sdk/config.js';

function catchConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    return error as ConfigError;
  }
  throw new Error('expected an INVALID_CONFIG error');
}

describe('config', () => {
  describe('defaults', () => {
    it('resolves the AppSession defaults with an empty environment', () => {
      expect(resolveAppSessionSettings({ env: {} })).toEqual({
        autoReconnect: true,
        maxReconnectAttempts: 10,
        reconnectDelay: 1000,
        maxReconnectDelay: 30_000,
        heartbeatInterval: 15_000,
        heartbeatTimeout: 45_000,
        connectTimeout: 5000,
        stableAfter: 10_000,
        outboxLimit: 100,
      });
    });

    it('resolves the AppServer defaults with an empty environment', () => {
      expect(resolveAppServerSettings({ env: {} })).toEqual({
        port: 7010,
        registrationRefreshMs: 60_000,
        cloudUrl: null,
        serverUrl: null,
      });
    });

    it('reads the cloud and server URLs as http(s) bases, trailing slash dropped', () => {
      const settings = resolveAppServerSettings({
        env: { TETHER_CLOUD_URL: 'http://127.0.0.1:8002/', TETHER_SERVER_URL: 'https://apps.example/notify/' },
      });
      expect(settings).toMatchObject({ cloudUrl: 'http://127.0.0.1:8002', serverUrl: 'https://apps.example/notify' });
      expect(() => resolveAppServerSettings({ env: { TETHER_CLOUD_URL: 'ws://127.0.0.1:8002' } })).toThrow(/TETHER_CLOUD_URL/);
      expect(() => resolveAppServerSettings({ options: { serverUrl: 'http://a.example/?x=1' } })).toThrow(/serverUrl/);
    });

    it('types each setting by its definition', () => {
      const settings = resolveAppSessionSettings({ env: {} });
      expectTypeOf(settings).toEqualTypeOf<AppSessionSettings>();
      expectTypeOf(settings.autoReconnect).toEqualTypeOf<boolean>();
      expectTypeOf(settings.outboxLimit).toEqualTypeOf<number>();
    });
  });

  describe('environment names', () => {
    it('derives TETHER_ + SCREAMING_SNAKE of the name', () => {
      expect(envNameFor('maxReconnectAttempts')).toBe('TETHER_MAX_RECONNECT_ATTEMPTS');
      expect(APP_SESSION_SETTINGS.autoReconnect.env).toBe('TETHER_AUTO_RECONNECT');
      expect(APP_SESSION_SETTINGS.heartbeatTimeout.env).toBe('TETHER_HEARTBEAT_TIMEOUT');
      expect(APP_SERVER_SETTINGS.registrationRefreshMs.env).toBe('TETHER_REGISTRATION_REFRESH_MS');
    });

    it('reads the app server port from TETHER_APP_PORT, then PORT', () => {
      expect(resolveAppServerSettings({ env: { PORT: '8080' } }).port).toBe(8080);
      expect(resolveAppServerSettings({ env: { PORT: '8080', TETHER_APP_PORT: '9000' } }).port).toBe(9000);
      expect(resolveAppServerSettings({ env: { TETHER_APP_PORT: '0' } }).port).toBe(0);
    });
  });

  describe('precedence', () => {
    it('prefers webhook over options over environment over default', () => {
      const env = { TETHER_MAX_RECONNECT_ATTEMPTS: '5', TETHER_OUTBOX_LIMIT: '7', TETHER_STABLE_AFTER: '2000' };
      const settings = resolveAppSessionSettings({
        env,
        options: { maxReconnectAttempts: 4, outboxLimit: 8 },
        webhook: { maxReconnectAttempts: 3 },
      });
      expect(settings.maxReconnectAttempts).toBe(3);
      expect(settings.outboxLimit).toBe(8);
      expect(settings.stableAfter).toBe(2000);
      expect(settings.connectTimeout).toBe(5000);
    });

    it('treats empty environment values and null webhook values as unset', () => {
      const settings = resolveAppSessionSettings({
        env: { TETHER_HEARTBEAT_INTERVAL: '', TETHER_CONNECT_TIMEOUT: '  ' },
        webhook: { outboxLimit: null },
      });
      expect(settings.heartbeatInterval).toBe(15_000);
      expect(settings.connectTimeout).toBe(5000);
      expect(settings.outboxLimit).toBe(100);
    });

    it('reads process.env when no environment is given', () => {
      const saved = process.env['TETHER_AUTO_RECONNECT'];
      process.env['TETHER_AUTO_RECONNECT'] = 'false';
      try {
        expect(resolveAppSessionSettings().autoReconnect).toBe(false);
      } finally {
        if (saved === undefined) delete process.env['TETHER_AUTO_RECONNECT'];
        else process.env['TETHER_AUTO_RECONNECT'] = saved;
      }
    });
  });

  describe('parsing', () => {
    it('parses booleans from true/false/1/0', () => {
      expect(parseBoolean('true')).toBe(true);
      expect(parseBoolean(' TRUE ')).toBe(true);
      expect(parseBoolean('1')).toBe(true);
      expect(parseBoolean('false')).toBe(false);
      expect(parseBoolean('0')).toBe(false);
      expect(parseBoolean(false)).toBe(false);
      expect(() => parseBoolean('yes')).toThrow();
      expect(() => parseBoolean(1)).toThrow();
    });

    it('parses integers and rejects NaN, negatives, fractions and trailing junk', () => {
      const parse = integerParser({ min: 0, max: 100 });
      expect(parse('42')).toBe(42);
      expect(parse(' 7 ')).toBe(7);
      expect(parse(0)).toBe(0);
      for (const bad of ['abc', '-1', '1.5', '10s', '1e2', '0x10', 'NaN', Number.NaN, -3, 2.5, 101, true, {}]) {
        expect(() => parse(bad), `value ${String(bad)}`).toThrow();
      }
    });

    it('rejects durations that would overflow Node timers', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: { TETHER_RECONNECT_DELAY: '2147483648' } }),
      );
      expect(error.code).toBe('INVALID_CONFIG');
    });
  });

  describe('invalid values', () => {
    it('throws INVALID_CONFIG naming the setting and its environment variable', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: { TETHER_MAX_RECONNECT_ATTEMPTS: 'lots' } }),
      );
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.message).toContain('maxReconnectAttempts');
      expect(error.message).toContain('TETHER_MAX_RECONNECT_ATTEMPTS');
      expect(error.message).toContain('"lots"');
      expect(error.issues).toEqual([
        expect.objectContaining({ setting: 'maxReconnectAttempts', env: 'TETHER_MAX_RECONNECT_ATTEMPTS', source: 'env' }),
      ]);
    });

    it('names the variable that was actually read', () => {
      const error = catchConfigError(() => resolveAppServerSettings({ env: { PORT: '70000' } }));
      expect(error.issues).toEqual([expect.objectContaining({ setting: 'port', env: 'PORT', source: 'env' })]);
    });

    it('reports an invalid webhook value with its source', () => {
      const error = catchConfigError(() => resolveAppSessionSettings({ env: {}, webhook: { autoReconnect: 'maybe' } }));
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.message).toContain('autoReconnect');
      expect(error.message).toContain('TETHER_AUTO_RECONNECT');
      expect(error.issues[0]?.source).toBe('webhook');
    });

    it('lists every invalid setting at once', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: { TETHER_OUTBOX_LIMIT: '0', TETHER_CONNECT_TIMEOUT: '-5' } }),
      );
      expect(error.issues.map((i) => i.setting).sort()).toEqual(['connectTimeout', 'outboxLimit']);
    });

    it('rejects a heartbeat timeout not longer than the interval', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: { TETHER_HEARTBEAT_INTERVAL: '50000' } }),
      );
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.issues).toEqual([expect.objectContaining({ setting: 'heartbeatTimeout', source: 'combination' })]);
      expect(error.message).toContain('heartbeatInterval');
    });

    it('rejects a maximum reconnect delay below the base delay', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: {}, options: { reconnectDelay: 5000, maxReconnectDelay: 1000 } }),
      );
      expect(error.issues).toEqual([expect.objectContaining({ setting: 'maxReconnectDelay' })]);
    });
  });

  describe('generic definitions', () => {
    it('resolves any set of definitions', () => {
      const defs = defineSettings({
        gracePeriodMs: { default: 60_000, parse: integerParser({ min: 1, max: 1e9 }), description: 'Grace, in ms.' },
        verbose: { env: 'MY_VERBOSE', default: false, parse: parseBoolean, description: 'Chatty logs.' },
      });
      expect(defs.gracePeriodMs.env).toBe('TETHER_GRACE_PERIOD_MS');
      expect(resolveSettings(defs, { env: { MY_VERBOSE: '1', TETHER_GRACE_PERIOD_MS: '500' } })).toEqual({
        gracePeriodMs: 500,
        verbose: true,
      });
    });
  });

  describe('describeSettings', () => {
    it('lists every setting with its variable, default and description', () => {
      const rows = describeSettings();
      expect(rows.map((r) => r.name)).toEqual([
        ...Object.keys(APP_SESSION_SETTINGS),
        ...Object.keys(APP_SERVER_SETTINGS),
      ]);
      expect(rows).toContainEqual(
        expect.objectContaining({ name: 'autoReconnect', env: 'TETHER_AUTO_RECONNECT', default: 'true' }),
      );
      expect(rows).toContainEqual(expect.objectContaining({ name: 'port', env: 'TETHER_APP_PORT, PORT', default: '7010' }));
      for (const row of rows) expect(row.description.length).toBeGreaterThan(0);
    });
  });
});
