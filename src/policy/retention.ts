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
  /** Sorted by seq. */
  keep: R[];
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
 * records are never evicted, whatever the quota.
 */
export function planRetention<R extends RetainedRecord>(records: readonly R[], config: RetentionConfig, extraBytes = 0): RetentionPlan<R> {
  const bySeq = [...records].sort((a, b) => a.seq - b.seq);
  const of = (c: Category) => bySeq.filter((r) => r.category === c);
  const newest = bySeq.at(-1);
  const best = singleBest(bySeq, config.primary);
  const isProtected = (r: R) => r === newest || r === best || r.pinned;

  const kept = new Set<R>([...bySeq.filter(isProtected), ...of('manual')]);
  for (const r of rankBest(of('best'), config.primary).slice(0, Math.max(0, config.keepBest))) kept.add(r);
  const periodic = of('periodic');
  for (const r of periodic.slice(Math.max(0, periodic.length - config.keepPeriodic))) kept.add(r);
  const finals = of('final');
  if (finals.length > 0) kept.add(finals[finals.length - 1]);

  const evict: RetentionPlan<R>['evict'] = [];
  for (const r of bySeq) if (!kept.has(r)) evict.push({ record: r, reason: WINDOW_REASON[r.category] });

  let overQuota = false;
  if (config.quotaBytes !== null) {
    let used = extraBytes;
    for (const r of kept) used += r.bytes;
    // Cheapest losses first: periodic, final, manual by age, then best worst-first.
    const order = [
      ...periodic, ...finals, ...of('manual'), ...rankBest(of('best'), config.primary).reverse(),
    ].filter((r) => kept.has(r) && !isProtected(r));
    for (const r of order) {
      if (used <= config.quotaBytes) break;
      kept.delete(r);
      used -= r.bytes;
      evict.push({ record: r, reason: 'quota' });
    }
    overQuota = used > config.quotaBytes;
  }
  return { keep: bySeq.filter((r) => kept.has(r)), evict, overQuota };
}
