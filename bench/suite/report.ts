// The suite's tables: each figure beside its ratio to the best baseline
// and to the machine's limit measured in the same run, then the save
// pipeline's goals with whether this run met them.
import { markdownTable } from 'markdown-table';
import { BORROW_TK, DEFAULT_TK } from './contenders.js';
import type { Figures } from './figures.js';
import { figuresOf, type Row, type SetResult, type SuiteResult } from './results.js';

const MB = 1e6;

/** As many decimals as the noise allows: none from 100 up, three below 1. */
export function num(x: number): string {
  const abs = Math.abs(x);
  const decimals = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return x.toFixed(decimals);
}

const ratio = (value: number, reference: number | null | undefined) =>
  reference === null || reference === undefined || reference === 0 ? '—' : `${(value / reference).toFixed(2)}×`;

interface Column {
  title: string;
  value: (f: Figures) => number | null;
  show: (value: number, f: Figures) => string;
  /** Which baselines compete for "best baseline" (lowest value). */
  baseline?: (row: Row) => boolean;
  /** The machine's limit for this figure in this set, when it has one. */
  limit?: (set: SetResult, f: Figures) => number | null | undefined;
  /** After the value, e.g. a footnote mark. */
  mark?: (row: Row) => string;
  /** In place of a value the row does not have. */
  missing?: (row: Row) => string;
}

const COLUMNS: Column[] = [
  {
    title: 'stall ms', value: (f) => f.stallMs, show: num,
    limit: (set) => figuresOf(set, 'memcpy-1')?.stallMs,
  },
  {
    title: 'done ms', value: (f) => f.durableMs, show: num,
    baseline: (row) => row.durable,
    limit: (set) => figuresOf(set, 'raw-bytes')?.durableMs,
    mark: (row) => (row.durable ? '' : ' †'),
  },
  {
    title: 'on disk MB', value: (f) => f.diskBytes, show: (v) => num(v / MB),
    limit: (set) => set.rawBytes,
  },
  {
    title: 'load ms', value: (f) => f.loadMs, show: num,
    limit: (set) => figuresOf(set, 'raw-bytes')?.loadMs,
  },
  {
    title: 'peak RSS MB', value: (f) => f.peakRssBytes, show: (v) => num(v / MB),
    // A save that allocates nothing: the process as it was before the first save.
    limit: (_set, f) => f.baseRssBytes,
  },
  {
    title: 'loop delay p99 / max ms', value: (f) => f.loopMaxMs, show: (v, f) => `${num(f.loopP99Ms!)} / ${num(v)}`,
    missing: (row) => (row.writes ? 'all in the stall' : ''),
  },
];

function bestBaseline(set: SetResult, column: Column): number | null {
  const values = set.rows
    .filter((r) => r.kind === 'baseline' && r.figures && (column.baseline?.(r) ?? true))
    .map((r) => column.value(r.figures!))
    .filter((v): v is number => v !== null);
  return values.length ? Math.min(...values) : null;
}

function cell(set: SetResult, row: Row, column: Column, best: number | null): string {
  const f = row.figures!;
  const value = column.value(f);
  if (value === null) return column.missing?.(row) ?? '';
  const shown = `${column.show(value, f)}${column.mark?.(row) ?? ''}`;
  if (row.kind === 'limit') return shown;
  return `${shown} (${ratio(value, best)}, ${ratio(value, column.limit?.(set, f))})`;
}

/** The error's first clause, for a table cell; the results file keeps all of it. */
const shortError = (error: string) => error.replace(/^\w*Error: /, '').split(' (')[0].slice(0, 80);

export function setTable(set: SetResult): string {
  const best = COLUMNS.map((c) => bestBaseline(set, c));
  const body = set.rows.map((row) => [
    row.label,
    ...(row.figures ? COLUMNS.map((c, i) => cell(set, row, c, best[i])) : [`failed: ${shortError(row.error!)}`, ...COLUMNS.slice(1).map(() => '')]),
  ]);
  return markdownTable([['contender', ...COLUMNS.map((c) => c.title)], ...body], { align: ['l', ...COLUMNS.map(() => 'r')] });
}

export const SET_LEGEND = [
  'Each cell: the figure (÷ the best baseline\'s, ÷ the machine limit\'s); below 1× is better for every figure.',
  'Limits: stall ÷ memcpy on 1 thread; done ÷ write + fsync of the raw bytes; on disk ÷ raw bytes; load ÷ page-cache read of the raw bytes;',
  'peak RSS ÷ the process before its first save (tensors, load targets and the contender set up). † written, not durable (no fsync).',
  'Load: into the trainer\'s existing arrays from the page cache; only tensorkeep\'s checks checksums (xxh3 of every chunk).',
  'Loop delay: event-loop delay between the save call\'s return and the save being done; "all in the stall" for synchronous saves.',
].join('\n');

interface Goal { figure: string; value: string; reference: string; goal: string; met: string }

