// Options of an episode log (docs/EPISODES.md, "Options"), checked where they
// enter and resolved against the store's `keep.episodes` default.
import { CODECS, type Codec } from '../file/checkpoint-file.js';
import { badInput } from '../errors.js';
import type { EpisodeLogOptions, EpisodeRetention } from './types.js';

export interface EpisodeSettings {
  commitMs: number;
  segmentBytes: number;
  indexBytes: number;
  batchBytes: number;
  codec: Codec;
  level: number;
  keep: { maxBytes: number | null; maxAgeDays: number | null };
}

const MiB = 1024 * 1024;

function plainObject(what: string, value: unknown, keys: string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badInput(`Expected an object for ${what} but received ${JSON.stringify(value)}`);
  for (const key of Object.keys(value)) if (!keys.includes(key)) throw badInput(`Unknown option ${what}.${key}; expected one of ${keys.join(', ')}`);
  return value as Record<string, unknown>;
}

function inRange(what: string, value: unknown, fallback: number, min: number, max: number, integer: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value)))
    throw badInput(`Expected ${integer ? 'integer' : 'number'} in [${min}, ${max}] for ${what} but received ${JSON.stringify(value) ?? String(value)}`);
  return value;
}

/** Checks `keep.episodes` (also accepted by open() as the default of every stream). */
export function checkRetention(what: string, value: unknown): EpisodeSettings['keep'] {
  const keep = plainObject(what, value, ['maxBytes', 'maxAgeDays']);
  return {
    maxBytes: keep.maxBytes === undefined ? null : inRange(`${what}.maxBytes`, keep.maxBytes, 0, 1, Number.MAX_SAFE_INTEGER, true),
    maxAgeDays: keep.maxAgeDays === undefined ? null : inRange(`${what}.maxAgeDays`, keep.maxAgeDays, 0, Number.MIN_VALUE, 1e6, false),
  };
}

export function resolveEpisodeOptions(options: unknown, storeKeep?: EpisodeRetention): EpisodeSettings {
  const o = plainObject('options', options, ['commitMs', 'segmentBytes', 'indexBytes', 'batchBytes', 'compression', 'keep']) as EpisodeLogOptions;
  const compression = plainObject('compression', o.compression, ['codec', 'level']);
  if (compression.codec !== undefined && !CODECS.includes(compression.codec as Codec))
    throw badInput(`Expected one of ${CODECS.join(', ')} for compression.codec but received ${JSON.stringify(compression.codec)}`);
  const segmentBytes = inRange('segmentBytes', o.segmentBytes, 64 * MiB, 4096, 1024 * MiB, true);
  return {
    commitMs: inRange('commitMs', o.commitMs, 100, 0, 60_000, false),
    segmentBytes,
    indexBytes: inRange('indexBytes', o.indexBytes, 64 * 1024, 1, segmentBytes, true),
    batchBytes: inRange('batchBytes', o.batchBytes, 4 * MiB, 1, 256 * MiB, true),
    codec: (compression.codec as Codec | undefined) ?? 'shuffle+zstd',
    level: inRange('compression.level', compression.level, 1, 1, 19, true),
    keep: checkRetention('keep', o.keep ?? storeKeep),
  };
}
