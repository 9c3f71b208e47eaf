// Options of an episode log (docs/EPISODES.md, "Options"), checked where they
// enter and resolved against the store's `keep.episodes` default.
import { CODECS, type Codec } from '../file/types.js';
import { number, object, oneOf } from './checks.js';
import { LIMITS } from './limits.js';

export interface EpisodeKeep {
  maxBytes: number | null;
  maxAgeDays: number | null;
}

export interface EpisodeSettings {
  commitMs: number;
  segmentBytes: number;
  indexBytes: number;
  batchBytes: number;
  codec: Codec;
  level: number;
  keep: EpisodeKeep;
}

const MiB = 1024 * 1024;

/** Checks `keep.episodes` (open() takes it as the default of every stream, a stream's options as its own). */
export function checkEpisodeRetention(what: string, value: unknown): EpisodeKeep {
  const keep = object(what, value, ['maxBytes', 'maxAgeDays']);
  return {
    maxBytes: keep?.maxBytes === undefined ? null : number(`${what}.maxBytes`, keep.maxBytes, 0, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true }),
    maxAgeDays: keep?.maxAgeDays === undefined ? null : number(`${what}.maxAgeDays`, keep.maxAgeDays, 0, { min: Number.MIN_VALUE, max: 1e6 }),
  };
}

export function resolveEpisodeOptions(options: unknown, storeKeep: EpisodeKeep): EpisodeSettings {
  const o = object('options', options, ['commitMs', 'segmentBytes', 'indexBytes', 'batchBytes', 'compression', 'keep']) ?? {};
  const compression = object('compression', o.compression, ['codec', 'level']);
  const segmentBytes = number('segmentBytes', o.segmentBytes, 64 * MiB, { min: 4096, max: 1024 * MiB, integer: true });
  const { level } = LIMITS;
  return {
    commitMs: number('commitMs', o.commitMs, 100, { min: 0, max: 60_000 }),
    segmentBytes,
    indexBytes: number('indexBytes', o.indexBytes, 64 * 1024, { min: 1, max: segmentBytes, integer: true }),
    batchBytes: number('batchBytes', o.batchBytes, 4 * MiB, { min: 1, max: 256 * MiB, integer: true }),
    codec: oneOf('compression.codec', compression?.codec, CODECS, 'shuffle+zstd'),
    level: number('compression.level', compression?.level, level.default, { ...level, integer: true }),
    keep: o.keep === undefined ? storeKeep : checkEpisodeRetention('keep', o.keep),
  };
}
