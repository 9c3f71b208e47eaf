// `npm run stress`: every part of the crash, fault and bad-input harness
// at its default size, one after the other, then a summary table.
//   kills              npm run stress:crash (SIGKILLs of a training process)
//   crash points       test/durability/crash-points.test.ts (a crash at every system call of a cycle)
//   power-loss states  test/durability/power-loss.test.ts (what survives a power cut, at every point)
//   corruptions        npm run stress:corruption (damaged files under an open store)
//   bad inputs         the bad-input catalogues (test/store, test/file), the hostile-environment suite,
//                      hostile store files and clock jumps
//   fuzz executions    npm run test:native (native tests under ASan+UBSan, then libFuzzer)
//   open/close         npm run stress:open-close (stores opened and closed in fresh processes under load)
// Options: --small (the CI sizes: 100 kills, 1 000 corruptions, 60 s of
// fuzzing), --parts kills,crash-points,power-loss,corruptions,bad-inputs,fuzz,open-close,
// --seed S, and --kills N / --corruptions N / --fuzz-seconds N to override a size.
// Each part runs as a child process, its output passed through; the exit code
// is non-zero when any part failed or found a failure, or when a part's count
// of what it checked is missing (a count is read only from a passing run).
// With TK_REPORT_DIR set (CI), the table also goes to stress.json there, for
// the one-line summary of scripts/ci-summary.ts.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, stripVTControlCharacters } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PART_KEYS = ['kills', 'crash-points', 'power-loss', 'corruptions', 'bad-inputs', 'fuzz', 'open-close'] as const;
type PartKey = (typeof PART_KEYS)[number];

const { values } = parseArgs({
  options: {
    small: { type: 'boolean', default: false },
    parts: { type: 'string', default: PART_KEYS.join(',') },
    seed: { type: 'string', default: '1' },
    kills: { type: 'string' },
    corruptions: { type: 'string' },
    'fuzz-seconds': { type: 'string' },
    processes: { type: 'string' },
  },
});
const usage = `usage: run.ts [--small] [--parts ${PART_KEYS.join(',')}] [--seed S] [--kills N] [--corruptions N] [--fuzz-seconds N] [--processes N]`;
const count = (value: string | undefined, fallback: number) => {
  const n = Number(value ?? fallback);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(usage);
  return n;
};
const sizes = {
  kills: count(values.kills, values.small ? 100 : 1000),
  corruptions: count(values.corruptions, values.small ? 1000 : 10_000),
  fuzzSeconds: count(values['fuzz-seconds'], values.small ? 60 : 600),
  processes: count(values.processes, 200),
  seed: count(values.seed, 1),
};
const selected = values.parts!.split(',').map((p) => p.trim()).filter(Boolean);
for (const part of selected) if (!PART_KEYS.includes(part as PartKey)) throw new Error(`unknown part "${part}"; ${usage}`);

interface Result {
  /** What was checked, as a number (null when the part did not run). */
  checked: number | null;
  failures: number;
  /** A line on what the number means, or why the part did not run. */
  detail: string;
  /** What the part did not test (a skip allowed outside CI), if anything. */
  notTested?: string;
  /** Native unit tests: programs and checks run (the fuzz part). */
  native?: { programs: number; checks: number };
}

/** Runs a command with its output passed through, and returns that output. */
function run(command: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d;
      process.stderr.write(d);
    });
    // Colours stripped: the totals lines are read with anchored patterns.
    child.on('close', (code) => resolve({ code, out: stripVTControlCharacters(out) }));
  });
}

interface VitestRun { code: number | null; out: string; total: number; failed: number }

