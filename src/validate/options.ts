// Every option of open() and model() is checked here, where it enters, and
// resolved against the preset into one plain settings object.
import { CODECS, type Codec, type LoadedCheckpoint } from '../file/checkpoint-file.js';
import { badInput } from '../errors.js';
import { presetConfig, type Direction, type PolicyConfig, type PresetName } from '../policy/decide.js';
import type { RetentionConfig } from '../policy/retention.js';

/** pino-compatible: a bindings object first, then the message. */
export interface Logger {
  debug(bindings: object, message: string): void;
  info(bindings: object, message: string): void;
  warn(bindings: object, message: string): void;
  error(bindings: object, message: string): void;
}

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

export type Backpressure = 'coalesce' | 'skip' | 'block';
export type SnapshotMode = 'copy' | 'borrow';

export interface StoreOptions extends PolicyOptions {
  logger?: Logger;
  /** Open without the writer lock: list and load only. */
  readOnly?: boolean;
  /** Worker threads for persists, loads and deletes; default max(1, cores - 1). */
  workers?: number;
  /** Staging memory for copied tensors; default 2 × each model's largest checkpoint, at least 64 MiB. */
  staging?: { maxBytes?: number };
  /** When saves come faster than the disk takes them (docs/POLICIES.md). */
  backpressure?: Backpressure;
  /** 'borrow' skips the copy: the arrays must not change until `durable` resolves. */
  snapshot?: SnapshotMode;
  /** Hash borrowed arrays before and after their write; a change fails the save. */
  checkBorrowed?: boolean;
  /** Run close() on SIGINT and SIGTERM, then let the signal take its course (default true). */
  handleSignals?: boolean;
}

export interface PipelineSettings {
  workers: number;
  stagingMaxBytes: number | null;
  backpressure: Backpressure;
  snapshot: SnapshotMode;
  checkBorrowed: boolean;
  handleSignals: boolean;
}

export interface ModelSettings {
  policy: PolicyConfig;
  retention: RetentionConfig;
  compression: { codec: Codec; level: number; chunkBytes: number };
  revert: boolean;
  onRevert: ((model: string, best: LoadedCheckpoint) => void) | null;
  alertAfter: number;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return `${typeof value === 'string' ? JSON.stringify(value) : String(value)} of type ${typeof value}`;
}

function expectObject(name: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw badInput(`Expected object for ${name} but received ${describe(value)}`);
  return value as Record<string, unknown>;
}

function checkKeys(name: string, value: Record<string, unknown> | undefined, allowed: string[]): void {
  for (const key of Object.keys(value ?? {}))
    if (!allowed.includes(key)) throw badInput(`Unknown option ${name}.${key}; expected one of ${allowed.join(', ')}`);
}

