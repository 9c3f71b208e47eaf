// The arguments of report(), save() and attach(), checked where they enter.
import { badInput, callNative } from '../errors.js';
import { headJson } from '../file/index-json.js';
import { CATEGORIES, type Category, type CheckpointFields, type Metrics, type WriteOptions } from '../file/types.js';
import { native } from '../native.js';
import { checkWriteOptions } from './file-args.js';
import { checkMeta } from './json.js';
import { type TensorInput, type TensorSpec } from '../file/tensors.js';
import { normalizeTensors } from './tensors.js';
import type { SnapshotMode } from './store-options.js';

export interface CheckedReport {
  step: number;
  epoch: number;
  /** A copy: the history, the commit and the final save keep it after report() returns, and callers reuse their objects. */
  metrics: Metrics;
  force: boolean;
}

/** step, epoch, metrics and force of a report() or save(). */
export function checkReport(input: unknown): CheckedReport {
  if (input === null || typeof input !== 'object') throw badInput('Expected an object for report()');
  const { step, epoch, metrics, force } = input as Record<string, unknown>;
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)
    throw badInput(`Expected non-negative integer for step but received ${String(step)}`);
  if (epoch !== undefined && (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0))
    throw badInput(`Expected non-negative integer for epoch but received ${String(epoch)}`);
  if (metrics !== undefined && (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)))
    throw badInput('Expected an object of numbers for metrics');
  const copy: Metrics = {};
  for (const k in metrics as Record<string, unknown>) {
    if (!Object.hasOwn(metrics as object, k)) continue;
    const v = (metrics as Record<string, unknown>)[k];
    if (typeof v !== 'number') throw badInput(`Expected number for metric "${k}" but received ${typeof v}`);
    if (!k.isWellFormed()) throw badInput(`Metric name "${k}" contains a lone UTF-16 surrogate, which UTF-8 cannot hold`);
    // Defined, not assigned: a metric named "__proto__" stays a metric.
    if (k === '__proto__') Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true });
    else copy[k] = v;
  }
  if (force !== undefined && typeof force !== 'boolean') throw badInput(`Expected boolean for force but received ${String(force)}`);
  return { step, epoch: (epoch as number | undefined) ?? 0, metrics: copy, force: force ?? false };
}

export function checkCategory(category: unknown): Category {
  if (category === undefined) return 'manual';
  if (!CATEGORIES.includes(category as Category))
    throw badInput(`Expected one of ${CATEGORIES.join(', ')} for category but received ${JSON.stringify(category)}`);
  return category as Category;
}

export function checkSnapshot(snapshot: unknown, fallback: SnapshotMode): SnapshotMode {
  if (snapshot === undefined) return fallback;
  if (snapshot !== 'copy' && snapshot !== 'borrow') throw badInput(`Expected 'copy' or 'borrow' for snapshot but received ${JSON.stringify(snapshot)}`);
  return snapshot;
}

/** The tensors a save takes (calling `source` when it is a function), and its meta, checked. */
export function checkSaveContent(source: TensorInput | (() => TensorInput), meta: unknown): TensorSpec[] {
  if (meta !== undefined) checkMeta(meta);
  return normalizeTensors(typeof source === 'function' ? source() : source);
}

/** attach(provider, meta?) */
export function checkAttach(provider: unknown, meta: unknown): void {
  if (typeof provider !== 'function') throw badInput('Expected a function returning the tensors for attach()');
  if (meta !== undefined && typeof meta !== 'function') throw badInput('Expected a function returning the meta for attach()');
}

/**
 * What the writer would refuse, refused now, before report() says saved:
 * the index that the tensor table, metrics and meta make (the reader's limit),
 * names and shapes, and the values of bool tensors. The seq is not known
 * yet: the widest one stands in for it.
 */
export function checkWritable(specs: TensorSpec[], fields: CheckpointFields, compression: WriteOptions): void {
  const head = headJson({ ...fields, seq: Number.MAX_SAFE_INTEGER });
  callNative(() => native.checkWrite(specs, head, checkWriteOptions(compression), true));
}
