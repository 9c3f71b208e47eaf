// The JSON index of a checkpoint file (docs/FORMAT.md, "Index"): the head
// the writer puts in it, and what a reader accepts from it. The addon
// validates the tensor table; the head fields are checked here, and a bad
// one is E_CORRUPT naming the field.
import { CheckpointError } from '../errors.js';
import { VERSION } from '../version.js';
import { CATEGORIES, type Category, type CheckpointFields, type CheckpointIndex, type Metrics, type TensorIndexEntry } from './types.js';

// JSON has no NaN or Infinity; a diverged run's metrics must still round-trip.
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

// Object.fromEntries defines own properties, so a metric named "__proto__" stays a metric.
export function encodeMetrics(metrics: Metrics): Record<string, number | string> {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, Number.isFinite(v) ? v : String(v)]));
}

/** Escaped JSON keys of the metric names seen, capped: the same few names come with every report. */
const keyJson = new Map<string, string>();
const KEY_CACHE_LIMIT = 1024;

/**
 * JSON.stringify(encodeMetrics(metrics)), written directly: the history
 * serializes the metrics of every report on the training thread, and this
 * costs a fraction of the object copies and generic stringify.
 */
export function metricsJson(metrics: Metrics): string {
  let out = '{';
  for (const name in metrics) {
    let key = keyJson.get(name);
    if (key === undefined) {
      if (keyJson.size >= KEY_CACHE_LIMIT) keyJson.clear();
      keyJson.set(name, (key = JSON.stringify(name)));
    }
    const v = metrics[name];
    // A finite number prints as JSON.stringify prints it (-0 as 0 too).
    out += `${out.length > 1 ? ',' : ''}${key}:${Number.isFinite(v) ? v : `"${v}"`}`;
  }
  return `${out}}`;
}

export function decodeMetrics(raw: Record<string, unknown>): Metrics {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? NON_FINITE[v] : (v as number)]));
}

/** The head of the index, as JSON, from fields already checked (validate/file-args.ts). */
export function headJson(fields: CheckpointFields): string {
  return JSON.stringify({
    created: new Date().toISOString(),
    writer: `tensorkeep ${VERSION}`,
    model: fields.model ?? null,
    seq: fields.seq ?? null,
    step: fields.step ?? 0,
    epoch: fields.epoch ?? 0,
    category: fields.category ?? null,
    reasons: fields.reasons ?? [],
    metrics: encodeMetrics(fields.metrics ?? {}),
    meta: fields.meta ?? {},
  });
}

const isCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isString = (v: unknown) => typeof v === 'string';
const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown) => Array.isArray(v) && v.every(isString);

function corruptField(path: string, field: string, value: unknown): never {
  throw new CheckpointError('E_CORRUPT', `${path}: index field "${field}" has an invalid value ${JSON.stringify(value)}`);
}

/** A head field of the index: absent or null is the fallback. */
function field<T>(raw: Record<string, unknown>, name: string, fallback: T, valid: (v: unknown) => boolean, path: string): T {
  const value = raw[name];
  if (value === undefined || value === null) return fallback;
  if (!valid(value)) corruptField(path, name, value);
  return value as T;
}

/** The index the addon read (its tensor table already validated against the file). */
export function parseIndex(indexJson: string, path: string, fileBytes: number): CheckpointIndex {
  const raw = JSON.parse(indexJson) as Record<string, unknown>;
  const tensors = raw.tensors as TensorIndexEntry[];
  const metrics = field<Record<string, unknown>>(raw, 'metrics', {}, isObject, path);
  for (const [k, v] of Object.entries(metrics))
    if (typeof v !== 'number' && !(typeof v === 'string' && v in NON_FINITE)) corruptField(path, `metrics.${k}`, v);
  return {
    info: {
      model: field<string | null>(raw, 'model', null, isString, path),
      seq: field<number | null>(raw, 'seq', null, isCount, path),
      step: field(raw, 'step', 0, isCount, path),
      epoch: field(raw, 'epoch', 0, isCount, path),
      category: field<Category | null>(raw, 'category', null, (v) => CATEGORIES.includes(v as Category), path),
      reasons: field<string[]>(raw, 'reasons', [], isStringArray, path),
      metrics: decodeMetrics(metrics),
      bytes: fileBytes,
      rawBytes: tensors.reduce((sum, t) => sum + t.nbytes, 0),
      created: field(raw, 'created', '', isString, path),
      path,
    },
    meta: field<Record<string, unknown>>(raw, 'meta', {}, isObject, path),
    formatVersion: raw.format_version as number,
    writer: field(raw, 'writer', 'unknown', isString, path),
    codec: raw.codec as CheckpointIndex['codec'],
    tensors,
  };
}
