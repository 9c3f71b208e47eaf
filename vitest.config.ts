import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Each file in its own process: the fault seam of the addon is process-wide.
const shared = { pool: 'forks' as const, testTimeout: 60_000, setupFiles: ['test/setup/worker-pool.ts'] };
// CI (.ci/run) sets TK_REPORT_DIR: the run's results also go to
// vitest.json there, for the one-line summary (scripts/ci-summary.ts).
const reportDir = process.env.TK_REPORT_DIR;

export default defineConfig({
  test: {
    reporters: [
      'default',
      './test/setup/not-tested-reporter.ts',
      ...(reportDir ? [['json', { outputFile: join(reportDir, 'vitest.json') }] as ['json', { outputFile: string }]] : []),
    ],
    projects: [{ test: { ...shared, name: 'tests', include: ['test/**/*.test.ts'] } }],
  },
});
