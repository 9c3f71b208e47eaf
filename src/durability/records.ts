// What a model's catalog stores (docs/FORMAT.md, "The catalog"): checkpoint
// records, journal entries and the compacted snapshot, with the decoders
// that check each one's shape before it is applied. Nothing read back is
// trusted: a value of the wrong shape is an E_CORRUPT naming the field.
import { CATEGORIES, type Category, type CheckpointInfo, type Metrics } from '../file/types.js';
import { encodeMetrics } from '../file/index-json.js';
import { bool, count, fail, finite, list, metrics, nullable, obj, str } from './shape.js';
import type { BestValue, TrackerState } from '../policy/decide.js';

export interface CheckpointRecord {
  seq: number;
  step: number;
  epoch: number;
  /** ms since epoch of the report that triggered the save */
  time: number;
  created: string;
  category: Category;
  reasons: string[];
  metrics: Metrics;
  bytes: number;
  rawBytes: number;
  file: string;
  pinned: boolean;
  /** false when a monitored metric was NaN/±Infinity: resume() prefers healthy ones */
  healthy: boolean;
}

export interface Counters {
  saves: number;
  skips: number;
  failures: number;
}

export type JournalEntry =
  | { t: 'commit'; record: CheckpointRecord; tracker: TrackerState; counters: Counters }
  | { t: 'evict'; seq: number; file: string; reason: string }
  | { t: 'deleted'; file: string }
  | { t: 'quarantine'; seq: number; file: string; reason: string }
  | { t: 'pin'; seq: number; pinned: boolean }
  | { t: 'state'; tracker: TrackerState; counters: Counters }
  // The first record of a journal a compaction started: it continues the
  // catalog.json of the same generation.
  | { t: 'generation'; n: number };

export interface Snapshot {
  version: 1;
  model: string;
  nextSeq: number;
  records: CheckpointRecord[];
  tracker: TrackerState;
  counters: Counters;
  /** Files whose eviction is journaled but whose unlink is not confirmed. */
  pendingDeletes: string[];
  /**
   * Counts compactions (absent in files of before it: 0). A journal whose
   * generation record is older (none: 0) predates this file: a kill
   * between writing it and emptying the journal left that journal behind,
   * and everything in it is already here.
   */
  generation?: number;
}

export const CHECKPOINT_FILE = /^(\d{8,})-s(\d+)\.tkpt$/;

export function checkpointFileName(seq: number, step: number): string {
  return `${String(seq).padStart(8, '0')}-s${step}.tkpt`;
}

export function decodeRecord(v: unknown, where: string): CheckpointRecord {
  const r = obj(v, where);
  const category = r.category as Category;
  if (!CATEGORIES.includes(category)) fail(`${where}.category`, category);
  const file = str(r.file, `${where}.file`);
  if (!CHECKPOINT_FILE.test(file)) fail(`${where}.file`, file);
  return {
    seq: count(r.seq, `${where}.seq`), step: count(r.step, `${where}.step`), epoch: count(r.epoch, `${where}.epoch`),
    time: finite(r.time, `${where}.time`), created: str(r.created, `${where}.created`), category,
    reasons: list(r.reasons, `${where}.reasons`, str), metrics: metrics(r.metrics, `${where}.metrics`),
    bytes: count(r.bytes, `${where}.bytes`), rawBytes: count(r.rawBytes, `${where}.rawBytes`), file,
    pinned: bool(r.pinned, `${where}.pinned`), healthy: bool(r.healthy, `${where}.healthy`),
  };
}

function bestValue(v: unknown, where: string): BestValue {
  const b = obj(v, where);
  return { value: finite(b.value, `${where}.value`), step: count(b.step, `${where}.step`), time: finite(b.time, `${where}.time`) };
}

export function decodeTracker(v: unknown, where: string): TrackerState {
  const t = obj(v, where);
  const best: Record<string, BestValue> = {};
  for (const [k, b] of Object.entries(obj(t.best, `${where}.best`))) best[k] = bestValue(b, `${where}.best.${k}`);
  return {
    best,
    lastSavedStep: nullable(t.lastSavedStep, `${where}.lastSavedStep`, count),
    lastSavedTime: nullable(t.lastSavedTime, `${where}.lastSavedTime`, finite),
    lastStep: nullable(t.lastStep, `${where}.lastStep`, count),
    worseStreak: count(t.worseStreak, `${where}.worseStreak`),
  };
}

