// Checks that a value survives JSON.stringify + JSON.parse: what is not JSON
// (undefined, functions, BigInt, NaN, class instances, cycles) would be
// dropped or changed silently, so it is refused where it enters.
import { badInput } from '../errors.js';
import type { JsonValue } from './types.js';

const MAX_DEPTH = 64;

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value === 'number' ? String(value) : typeof value;
}

export function checkJson(value: unknown, path: string, depth = 0, seen = new Set<object>()): asserts value is JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
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
    for (const [key, item] of Object.entries(value)) checkJson(item, `${path}.${key}`, depth + 1, seen);
  }
  seen.delete(value);
}
