import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: many nodes on a real NATS JetStream and PostgreSQL, started by the tests
 * from the binaries on PATH; leases and node deaths take real seconds. `.ci/run` runs it too.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-cluster-report.json' },
  },
});
