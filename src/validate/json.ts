// Values that must survive JSON.stringify + JSON.parse unchanged: meta,
// episode actions and context. What is not JSON (undefined in an array, functions,
// BigInt, NaN, class instances, a toJSON method, cycles, lone surrogates)
// would be dropped or changed silently, or fail later on a worker, so it
// is refused where it enters.
import { badInput } from '../errors.js';
import { describe } from './checks.js';
import { LIMITS } from './limits.js';

/** What JSON.stringify and JSON.parse carry unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

function checkString(value: string, path: string): void {
  // A lone surrogate has no UTF-8 form: it would come back as U+FFFD.
  if (!value.isWellFormed()) throw badInput(`${path} holds a string with a lone UTF-16 surrogate, which UTF-8 cannot hold`);
}

// The value sits one level inside a root object (a file's index, a record's head).
const MAX_DEPTH = LIMITS.jsonDepth - 1;

export function checkJson(value: unknown, path: string, depth = 0, seen = new Set<object>()): asserts value is JsonValue {
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'string') return checkString(value, path);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw badInput(`${path} is ${value}, which JSON cannot hold (put non-finite numbers in features)`);
    return;
  }
  if (typeof value !== 'object') throw badInput(`${path} holds a value of type ${typeof value}, which is not JSON`);
  if (depth >= MAX_DEPTH) throw badInput(`${path} is nested more than ${MAX_DEPTH} levels deep`);
  if (seen.has(value)) throw badInput(`${path} refers to itself (a cycle is not JSON)`);
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw badInput(`${path}[${i}] is a hole, which is not JSON`);
      checkJson(value[i], `${path}[${i}]`, depth + 1, seen);
    }
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw badInput(`${path} is a ${describe(value)}, not a plain object`);
    for (const [key, item] of Object.entries(value)) {
      // An undefined property is left out by JSON and reads back as absent: the same value.
      if (item === undefined) continue;
      checkString(key, `${path} key ${JSON.stringify(key)}`);
      checkJson(item, `${path}.${key}`, depth + 1, seen);
    }
  }
  seen.delete(value);
}

/** A checkpoint's meta: a plain object of JSON values. */
export function checkMeta(meta: unknown): asserts meta is Record<string, JsonValue> {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw badInput(`Expected a plain object for meta but received ${describe(meta)}`);
  checkJson(meta, 'meta');
}
