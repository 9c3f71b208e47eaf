// Shape checks of what the durability layer reads back (catalog.json, the
// journal, the history): a value of the wrong shape is an E_CORRUPT that
// names where it was found. Nothing read back is trusted.
import { CheckpointError } from '../errors.js';
import { decodeMetrics } from '../file/index-json.js';
import type { Metrics } from '../file/types.js';

type Obj = Record<string, unknown>;

export function fail(where: string, value: unknown): never {
  const shown = JSON.stringify(value);
  throw new CheckpointError('E_CORRUPT', `${where} is ${shown === undefined ? String(value) : shown.slice(0, 80)}, not what tensorkeep writes`);
}

export function obj(v: unknown, where: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(where, v);
  return v as Obj;
}

export function count(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(where, v);
  return v;
}

export function finite(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, v);
  return v;
}

export function str(v: unknown, where: string): string {
  if (typeof v !== 'string') fail(where, v);
  return v;
}

export function bool(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') fail(where, v);
  return v;
}

export function nullable<T>(v: unknown, where: string, check: (v: unknown, where: string) => T): T | null {
  return v === null ? null : check(v, where);
}

export function list<T>(v: unknown, where: string, item: (v: unknown, where: string) => T): T[] {
  if (!Array.isArray(v)) fail(where, v);
  return v.map((x, i) => item(x, `${where}[${i}]`));
}

// JSON has no NaN: a diverged run's metrics are stored as strings, as in the file index.
export function metrics(v: unknown, where: string): Metrics {
  const raw = obj(v, where);
  for (const [k, x] of Object.entries(raw))
    if (typeof x !== 'number' && x !== 'NaN' && x !== 'Infinity' && x !== '-Infinity') fail(`${where}.${k}`, x);
  return decodeMetrics(raw);
}
