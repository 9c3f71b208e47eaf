// The benchmark suite runs end to end at the smallest scale and leaves a
// table and a results file that a later --compare can read. Speed is never
// asserted here: figures belong in docs/PERFORMANCE.md.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONTENDERS, DEFAULT_TK } from '../../bench/suite/contenders.js';
import { byRound, meanOf, spreadOf, type FigureName } from '../../bench/suite/figures.js';
import { LIMITS } from '../../bench/suite/limits.js';
import { pairedRatio } from '../../bench/suite/numbers.js';
import type { SuiteResult } from '../../bench/suite/results.js';
import { byPriority } from '../../bench/suite/waves.js';
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
    // Two samples each, one save a turn: the least that shows the rounds alternating.
    ({ stdout } = await bench('--scale', '0.001', '--time', '0', '--iterations', '2', '--turn', '0', '--workloads', 'dqn-100k', '--variants', 'fp32', '--dir', dir, '--out', out));
    result = JSON.parse(readFileSync(out, 'utf8')) as SuiteResult;
  }, 60_000);

  it('prints a table with a row per contender, and the pipeline goals', () => {
    for (const heading of ['### dqn-100k x0.001 — 6 tensors', '### Goals']) expect(stdout).toContain(heading);
    const header = stdout.split('\n').filter((l) => l.startsWith('| contender '));
    expect(header).toHaveLength(1);
    expect(header[0].split('|').map((c) => c.trim()).filter(Boolean))
      .toEqual(['contender', 'stall ms', 'stall ÷ best, ÷ limit', 'done ms', 'done ÷ best, ÷ limit', 'on disk MB', 'load ms', 'load ÷ best, ÷ limit', 'peak RSS MB', 'loop delay p99 / max ms']);
    for (const { label } of [...CONTENDERS, ...LIMITS]) expect(stdout.split('\n').filter((l) => l.startsWith(`| ${label} `))).toHaveLength(1);
    // Beside each mean its min / median / max, and each limit says what it is the best of.
    expect(stdout.split('\n').find((l) => l.startsWith(`| ${CONTENDERS[0].label} `))).toMatch(/\| +[\d.]+ \[[\d.]+ \/ [\d.]+ \/ [\d.]+\] +\| +[\d.]+× \([\d.]+–[\d.]+\) · [\d.]+× \([\d.]+–[\d.]+\) +\|/);
    for (const { label } of LIMITS) expect(stdout).toContain(`${label} = best of `);
    for (const figure of ['report() that skips', 'training overhead, tensorkeep', 'stall of report() saving'])
      expect(stdout).toContain(figure);
    expect(stdout).toContain(`results: ${out}`);
  });

  it('writes the run, the machine and every figure to the results file', () => {
    expect(result.options).toMatchObject({ scale: 0.001, time: 0, iterations: 2, workloads: ['dqn-100k'], variants: ['fp32'] });
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

  it('drives the contenders in rounds: every one sampled once a round, in an order that rotates', () => {
    const [set] = result.sets;
    expect(set.rounds).toBe(2);
    for (const row of set.rows) {
      const samples = row.figures!.saveSamples!;
      expect(samples.map(([round]) => round), row.id).toEqual([0, 1]);
      if (row.figures!.loads) expect(row.figures!.loadSamples!.map(([round]) => round), row.id).toEqual([0, 1]);
      // Rotated by one place a round: no contender keeps its place (or the disk's state after the same neighbour).
      const [[, , , first], [, , , second]] = samples;
      expect((first - second + set.rows.length) % set.rows.length, row.id).toBe(1);
    }
    // Each round's places are every contender once.
    for (const round of [0, 1]) {
      const places = set.rows.map((r) => r.figures!.saveSamples!.find(([n]) => n === round)![3]).sort((a, b) => a - b);
      expect(places).toEqual(set.rows.map((_, i) => i));
    }
  });

  it('gives every sampled figure its spread: min ≤ p10 ≤ median ≤ p90 ≤ max, the mean within', () => {
    for (const row of result.sets[0].rows) {
      const f = row.figures!;
      const figures: FigureName[] = ['stall', ...(row.writes ? ['durable', 'load'] as const : [])];
      for (const figure of figures) {
        const s = spreadOf(f, figure)!;
        expect(s, `${row.id} ${figure}`).not.toBeNull();
        expect([s.min, s.p10, s.median, s.p90, s.max], `${row.id} ${figure}`).toEqual([s.min, s.p10, s.median, s.p90, s.max].sort((a, b) => a - b));
        expect(meanOf(f, figure)!).toBeGreaterThanOrEqual(s.min);
        expect(meanOf(f, figure)!).toBeLessThanOrEqual(s.max);
        expect([...byRound(f, figure).values()].sort((a, b) => a - b)[0]).toBe(s.min);
      }
    }
  });

  it('takes each limit as the best of its ways and of the contenders doing the same work: none beats it', () => {
    const [set] = result.sets;
    expect(set.limits!.map((l) => l.id)).toEqual(LIMITS.map((l) => l.id));
    for (const limit of set.limits!) {
      const same = set.rows.filter((r) => r.limits.includes(limit.id));
      expect(limit.candidates).toEqual(same.map((r) => r.id));
      expect(same.filter((r) => r.kind === 'limit').length, limit.id).toBeGreaterThanOrEqual(2);
      for (const row of same) {
        const s = spreadOf(row.figures!, limit.figure)!;
        for (const stat of ['min', 'p10', 'median', 'p90', 'max'] as const) expect(limit.spread[stat], `${limit.id} vs ${row.id} ${stat}`).toBeLessThanOrEqual(s[stat]);
        expect(limit.mean).toBeLessThanOrEqual(meanOf(row.figures!, limit.figure)!);
        for (const [round, v] of byRound(row.figures!, limit.figure)) expect(new Map(limit.rounds).get(round)).toBeLessThanOrEqual(v);
      }
      expect(spreadOf(set.rows.find((r) => r.id === limit.bestId)!.figures!, limit.figure)!.median).toBe(limit.spread.median);
    }
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
        // A loop that never lagged a whole tick (tiny saves) has a max of 0: no ratio.
        else if (value === 0) expect(cells[i], `${label} ${key}`).toContain('(—)');
        else expect(cells[i], `${label} ${key}`).toContain(`(${(factor * (r + 1)).toFixed(2)}×)`);
      });
    });
    expect(compared).toMatch(/\| report\(\) that skips, µs +\| .* \(2\.00×\) +\|/);
  });

  it('compares with a results file from before the rounds (no spreads, samples, rounds or limits)', async () => {
    const old: SuiteResult = structuredClone(result);
    for (const set of old.sets) {
      delete set.rounds;
      delete set.limits;
      for (const row of set.rows) {
        for (const key of ['stallSpread', 'stallRmePct', 'durableSpread', 'loadSpread', 'saveSamples', 'loadSamples'] as const) delete row.figures![key];
      }
    }
    const oldPath = join(dir, 'result-old.json');
    writeFileSync(oldPath, JSON.stringify(old));
    for (const [a, b] of [[oldPath, out], [out, oldPath]]) {
      const { stdout: compared } = await bench('--compare', a, b);
      const rows = compared.split('\n').filter((l) => l.startsWith('| dqn-100k '));
      expect(rows).toHaveLength(CONTENDERS.length);
      // Means compared as ever (1.00×: the same run); medians blank where one run has none.
      const cells = rows[0].split('|').slice(3, -1).map((c) => c.trim());
      expect(cells[0]).toContain('(1.00×)');
      expect(cells.slice(-3)).toEqual(['', '', '']);
    }
  });
});

