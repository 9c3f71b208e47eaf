// What to keep (DESIGN.md §6): a pure function of one model's durable
// checkpoints. The manager journals the evictions and unlinks off the save path.
import type { Category, Metrics } from '../file/checkpoint-file.js';
import type { Direction } from './decide.js';

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
  primary: { name: string; direction: Direction } | null;
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

type Primary = RetentionConfig['primary'];

/** Higher is better; null when the record has no finite primary value. */
function score(r: RetainedRecord, primary: NonNullable<Primary>): number | null {
  const v = r.metrics[primary.name];
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  return primary.direction === 'min' ? -v : v;
}

/** Best first: finite primary values by direction, then the rest; ties and no primary → newer first. */
function rank<R extends RetainedRecord>(records: R[], primary: Primary): R[] {
  const byNewest = (a: RetainedRecord, b: RetainedRecord) => b.seq - a.seq;
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

/** The record with the best finite primary value of any category (ties → newest), or null. */
export function singleBest<R extends RetainedRecord>(records: readonly R[], primary: Primary): R | null {
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
  for (const r of rank(of('best'), config.primary).slice(0, Math.max(0, config.keepBest))) kept.add(r);
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
      ...periodic, ...finals, ...of('manual'), ...rank(of('best'), config.primary).reverse(),
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
