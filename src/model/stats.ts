// One model's statistics (stats()): what the catalog holds, the tracker's
// bests and counters, and the save path's queue and latencies.
import type { RecordableHistogram } from 'node:perf_hooks';
import type { Category } from '../file/types.js';
import type { Catalog } from '../durability/catalog.js';
import type { Tracker } from './tracker.js';
import type { LatencyStats, ModelStats } from './types.js';

function percentiles(h: RecordableHistogram): LatencyStats {
  const ms = (ns: number) => (h.count === 0 ? 0 : ns / 1e6);
  return { count: h.count, p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
}

export interface SavePathFigures {
  coalesced: number;
  dropped: number;
  queueDepth: number;
  stall: RecordableHistogram;
  persist: RecordableHistogram;
}

export function modelStats(catalog: Catalog, tracker: Tracker, quotaBytes: number | null, now: number, path: SavePathFigures): ModelStats {
  catalog.refresh();
  const records = catalog.list();
  const checkpoints: Record<Category, number> = { best: 0, periodic: 0, final: 0, manual: 0 };
  for (const r of records) checkpoints[r.category]++;
  const state = tracker.current;
  return {
    checkpoints,
    bytesOnDisk: records.reduce((sum, r) => sum + r.bytes, 0),
    quotaBytes,
    best: state.best,
    lastStep: state.lastStep,
    lastSaveAgeMs: state.lastSavedTime === null || records.length === 0 ? null : Math.max(0, now - state.lastSavedTime),
    ...tracker.totals,
    coalesced: path.coalesced,
    dropped: path.dropped,
    queueDepth: path.queueDepth,
    stallMs: percentiles(path.stall),
    persistMs: percentiles(path.persist),
  };
}
