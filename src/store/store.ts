// CheckpointManager: the store. Opens the root, hands out one
// ModelCheckpoints per model (each with its own lock, catalog and policy),
// owns the workers and staging memory they share, fans their events out,
// and closes them with their final saves (also on SIGINT/SIGTERM).
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Catalog } from '../durability/catalog.js';
import { badInput, callNative, CheckpointError } from '../errors.js';
import { History } from '../durability/history.js';
import { quietConsoleLogger } from './logger.js';
import { ModelCheckpoints, checkModelName, type ModelStats } from '../model/model.js';
import { native, type NativeLock } from '../native.js';
import {
  checkStoreOptions, policyPart, resolvePipeline, resolveSettings, type Logger, type PipelineSettings, type PolicyOptions, type StoreOptions,
} from '../validate/options.js';
import { StagingPool } from '../pipeline/staging.js';
import { defaultWorkers, WorkerPool } from '../pipeline/workers.js';
import { onTerminationSignal } from './signals.js';
import type { EpisodeLog, EpisodeLogOptions } from '../episodes/index.js';
import { StoreEpisodes } from '../episodes/store.js';

export type StoreEvent = 'saved' | 'skipped' | 'evicted' | 'improved' | 'degraded' | 'error' | 'alert' | 'repaired';

export class CheckpointManager extends EventEmitter {
  readonly dir: string;
  readonly readOnly: boolean;
  private readonly logger: Logger;
  private readonly defaults: PolicyOptions;
  private readonly models = new Map<string, { model: ModelCheckpoints; lock: NativeLock | null }>();
  private readonly pipeline: PipelineSettings;
  private readonly workers: WorkerPool;
  private readonly staging: StagingPool;
  private readonly stopHandlingSignals: () => void;
  private closing: Promise<void> | null = null;
  private modelsClosed: Promise<void> | null = null;
  private closed = false;

  /** @internal use open() */
  constructor(dir: string, options: StoreOptions) {
    super();
    this.dir = resolve(dir);
    this.logger = options.logger ?? quietConsoleLogger;
    this.readOnly = options.readOnly ?? false;
    this.defaults = policyPart(options);
    this.pipeline = resolvePipeline(options, defaultWorkers());
    this.workers = WorkerPool.acquire(this.pipeline.workers);
    this.staging = new StagingPool(this.pipeline.stagingMaxBytes, (slab) => this.workers.run({ kind: 'prefault', slab }));
    this.stopHandlingSignals = this.pipeline.handleSignals ? onTerminationSignal(() => this.closeModels()) : () => {};
  }

  /**
   * The checkpoints of one model: its own tracker, clocks, retention and
   * files. The first call opens (and, unless read-only, locks and repairs)
   * the model's directory; `options` override the store's for this model.
   */
  model(name: string, options: PolicyOptions = {}): ModelCheckpoints {
    this.checkOpen();
    checkModelName(name);
    const existing = this.models.get(name);
    if (existing) {
      if (Object.keys(options).length > 0) throw badInput(`model "${name}" is already open; pass its options on the first model() call`);
      return existing.model;
    }
    const dir = join(this.dir, name);
    let lock: NativeLock | null = null;
    if (!this.readOnly) {
      mkdirSync(dir, { recursive: true });
      lock = callNative(() => native.lockFile(join(dir, 'LOCK')));
    }
    try {
      const settings = resolveSettings(options, this.defaults);
      const catalog = Catalog.open(dir, name, this.readOnly, settings.policy.monitor);
      const history = new History(History.pathIn(dir), this.readOnly, (err) =>
        this.logger.warn({ model: name, err }, 'history write failed'));
      const model = new ModelCheckpoints(name, dir, catalog, history, {
        logger: this.logger,
        staging: this.staging,
        workers: this.workers,
        pipeline: this.pipeline,
        emit: (event, payload) => this.emitSafely(event, payload),
        episodes: (stream) => this.episodes(stream), // issue 8: load(x).episodes()
      }, settings);
      this.models.set(name, { model, lock });
      if (catalog.repairs.length) {
        for (const repair of catalog.repairs) this.logger.warn({ model: name }, `recovery: ${repair}`);
        this.emitSafely('repaired', { model: name, repairs: catalog.repairs });
      }
      this.logSummary(model);
      return model;
    } catch (err) {
      lock?.release();
      throw err;
    }
  }

