import { defineConfig } from 'vitest/config';

// Each file in its own process: the fault seam of the addon is process-wide.
const shared = { pool: 'forks' as const, testTimeout: 60_000, setupFiles: ['test/setup/worker-pool.ts'] };
// Measures the event loop's responsiveness: it runs last and alone, when no
// other test file's process competes for the two cores.
const QUIET = ['test/event-loop.test.ts'];

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'tests', include: ['test/**/*.test.ts'], exclude: QUIET } },
      { test: { ...shared, name: 'quiet', include: QUIET, sequence: { groupOrder: 1 } } },
    ],
  },
});
