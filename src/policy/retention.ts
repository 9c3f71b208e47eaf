// What to keep (docs/POLICIES.md): a pure function of one model's durable
// checkpoints. model/evictor.ts journals the evictions and unlinks off the save path.
import type { Category, Metrics } from '../file/types.js';
import { rankBest, singleBest, type Primary } from './ranking.js';

export interface RetainedRecord {
  seq: number;
  step: number;
  time: number;
  category: Category;
  metrics: Metrics;
  bytes: number;
  pinned: boolean;
}

export interface RetentionConfig {
  keepBest: number;
  keepPeriodic: number;
  quotaBytes: number | null;
  primary: Primary;
}

export type EvictReason = 'periodic-window' | 'best-window' | 'superseded-final' | 'quota';

export interface RetentionPlan<R extends RetainedRecord = RetainedRecord> {
  /** Sorted by seq (built when read). */
  readonly keep: R[];
  /** Window evictions by seq, then quota evictions in the order they were chosen. */
  evict: Array<{ record: R; reason: EvictReason }>;
  /** Still over quota with only protected records left. */
  overQuota: boolean;
}

// 'manual' has no window: it is kept unless the quota forces it out.
const WINDOW_REASON: Record<Category, EvictReason> = {
  best: 'best-window', periodic: 'periodic-window', final: 'superseded-final', manual: 'quota',
};

/**
 * Splits `records` into keep and evict. `extraBytes` asks for room for a save
 * of that size (quota or ENOSPC). The newest, the single best and pinned
 * records are never evicted, whatever the quota. Linear in the records
 * (plus sorting the best ones): it runs at every commit, and a catalog may
 * hold 100 000.
 */
export function planRetention<R extends RetainedRecord>(records: readonly R[], config: RetentionConfig, extraBytes = 0): RetentionPlan<R> {
  // A catalog lists its records by seq already: then they are used as they are.
  const bySeq = records.every((r, i) => i === 0 || records[i - 1].seq < r.seq) ? records : [...records].sort((a, b) => a.seq - b.seq);
  const n = bySeq.length;
  const best = singleBest(bySeq, config.primary);
  const kept = new Uint8Array(n);
  const isProtected = new Uint8Array(n);
  const at: Record<Category, number[]> = { best: [], periodic: [], final: [], manual: [] };
  const quota = config.quotaBytes !== null;
  for (let i = 0; i < n; i++) {
    const r = bySeq[i];
    if (i === n - 1 || r === best || r.pinned) isProtected[i] = kept[i] = 1;
    // Manual ones have no window: kept, and listed only for the quota's order of losses.
    if (r.category === 'manual') {
      kept[i] = 1;
      if (quota) at.manual.push(i);
    } else {
      at[r.category].push(i);
    }
  }
  const bestRanked = rankBest(at.best.map((i) => bySeq[i]), config.primary).map((r) => at.best[indexIn(at.best, bySeq, r.seq)]);
  for (const i of bestRanked.slice(0, Math.max(0, config.keepBest))) kept[i] = 1;
  for (const i of at.periodic.slice(Math.max(0, at.periodic.length - config.keepPeriodic))) kept[i] = 1;
  if (at.final.length > 0) kept[at.final[at.final.length - 1]] = 1;

  const evict: RetentionPlan<R>['evict'] = [];
  for (let i = 0; i < n; i++) if (!kept[i]) evict.push({ record: bySeq[i], reason: WINDOW_REASON[bySeq[i].category] });

  let overQuota = false;
  if (quota && config.quotaBytes !== null) {
    let used = extraBytes;
    for (let i = 0; i < n; i++) if (kept[i]) used += bySeq[i].bytes;
    // Cheapest losses first: periodic, final, manual by age, then best worst-first.
    for (const i of [...at.periodic, ...at.final, ...at.manual, ...bestRanked.reverse()]) {
      if (used <= config.quotaBytes) break;
      if (!kept[i] || isProtected[i]) continue;
      kept[i] = 0;
      used -= bySeq[i].bytes;
      evict.push({ record: bySeq[i], reason: 'quota' });
    }
    overQuota = used > config.quotaBytes;
  }
  return {
    // Built when asked: a commit's retention pass only needs what to evict.
    get keep() {
      return bySeq.filter((_, i) => kept[i]);
    },
    evict,
    overQuota,
  };
}

/** Where in `positions` (indexes of `bySeq`, ascending) the record with `seq` is. */
function indexIn<R extends RetainedRecord>(positions: number[], bySeq: readonly R[], seq: number): number {
  let lo = 0;
  let hi = positions.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bySeq[positions[mid]].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
