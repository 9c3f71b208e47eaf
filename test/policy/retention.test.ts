// The retention plan (policy/retention.ts): examples and properties (fast-
// check).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Category } from '../../src/file/types.js';
import { planRetention, type RetainedRecord, type RetentionConfig } from '../../src/policy/retention.js';
import { singleBest } from '../../src/policy/ranking.js';

const LOSS = { name: 'loss', direction: 'min' } as const;
const ACC = { name: 'acc', direction: 'max' } as const;

function rec(seq: number, category: Category, loss?: number, o: Partial<RetainedRecord> = {}): RetainedRecord {
  return { seq, step: seq * 100, time: seq * 1000, category, metrics: loss === undefined ? {} : { loss }, bytes: 10, pinned: false, ...o };
}

function cfg(o: Partial<RetentionConfig> = {}): RetentionConfig {
  return { keepBest: 2, keepPeriodic: 2, quotaBytes: null, primary: LOSS, ...o };
}

const seqs = (rs: RetainedRecord[]) => rs.map((r) => r.seq);
const evicted = (plan: ReturnType<typeof planRetention>) => plan.evict.map((e) => [e.record.seq, e.reason]);

describe('singleBest', () => {
  it.each<[string, RetainedRecord[], RetentionConfig['primary'], number | null]>([
    ['min: lowest finite value of any category', [rec(1, 'best', 3), rec(2, 'periodic', 1), rec(3, 'manual', 2)], LOSS, 2],
    ['max: highest finite value', [rec(1, 'best', 3), rec(2, 'periodic', 1)], { name: 'loss', direction: 'max' }, 1],
    ['ties go to the newest', [rec(4, 'best', 1), rec(9, 'final', 1), rec(2, 'best', 1)], LOSS, 9],
    ['NaN and ±Infinity never win', [rec(1, 'best', NaN), rec(2, 'best', -Infinity), rec(3, 'best', 5), rec(4, 'best', Infinity)], LOSS, 3],
    ['records without the metric never win', [rec(1, 'best'), rec(2, 'best', 5)], LOSS, 2],
    ['null when no record has a finite value', [rec(1, 'best', NaN), rec(2, 'periodic')], LOSS, null],
    ['null without a primary metric', [rec(1, 'best', 1)], null, null],
    ['null for no records', [], LOSS, null],
  ])('%s', (_name, records, primary, want) => {
    expect(singleBest(records, primary)?.seq ?? null).toBe(want);
  });
});

