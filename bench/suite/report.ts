// The suite's report: a table per set (table.ts), then the performance
// goals with whether this run met them.
import { markdownTable } from 'markdown-table';
import { BORROW_TK, DEFAULT_TK } from './contenders.js';
import { byRound, spreadOf, type FigureName, type Figures } from './figures.js';
import type { LimitFigures, LimitId } from './limits.js';
import { num, pairedRatio } from './numbers.js';
import { figuresOf, type SetResult, type SuiteResult } from './results.js';
import { limitNotes, SET_LEGEND, setTable } from './table.js';

const MB = 1e6;

interface Goal { figure: string; value: string; reference: string; goal: string; met: string }

const limitOf = (set: SetResult | undefined, id: LimitId) => set?.limits?.find((l) => l.id === id);

/** The median's ratio to the limit's, with the spread of the per-round ratios. */
function toLimit(f: Figures, limit: LimitFigures): string {
  return pairedRatio(spreadOf(f, limit.figure)!.median, limit.spread.median, byRound(f, limit.figure), new Map(limit.rounds));
}

/** The ratio of two rows' medians of a figure, with the spread of the per-round ratios; and the ratio alone. */
function toRow(f: Figures, other: Figures, figure: FigureName): { text: string; ratio: number } {
  const mine = spreadOf(f, figure)!.median;
  const theirs = spreadOf(other, figure)!.median;
  return { text: pairedRatio(mine, theirs, byRound(f, figure), byRound(other, figure)), ratio: mine / theirs };
}

const met = (ok: boolean) => (ok ? 'yes' : 'NO');
const setName = (s: SetResult) => `${s.name}${s.variant === 'bf16' ? ' bf16' : ''}`;

/**
 * The performance goals: the default store (shuffle+zstd -1, copy) against
 * safetensors-style and the copy limit on every set, the small and skipping
 * report(), borrow, and the MLP's training overhead from the pipeline child.
 */
export function goals(result: SuiteResult): Goal[] {
  const fp32 = result.sets.filter((s) => s.variant === 'fp32');
  const largest = fp32.reduce<SetResult | undefined>((a, s) => (a && a.rawBytes >= s.rawBytes ? a : s), undefined);
  const smallest = fp32.find((s) => s.workload === 'dqn-100k');
  const out: Goal[] = [];
  for (const set of result.sets) {
    const tk = figuresOf(set, DEFAULT_TK);
    const peer = figuresOf(set, 'safetensors-style');
    if (!tk?.durableSpread || !peer?.durableSpread) continue;
    const { text, ratio } = toRow(tk, peer, 'durable');
    out.push({ figure: `time to durable, ${setName(set)} (median)`, value: `${num(tk.durableSpread.median)} ms`, reference: `${text} safetensors-style`, goal: '≤ 1.0× safetensors-style', met: met(ratio <= 1) });
  }
  const tk = figuresOf(largest, DEFAULT_TK);
  const copy2 = figuresOf(largest, 'memcpy-2');
  if (largest && tk?.stallSpread && copy2?.stallSpread) {
    const { text, ratio } = toRow(tk, copy2, 'stall');
    out.push({ figure: `stall of report() saving ${largest.name}, copy (median)`, value: `${num(tk.stallSpread.median)} ms`, reference: `${text} memcpy on 2 threads`, goal: '≤ 1.0× memcpy, 2 threads', met: met(ratio <= 1) });
  }
  if (largest && tk?.loopMaxMs != null)
    out.push({ figure: `event-loop delay while ${largest.name} persists, p99 / max`, value: `${num(tk.loopP99Ms!)} / ${num(tk.loopMaxMs)} ms`, reference: '', goal: 'max < 20 ms', met: met(tk.loopMaxMs < 20) });
  const peer = figuresOf(largest, 'safetensors-style');
  if (tk?.loadSpread && peer?.loadSpread) {
    const { text, ratio } = toRow(tk, peer, 'load');
    const read = limitOf(largest, 'page-cache-read');
    out.push({ figure: `verified load, ${largest!.name} (median)`, value: `${num(tk.loadSpread.median)} ms`, reference: `${text} safetensors-style (unverified)${read ? `; ${toLimit(tk, read)} the read limit` : ''}`, goal: '≤ 1.2× safetensors-style', met: met(ratio <= 1.2) });
  }
  const borrowStalls = result.sets.map((s) => figuresOf(s, BORROW_TK)?.stallSpread?.median).filter((v): v is number => v !== undefined);
  if (borrowStalls.length) {
    const worst = Math.max(...borrowStalls);
    out.push({ figure: 'stall of report() with snapshot: \'borrow\', any set (median)', value: `${num(worst)} ms (worst)`, reference: '', goal: '≤ 0.2 ms', met: met(worst <= 0.2) });
  }
  const small = figuresOf(smallest, DEFAULT_TK);
  const smallCopy = limitOf(smallest, 'memcpy-1');
  if (smallest && small?.stallSpread) {
    const us = small.stallSpread.median * 1e3;
    out.push({ figure: `report() that saves ${smallest.name} (median)`, value: `${num(us)} µs`, reference: smallCopy ? `${toLimit(small, smallCopy)} the copy limit, 1 thread` : '', goal: '≤ 60 µs', met: met(us <= 60) });
  }
  const pipeline = result.pipeline.figures;
  if (pipeline) {
    out.push({ figure: 'report() that skips', value: `${num(pipeline.skipUs)} µs`, reference: `± ${pipeline.skipRmePct.toFixed(1)} %`, goal: '≤ 1 µs', met: met(pipeline.skipUs <= 1) });
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
  const parts = result.sets.map((set) => `${setHeading(set)}\n\n${setTable(set)}\n\n${limitNotes(set)}`);
  parts.push(SET_LEGEND);
  parts.push(`### Goals\n\n${result.pipeline.error ? `failed: ${result.pipeline.error}` : goalTable(result)}`);
  return parts.join('\n\n');
}
