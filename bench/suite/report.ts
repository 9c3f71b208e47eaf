// The suite's report: a table per set (table.ts), then the save pipeline's
// goals with whether this run met them.
import { markdownTable } from 'markdown-table';
import { BORROW_TK, DEFAULT_TK } from './contenders.js';
import { byRound, spreadOf, type Figures } from './figures.js';
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

const met = (ok: boolean) => (ok ? 'yes' : 'NO');

/** The save pipeline's goals, from the largest fp32 set that ran (stall, loop, durable), dqn-100k (small saves) and the pipeline child. */
export function goals(result: SuiteResult): Goal[] {
  const fp32 = result.sets.filter((s) => s.variant === 'fp32');
  const largest = fp32.reduce<SetResult | undefined>((a, s) => (a && a.rawBytes >= s.rawBytes ? a : s), undefined);
  const smallest = fp32.find((s) => s.workload === 'dqn-100k');
  const out: Goal[] = [];
  const tk = figuresOf(largest, DEFAULT_TK);
  const copy = limitOf(largest, 'memcpy-1');
  if (largest && tk?.stallSpread && copy) {
    const r = tk.stallSpread.median / copy.spread.median;
    // The snapshot copies on both cores from 8 MiB up (native/core/snapshot.h), on one below.
    const [bound, how] = largest.rawBytes >= 8 * 2 ** 20 ? [0.7, 'both cores'] : [1.1, 'one thread'];
    out.push({ figure: `stall of report() saving ${largest.name}, copy (median)`, value: `${num(tk.stallSpread.median)} ms`, reference: `${toLimit(tk, copy)} the copy limit, 1 thread`, goal: `≤ ${bound}× (${how})`, met: met(r <= bound) });
    if (tk.loopMaxMs !== null)
      out.push({ figure: `event-loop delay while ${largest.name} persists, p99 / max`, value: `${num(tk.loopP99Ms!)} / ${num(tk.loopMaxMs)} ms`, reference: '', goal: 'max < 20 ms', met: met(tk.loopMaxMs < 20) });
    const disk = limitOf(largest, 'durable-write');
    if (disk && tk.durableSpread)
      out.push({ figure: `time to durable, ${largest.name} (median)`, value: `${num(tk.durableSpread.median)} ms`, reference: `${toLimit(tk, disk)} the durable-write limit`, goal: '', met: '' });
  }
  const borrowStalls = result.sets.map((s) => figuresOf(s, BORROW_TK)?.stallSpread?.median).filter((v): v is number => v !== undefined);
  if (borrowStalls.length) {
    const worst = Math.max(...borrowStalls);
    out.push({ figure: 'stall of report() with snapshot: \'borrow\', any set (median)', value: `${num(worst)} ms (worst)`, reference: '', goal: '≤ 0.2 ms', met: met(worst <= 0.2) });
  }
  const small = figuresOf(smallest, DEFAULT_TK)?.stallSpread;
  if (smallest && small) {
    const us = small.median * 1e3;
    out.push({ figure: `report() that saves ${smallest.name} (median)`, value: `${num(us)} µs`, reference: '', goal: '≤ 60 µs', met: met(us <= 60) });
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
  const parts = result.sets.map((set) => `${setHeading(set)}\n\n${setTable(set)}\n\n${limitNotes(set)}`);
  parts.push(SET_LEGEND);
  parts.push(`### Save pipeline\n\n${result.pipeline.error ? `failed: ${result.pipeline.error}` : goalTable(result)}`);
  return parts.join('\n\n');
}