describe('planRetention windows', () => {
  it('keeps the top keepBest best records by the primary metric', () => {
    const records = [rec(1, 'best', 5), rec(2, 'best', 3), rec(3, 'best', 4), rec(4, 'best', 6), rec(5, 'periodic', 9)];
    const plan = planRetention(records, cfg({ keepBest: 2 }));
    expect(seqs(plan.keep)).toEqual([2, 3, 5]);
    expect(evicted(plan)).toEqual([[1, 'best-window'], [4, 'best-window']]);
  });

  it('ranks max metrics by direction', () => {
    const records = [rec(1, 'best', 0, { metrics: { acc: 0.5 } }), rec(2, 'best', 0, { metrics: { acc: 0.9 } }),
      rec(3, 'best', 0, { metrics: { acc: 0.7 } }), rec(4, 'manual')];
    expect(seqs(planRetention(records, cfg({ keepBest: 2, primary: ACC })).keep)).toEqual([2, 3, 4]);
  });

  it('ranks non-finite and missing values after finite ones, ties newer first', () => {
    const records = [rec(1, 'best', NaN), rec(2, 'best', 1), rec(3, 'best', 1), rec(4, 'best'), rec(5, 'best', -Infinity), rec(6, 'manual')];
    expect(seqs(planRetention(records, cfg({ keepBest: 1 })).keep)).toEqual([3, 6]);
    expect(seqs(planRetention(records, cfg({ keepBest: 3 })).keep)).toEqual([2, 3, 5, 6]);
  });

  it('without a primary metric best records rank by recency', () => {
    const records = [rec(1, 'best', 1), rec(2, 'best', 9), rec(3, 'best', 5), rec(4, 'manual')];
    expect(seqs(planRetention(records, cfg({ keepBest: 2, primary: null })).keep)).toEqual([2, 3, 4]);
  });

  it('keeps the newest keepPeriodic periodic records', () => {
    const records = [1, 2, 3, 4].map((s) => rec(s, 'periodic', 10 - s)).concat(rec(5, 'manual'));
    const plan = planRetention(records, cfg({ keepPeriodic: 2, primary: null }));
    expect(seqs(plan.keep)).toEqual([3, 4, 5]);
    expect(evicted(plan)).toEqual([[1, 'periodic-window'], [2, 'periodic-window']]);
  });

  it('keepPeriodic 0 evicts every periodic one but the newest record', () => {
    const plan = planRetention([rec(1, 'periodic'), rec(2, 'periodic'), rec(3, 'periodic')], cfg({ keepPeriodic: 0 }));
    expect(seqs(plan.keep)).toEqual([3]);
  });

  it('keeps only the newest final', () => {
    const plan = planRetention([rec(1, 'final'), rec(2, 'final'), rec(3, 'final'), rec(4, 'manual')], cfg({ primary: null }));
    expect(seqs(plan.keep)).toEqual([3, 4]);
    expect(evicted(plan)).toEqual([[1, 'superseded-final'], [2, 'superseded-final']]);
  });

  it('keeps every manual record when there is no quota', () => {
    const plan = planRetention([1, 2, 3, 4, 5].map((s) => rec(s, 'manual')), cfg({ keepBest: 0, keepPeriodic: 0 }));
    expect(plan.evict).toEqual([]);
  });

  it('never evicts the newest record, even from an empty window', () => {
    const plan = planRetention([rec(1, 'manual'), rec(2, 'best', 9)], cfg({ keepBest: 0, primary: null }));
    expect(seqs(plan.keep)).toEqual([1, 2]);
  });

  it('keeps the single best across categories, outside every window', () => {
    const records = [rec(1, 'periodic', 0.5), rec(2, 'periodic', 2), rec(3, 'periodic', 3), rec(4, 'best', 1), rec(5, 'best', 0.75)];
    const plan = planRetention(records, cfg({ keepBest: 1, keepPeriodic: 1 }));
    expect(seqs(plan.keep)).toEqual([1, 3, 5]);
    expect(evicted(plan)).toEqual([[2, 'periodic-window'], [4, 'best-window']]);
  });

  it('keeps pinned records outside every window', () => {
    const records = [rec(1, 'periodic', 1, { pinned: true }), rec(2, 'final', 1, { pinned: true }), rec(3, 'best', 9, { pinned: true }),
      rec(4, 'best', 0), rec(5, 'final'), rec(6, 'periodic')];
    const plan = planRetention(records, cfg({ keepBest: 1, keepPeriodic: 1 }));
    expect(plan.evict).toEqual([]);
  });

  it('accepts records in any order and returns keep sorted by seq', () => {
    const records = [rec(5, 'periodic'), rec(2, 'manual'), rec(9, 'best', 1), rec(1, 'final')];
    expect(seqs(planRetention(records, cfg()).keep)).toEqual([1, 2, 5, 9]);
  });

  it('plans nothing for no records', () => {
    expect(planRetention([], cfg({ quotaBytes: 0 }), 100)).toEqual({ keep: [], evict: [], overQuota: true });
    expect(planRetention([], cfg({ quotaBytes: 100 }), 100)).toEqual({ keep: [], evict: [], overQuota: false });
  });
});

