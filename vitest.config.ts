import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real outages of minutes: `npm run test:chaos` (vitest.chaos.config.ts); many nodes on NATS and
    // PostgreSQL: `npm run test:cluster` (vitest.cluster.config.ts). Both are run by .ci/run.
    exclude: ['test/chaos/**', 'test/cluster/**', '**/node_modules/**'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // One file at a time: the integration tests measure real reconnect timings and run
    // hundreds of sessions, a browser or child processes; on the 2-core machines two of them
    // side by side starve each other's timers. The whole suite still runs in about 2 minutes.
    fileParallelism: false,
    // The JSON report is what .ci/run reads for its closing "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
  },
});
