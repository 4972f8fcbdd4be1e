import { describe, expect, expectTypeOf, it } from 'vitest';
import { TetherError } from '../../src/protocol/errors.js';
import {
  CLOUD_SETTINGS,
  DEVELOPMENT_ADMIN_TOKEN,
  DEVELOPMENT_JWT_SECRET,
  describeCloudSettings,
  effectivePublicUrl,
  resolveCloudConfig,
  sessionConfigOf,
  type LogLevel,
} from '../../src/cloud/config.js';
import { envNameFor, type ConfigError } from '../../src/config/index.js';
import { defaultSessionConfig } from '../../machines/policy/sessionConfig.js';

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
      appPatienceMs: 600_000,
      appReleaseWaitMs: 30_000,
      webhookRetryMaxDelayMs: 10_000,
      circuitProbeMaxDelayMs: 5_000,
      webhookTimeoutMs: 10_000,
      handshakeTimeoutMs: 10_000,
      maxMessageBytes: 1_048_576,
      maxJsonDepth: 64,
      socketMessagesPerSecond: 500,
      socketBytesPerSecond: 4_194_304,
      userMessagesPerSecond: 2_000,
      userBytesPerSecond: 16_777_216,
      socketHighWaterBytes: 1_048_576,
      congestionLimitMs: 20_000,
      logLevel: 'info',
      nodeEnv: 'development',
      production: false,
      inspectorToken: undefined,
      replayWindowMs: 30_000,
      replayMaxMessages: 1_000,
      replayMaxBytes: 4_194_304,
      replayBudgetBytes: 268_435_456,
      screenMemoryMaxBytes: 262_144,
      screenMemoryBudgetBytes: 67_108_864,
      recoveryConcurrency: 50,
      maxPendingSockets: 1_000,
      connectionsPerAddressPerMinute: 600,
      maxConnections: 0,
      headersTimeoutMs: 10_000,
      simpleStorageMaxBytes: 1_048_576,
      simpleStorageMaxValueBytes: 100_000,
      simpleStorageRequestsPerMinute: 120,
      tlsCert: undefined,
      tlsKey: undefined,
      photoRequestTimeoutMs: 25_000,
      audioRequestTimeoutMs: 55_000,
      glassesRequestTimeoutMs: 10_000,
      maxPendingRequestsPerSession: 32,
    });
    expectTypeOf(config.logLevel).toEqualTypeOf<LogLevel>();
    expectTypeOf(config.inspectorToken).toEqualTypeOf<string | undefined>();
    expectTypeOf(config.jwtSecret).toEqualTypeOf<string>();
    expect(config.warnings).toHaveLength(2);
    expect(config.warnings.join('\n')).toContain('TETHER_JWT_SECRET');
    expect(config.warnings.join('\n')).toContain('TETHER_ADMIN_TOKEN');
  });

  it('reads each setting from its documented environment variable', () => {
    const config = resolveCloudConfig({
      env: {
        PORT: '9000',
        TETHER_DB: ':memory:',
        TETHER_JWT_SECRET: jwtSecret,
        TETHER_ADMIN_TOKEN: adminToken,
        TETHER_PUBLIC_URL: 'wss://cloud.example.com/tether/',
        TETHER_GRACE_PERIOD_MS: '1000',
        TETHER_HEARTBEAT_INTERVAL_MS: '100',
        TETHER_HEARTBEAT_TIMEOUT_MS: '300',
        TETHER_RESTART_THRESHOLD_MS: '500',
        TETHER_APP_RECONNECT_WINDOW_MS: '200',
        TETHER_WEBHOOK_TIMEOUT_MS: '12000',
        TETHER_APP_PATIENCE_MS: '300000',
        TETHER_APP_RELEASE_WAIT_MS: '20000',
        TETHER_WEBHOOK_RETRY_MAX_DELAY_MS: '8000',
        TETHER_CIRCUIT_PROBE_MAX_DELAY_MS: '3000',
        TETHER_HANDSHAKE_TIMEOUT_MS: '3000',
        TETHER_MAX_MESSAGE_BYTES: '2048',
        TETHER_MAX_JSON_DEPTH: '32',
        TETHER_SOCKET_MESSAGES_PER_SECOND: '0',
        TETHER_SOCKET_BYTES_PER_SECOND: '0',
        TETHER_USER_MESSAGES_PER_SECOND: '100',
        TETHER_USER_BYTES_PER_SECOND: '100000',
        TETHER_SOCKET_HIGH_WATER_BYTES: '65536',
        TETHER_CONGESTION_LIMIT_MS: '5000',
        TETHER_LOG_LEVEL: 'DEBUG',
        NODE_ENV: 'production',
        TETHER_INSPECTOR_TOKEN: 'i'.repeat(16),
        TETHER_REPLAY_WINDOW_MS: '5000',
        TETHER_REPLAY_MAX_MESSAGES: '200',
        TETHER_REPLAY_MAX_BYTES: '65536',
        TETHER_REPLAY_BUDGET_BYTES: '1048576',
        TETHER_SCREEN_MEMORY_MAX_BYTES: '65536',
        TETHER_SCREEN_MEMORY_BUDGET_BYTES: '1048576',
        TETHER_RECOVERY_CONCURRENCY: '20',
        TETHER_HOST: '0.0.0.0',
        TETHER_OUTBOUND_POLICY: 'PRIVATE',
        TETHER_MAX_TOKEN_LIFETIME_MS: '3600000',
        TETHER_MAX_RUNNING_APPS: '8',
        TETHER_APP_CONTROL_PER_MINUTE: '0',
        TETHER_MAX_PENDING_SOCKETS: '10',
        TETHER_CONNECTIONS_PER_ADDRESS_PER_MINUTE: '0',
        TETHER_MAX_CONNECTIONS: '500',
        TETHER_HEADERS_TIMEOUT_MS: '2000',
        TETHER_SIMPLE_STORAGE_MAX_BYTES: '4096',
        TETHER_SIMPLE_STORAGE_MAX_VALUE_BYTES: '1024',
        TETHER_SIMPLE_STORAGE_REQUESTS_PER_MINUTE: '0',
        TETHER_TLS_CERT: '/etc/tether/cert.pem',
        TETHER_TLS_KEY: '/etc/tether/key.pem',
        TETHER_PHOTO_REQUEST_TIMEOUT_MS: '1000',
        TETHER_AUDIO_REQUEST_TIMEOUT_MS: '2000',
        TETHER_GLASSES_REQUEST_TIMEOUT_MS: '3000',
        TETHER_MAX_PENDING_REQUESTS_PER_SESSION: '4',
      },
    });
    expect(config).toEqual({
      port: 9000,
      dbPath: ':memory:',
      natsUrl: undefined,
      nodeId: undefined,
      leaseMs: 10_000,
      jwtSecret,
      adminToken,
      publicUrl: 'wss://cloud.example.com/tether',
      publicUrlDerived: false,
      gracePeriodMs: 1000,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 300,
      restartThresholdMs: 500,
      appReconnectWindowMs: 200,
      appPatienceMs: 300_000,
      appReleaseWaitMs: 20_000,
      webhookRetryMaxDelayMs: 8_000,
      circuitProbeMaxDelayMs: 3_000,
      webhookTimeoutMs: 12_000,
      handshakeTimeoutMs: 3000,
      maxMessageBytes: 2048,
      maxJsonDepth: 32,
      socketMessagesPerSecond: 0,
      socketBytesPerSecond: 0,
      userMessagesPerSecond: 100,
      userBytesPerSecond: 100_000,
      socketHighWaterBytes: 65_536,
      congestionLimitMs: 5000,
      logLevel: 'debug',
      nodeEnv: 'production',
      production: true,
      inspectorToken: 'i'.repeat(16),
      replayWindowMs: 5000,
      replayMaxMessages: 200,
      replayMaxBytes: 65_536,
      replayBudgetBytes: 1_048_576,
      screenMemoryMaxBytes: 65_536,
      screenMemoryBudgetBytes: 1_048_576,
      recoveryConcurrency: 20,
      host: '0.0.0.0',
      outboundPolicy: 'private',
      maxTokenLifetimeMs: 3_600_000,
      maxRunningApps: 8,
      appControlPerMinute: 0,
      maxPendingSockets: 10,
      connectionsPerAddressPerMinute: 0,
      maxConnections: 500,
      headersTimeoutMs: 2000,
      simpleStorageMaxBytes: 4096,
      simpleStorageMaxValueBytes: 1024,
      simpleStorageRequestsPerMinute: 0,
      tlsCert: '/etc/tether/cert.pem',
      tlsKey: '/etc/tether/key.pem',
      photoRequestTimeoutMs: 1000,
      audioRequestTimeoutMs: 2000,
      glassesRequestTimeoutMs: 3000,
      maxPendingRequestsPerSession: 4,
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

  it('derives a wss:// public URL when the port speaks TLS, and needs both TLS files', () => {
    const tls = resolveCloudConfig({ env: { PORT: '0', TETHER_TLS_CERT: 'cert.pem', TETHER_TLS_KEY: 'key.pem' } });
    expect(effectivePublicUrl(tls, 43_210)).toBe('wss://127.0.0.1:43210');
    const certOnly = configError(() => resolveCloudConfig({ env: { TETHER_TLS_CERT: 'cert.pem' } }));
    expect(certOnly.issues.map((issue) => issue.env)).toEqual(['TETHER_TLS_CERT']);
    const keyOnly = configError(() => resolveCloudConfig({ env: { TETHER_TLS_KEY: 'key.pem' } }));
    expect(keyOnly.issues.map((issue) => issue.env)).toEqual(['TETHER_TLS_KEY']);
  });

  it('lets overrides win over the environment', () => {
    const config = resolveCloudConfig({ env: { PORT: '9000', TETHER_GRACE_PERIOD_MS: '5' }, overrides: { port: 0, gracePeriodMs: 50 } });
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
        env: {
          PORT: '70000',
          TETHER_GRACE_PERIOD_MS: '10s',
          TETHER_LOG_LEVEL: 'loud',
          TETHER_PUBLIC_URL: 'http://x',
          TETHER_MAX_MESSAGE_BYTES: '10',
        },
      }),
    );
    expect(error.issues.map((issue) => issue.env).sort()).toEqual([
      'PORT',
      'TETHER_GRACE_PERIOD_MS',
      'TETHER_LOG_LEVEL',
      'TETHER_MAX_MESSAGE_BYTES',
      'TETHER_PUBLIC_URL',
    ]);
  });

  it('refuses a heartbeat timeout not longer than the interval', () => {
    const error = configError(() =>
      resolveCloudConfig({ env: { TETHER_HEARTBEAT_INTERVAL_MS: '1000', TETHER_HEARTBEAT_TIMEOUT_MS: '1000' } }),
    );
    expect(error.issues).toEqual([
      expect.objectContaining({ setting: 'heartbeatTimeoutMs', env: 'TETHER_HEARTBEAT_TIMEOUT_MS', source: 'combination' }),
    ]);
    expect(error.message).toContain('TETHER_HEARTBEAT_INTERVAL_MS');
  });

  it('treats empty variables as unset', () => {
    expect(resolveCloudConfig({ env: { PORT: '', TETHER_JWT_SECRET: '' } })).toMatchObject({
      port: 8002,
      jwtSecret: DEVELOPMENT_JWT_SECRET,
    });
  });

  it('allows a short webhook timeout but warns outside tests', () => {
    const base = { TETHER_JWT_SECRET: jwtSecret, TETHER_ADMIN_TOKEN: adminToken, TETHER_WEBHOOK_TIMEOUT_MS: '100' };
    const dev = resolveCloudConfig({ env: base });
    expect(dev.webhookTimeoutMs).toBe(100);
    expect(dev.warnings.join('\n')).toContain('TETHER_WEBHOOK_TIMEOUT_MS');
    expect(resolveCloudConfig({ env: { ...base, NODE_ENV: 'test' } }).warnings).toEqual([]);
  });

  it('names every variable TETHER_ + SCREAMING_SNAKE of the setting, but for PORT, NODE_ENV and TETHER_DB', () => {
    const exceptions: Record<string, string> = { port: 'PORT', nodeEnv: 'NODE_ENV', dbPath: 'TETHER_DB' };
    for (const def of Object.values(CLOUD_SETTINGS)) {
      expect(def.env, def.name).toBe(exceptions[def.name] ?? envNameFor(def.name));
      expect(def.fallbackEnv, def.name).toEqual([]);
    }
  });

  it('names every duration …Ms and defaults session timings to the machines’ defaults', () => {
    for (const def of Object.values(CLOUD_SETTINGS)) {
      if (/period|interval|timeout|threshold|window/i.test(def.name)) expect(def.name).toMatch(/Ms$/);
    }
    const config = resolveCloudConfig({ env: {} });
    expect(sessionConfigOf(config)).toEqual(defaultSessionConfig);
  });

  it('builds the session machines’ timings from the configuration', () => {
    const config = resolveCloudConfig({
      env: { TETHER_GRACE_PERIOD_MS: '1000', TETHER_HEARTBEAT_INTERVAL_MS: '100', TETHER_HEARTBEAT_TIMEOUT_MS: '300' },
      overrides: { restartThresholdMs: 500, appReconnectWindowMs: 200, webhookTimeoutMs: 2000 },
    });
    expect(sessionConfigOf(config)).toEqual({
      ...defaultSessionConfig,
      gracePeriodMs: 1000,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 300,
      restartThresholdMs: 500,
      appReconnectWindowMs: 200,
      webhookTimeoutMs: 2000,
    });
  });

  it('warns when no reconnect can count as long', () => {
    const config = resolveCloudConfig({ env: { TETHER_GRACE_PERIOD_MS: '1000', TETHER_RESTART_THRESHOLD_MS: '1000' } });
    expect(config.warnings.join('\n')).toContain('TETHER_RESTART_THRESHOLD_MS');
    expect(config.warnings.join('\n')).toContain('TETHER_GRACE_PERIOD_MS');
  });

  it('warns about a variable under its former name instead of ignoring it silently', () => {
    const config = resolveCloudConfig({ env: { NODE_ENV: 'test', GRACE_PERIOD_MS: '1000', LOG_LEVEL: '' } });
    expect(config.gracePeriodMs).toBe(60_000);
    const renamed = config.warnings.filter((w) => w.includes('no longer read'));
    expect(renamed).toHaveLength(1);
    expect(renamed[0]).toContain('GRACE_PERIOD_MS');
    expect(renamed[0]).toContain('TETHER_GRACE_PERIOD_MS');
  });

  it('describes every setting with its environment variable for the README', () => {
    const rows = describeCloudSettings();
    expect(rows.map((row) => row.env)).toEqual([
      'PORT',
      'TETHER_DB',
      'TETHER_NATS_URL',
      'TETHER_NODE_ID',
      'TETHER_LEASE_MS',
      'TETHER_JWT_SECRET',
      'TETHER_ADMIN_TOKEN',
      'TETHER_PUBLIC_URL',
      'TETHER_GRACE_PERIOD_MS',
      'TETHER_HEARTBEAT_INTERVAL_MS',
      'TETHER_HEARTBEAT_TIMEOUT_MS',
      'TETHER_RESTART_THRESHOLD_MS',
      'TETHER_APP_RECONNECT_WINDOW_MS',
      'TETHER_APP_PATIENCE_MS',
      'TETHER_APP_RELEASE_WAIT_MS',
      'TETHER_WEBHOOK_RETRY_MAX_DELAY_MS',
      'TETHER_CIRCUIT_PROBE_MAX_DELAY_MS',
      'TETHER_WEBHOOK_TIMEOUT_MS',
      'TETHER_HANDSHAKE_TIMEOUT_MS',
      'TETHER_MAX_MESSAGE_BYTES',
      'TETHER_MAX_JSON_DEPTH',
      'TETHER_SOCKET_MESSAGES_PER_SECOND',
      'TETHER_SOCKET_BYTES_PER_SECOND',
      'TETHER_USER_MESSAGES_PER_SECOND',
      'TETHER_USER_BYTES_PER_SECOND',
      'TETHER_SOCKET_HIGH_WATER_BYTES',
      'TETHER_CONGESTION_LIMIT_MS',
      'TETHER_LOG_LEVEL',
      'NODE_ENV',
      'TETHER_INSPECTOR_TOKEN',
      'TETHER_INSPECTOR_FORWARD_URL',
      'TETHER_REPLAY_WINDOW_MS',
      'TETHER_REPLAY_MAX_MESSAGES',
      'TETHER_REPLAY_MAX_BYTES',
      'TETHER_REPLAY_BUDGET_BYTES',
      'TETHER_SCREEN_MEMORY_MAX_BYTES',
      'TETHER_SCREEN_MEMORY_BUDGET_BYTES',
      'TETHER_RECOVERY_CONCURRENCY',
      'TETHER_HOST',
      'TETHER_OUTBOUND_POLICY',
      'TETHER_MAX_TOKEN_LIFETIME_MS',
      'TETHER_MAX_RUNNING_APPS',
      'TETHER_APP_CONTROL_PER_MINUTE',
      'TETHER_MAX_PENDING_SOCKETS',
      'TETHER_CONNECTIONS_PER_ADDRESS_PER_MINUTE',
      'TETHER_MAX_CONNECTIONS',
      'TETHER_HEADERS_TIMEOUT_MS',
      'TETHER_SIMPLE_STORAGE_MAX_BYTES',
      'TETHER_SIMPLE_STORAGE_MAX_VALUE_BYTES',
      'TETHER_SIMPLE_STORAGE_REQUESTS_PER_MINUTE',
      'TETHER_TLS_CERT',
      'TETHER_TLS_KEY',
      'TETHER_PHOTO_REQUEST_TIMEOUT_MS',
      'TETHER_AUDIO_REQUEST_TIMEOUT_MS',
      'TETHER_GLASSES_REQUEST_TIMEOUT_MS',
      'TETHER_MAX_PENDING_REQUESTS_PER_SESSION',
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