const met = (ok: boolean) => (ok ? 'yes' : 'NO');

/** The save pipeline's goals, from the largest fp32 set that ran (stall, loop, durable), dqn-100k (small saves) and the pipeline child. */
export function goals(result: SuiteResult): Goal[] {
  const fp32 = result.sets.filter((s) => s.variant === 'fp32');
  const largest = fp32.reduce<SetResult | undefined>((a, s) => (a && a.rawBytes >= s.rawBytes ? a : s), undefined);
  const smallest = fp32.find((s) => s.workload === 'dqn-100k');
  const out: Goal[] = [];
  const tk = figuresOf(largest, DEFAULT_TK);
  const memcpy1 = figuresOf(largest, 'memcpy-1');
  if (largest && tk && memcpy1) {
    const r = tk.stallMs / memcpy1.stallMs;
    // The snapshot copies on both cores from 8 MiB up (native/core/snapshot.h), on one below.
    const [bound, how] = largest.rawBytes >= 8 * 2 ** 20 ? [0.7, 'both cores'] : [1.1, 'one thread'];
    out.push({ figure: `stall of report() saving ${largest.name}, copy`, value: `${num(tk.stallMs)} ms`, reference: `${r.toFixed(2)}× memcpy on 1 thread`, goal: `≤ ${bound}× (${how})`, met: met(r <= bound) });
    if (tk.loopMaxMs !== null)
      out.push({ figure: `event-loop delay while ${largest.name} persists, p99 / max`, value: `${num(tk.loopP99Ms!)} / ${num(tk.loopMaxMs)} ms`, reference: '', goal: 'max < 20 ms', met: met(tk.loopMaxMs < 20) });
    const disk = figuresOf(largest, 'raw-bytes');
    if (disk && tk.durableMs !== null && disk.durableMs !== null)
      out.push({ figure: `time to durable, ${largest.name}`, value: `${num(tk.durableMs)} ms`, reference: `${(tk.durableMs / disk.durableMs).toFixed(2)}× write + fsync of the raw bytes`, goal: '', met: '' });
  }
  const borrowStalls = result.sets.map((s) => figuresOf(s, BORROW_TK)?.stallMs).filter((v): v is number => v !== undefined);
  if (borrowStalls.length) {
    const worst = Math.max(...borrowStalls);
    out.push({ figure: 'stall of report() with snapshot: \'borrow\', any set', value: `${num(worst)} ms (worst)`, reference: '', goal: '≤ 0.2 ms', met: met(worst <= 0.2) });
  }
  const small = figuresOf(smallest, DEFAULT_TK);
  if (smallest && small) {
    const us = small.stallMs * 1e3;
    out.push({ figure: `report() that saves ${smallest.name}`, value: `${num(us)} µs`, reference: '', goal: '≤ 60 µs', met: met(us <= 60) });
  }
  const pipeline = result.pipeline.figures;
  if (pipeline) {
    out.push({ figure: 'report() that skips', value: `${num(pipeline.skipUs)} µs`, reference: `± ${pipeline.skipRmePct.toFixed(1)} %`, goal: '≤ 2 µs', met: met(pipeline.skipUs <= 2) });
    const t = pipeline.training;
    const sps = t.stepsPerSecond;
    out.push({
      figure: `training overhead, tensorkeep (MLP ${t.parameters} params, ${t.steps} steps, ${t.saves} saves)`,
      value: `${(t.overhead.tensorkeep * 100).toFixed(1)} %`,
      reference: `${num(sps.tensorkeep)} vs ${num(sps.none)} steps/s unsaved`, goal: '≤ 1 %', met: met(t.overhead.tensorkeep <= 0.01),
    });
    out.push({
      figure: 'training overhead, naive JSON.stringify + writeFileSync, same saves', value: `${(t.overhead.naive * 100).toFixed(1)} %`,
      reference: `${num(sps.naive)} steps/s`, goal: '', met: '',
    });
  }
  return out;
}

export function goalTable(result: SuiteResult): string {
  const rows = goals(result).map((g) => [g.figure, g.value, g.reference, g.goal, g.met]);
  return markdownTable([['figure', 'value', 'reference', 'goal', 'met?'], ...rows], { align: ['l', 'r', 'l', 'l', 'l'] });
}

export function setHeading(set: SetResult): string {
  return `### ${set.name}${set.variant === 'bf16' ? ' (bf16-rounded values)' : ''} — ${set.tensors} tensors, ${num(set.rawBytes / MB)} MB`;
}

/** Everything the run measured, as markdown. */
export function report(result: SuiteResult): string {
  const parts = result.sets.map((set) => `${setHeading(set)}\n\n${setTable(set)}`);
  parts.push(SET_LEGEND);
  parts.push(`### Save pipeline\n\n${result.pipeline.error ? `failed: ${result.pipeline.error}` : goalTable(result)}`);
  return parts.join('\n\n');
}
