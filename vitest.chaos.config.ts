import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: the suites of real outages and faults, minutes long; `.ci/run` runs it too. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-chaos-report.json' },
  },
});