  /** Per-model statistics, by model name. */
  stats(): Record<string, ModelStats> {
    const out: Record<string, ModelStats> = {};
    for (const [name, { model }] of this.models) out[name] = model.stats();
    return out;
  }

  /** Resolves when every accepted save is durable (or has failed). */
  async flush(): Promise<void> {
    await Promise.all([...this.models.values()].map(({ model }) => model.flush()));
  }

  /**
   * Flushes, takes the final save of every attached model, releases the
   * locks and stops the workers. Idempotent: a second call (a signal during
   * close) waits for the first.
   */
  close(): Promise<void> {
    this.closing ??= this.closeModels().then(() => this.workers.release());
    return this.closing;
  }

  /**
   * The part of close() a signal needs before it takes its course: every
   * model's final save durable and its lock released. It ends in microtasks
   * only, so a training loop gets no turn between it and the re-raised signal.
   */
  private closeModels(): Promise<void> {
    this.modelsClosed ??= (async () => {
      this.closed = true;
      this.stopHandlingSignals();
      for (const { model, lock } of this.models.values()) {
        try {
          await model.close();
        } catch (err) {
          this.logger.error({ model: model.name, err }, 'close failed');
        } finally {
          lock?.release();
        }
      }
      await this.episodeLogs?.closeAll(); // episode logs (issue 8): their last group commit is durable
    })();
    return this.modelsClosed;
  }

  // ---- episode logs (issue 8; src/episodes/, docs/EPISODES.md) ----
  private episodeLogs: StoreEpisodes | null = null;

  /** The episode log of one stream, under `<root>/.episodes/<stream>/`; opened and recovered on first use. */
  episodes(stream: string, options: EpisodeLogOptions = {}): EpisodeLog {
    this.checkOpen();
    this.episodeLogs ??= new StoreEpisodes(this.dir, {
      readOnly: this.readOnly, keep: this.defaults.keep?.episodes, logger: this.logger, emit: (event: string, payload: unknown) => this.emitSafely(event, payload),
    });
    return this.episodeLogs.open(stream, options);
  }

  private logSummary(model: ModelCheckpoints): void {
    const list = model.list();
    const best = model.stats().best;
    this.logger.info(
      {
        model: model.name,
        checkpoints: list.length,
        latest: list.at(-1)?.seq ?? null,
        best: Object.fromEntries(Object.entries(best).map(([k, v]) => [k, { value: v.value, step: v.step, at: new Date(v.time).toISOString() }])),
      },
      'opened',
    );
  }

  // An 'error' event with no listener would throw inside the save path and
  // take the training process down; failures are logged either way.
  private emitSafely(event: string, payload: unknown): void {
    if (event === 'error' && this.listenerCount('error') === 0) return;
    try {
      this.emit(event, payload);
    } catch (err) {
      this.logger.error({ event, err }, 'an event listener threw');
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new CheckpointError('E_CLOSED', `the store at ${this.dir} is closed`);
  }
}

/** Opens (creating if needed) a checkpoint store rooted at `dir`. */
export async function open(dir: string, options: StoreOptions = {}): Promise<CheckpointManager> {
  if (typeof dir !== 'string' || dir.length === 0) throw badInput(`Expected a directory path but received ${JSON.stringify(dir)}`);
  const checked = checkStoreOptions(options);
  if (!checked.readOnly) makeDirDurable(resolve(dir));
  return new CheckpointManager(dir, checked);
}

/**
 * Creates `dir` and its missing parents, each new entry fsync'd in its
 * parent: a power cut must not take away a store whose saves were
 * acknowledged (found by the power-loss model).
 */
function makeDirDurable(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirDurable(parent);
  callNative(() => native.ensureDir(dir));
  callNative(() => native.fsyncDir(parent));
}
