// The last line of CI (.ci/run): the totals of every part in one line, read
// from what the parts wrote to TK_REPORT_DIR: vitest.json (npm test, through
// vitest.config.ts) and stress.json (npm run stress). Then a closing
// "N passed, N failed, N skipped" line for the tests. Exits non-zero when a
// part is missing or failed, or, under TK_REQUIRE_ALL=1, when anything was
// skipped (tests, or a stress part such as fuzzing): nothing required may
// go untested without failing the run.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface VitestJson {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  success: boolean;
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string; meta?: { notTested?: string } }> }>;
}
interface StressJson {
  small: boolean;
  failures: number;
  parts: Array<{ key: string; label: string; checked: number | null; failures: number; detail: string; notTested?: string; native?: { programs: number; checks: number } }>;
}

const dir = process.env.TK_REPORT_DIR;
if (!dir) {
  console.error('ci-summary: TK_REPORT_DIR is not set (.ci/run sets it)');
  process.exit(2);
}
const requireAll = process.env.TK_REQUIRE_ALL === '1';
const read = <T>(file: string): T | null => (existsSync(join(dir, file)) ? (JSON.parse(readFileSync(join(dir, file), 'utf8')) as T) : null);
const vitest = read<VitestJson>('vitest.json');
const stress = read<StressJson>('stress.json');

const problems: string[] = [];
const notTested: string[] = [];
const parts: string[] = [];

if (!vitest) {
  parts.push('tests: not run');
  problems.push('npm test wrote no report');
} else {
  const skipped = vitest.numPendingTests + vitest.numTodoTests;
  parts.push(`tests ${vitest.numPassedTests} passed, ${vitest.numFailedTests} failed, ${skipped} skipped`);
  if (vitest.numFailedTests > 0 || !vitest.success) problems.push(`npm test failed (${vitest.numFailedTests} tests)`);
  for (const file of vitest.testResults)
    for (const t of file.assertionResults)
      if (t.status !== 'passed' && t.status !== 'failed') notTested.push(`${file.name.replace(`${process.cwd()}/`, '')} > ${t.fullName}: ${t.meta?.notTested ?? `${t.status}, no reason given`}`);
}

if (!stress) {
  parts.push('stress: not run');
  problems.push('npm run stress wrote no report');
} else {
  for (const p of stress.parts) {
    const figure = p.checked === null ? '-' : String(p.checked);
    if (p.key === 'kills') {
      const plans = /crash plans (\d+), self-crashes at crash_at (\d+)/.exec(p.detail);
      parts.push(`kills ${figure}${plans ? ` (crash plans ${plans[1]}, crashed by plan ${plans[2]})` : ''}`);
    } else if (p.key === 'fuzz') {
      if (p.native) parts.push(`native tests ${p.native.programs} programs, ${p.native.checks} checks`);
      parts.push(`fuzz executions ${figure}`);
    } else {
      parts.push(`${p.label} ${figure}`);
    }
    if (p.failures > 0) problems.push(`stress ${p.label}: ${p.failures} failures (${p.detail})`);
    if (p.notTested) notTested.push(`stress ${p.label}: ${p.notTested}`);
  }
  const missing = ['kills', 'crash-points', 'power-loss', 'corruptions', 'bad-inputs', 'fuzz', 'open-close'].filter((k) => !stress.parts.some((p) => p.key === k));
  if (missing.length) problems.push(`stress parts not run: ${missing.join(', ')}`);
}

if (notTested.length && requireAll) problems.push(`${notTested.length} skipped under TK_REQUIRE_ALL=1`);
console.log(`CI totals: ${parts.join('; ')}; not tested: ${notTested.length ? notTested.join(' | ') : 'none'}${problems.length ? `; FAILED: ${problems.join('; ')}` : ''}`);
if (vitest) console.log(`tests: ${vitest.numPassedTests} passed, ${vitest.numFailedTests} failed, ${vitest.numPendingTests + vitest.numTodoTests} skipped`);
process.exit(problems.length ? 1 : 0);
