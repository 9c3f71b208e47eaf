// When to save and what to keep (docs/POLICIES.md): the options open() takes
// as every model's defaults and model() as one model's overrides, checked
// and resolved against the preset into one frozen ModelSettings.
import type { LoadedCheckpoint } from '../file/types.js';
import { CODECS, type Codec } from '../file/types.js';
import { badInput } from '../errors.js';
import { presetConfig, type Direction, type PolicyConfig, type PresetName } from '../policy/decide.js';
import type { RetentionConfig } from '../policy/retention.js';
import { boolean, callback, number, object, oneOf } from './checks.js';
import { checkEpisodeRetention, type EpisodeKeep } from './episode-options.js';
import { LIMITS } from './limits.js';

/** Policy and retention options; open() takes them as defaults, model() as per-model overrides. */
export interface PolicyOptions {
  preset?: PresetName;
  monitor?: Record<string, Direction>;
  improvement?: { mode?: 'any' | 'all' | 'primary'; minDelta?: number; minRelative?: number };
  every?: { steps?: number | null; minutes?: number | null };
  always?: boolean;
  keep?: { best?: number; periodic?: number; episodes?: { maxBytes?: number; maxAgeDays?: number } };
  quotaBytes?: number | null;
  compression?: { codec?: Codec; level?: number; chunkBytes?: number };
  degradation?: {
    minRelative?: number;
    patience?: number;
    revert?: boolean;
    onRevert?: (model: string, best: LoadedCheckpoint) => void;
  } | null;
  /** Consecutive failed saves before an `alert` event (default 3). */
  alertAfter?: number;
}

export interface ModelSettings {
  policy: PolicyConfig;
  retention: RetentionConfig;
  compression: { codec: Codec; level: number; chunkBytes: number };
  revert: boolean;
  onRevert: ((model: string, best: LoadedCheckpoint) => void) | null;
  alertAfter: number;
  /** keep.episodes: the default retention of every episode stream. */
  episodes: EpisodeKeep;
}

export const POLICY_KEYS = ['preset', 'monitor', 'improvement', 'every', 'always', 'keep', 'quotaBytes', 'compression', 'degradation', 'alertAfter'];

/** Nested options merge one level deep: a model's { keep: { best: 3 } } keeps the store's keep.periodic. */
function merge(base: PolicyOptions, options: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(options)) {
    const under = merged[key];
    const mergeable = value !== null && typeof value === 'object' && !Array.isArray(value) && key !== 'monitor';
    merged[key] = mergeable && under !== null && typeof under === 'object' ? { ...under, ...value } : value;
  }
  return merged;
}

function compressionOf(value: unknown): ModelSettings['compression'] {
  const compression = object('compression', value, ['codec', 'level', 'chunkBytes']);
  const { chunkBytes: chunk, level, alignment } = LIMITS;
  const chunkBytes = number('compression.chunkBytes', compression?.chunkBytes, chunk.default, { ...chunk, integer: true });
  if (chunkBytes % alignment !== 0) throw badInput(`Expected a multiple of ${alignment} for compression.chunkBytes but received ${chunkBytes}`);
  return {
    codec: oneOf('compression.codec', compression?.codec, CODECS, 'shuffle+zstd'),
    level: number('compression.level', compression?.level, level.default, { ...level, integer: true }),
    chunkBytes,
  };
}

/** Resolves policy options: per-model overrides over (already resolved) store defaults over the preset. */
export function resolvePolicy(options: unknown, base: PolicyOptions = {}): Readonly<ModelSettings> {
  const merged = merge(base, object('options', options, POLICY_KEYS) ?? {});
  const preset = presetConfig(oneOf('preset', merged.preset, ['conservative', 'balanced', 'aggressive'] as const, 'balanced'));
  const monitor = Object.entries(object('monitor', merged.monitor) ?? {})
    .map(([name, dir]) => [name, oneOf(`monitor.${name}`, dir, ['min', 'max'] as const, 'min')] as [string, Direction]);
  const improvement = object('improvement', merged.improvement, ['mode', 'minDelta', 'minRelative']);
  const every = object('every', merged.every, ['steps', 'minutes']);
  const keep = object('keep', merged.keep, ['best', 'periodic', 'episodes']);
  const degradation = merged.degradation === null ? null : object('degradation', merged.degradation, ['minRelative', 'patience', 'revert', 'onRevert']);
  const onRevert = callback<ModelSettings['onRevert'] & {}>('degradation.onRevert', degradation?.onRevert);
  const count = { min: 0, integer: true };
  return Object.freeze({
    policy: {
      monitor,
      improvement: {
        mode: oneOf('improvement.mode', improvement?.mode, ['any', 'all', 'primary'] as const, 'any'),
        minDelta: number('improvement.minDelta', improvement?.minDelta, 0, { min: 0 }),
        minRelative: number('improvement.minRelative', improvement?.minRelative, preset.minRelative, { min: 0 }),
      },
      every: {
        steps: every?.steps === null ? null : number('every.steps', every?.steps, preset.everySteps, { min: 1, integer: true }),
        minutes: every?.minutes === null || every?.minutes === undefined ? null : number('every.minutes', every.minutes, 0, { min: 0 }),
      },
      always: boolean('always', merged.always, false),
      degradation: degradation
        ? {
            minRelative: number('degradation.minRelative', degradation.minRelative, 0.05, { min: 0 }),
            patience: number('degradation.patience', degradation.patience, 5, { min: 1, integer: true }),
          }
        : null,
    },
    retention: {
      keepBest: number('keep.best', keep?.best, preset.keepBest, count),
      keepPeriodic: number('keep.periodic', keep?.periodic, 3, count),
      quotaBytes: merged.quotaBytes === null || merged.quotaBytes === undefined ? null : number('quotaBytes', merged.quotaBytes, 0, { min: 1 }),
      primary: monitor.length ? { name: monitor[0][0], direction: monitor[0][1] } : null,
    },
    compression: compressionOf(merged.compression),
    revert: boolean('degradation.revert', degradation?.revert, false),
    onRevert: onRevert ?? null,
    alertAfter: number('alertAfter', merged.alertAfter, 3, { min: 1, integer: true }),
    episodes: checkEpisodeRetention('keep.episodes', keep?.episodes),
  });
}