describe('npm run bench with turns of several saves', () => {
  it('saves back to back for --turn ms in each turn; a round\'s figure is the median of its turn, stored once per turn', async () => {
    const dir = tempDir();
    const out = join(dir, 'result.json');
    await bench('--scale', '0.001', '--time', '0', '--iterations', '1', '--turn', '50', '--workloads', 'dqn-100k', '--variants', 'fp32', '--dir', dir, '--out', out);
    const [set] = (JSON.parse(readFileSync(out, 'utf8')) as SuiteResult).sets;
    expect(set.rounds).toBe(1);
    const tk = set.rows.find((r) => r.id === DEFAULT_TK)!.figures!;
    // A 1.3 KB save (with its load and the deletion of the one before) takes a few ms: the turn held more than one.
    expect(tk.saves).toBeGreaterThanOrEqual(2);
    // One entry for the turn, whatever its length (a memcpy way saves thousands of times in 100 ms).
    const [turn, ...more] = tk.saveSamples!;
    expect(more).toEqual([]);
    const [round, stall, , , count] = turn;
    expect([round, count]).toEqual([0, tk.saves]);
    expect(byRound(tk, 'stall').get(0)).toBe(stall);
    expect(stall).toBeGreaterThanOrEqual(tk.stallSpread!.min);
    expect(stall).toBeLessThanOrEqual(tk.stallSpread!.max);
    expect(stall).toBe(tk.stallSpread!.median);
  }, 60_000);
});