function number(name: string, value: unknown, fallback: number, min: number, max = Infinity, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'integer' : 'number';
    throw badInput(`Expected ${kind} ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`} for ${name} but received ${describe(value)}`);
  }
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw badInput(`Expected one of ${allowed.join(', ')} for ${name} but received ${describe(value)}`);
  return value as T;
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw badInput(`Expected boolean for ${name} but received ${describe(value)}`);
  return value;
}

const POLICY_KEYS = ['preset', 'monitor', 'improvement', 'every', 'always', 'keep', 'quotaBytes', 'compression', 'degradation', 'alertAfter'];
const PIPELINE_KEYS = ['workers', 'staging', 'backpressure', 'snapshot', 'checkBorrowed', 'handleSignals'];
const STORE_KEYS = [...POLICY_KEYS, ...PIPELINE_KEYS, 'logger', 'readOnly'];


/** Checks store-level options (open()); throws E_BAD_INPUT naming the option. */
export function checkStoreOptions(options: unknown): StoreOptions {
  const o = expectObject('options', options) ?? {};
  checkKeys('options', o, STORE_KEYS);
  if (o.logger !== undefined) {
    const logger = expectObject('logger', o.logger)!;
    for (const level of ['debug', 'info', 'warn', 'error'])
      if (typeof logger[level] !== 'function') throw badInput(`Expected function for logger.${level} but received ${describe(logger[level])}`);
  }
  boolean('readOnly', o.readOnly, false);
  resolvePipeline(o as StoreOptions, 1);
  resolveSettings(policyPart(o as StoreOptions)); // validates the policy part
  return o as StoreOptions;
}

/** The policy and retention options of store options: every model's defaults. */
export function policyPart(o: StoreOptions): PolicyOptions {
  return Object.fromEntries(Object.entries(o).filter(([key]) => POLICY_KEYS.includes(key)));
}

/** The save pipeline's settings from (checked) store options. */
export function resolvePipeline(o: StoreOptions, defaultWorkers: number): PipelineSettings {
  const staging = expectObject('staging', o.staging);
  checkKeys('staging', staging, ['maxBytes']);
  return {
    workers: number('workers', o.workers, defaultWorkers, 1, 64, true),
    stagingMaxBytes: staging?.maxBytes === undefined ? null : number('staging.maxBytes', staging.maxBytes, 0, 1, Infinity, true),
    backpressure: oneOf('backpressure', o.backpressure, ['coalesce', 'skip', 'block'] as const, 'coalesce'),
    snapshot: oneOf('snapshot', o.snapshot, ['copy', 'borrow'] as const, 'copy'),
    checkBorrowed: boolean('checkBorrowed', o.checkBorrowed, false),
    handleSignals: boolean('handleSignals', o.handleSignals, true),
  };
}

/** Resolves policy options: per-model overrides over (already checked) store defaults over the preset. */
export function resolveSettings(options: PolicyOptions, base: PolicyOptions = {}): ModelSettings {
  const o = expectObject('options', options) ?? {};
  checkKeys('options', o, POLICY_KEYS);
  // Nested options merge one level deep: a model's { keep: { best: 3 } } keeps the store's keep.periodic.
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(o)) {
    const under = merged[key];
    const mergeable = value !== null && typeof value === 'object' && !Array.isArray(value) && key !== 'monitor';
    merged[key] = mergeable && under !== null && typeof under === 'object' ? { ...under, ...value } : value;
  }
  const preset = presetConfig(oneOf('preset', merged.preset, ['conservative', 'balanced', 'aggressive'] as const, 'balanced'));

  const monitorOpt = expectObject('monitor', merged.monitor) ?? {};
  const monitor = Object.entries(monitorOpt).map(([name, dir]) => [name, oneOf(`monitor.${name}`, dir, ['min', 'max'] as const, 'min')] as [string, Direction]);

  const improvement = expectObject('improvement', merged.improvement);
  checkKeys('improvement', improvement, ['mode', 'minDelta', 'minRelative']);
  const every = expectObject('every', merged.every);
  checkKeys('every', every, ['steps', 'minutes']);
  const keep = expectObject('keep', merged.keep);
  checkKeys('keep', keep, ['best', 'periodic', 'episodes']); // keep.episodes: checked by src/episodes when a stream opens
  const compression = expectObject('compression', merged.compression);
  checkKeys('compression', compression, ['codec', 'level', 'chunkBytes']);
  const degradation = merged.degradation === null ? null : expectObject('degradation', merged.degradation);
  checkKeys('degradation', degradation ?? undefined, ['minRelative', 'patience', 'revert', 'onRevert']);
  if (degradation?.onRevert !== undefined && typeof degradation.onRevert !== 'function')
    throw badInput(`Expected function for degradation.onRevert but received ${describe(degradation.onRevert)}`);

  const chunkBytes = number('compression.chunkBytes', compression?.chunkBytes, 4 << 20, 4096, 256 << 20, true);
  if (chunkBytes % 64 !== 0) throw badInput(`Expected a multiple of 64 for compression.chunkBytes but received ${chunkBytes}`);
  const quotaBytes = merged.quotaBytes === null || merged.quotaBytes === undefined ? null : number('quotaBytes', merged.quotaBytes, 0, 1);

  return {
    policy: {
      monitor,
      improvement: {
        mode: oneOf('improvement.mode', improvement?.mode, ['any', 'all', 'primary'] as const, 'any'),
        minDelta: number('improvement.minDelta', improvement?.minDelta, 0, 0),
        minRelative: number('improvement.minRelative', improvement?.minRelative, preset.minRelative, 0),
      },
      every: {
        steps: every?.steps === null ? null : number('every.steps', every?.steps, preset.everySteps, 1, Infinity, true),
        minutes: every?.minutes === null || every?.minutes === undefined ? null : number('every.minutes', every.minutes, 0, 0),
      },
      always: boolean('always', merged.always, false),
      degradation: degradation
        ? {
            minRelative: number('degradation.minRelative', degradation.minRelative, 0.05, 0),
            patience: number('degradation.patience', degradation.patience, 5, 1, Infinity, true),
          }
        : null,
    },
    retention: {
      keepBest: number('keep.best', keep?.best, preset.keepBest, 0, Infinity, true),
      keepPeriodic: number('keep.periodic', keep?.periodic, 3, 0, Infinity, true),
      quotaBytes,
      primary: monitor.length ? { name: monitor[0][0], direction: monitor[0][1] } : null,
    },
    compression: {
      codec: oneOf('compression.codec', compression?.codec, CODECS, 'shuffle+zstd'),
      level: number('compression.level', compression?.level, 1, 1, 19, true),
      chunkBytes,
    },
    revert: boolean('degradation.revert', degradation?.revert, false),
    onRevert: (degradation?.onRevert as ModelSettings['onRevert']) ?? null,
    alertAfter: number('alertAfter', merged.alertAfter, 3, 1, Infinity, true),
  };
}
