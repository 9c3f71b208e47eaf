// The arguments of the checkpoint file API (writeCheckpoint, readCheckpoint,
// inspectCheckpoint, verifyCheckpoint): what the reader would refuse is
// refused before a byte is written.
import { badInput } from '../errors.js';
import { CATEGORIES, CODECS, type CheckpointFields, type ReadOptions, type WriteOptions } from '../file/types.js';
import type { NativeWriteOptions } from '../native.js';
import { describe, number, object } from './checks.js';
import { checkMeta } from './json.js';
import { LIMITS } from './limits.js';

function optionalCount(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0))
    throw badInput(`Expected non-negative integer for ${name} but received ${String(value)}`);
}

function threadsOf(value: unknown): number | undefined {
  return value === undefined ? undefined : number('threads', value, 0, { ...LIMITS.threads, integer: true });
}

/** The fields a checkpoint records beside its tensors (the reader checks every one of them). */
export function checkFields(fields: unknown): CheckpointFields {
  if (fields === null || typeof fields !== 'object') throw badInput('Expected an object for checkpoint fields');
  const f = fields as CheckpointFields;
  optionalCount('step', f.step);
  optionalCount('epoch', f.epoch);
  optionalCount('seq', f.seq);
  const metrics = f.metrics ?? {};
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) throw badInput('Expected an object of numbers for metrics');
  for (const [k, v] of Object.entries(metrics))
    if (typeof v !== 'number') throw badInput(`Expected number for metric "${k}" but received ${typeof v}`);
  if (f.meta !== undefined) checkMeta(f.meta);
  if (f.model !== undefined && typeof f.model !== 'string') throw badInput(`Expected string for model but received ${typeof f.model}`);
  if (f.category !== undefined && !CATEGORIES.includes(f.category))
    throw badInput(`Expected one of ${CATEGORIES.join(', ')} for category but received ${JSON.stringify(f.category)}`);
  if (f.reasons !== undefined && !(Array.isArray(f.reasons) && f.reasons.every((r) => typeof r === 'string')))
    throw badInput('Expected an array of strings for reasons');
  return f;
}

export function checkWriteOptions(options: unknown): NativeWriteOptions {
  if (options === null || typeof options !== 'object') throw badInput('Expected an object for write options');
  const { codec = 'shuffle+zstd', level, chunkBytes, threads } = options as WriteOptions;
  if (!CODECS.includes(codec)) throw badInput(`Unknown codec ${JSON.stringify(codec)}; expected one of ${CODECS.join(', ')}`);
  const chunk = LIMITS.chunkBytes;
  const bytes = chunkBytes ?? chunk.default;
  if (!Number.isInteger(bytes) || bytes < chunk.min || bytes > chunk.max || bytes % LIMITS.alignment !== 0)
    throw badInput(`Expected a multiple of ${LIMITS.alignment} in [${chunk.min}, ${chunk.max}] for chunkBytes but received ${describe(chunkBytes)}`);
  return {
    codec,
    level: number('level', level, LIMITS.level.default, { ...LIMITS.level, integer: true }),
    chunkBytes: bytes,
    threads: threadsOf(threads),
  };
}

export function checkReadOptions(options: unknown): { verify: boolean; threads: number | undefined } {
  if (options === null || typeof options !== 'object') throw badInput('Expected an object for read options');
  const { verify = true, threads } = options as ReadOptions;
  if (typeof verify !== 'boolean') throw badInput(`Expected boolean for verify but received ${String(verify)}`);
  return { verify, threads: threadsOf(threads) };
}

/** verifyCheckpoint's options. */
export function checkVerifyOptions(options: unknown): { threads: number | undefined } {
  return { threads: threadsOf(object('options', options, ['threads'])?.threads) };
}