async function vitest(files: string[]): Promise<VitestRun> {
  const dir = mkdtempSync(join(tmpdir(), 'tensorkeep-stress-'));
  const report = join(dir, 'vitest.json');
  try {
    // TK_REPORT_DIR emptied: these runs must not overwrite npm test's report.
    const { code, out } = await run('npx', ['vitest', 'run', ...files, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], { TK_REPORT_DIR: '' });
    if (!existsSync(report)) return { code, out, total: 0, failed: 1 };
    const json = JSON.parse(readFileSync(report, 'utf8')) as { numTotalTests: number; numFailedTests: number; success: boolean };
    // A file that fails to load counts no test but fails the run.
    return { code, out, total: json.numTotalTests, failed: json.numFailedTests || (json.success && code === 0 ? 0 : 1) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A vitest part's count of what it checked, read only when every test passed
 * (a failed run prints its count all the same); a missing count fails the part.
 */
function countOf(r: VitestRun, checked: number | null, what: string): Result {
  if (r.failed > 0) return { checked: null, failures: r.failed, detail: `${r.total} tests, ${r.failed} failed: ${what} not counted` };
  if (checked === null || checked === 0) return { checked, failures: 1, detail: `${r.total} tests passed, but no count of ${what} was printed` };
  return { checked, failures: 0, detail: `${r.total} tests` };
}

/** The number a regular expression finds in the output, or null. */
function found(out: string, pattern: RegExp): number | null {
  const m = pattern.exec(out);
  return m ? Number(m[1]) : null;
}

/** Runs an npm stress script and reads its totals line: `line` captures the count checked and the failures. */
async function totalsOf(script: string, args: string[], line: RegExp): Promise<Result> {
  const { code, out } = await run('npm', ['run', '--silent', script, '--', ...args, '--seed', String(sizes.seed), '--quiet']);
  const m = line.exec(out);
  if (!m) return { checked: null, failures: 1, detail: `no totals line (exit code ${code})` };
  return { checked: Number(m[1]), failures: Number(m[2]) || (code === 0 ? 0 : 1), detail: m[0] };
}

const PARTS: Record<PartKey, { label: string; size: string; run(): Promise<Result> }> = {
  kills: {
    label: 'kills',
    size: `${sizes.kills} (seed ${sizes.seed})`,
    run: () => totalsOf('stress:crash', ['--kills', String(sizes.kills)], /^kill harness: .*kills (\d+) .*failures (\d+) .*$/m),
  },
  'crash-points': {
    label: 'crash points',
    size: 'every system call of a cycle',
    async run() {
      const r = await vitest(['test/durability/crash-points.test.ts']);
      return countOf(r, found(r.out, /(\d+) crashes checked/), 'crashes checked');
    },
  },
  'power-loss': {
    label: 'power-loss states',
    size: 'every prefix of a cycle',
    async run() {
      const r = await vitest(['test/durability/power-loss.test.ts']);
      // "power-loss model: fresh 42 prefixes -> 20 states, clean ... -> 31 states, ...": the sum.
      const line = /^power-loss model: (.*)$/m.exec(r.out)?.[1] ?? '';
      const counts = [...line.matchAll(/-> (\d+) states/g)].map((m) => Number(m[1]));
      const states = counts.length ? counts.reduce((a, b) => a + b, 0) : null;
      return countOf(r, states, 'power-loss states');
    },
  },
  corruptions: {
    label: 'corruptions',
    size: `${sizes.corruptions} (seed ${sizes.seed})`,
    run: () => totalsOf('stress:corruption', ['--count', String(sizes.corruptions)], /^corruption stress: .*corruptions (\d+) .*failures (\d+) .*$/m),
  },
  'bad-inputs': {
    label: 'bad inputs',
    size: 'catalogues, hostile environment',
    async run() {
      const r = await vitest([
        'test/store/bad-input.test.ts', 'test/file/bad-input.test.ts', 'test/store/hostile-environment.test.ts',
        'test/durability/hostile-store-files.test.ts', 'test/model/clock.test.ts',
      ]);
      return { checked: r.total, failures: r.failed, detail: `${r.total} tests` };
    },
  },
  fuzz: {
    label: 'fuzz executions',
    size: `${sizes.fuzzSeconds} s`,
    async run() {
      const { code, out } = await run('bash', ['scripts/test-native.sh'], { FUZZ_SECONDS: String(sizes.fuzzSeconds) });
      // "== fuzzing skipped: <why>" (no clang), or "== fuzzing skipped (FUZZ_SECONDS=0); ..." (asked for).
      const skipped = /^== fuzzing skipped: (.*)$/m.exec(out) ?? /^== fuzzing skipped \((FUZZ_SECONDS=0)\)/m.exec(out);
      const runs = found(out, /number_of_executed_units:\s*(\d+)/);
      let failures = code === 0 ? 0 : 1;
      // ctest's "100% tests passed, 0 tests failed out of N", and each program's "name: N passed, M failed".
      const programs = found(out, /tests passed, \d+ tests failed out of (\d+)/);
      const checks = [...out.matchAll(/^\S+_test: (\d+) passed, \d+ failed$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      const native = { programs: programs ?? 0, checks };
      const nativeLine = `native tests: ${native.programs} programs, ${native.checks} checks ${code === 0 || skipped ? 'passed' : 'or the fuzzer FAILED'}`;
      if (!programs || !checks) failures = Math.max(failures, 1);
      if (skipped) return { checked: null, failures, detail: `skipped: ${skipped[1]} (${nativeLine})`, notTested: `fuzzing: ${skipped[1]}`, native };
      if (!runs) failures = Math.max(failures, 1);
      return { checked: runs, failures, detail: code === 0 ? `${nativeLine}; no fuzzer finding` : `${nativeLine} (see above)`, native };
    },
  },
  'open-close': {
    label: 'open/close processes',
    size: `${sizes.processes} under load`,
    run: () => totalsOf('stress:open-close', ['--processes', String(sizes.processes)], /^open-close check: processes (\d+) aborts (\d+) .*$/m),
  },
};

const started = performance.now();
const rows: Array<{ key: PartKey; label: string; size: string; result: Result; seconds: number }> = [];
for (const key of PART_KEYS.filter((k) => selected.includes(k))) {
  const part = PARTS[key];
  console.log(`\n=== ${part.label}: ${part.size}`);
  const t0 = performance.now();
  let result: Result;
  try {
    result = await part.run();
  } catch (err) {
    result = { checked: null, failures: 1, detail: `did not run: ${(err as Error).message}` };
  }
  rows.push({ key, label: part.label, size: part.size, result, seconds: (performance.now() - t0) / 1000 });
}

const time = (s: number) => (s < 120 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
const table = [
  ['part', 'size', 'checked', 'failures', 'time'],
  ...rows.map((r) => [r.label, r.size, r.result.checked === null ? '-' : String(r.result.checked), String(r.result.failures), time(r.seconds)]),
];
const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
const total = rows.reduce((sum, r) => sum + r.result.failures, 0);
console.log(`\n=== stress summary (${values.small ? '--small' : 'default sizes'}, seed ${sizes.seed})`);
for (const row of table) console.log(row.map((cell, i) => (i === 2 || i === 3 ? cell.padStart(widths[i]) : i < 4 ? cell.padEnd(widths[i]) : cell)).join('  '));
for (const r of rows) if (r.result.detail) console.log(`${r.label}: ${r.result.detail}`);
console.log(`failures found: ${total}; wall time ${time((performance.now() - started) / 1000)}`);
if (process.env.TK_REPORT_DIR) {
  const report = { small: values.small, seed: sizes.seed, failures: total, parts: rows.map((r) => ({ key: r.key, label: r.label, size: r.size, seconds: r.seconds, ...r.result })) };
  writeFileSync(join(process.env.TK_REPORT_DIR, 'stress.json'), JSON.stringify(report, null, 2));
}
process.exit(total > 0 ? 1 : 0);