describe('planRetention quota', () => {
  // seq: 1 periodic, 2 best(4), 3 manual, 4 final, 5 periodic, 6 best(2), 7 manual, 8 best(3), 9 periodic (newest); 10 bytes each
  const mixed = [
    rec(1, 'periodic', 9), rec(2, 'best', 4), rec(3, 'manual'), rec(4, 'final'), rec(5, 'periodic', 9),
    rec(6, 'best', 2), rec(7, 'manual'), rec(8, 'best', 3), rec(9, 'periodic', 9),
  ];
  const roomy = cfg({ keepBest: 10, keepPeriodic: 10 });

  it.each<[number, number[]]>([
    [90, []],
    [89, [1]],
    [70, [1, 5]],                         // periodic oldest first; 9 is the newest
    [60, [1, 5, 4]],                      // then the final
    [50, [1, 5, 4, 3]],                   // then manual oldest first
    [40, [1, 5, 4, 3, 7]],
    [30, [1, 5, 4, 3, 7, 2]],             // then best worst-first; 6 is the single best
    [20, [1, 5, 4, 3, 7, 2, 8]],
  ])('quota %i evicts %j in order', (quotaBytes, want) => {
    const plan = planRetention(mixed, { ...roomy, quotaBytes });
    expect(plan.evict.map((e) => e.record.seq)).toEqual(want);
    expect(plan.evict.every((e) => e.reason === 'quota')).toBe(true);
    expect(plan.overQuota).toBe(false);
  });

  it('when only protected records are left it reports overQuota', () => {
    const plan = planRetention(mixed, { ...roomy, quotaBytes: 19 });
    expect(seqs(plan.keep)).toEqual([6, 9]);
    expect(plan.overQuota).toBe(true);
  });

  it('pinned records survive the quota', () => {
    const records = mixed.map((r) => (r.seq === 1 ? { ...r, pinned: true } : r));
    const plan = planRetention(records, { ...roomy, quotaBytes: 0 });
    expect(seqs(plan.keep)).toEqual([1, 6, 9]);
    expect(plan.overQuota).toBe(true);
  });

  it('extraBytes makes room for a save of that size', () => {
    const plan = planRetention(mixed, { ...roomy, quotaBytes: 90 }, 25);
    expect(plan.evict.map((e) => e.record.seq)).toEqual([1, 5, 4]);
  });

  it('window evictions come first and count towards the quota', () => {
    const plan = planRetention(mixed, { ...roomy, keepPeriodic: 1, quotaBytes: 60 });
    expect(evicted(plan)).toEqual([[1, 'periodic-window'], [5, 'periodic-window'], [4, 'quota']]);
  });

  it('quota eviction of best records goes worst first, non-finite before finite', () => {
    const records = [rec(1, 'best', 1), rec(2, 'best', NaN), rec(3, 'best', 5), rec(4, 'best', 3), rec(5, 'manual')];
    const plan = planRetention(records, cfg({ keepBest: 10, quotaBytes: 30 }));
    expect(plan.evict.map((e) => e.record.seq)).toEqual([2, 3]);
  });
});

