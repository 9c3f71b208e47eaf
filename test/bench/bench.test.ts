// The benchmark suite runs end to end at the smallest scale and leaves a
// table and a results file that a later --compare can read. Speed is never
// asserted here: figures belong in docs/PERFORMANCE.md.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONTENDERS } from '../../bench/suite/contenders.js';
import type { SuiteResult } from '../../bench/suite/results.js';
import { roundToBf16, WORKLOADS } from '../../bench/workloads.js';
import { sameBytes, tempDir } from '../helpers.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const bench = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'bench/bench.ts', ...args], { cwd: root, timeout: 60_000 });

describe('npm run bench at the smallest scale', () => {
  const dir = tempDir();
  const out = join(dir, 'result.json');
  let stdout = '';
  let result: SuiteResult;

  beforeAll(async () => {
    // One set keeps the test fast: a child process per contender costs ~0.3 s of start-up.
    ({ stdout } = await bench('--scale', '0.001', '--time', '0', '--iterations', '1', '--workloads', 'dqn-100k', '--variants', 'fp32', '--dir', dir, '--out', out));
    result = JSON.parse(readFileSync(out, 'utf8')) as SuiteResult;
  }, 60_000);

  it('prints a table with a row per contender, and the pipeline goals', () => {
    for (const heading of ['### dqn-100k x0.001 — 6 tensors', '### Save pipeline']) expect(stdout).toContain(heading);
    const header = stdout.split('\n').filter((l) => l.startsWith('| contender '));
    expect(header).toHaveLength(1);
    expect(header[0].split('|').map((c) => c.trim()).filter(Boolean))
      .toEqual(['contender', 'stall ms', 'done ms', 'on disk MB', 'load ms', 'peak RSS MB', 'loop delay p99 / max ms']);
    for (const c of CONTENDERS) expect(stdout.split('\n').filter((l) => l.startsWith(`| ${c.label} `))).toHaveLength(1);
    for (const figure of ['report() that skips', 'training overhead, tensorkeep', 'stall of report() saving'])
      expect(stdout).toContain(figure);
    expect(stdout).toContain(`results: ${out}`);
  });

  it('writes the run, the machine and every figure to the results file', () => {
    expect(result.options).toMatchObject({ scale: 0.001, time: 0, iterations: 1, workloads: ['dqn-100k'], variants: ['fp32'] });
    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.machine.filesystem).not.toBe('');
    expect(new Date(result.date).getTime()).not.toBeNaN();
    expect(result.sets.map((s) => `${s.workload} ${s.variant}`)).toEqual(['dqn-100k fp32']);
    for (const set of result.sets) {
      expect(set.rows.map((r) => r.id)).toEqual(CONTENDERS.map((c) => c.id));
      for (const row of set.rows) {
        // Every contender runs, borrow included (the pipeline has snapshot: 'borrow').
        expect(row.error, `${row.id}: ${row.error}`).toBeUndefined();
        const f = row.figures!;
        expect(f.stallMs).toBeGreaterThan(0);
        expect(f.peakRssBytes).toBeGreaterThanOrEqual(f.baseRssBytes);
        if (!row.writes) continue;
        expect(f.durableMs).toBeGreaterThanOrEqual(f.stallMs);
        expect(f.diskBytes).toBeGreaterThanOrEqual(row.kind === 'tensorkeep' ? 1 : set.rawBytes);
        expect(f.loadMs).toBeGreaterThan(0);
        // tensorkeep and tfjs-style finish off the calling thread; the others block it throughout.
        expect(f.loopMaxMs !== null).toBe(row.kind === 'tensorkeep' || row.id === 'tfjs-style');
      }
    }
    const pipeline = result.pipeline.figures!;
    expect(pipeline.skipUs).toBeGreaterThan(0);
    expect(pipeline.training.saves).toBeGreaterThan(0);
    for (const way of ['none', 'tensorkeep', 'naive'] as const) expect(pipeline.training.stepsPerSecond[way]).toBeGreaterThan(0);
  });

  it('compares two results files figure by figure: B ÷ A for every figure of every contender', async () => {
    // B: the same run with every figure scaled by its own factor, so a ratio
    // taken the wrong way round, from the wrong figure or the wrong row shows.
    const FACTORS = { stallMs: 2, durableMs: 3, diskBytes: 0.5, loadMs: 4, peakRssBytes: 1.5, loopMaxMs: 5 } as const;
    const b: SuiteResult = structuredClone(result);
    b.date = new Date(Date.parse(result.date) + 86_400_000).toISOString();
    b.sets.forEach((set, s) => set.rows.forEach((row, r) => {
      for (const [key, factor] of Object.entries(FACTORS) as Array<[keyof typeof FACTORS, number]>) {
        const value = result.sets[s].rows[r].figures![key];
        if (value !== null) row.figures![key] = value * factor * (r + 1);
      }
    }));
    b.pipeline.figures!.skipUs = result.pipeline.figures!.skipUs * 2;
    const bPath = join(dir, 'result-b.json');
    writeFileSync(bPath, JSON.stringify(b));
    const { stdout: compared } = await bench('--compare', out, bPath);
    expect(compared).toContain(`A: ${result.date}`);
    expect(compared).toContain(`B: ${b.date}`);
    const rows = compared.split('\n').filter((l) => l.startsWith('| dqn-100k '));
    expect(rows).toHaveLength(CONTENDERS.length);
    rows.forEach((line, r) => {
      const [, label, ...cells] = line.split('|').slice(1, -1).map((c) => c.trim());
      expect(label).toBe(CONTENDERS[r].label);
      const a = result.sets[0].rows[r].figures!;
      Object.entries(FACTORS).forEach(([key, factor], i) => {
        const value = a[key as keyof typeof FACTORS];
        if (value === null) expect(cells[i], `${label} ${key}`).toBe('');
        else expect(cells[i], `${label} ${key}`).toContain(`(${(factor * (r + 1)).toFixed(2)}×)`);
      });
    });
    expect(compared).toMatch(/\| report\(\) that skips, µs +\| .* \(2\.00×\) +\|/);
  });
});

describe('bench workloads', () => {
  it('are deterministic, shrink with the scale, and have bf16 variants with the low 16 bits zero', () => {
    for (const make of Object.values(WORKLOADS)) {
      const [a, b] = [make(0.01), make(0.01)];
      expect(a.tensors.map(([name]) => name)).toEqual(b.tensors.map(([name]) => name));
      a.tensors.forEach(([, t], i) => expect(sameBytes(t.data, b.tensors[i][1].data)).toBe(true));
      expect(make(0.02).bytes).toBeGreaterThan(a.bytes);
      for (const [, t] of roundToBf16(a).tensors)
        expect(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length).every((u) => (u & 0xffff) === 0)).toBe(true);
    }
  });

  it('cnn-12m and dqn-100k have the sizes their names say at scale 1', () => {
    expect(WORKLOADS['cnn-12m']().elements / 1e6).toBeCloseTo(11.7, 1);
    expect(WORKLOADS['dqn-100k']().bytes / 1e3).toBeCloseTo(414, 0);
  });
});
