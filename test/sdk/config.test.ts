import { describe, expect, it, expectTypeOf } from 'vitest';
import { envNameFor } from '../../src/config/index.js';
import {
  APP_SERVER_SETTINGS,
  APP_SESSION_SETTINGS,
  describeSettings,
  resolveAppServerSettings,
  resolveAppSessionSettings,
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

describe('SDK config', () => {
  describe('defaults', () => {
    it('resolves the AppSession defaults with an empty environment', () => {
      expect(resolveAppSessionSettings({ env: {} })).toEqual({
        autoReconnect: true,
        maxReconnectAttempts: 10,
        reconnectDelayMs: 1000,
        maxReconnectDelayMs: 30_000,
        heartbeatIntervalMs: 15_000,
        heartbeatTimeoutMs: 45_000,
        connectTimeoutMs: 5000,
        stableMs: 10_000,
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
      expectTypeOf(resolveAppServerSettings({ env: {} }).cloudUrl).toEqualTypeOf<string | null>();
    });
  });

  describe('names', () => {
    it('reads every setting from TETHER_ + SCREAMING_SNAKE of its name', () => {
      for (const def of [...Object.values(APP_SESSION_SETTINGS), ...Object.values(APP_SERVER_SETTINGS)]) {
        expect(def.env, def.name).toBe(envNameFor(def.name));
      }
      expect(APP_SESSION_SETTINGS.heartbeatTimeoutMs.env).toBe('TETHER_HEARTBEAT_TIMEOUT_MS');
      expect(APP_SERVER_SETTINGS.port.env).toBe('TETHER_PORT');
    });

    it('names every duration …Ms', () => {
      for (const def of [...Object.values(APP_SESSION_SETTINGS), ...Object.values(APP_SERVER_SETTINGS)]) {
        if (/delay|interval|timeout|refresh|stable/i.test(def.name)) expect(def.name).toMatch(/Ms$/);
      }
    });

    it('reads the app server port from TETHER_PORT, then PORT', () => {
      expect(resolveAppServerSettings({ env: { PORT: '8080' } }).port).toBe(8080);
      expect(resolveAppServerSettings({ env: { PORT: '8080', TETHER_PORT: '9000' } }).port).toBe(9000);
      expect(resolveAppServerSettings({ env: { TETHER_PORT: '0' } }).port).toBe(0);
    });

    it('accepts @mentra/sdk’s reconnectDelay in code, the …Ms name winning', () => {
      expect(resolveAppSessionSettings({ env: {}, options: { reconnectDelay: 250 } }).reconnectDelayMs).toBe(250);
      expect(resolveAppSessionSettings({ env: {}, options: { reconnectDelay: 250, reconnectDelayMs: 400 } }).reconnectDelayMs).toBe(400);
    });
  });

  describe('precedence', () => {
    it('prefers options over environment over default', () => {
      const env = { TETHER_MAX_RECONNECT_ATTEMPTS: '5', TETHER_OUTBOX_LIMIT: '7', TETHER_STABLE_MS: '2000' };
      const settings = resolveAppSessionSettings({ env, options: { maxReconnectAttempts: 4 } });
      expect(settings.maxReconnectAttempts).toBe(4);
      expect(settings.outboxLimit).toBe(7);
      expect(settings.stableMs).toBe(2000);
      expect(settings.connectTimeoutMs).toBe(5000);
    });

    it('treats empty environment values and undefined options as unset', () => {
      const settings = resolveAppSessionSettings({
        env: { TETHER_HEARTBEAT_INTERVAL_MS: '', TETHER_CONNECT_TIMEOUT_MS: '  ' },
        options: { outboxLimit: undefined },
      });
      expect(settings.heartbeatIntervalMs).toBe(15_000);
      expect(settings.connectTimeoutMs).toBe(5000);
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

    it('reports an invalid code option with its source', () => {
      const error = catchConfigError(() => resolveAppSessionSettings({ env: {}, options: { autoReconnect: 'maybe' as never } }));
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.message).toContain('autoReconnect');
      expect(error.message).toContain('TETHER_AUTO_RECONNECT');
      expect(error.issues[0]?.source).toBe('options');
    });

    it('rejects durations that would overflow Node timers', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: { TETHER_RECONNECT_DELAY_MS: '2147483648' } }),
      );
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.issues).toEqual([expect.objectContaining({ setting: 'reconnectDelayMs' })]);
    });

    it('lists every invalid setting at once', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: { TETHER_OUTBOX_LIMIT: '0', TETHER_CONNECT_TIMEOUT_MS: '-5' } }),
      );
      expect(error.issues.map((i) => i.setting).sort()).toEqual(['connectTimeoutMs', 'outboxLimit']);
    });

    it('rejects a heartbeat timeout not longer than the interval', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: { TETHER_HEARTBEAT_INTERVAL_MS: '50000' } }),
      );
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.issues).toEqual([
        expect.objectContaining({ setting: 'heartbeatTimeoutMs', env: 'TETHER_HEARTBEAT_TIMEOUT_MS', source: 'combination' }),
      ]);
      expect(error.message).toContain('TETHER_HEARTBEAT_INTERVAL_MS');
    });

    it('rejects a maximum reconnect delay below the base delay', () => {
      const error = catchConfigError(() =>
        resolveAppSessionSettings({ env: {}, options: { reconnectDelayMs: 5000, maxReconnectDelayMs: 1000 } }),
      );
      expect(error.issues).toEqual([expect.objectContaining({ setting: 'maxReconnectDelayMs', source: 'combination' })]);
    });
  });

  describe('describeSettings', () => {
    it('lists every setting with its variables, default and description', () => {
      const rows = describeSettings({ ...APP_SESSION_SETTINGS, ...APP_SERVER_SETTINGS });
      expect(rows.map((r) => r.name)).toEqual([
        ...Object.keys(APP_SESSION_SETTINGS),
        ...Object.keys(APP_SERVER_SETTINGS),
      ]);
      expect(rows).toContainEqual(
        expect.objectContaining({ name: 'autoReconnect', env: 'TETHER_AUTO_RECONNECT', default: 'true' }),
      );
      expect(rows).toContainEqual(expect.objectContaining({ name: 'port', env: 'TETHER_PORT, PORT', default: '7010' }));
      for (const row of rows) expect(row.description.length).toBeGreaterThan(0);
    });
  });
});