describe('planRetention properties', () => {
  const CATEGORIES: Category[] = ['best', 'periodic', 'final', 'manual'];
  const spec = fc.record({
    category: fc.constantFrom(...CATEGORIES),
    loss: fc.option(fc.oneof(fc.integer({ min: -5, max: 20 }), fc.constantFrom(NaN, Infinity, -Infinity)), { nil: undefined }),
    bytes: fc.integer({ min: 0, max: 300 }),
    pinned: fc.boolean(),
    order: fc.nat(),
  });
  const input = fc.record({
    specs: fc.array(spec, { maxLength: 30 }),
    config: fc.record({
      keepBest: fc.integer({ min: 0, max: 6 }),
      keepPeriodic: fc.integer({ min: 0, max: 6 }),
      quotaBytes: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: null }),
      primary: fc.constantFrom<RetentionConfig['primary']>(LOSS, { name: 'loss', direction: 'max' }, null),
    }),
    extraBytes: fc.integer({ min: 0, max: 500 }),
  }).map(({ specs, config, extraBytes }) => {
    // Unique seqs, handed over in a random order.
    const records = specs.map((s, i) => ({ r: rec(i + 1, s.category, s.loss, { bytes: s.bytes, pinned: s.pinned }), o: s.order }))
      .sort((a, b) => a.o - b.o).map((x) => x.r);
    return { records, config, extraBytes };
  });

  const check = (predicate: (x: { records: RetainedRecord[]; config: RetentionConfig; extraBytes: number }) => void) =>
    fc.assert(fc.property(input, predicate), { numRuns: 300 });

  const protectedSet = (records: RetainedRecord[], config: RetentionConfig) => {
    const newest = records.reduce<RetainedRecord | null>((a, r) => (a && a.seq > r.seq ? a : r), null);
    return new Set(records.filter((r) => r === newest || r === singleBest(records, config.primary) || r.pinned));
  };

  it('(1) the newest and the single best are always kept', () => check(({ records, config, extraBytes }) => {
    const keep = planRetention(records, config, extraBytes).keep;
    const newest = Math.max(...records.map((r) => r.seq));
    if (records.length > 0) expect(keep.some((r) => r.seq === newest)).toBe(true);
    const best = singleBest(records, config.primary);
    if (best) expect(keep).toContain(best);
  }));

  it('(2) pinned records are always kept', () => check(({ records, config, extraBytes }) => {
    const keep = planRetention(records, config, extraBytes).keep;
    for (const r of records) if (r.pinned) expect(keep).toContain(r);
  }));

  it('(3) keep and evict partition the input, keep sorted by seq', () => check(({ records, config, extraBytes }) => {
    const plan = planRetention(records, config, extraBytes);
    const out = [...plan.keep, ...plan.evict.map((e) => e.record)];
    expect(out.length).toBe(records.length);
    expect(new Set(out)).toEqual(new Set(records));
    expect(seqs(plan.keep)).toEqual(seqs(plan.keep).sort((a, b) => a - b));
  }));

  it('(4) under quota unless only protected records are left', () => check(({ records, config, extraBytes }) => {
    const plan = planRetention(records, config, extraBytes);
    const used = plan.keep.reduce((n, r) => n + r.bytes, 0) + extraBytes;
    if (config.quotaBytes === null) expect(plan.overQuota).toBe(false);
    else if (!plan.overQuota) expect(used).toBeLessThanOrEqual(config.quotaBytes);
    else {
      expect(used).toBeGreaterThan(config.quotaBytes);
      const prot = protectedSet(records, config);
      for (const r of plan.keep) expect(prot.has(r)).toBe(true);
    }
  }));

  it('(5) planning again on keep evicts nothing', () => check(({ records, config, extraBytes }) => {
    const plan = planRetention(records, config, extraBytes);
    const again = planRetention(plan.keep, config, extraBytes);
    expect(again.evict).toEqual([]);
    expect(again.keep).toEqual(plan.keep);
    expect(again.overQuota).toBe(plan.overQuota);
  }));

  it('(6) windows bound the kept periodic and best counts, protected ones aside', () => check(({ records, config, extraBytes }) => {
    const plan = planRetention(records, config, extraBytes);
    const prot = protectedSet(records, config);
    const unprotected = (c: Category) => plan.keep.filter((r) => r.category === c && !prot.has(r)).length;
    expect(unprotected('periodic')).toBeLessThanOrEqual(config.keepPeriodic);
    expect(unprotected('best')).toBeLessThanOrEqual(config.keepBest);
    expect(unprotected('final')).toBeLessThanOrEqual(1);
  }));

  it('(7) window evictions name the window of their category; manual ones only go for the quota', () => check(({ records, config, extraBytes }) => {
    const want: Record<Category, string> = { best: 'best-window', periodic: 'periodic-window', final: 'superseded-final', manual: 'quota' };
    for (const { record, reason } of planRetention(records, config, extraBytes).evict) {
      expect(reason === 'quota' || reason === want[record.category]).toBe(true);
      if (config.quotaBytes === null) expect(reason).toBe(want[record.category]);
      if (reason === 'quota') expect(config.quotaBytes).not.toBeNull();
    }
  }));

  it('(8) inputs are not mutated', () => check(({ records, config, extraBytes }) => {
    const before = structuredClone(records);
    planRetention(records, config, extraBytes);
    expect(records).toEqual(before);
  }));
});