describe('npm run bench with memory for a few contenders at a time', () => {
  const dir = tempDir();
  const out = join(dir, 'result.json');
  let stdout = '';
  let result: SuiteResult;

  beforeAll(async () => {
    // A child at this scale reserves ~200 MB (its ~100 MB and 100 MB of growth): 1000 MB hold a few of them per wave.
    ({ stdout } = await bench('--scale', '0.001', '--time', '0', '--iterations', '2', '--turn', '0', '--workloads', 'dqn-100k', '--variants', 'fp32', '--memory-budget', '1000', '--dir', dir, '--out', out));
    result = JSON.parse(readFileSync(out, 'utf8')) as SuiteResult;
  }, 60_000);

  it('runs the set in waves, the most compared contenders first, and says which shared rounds', () => {
    const [set] = result.sets;
    const waves = set.waves!;
    expect(waves.length).toBeGreaterThan(1);
    expect(set.memoryBudgetBytes).toBe(1000e6);
    expect(waves.flatMap((w) => w.ids)).toEqual(byPriority(CONTENDERS).map((c) => c.id));
    expect(waves[0].ids.slice(0, 2)).toEqual([DEFAULT_TK, 'safetensors-style']);
    waves.forEach((w, i) => expect(stdout).toContain(`wave ${i + 1} of ${waves.length}, rounds ${w.firstRound}–${w.firstRound + w.rounds - 1}: ${w.ids.join(', ')}`));
    expect(set.rounds).toBe(waves.reduce((sum, w) => sum + w.rounds, 0));
  });

  it('gives every contender its samples, in its own wave\'s rounds, and records the wave in its row', () => {
    const [set] = result.sets;
    expect(set.rows.map((r) => r.id)).toEqual(CONTENDERS.map((c) => c.id));
    for (const row of set.rows) {
      expect(row.error, `${row.id}: ${row.error}`).toBeUndefined();
      const wave = set.waves![row.wave! - 1];
      expect(wave.ids, row.id).toContain(row.id);
      const rounds = row.figures!.saveSamples!.map(([round]) => round);
      expect(rounds, row.id).toEqual([wave.firstRound, wave.firstRound + 1]);
      if (row.figures!.loads) expect(row.figures!.loadSamples!.map(([round]) => round), row.id).toEqual(rounds);
    }
    // A limit pairs per round only within the wave of its best candidate.
    for (const limit of set.limits!) {
      const wave = set.waves![set.rows.find((r) => r.id === limit.bestId)!.wave! - 1];
      for (const [round] of limit.rounds) expect(round - wave.firstRound, limit.id).toBeGreaterThanOrEqual(0);
      for (const [round] of limit.rounds) expect(round - wave.firstRound, limit.id).toBeLessThan(wave.rounds);
    }
  });

  it('prints no per-round spread for two contenders that never shared a round', () => {
    expect(pairedRatio(2, 1, new Map([[0, 2], [1, 2]]), new Map([[2, 1], [3, 1]]))).toBe('2.00× (—)');
    expect(pairedRatio(2, 1, new Map([[0, 2], [1, 4]]), new Map([[0, 1], [1, 1]]))).toBe('2.00× (2.20–3.80)');
  });
});

describe('bench contenders', () => {
  const dir = tempDir();
  const list = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? list(join(d, f)).map((x) => `${f}/${x}`) : [f]));

  it('keep only their newest save on disk, and load it', async () => {
    const { tensors } = WORKLOADS['dqn-100k'](0.001);
    for (const c of CONTENDERS.filter((c) => c.writes)) {
      const own = mkdtempSync(join(dir, `${c.id}-`));
      const into = tensors.map(([name, t]): [string, typeof t] => [name, { ...t, data: new Float32Array(t.data.length) }]);
      const session = await c.start({ dir: own, tensors, into });
      for (let step = 1; step <= 3; step++) {
        await session.save(step);
        session.afterSave?.();
        await session.load?.();
        await session.prune?.();
      }
      // tensorkeep: its checkpoint files (its store keeps files of its own besides); the others: every file.
      const saves = list(own).filter((f) => c.kind !== 'tensorkeep' || f.endsWith('.tkpt'));
      expect(saves.length, `${c.id}: ${saves.join(' ')}`).toBe(c.id === 'tfjs-style' ? 2 : 1);
      for (const f of saves) expect(f, c.id).toMatch(/^(bench\/00000003-s3\.tkpt|3[./].+)$/);
      if (c.kind !== 'limit') into.forEach(([, t], i) => expect(sameBytes(t.data, tensors[i][1].data), c.id).toBe(true));
      await session.close();
    }
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
