// The machine's limits in a set: each one the best, statistic by statistic,
// of the ways to reach it (limit-ways.ts) and of the contenders doing the same
// work, all measured in the same rounds. So no contender beats its limit: if
// one does better than every way, the limit is that contender's figure.
import { byRound, meanOf, spreadOf, type FigureName } from './figures.js';
import type { Row } from './results.js';
import type { Spread } from './stats.js';

export type LimitId = 'memcpy-1' | 'memcpy-2' | 'durable-write' | 'page-cache-read';

export const LIMITS: ReadonlyArray<{ id: LimitId; label: string; figure: FigureName }> = [
  { id: 'memcpy-1', label: 'limit: copy of the tensors, 1 thread', figure: 'stall' },
  { id: 'memcpy-2', label: 'limit: copy of the tensors, 2 threads', figure: 'stall' },
  { id: 'durable-write', label: 'limit: durable write of the raw bytes', figure: 'durable' },
  { id: 'page-cache-read', label: 'limit: page-cache read of the raw bytes', figure: 'load' },
];

export interface LimitFigures {
  id: LimitId;
  label: string;
  figure: FigureName;
  /** Every contender measured in this run that competes for the limit. */
  candidates: string[];
  /** Each statistic the lowest among the candidates ("best of"), so min ≤ median ≤ max still holds. */
  mean: number;
  spread: Spread;
  /** The candidate with the lowest median: what the limit's ratios are taken against. */
  bestId: string;
  /**
   * Per round, the lowest sample among the candidates in the wave of `bestId`
   * (only a wave's contenders share rounds): `[round, value]`.
   */
  rounds: Array<[number, number]>;
}

function best(rows: Row[], figure: FigureName, id: LimitId, label: string): LimitFigures | null {
  const measured = rows.filter((r) => r.limits.includes(id) && r.figures && spreadOf(r.figures, figure));
  if (!measured.length) return null;
  const spreads = measured.map((r) => spreadOf(r.figures!, figure)!);
  const lowest = (stat: keyof Spread) => Math.min(...spreads.map((s) => s[stat]));
  const median = lowest('median');
  const bestRow = measured[spreads.findIndex((s) => s.median === median)];
  const perRound = new Map<number, number>();
  for (const r of measured.filter((r) => r.wave === bestRow.wave)) {
    for (const [round, v] of byRound(r.figures!, figure)) perRound.set(round, Math.min(v, perRound.get(round) ?? Infinity));
  }
  return {
    id, label, figure,
    candidates: measured.map((r) => r.id),
    mean: Math.min(...measured.map((r) => meanOf(r.figures!, figure)!)),
    spread: { min: lowest('min'), p10: lowest('p10'), median, p90: lowest('p90'), max: lowest('max') },
    bestId: bestRow.id,
    rounds: [...perRound].sort(([a], [b]) => a - b),
  };
}

export function limitsOf(rows: Row[]): LimitFigures[] {
  return LIMITS.map(({ id, label, figure }) => best(rows, figure, id, label)).filter((l): l is LimitFigures => l !== null);
}
