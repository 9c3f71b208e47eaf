// The options of open(): checked once, where they enter, and resolved into
// frozen settings that the store and its models share.
import { badInput } from '../errors.js';
import type { Logger } from '../logger.js';
import { boolean, describe, number, object, oneOf } from './checks.js';
import { LIMITS } from './limits.js';
import { POLICY_KEYS, resolvePolicy, type ModelSettings, type PolicyOptions } from './policy-options.js';

export type Backpressure = 'coalesce' | 'skip' | 'block';
export type SnapshotMode = 'copy' | 'borrow';

export interface StoreOptions extends PolicyOptions {
  logger?: Logger;
  /** Open without the writer lock: list and load only. */
  readOnly?: boolean;
  /** Worker threads for persists, loads and deletes; default max(1, cores - 1). */
  workers?: number;
  /**
   * Nice value (0-19) of the worker threads and the encoder threads they
   * start, so compression yields the cores to training; default 10 (Linux;
   * elsewhere ignored).
   */
  workerNice?: number;
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
  workerNice: number;
  stagingMaxBytes: number | null;
  backpressure: Backpressure;
  snapshot: SnapshotMode;
  checkBorrowed: boolean;
  handleSignals: boolean;
}

export interface StoreSettings {
  readOnly: boolean;
  logger: Logger | null;
  pipeline: PipelineSettings;
  /** The policy options as given: a model's overrides merge over them. */
  policy: PolicyOptions;
  /** Those options resolved: the settings of every model opened without overrides. */
  model: Readonly<ModelSettings>;
}

/** Low enough that a trainer on every core keeps ~90 % of the CPU time the workers would take from it (CFS weights 1024 : 110). */
const DEFAULT_WORKER_NICE = 10;

const PIPELINE_KEYS = ['workers', 'workerNice', 'staging', 'backpressure', 'snapshot', 'checkBorrowed', 'handleSignals'];
const STORE_KEYS = [...POLICY_KEYS, ...PIPELINE_KEYS, 'logger', 'readOnly'];

function loggerOf(value: unknown): Logger | null {
  const logger = object('logger', value);
  if (!logger) return null;
  for (const level of ['debug', 'info', 'warn', 'error'])
    if (typeof logger[level] !== 'function') throw badInput(`Expected function for logger.${level} but received ${describe(logger[level])}`);
  return logger as unknown as Logger;
}

/** Checks and resolves open()'s options; throws E_BAD_INPUT naming the option. */
export function resolveStoreOptions(options: unknown, defaultWorkers: number): Readonly<StoreSettings> {
  const o = object('options', options, STORE_KEYS) ?? {};
  const staging = object('staging', o.staging, ['maxBytes']);
  const policy = Object.fromEntries(Object.entries(o).filter(([key]) => POLICY_KEYS.includes(key))) as PolicyOptions;
  return Object.freeze({
    readOnly: boolean('readOnly', o.readOnly, false),
    logger: loggerOf(o.logger),
    pipeline: Object.freeze({
      workers: number('workers', o.workers, defaultWorkers, { ...LIMITS.threads, integer: true }),
      workerNice: number('workerNice', o.workerNice, DEFAULT_WORKER_NICE, { min: 0, max: 19, integer: true }),
      stagingMaxBytes: staging?.maxBytes === undefined ? null : number('staging.maxBytes', staging.maxBytes, 0, { min: 1, integer: true }),
      backpressure: oneOf('backpressure', o.backpressure, ['coalesce', 'skip', 'block'] as const, 'coalesce'),
      snapshot: oneOf('snapshot', o.snapshot, ['copy', 'borrow'] as const, 'copy'),
      checkBorrowed: boolean('checkBorrowed', o.checkBorrowed, false),
      handleSignals: boolean('handleSignals', o.handleSignals, true),
    }),
    policy,
    model: resolvePolicy(policy),
  });
}
