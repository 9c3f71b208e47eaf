import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file in its own process: the fault seam of the addon is process-wide.
    pool: 'forks',
    testTimeout: 60_000,
  },
});
