// "Best" by the primary metric: the one ordering that load('best'), best(),
// retention's best window and the quota's order of losses all use.
import type { Metrics } from '../file/types.js';
import type { Direction } from './decide.js';

export type Primary = { name: string; direction: Direction } | null;

interface Ranked { seq: number; metrics: Metrics }

/** Higher is better; null when the record has no finite primary value. */
function score(r: Ranked, primary: NonNullable<Primary>): number | null {
  const v = r.metrics[primary.name];
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  return primary.direction === 'min' ? -v : v;
}

/** Best first: finite primary values by direction, then the rest; ties and no primary: newer first. */
export function rankBest<R extends Ranked>(records: readonly R[], primary: Primary): R[] {
  const byNewest = (a: Ranked, b: Ranked) => b.seq - a.seq;
  if (!primary) return [...records].sort(byNewest);
  const scored = records.map((r) => ({ r, s: score(r, primary) }));
  scored.sort((a, b) => {
    if (a.s !== b.s) {
      if (a.s === null) return 1;
      if (b.s === null) return -1;
      return b.s - a.s;
    }
    return byNewest(a.r, b.r);
  });
  return scored.map((x) => x.r);
}

/** The record with the best finite primary value (ties: the newest), or null. */
export function singleBest<R extends Ranked>(records: readonly R[], primary: Primary): R | null {
  if (!primary) return null;
  // One pass: best() is called per report by dashboards and must stay O(n).
  let top: R | null = null;
  let topScore = -Infinity;
  for (const r of records) {
    const s = score(r, primary);
    if (s !== null && (top === null || s > topScore || (s === topScore && r.seq > top.seq))) {
      top = r;
      topScore = s;
    }
  }
  return top;
}
