import { describe, expect, it } from 'vitest';
import { TetherError } from '../../src/protocol/errors.js';
import {
  CLOUD_SETTINGS,
  DEVELOPMENT_ADMIN_TOKEN,
  DEVELOPMENT_JWT_SECRET,
  describeCloudSettings,
  effectivePublicUrl,
  resolveCloudConfig,
} from '../../src/cloud/config.js';
import type { ConfigError } from '../../src/sdk/config.js';

const jwtSecret = 'j'.repeat(32);
const adminToken = 'a'.repeat(16);

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

describe('cloud config', () => {
  it('resolves the documented defaults in development, with the development secrets and warnings', () => {
    const config = resolveCloudConfig({ env: {} });
    expect(config).toMatchObject({
      port: 8002,
      dbPath: './data/tether.db',
      jwtSecret: DEVELOPMENT_JWT_SECRET,
      adminToken: DEVELOPMENT_ADMIN_TOKEN,
      publicUrl: 'ws://127.0.0.1:8002',
      publicUrlDerived: true,
      gracePeriodMs: 60_000,
      heartbeatIntervalMs: 15_000,
      heartbeatTimeoutMs: 45_000,
      restartThresholdMs: 30_000,
      appReconnectWindowMs: 5_000,
      webhookTimeoutMs: 10_000,
      maxMessageBytes: 1_048_576,
      logLevel: 'info',
      nodeEnv: 'development',
      production: false,
      inspectorToken: undefined,
    });
    expect(config.warnings).toHaveLength(2);
    expect(config.warnings.join('\n')).toContain('TETHER_JWT_SECRET');
    expect(config.warnings.join('\n')).toContain('TETHER_ADMIN_TOKEN');
  });

  it('reads the exact environment names the issue gives', () => {
    const config = resolveCloudConfig({
      env: {
        PORT: '9000',
        TETHER_DB: ':memory:',
        TETHER_JWT_SECRET: jwtSecret,
        TETHER_ADMIN_TOKEN: adminToken,
        TETHER_PUBLIC_URL: 'wss://cloud.example.com/tether/',
        GRACE_PERIOD_MS: '1000',
        HEARTBEAT_INTERVAL_MS: '100',
        HEARTBEAT_TIMEOUT_MS: '300',
        RESTART_THRESHOLD_MS: '500',
        APP_RECONNECT_WINDOW_MS: '200',
        WEBHOOK_TIMEOUT_MS: '12000',
        MAX_MESSAGE_BYTES: '2048',
        LOG_LEVEL: 'DEBUG',
        NODE_ENV: 'production',
        TETHER_INSPECTOR_TOKEN: 'i'.repeat(16),
        REPLAY_WINDOW_MS: '5000',
        REPLAY_MAX_MESSAGES: '200',
        RECOVERY_CONCURRENCY: '20',
      },
    });
    expect(config).toEqual({
      port: 9000,
      dbPath: ':memory:',
      jwtSecret,
      adminToken,
      publicUrl: 'wss://cloud.example.com/tether',
      publicUrlDerived: false,
      gracePeriodMs: 1000,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 300,
      restartThresholdMs: 500,
      appReconnectWindowMs: 200,
      webhookTimeoutMs: 12_000,
      maxMessageBytes: 2048,
      logLevel: 'debug',
      nodeEnv: 'production',
      production: true,
      inspectorToken: 'i'.repeat(16),
      replayWindowMs: 5000,
      replayMaxMessages: 200,
      recoveryConcurrency: 20,
      warnings: [],
    });
  });

  it('derives the public URL from the port, and from the bound port when it is 0', () => {
    const config = resolveCloudConfig({ env: { PORT: '0' } });
    expect(config.publicUrl).toBe('ws://127.0.0.1:0');
    expect(effectivePublicUrl(config, 43_210)).toBe('ws://127.0.0.1:43210');
    const explicit = resolveCloudConfig({ env: { PORT: '0', TETHER_PUBLIC_URL: 'ws://example.com:8002' } });
    expect(effectivePublicUrl(explicit, 43_210)).toBe('ws://example.com:8002');
  });

  it('lets overrides win over the environment', () => {
    const config = resolveCloudConfig({ env: { PORT: '9000', GRACE_PERIOD_MS: '5' }, overrides: { port: 0, gracePeriodMs: 50 } });
    expect(config.port).toBe(0);
    expect(config.gracePeriodMs).toBe(50);
  });

  it('requires both secrets in production, naming each variable', () => {
    const error = configError(() => resolveCloudConfig({ env: { NODE_ENV: 'production' } }));
    expect(error.issues.map((issue) => issue.env).sort()).toEqual(['TETHER_ADMIN_TOKEN', 'TETHER_JWT_SECRET']);
    expect(error.message).toContain('TETHER_JWT_SECRET');
    expect(error.message).toContain('TETHER_ADMIN_TOKEN');
  });

  it('refuses the public development values in production', () => {
    const error = configError(() =>
      resolveCloudConfig({
        env: { NODE_ENV: 'production', TETHER_JWT_SECRET: DEVELOPMENT_JWT_SECRET, TETHER_ADMIN_TOKEN: adminToken },
      }),
    );
    expect(error.issues.map((issue) => issue.env)).toEqual(['TETHER_JWT_SECRET']);
  });

  it('refuses a JWT secret shorter than 32 bytes and a short admin token', () => {
    const error = configError(() => resolveCloudConfig({ env: { TETHER_JWT_SECRET: 'short', TETHER_ADMIN_TOKEN: 'admin' } }));
    expect(error.issues.map((issue) => issue.env).sort()).toEqual(['TETHER_ADMIN_TOKEN', 'TETHER_JWT_SECRET']);
  });

  it('reports every invalid value at once, naming the variables', () => {
    const error = configError(() =>
      resolveCloudConfig({
        env: { PORT: '70000', GRACE_PERIOD_MS: '10s', LOG_LEVEL: 'loud', TETHER_PUBLIC_URL: 'http://x', MAX_MESSAGE_BYTES: '10' },
      }),
    );
    expect(error.issues.map((issue) => issue.env).sort()).toEqual([
      'GRACE_PERIOD_MS',
      'LOG_LEVEL',
      'MAX_MESSAGE_BYTES',
      'PORT',
      'TETHER_PUBLIC_URL',
    ]);
  });

  it('refuses a heartbeat timeout not longer than the interval', () => {
    const error = configError(() => resolveCloudConfig({ env: { HEARTBEAT_INTERVAL_MS: '1000', HEARTBEAT_TIMEOUT_MS: '1000' } }));
    expect(error.issues.map((issue) => issue.env)).toEqual(['HEARTBEAT_TIMEOUT_MS']);
  });

  it('treats empty variables as unset', () => {
    expect(resolveCloudConfig({ env: { PORT: '', TETHER_JWT_SECRET: '' } })).toMatchObject({
      port: 8002,
      jwtSecret: DEVELOPMENT_JWT_SECRET,
    });
  });

  it('allows a short webhook timeout but warns outside tests', () => {
    const base = { TETHER_JWT_SECRET: jwtSecret, TETHER_ADMIN_TOKEN: adminToken, WEBHOOK_TIMEOUT_MS: '100' };
    const dev = resolveCloudConfig({ env: base });
    expect(dev.webhookTimeoutMs).toBe(100);
    expect(dev.warnings.join('\n')).toContain('WEBHOOK_TIMEOUT_MS');
    expect(resolveCloudConfig({ env: { ...base, NODE_ENV: 'test' } }).warnings).toEqual([]);
  });

  it('describes every setting with its environment variable for the README', () => {
    const rows = describeCloudSettings();
    expect(rows.map((row) => row.env)).toEqual([
      'PORT',
      'TETHER_DB',
      'TETHER_JWT_SECRET',
      'TETHER_ADMIN_TOKEN',
      'TETHER_PUBLIC_URL',
      'GRACE_PERIOD_MS',
      'HEARTBEAT_INTERVAL_MS',
      'HEARTBEAT_TIMEOUT_MS',
      'RESTART_THRESHOLD_MS',
      'APP_RECONNECT_WINDOW_MS',
      'WEBHOOK_TIMEOUT_MS',
      'MAX_MESSAGE_BYTES',
      'LOG_LEVEL',
      'NODE_ENV',
      'TETHER_INSPECTOR_TOKEN',
      'REPLAY_WINDOW_MS',
      'REPLAY_MAX_MESSAGES',
      'RECOVERY_CONCURRENCY',
    ]);
    expect(rows.find((row) => row.env === 'TETHER_PUBLIC_URL')?.default).toBe('ws://127.0.0.1:<PORT>');
    expect(rows.find((row) => row.env === 'PORT')?.default).toBe('8002');
    for (const row of rows) {
      expect(row.default, row.env).not.toBe('undefined');
      expect(row.description.length, row.env).toBeGreaterThan(0);
    }
    expect(Object.keys(CLOUD_SETTINGS)).toHaveLength(rows.length);
  });
});
