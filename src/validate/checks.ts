// The checks every option and argument is made of, with messages of one
// shape: "Expected <what> for <name> but received <value>".
import { badInput } from '../errors.js';

/** A value as an error message shows it. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  if (typeof value === 'function') return 'function';
  return `${typeof value === 'string' ? JSON.stringify(value) : String(value)} of type ${typeof value}`;
}

/** A plain object (or undefined), with only the `allowed` keys. */
export function object(name: string, value: unknown, allowed?: readonly string[]): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value))
    throw badInput(`Expected object for ${name} but received ${describe(value)}`);
  if (allowed)
    for (const key of Object.keys(value))
      if (!allowed.includes(key)) throw badInput(`Unknown option ${name}.${key}; expected one of ${allowed.join(', ')}`);
  return value as Record<string, unknown>;
}

export interface Range { min: number; max?: number; integer?: boolean }

/** A number in [min, max] (an integer when asked), or `fallback` when undefined. */
export function number(name: string, value: unknown, fallback: number, { min, max = Infinity, integer = false }: Range): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'integer' : 'number';
    throw badInput(`Expected ${kind} ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`} for ${name} but received ${describe(value)}`);
  }
  return value;
}

/** A non-negative safe integer (steps, epochs, seqs). */
export function count(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw badInput(`Expected non-negative integer for ${name} but received ${describe(value)}`);
  return value;
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw badInput(`Expected one of ${allowed.join(', ')} for ${name} but received ${describe(value)}`);
  return value as T;
}

export function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw badInput(`Expected boolean for ${name} but received ${describe(value)}`);
  return value;
}

export function callback<T extends (...args: never[]) => unknown>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw badInput(`Expected function for ${name} but received ${describe(value)}`);
  return value as T;
}

/** A file or directory path: a non-empty string the system calls would not cut short at a NUL byte. */
export function path(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw badInput(`Expected a ${name} but received ${describe(value)}`);
  if (value.includes('\0')) throw badInput(`Expected a ${name} without NUL bytes but received ${JSON.stringify(value)}`);
  return value;
}