export function decodeCounters(v: unknown, where: string): Counters {
  const c = obj(v, where);
  return { saves: count(c.saves, `${where}.saves`), skips: count(c.skips, `${where}.skips`), failures: count(c.failures, `${where}.failures`) };
}

/** One journal entry, checked whole before any of it is applied. */
export function decodeEntry(v: unknown, where: string): JournalEntry {
  const e = obj(v, where);
  switch (e.t) {
    case 'commit':
      return { t: 'commit', record: decodeRecord(e.record, `${where}.record`), tracker: decodeTracker(e.tracker, `${where}.tracker`), counters: decodeCounters(e.counters, `${where}.counters`) };
    case 'evict':
    case 'quarantine':
      return { t: e.t, seq: count(e.seq, `${where}.seq`), file: str(e.file, `${where}.file`), reason: str(e.reason, `${where}.reason`) };
    case 'deleted':
      return { t: 'deleted', file: str(e.file, `${where}.file`) };
    case 'pin':
      return { t: 'pin', seq: count(e.seq, `${where}.seq`), pinned: bool(e.pinned, `${where}.pinned`) };
    case 'state':
      return { t: 'state', tracker: decodeTracker(e.tracker, `${where}.tracker`), counters: decodeCounters(e.counters, `${where}.counters`) };
    case 'generation':
      return { t: 'generation', n: count(e.n, `${where}.n`) };
    default:
      return fail(`${where}.t`, e.t);
  }
}

/** catalog.json, checked whole. */
export function decodeSnapshot(v: unknown): Snapshot {
  const s = obj(v, 'catalog.json');
  if (s.version !== 1) fail('catalog.json version', s.version);
  return {
    version: 1,
    model: str(s.model, 'catalog.json model'),
    nextSeq: count(s.nextSeq, 'catalog.json nextSeq'),
    records: list(s.records, 'catalog.json records', decodeRecord),
    tracker: decodeTracker(s.tracker, 'catalog.json tracker'),
    counters: decodeCounters(s.counters, 'catalog.json counters'),
    pendingDeletes: list(s.pendingDeletes, 'catalog.json pendingDeletes', str),
    generation: s.generation === undefined ? undefined : count(s.generation, 'catalog.json generation'),
  };
}

/** A record as JSON stores it (non-finite metrics as strings). */
export function storedRecord(record: CheckpointRecord): CheckpointRecord {
  return { ...record, metrics: encodeMetrics(record.metrics) as unknown as Metrics };
}

/** A catalog record for an adopted file: the file's own index says what it is. */
export function recordFromInfo(info: CheckpointInfo, file: string): CheckpointRecord {
  return {
    seq: info.seq ?? 0,
    step: info.step,
    epoch: info.epoch,
    time: Date.parse(info.created) || Date.now(),
    created: info.created,
    category: info.category ?? 'manual',
    reasons: info.reasons,
    metrics: info.metrics,
    bytes: info.bytes,
    rawBytes: info.rawBytes,
    file,
    pinned: false,
    healthy: Object.values(info.metrics).every(Number.isFinite),
  };
}

/**
 * Why the file at a record's name is not that record's checkpoint (two files
 * swapped, one copied over another: each verifies, but holds other tensors),
 * or null. A file without seq or model in its index (written by hand) is not contradicted.
 */
export function identityProblem(model: string, record: CheckpointRecord, info: CheckpointInfo): string | null {
  const holds = (info.seq === null || info.seq === record.seq) && (info.model === null || info.model === model) && info.step === record.step;
  if (holds) return null;
  return `${record.file} holds checkpoint ${info.seq ?? '?'} (step ${info.step}) of model ${JSON.stringify(info.model)}, ` +
    `not checkpoint ${record.seq} (step ${record.step}) of model ${JSON.stringify(model)}`;
}
