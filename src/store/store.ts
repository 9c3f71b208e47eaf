// CheckpointManager: the store. Opens the root, hands out one
// ModelCheckpoints per model (each with its own lock, catalog and policy),
// owns the workers and staging memory they share, fans their events out,
// and closes them with their final saves (also on SIGINT/SIGTERM).
import { EventEmitter } from 'node:events';
import { join, resolve } from 'node:path';
import { Catalog } from '../durability/catalog.js';
import { History } from '../durability/history.js';
import { callNative, CheckpointError } from '../errors.js';
import type { StoreEventMap, StoreEventName } from '../events.js';
import { quietConsoleLogger, type Logger } from '../logger.js';
import { ModelCheckpoints } from '../model/model.js';
import type { ModelStats } from '../model/types.js';
import { native, type NativeLock } from '../native.js';
import { StagingPool } from '../pipeline/staging.js';
import { defaultWorkers, WorkerPool } from '../pipeline/workers.js';
import { path } from '../validate/checks.js';
import { checkModelName } from '../validate/names.js';
import { resolvePolicy, type PolicyOptions } from '../validate/policy-options.js';
import { resolveStoreOptions, type StoreOptions, type StoreSettings } from '../validate/store-options.js';
import type { EpisodeLog } from '../episodes/log.js';
import { StoreEpisodes } from '../episodes/store.js';
import type { EpisodeLogOptions } from '../episodes/types.js';
import { onTerminationSignal } from './signals.js';

export class CheckpointManager extends EventEmitter<StoreEventMap> {
  readonly dir: string;
  readonly readOnly: boolean;
  private readonly logger: Logger;
  private readonly models = new Map<string, { model: ModelCheckpoints; lock: NativeLock | null }>();
  private readonly workers: WorkerPool;
  private readonly staging: StagingPool;
  private readonly episodeLogs: StoreEpisodes;
  private readonly stopHandlingSignals: () => void;
  private closing: Promise<void> | null = null;
  private modelsClosed: Promise<void> | null = null;
  private closed = false;

  /** @internal created by open() */
  constructor(dir: string, private readonly settings: StoreSettings) {
    super();
    this.dir = resolve(dir);
    this.logger = settings.logger ?? quietConsoleLogger;
    this.readOnly = settings.readOnly;
    this.workers = WorkerPool.acquire(settings.pipeline.workers, settings.pipeline.workerNice);
    this.staging = new StagingPool(settings.pipeline.stagingMaxBytes, (slab) => this.workers.run({ kind: 'prefault', slab }));
    this.episodeLogs = new StoreEpisodes(this.dir, {
      readOnly: this.readOnly, keep: settings.model.episodes, logger: this.logger, emit: (event, ...args) => this.emitSafely(event, ...args),
    });
    this.stopHandlingSignals = settings.pipeline.handleSignals ? onTerminationSignal(() => this.closeOnSignal()) : () => {};
  }

  /**
   * The checkpoints of one model: its own tracker, clocks, retention and
   * files. The first call opens (and, unless read-only, locks and repairs)
   * the model's directory; `options` override the store's for this model.
   */
  model(name: string, options: PolicyOptions = {}): ModelCheckpoints {
    this.checkOpen();
    checkModelName(name);
    // Settings were resolved at open; only a model with overrides resolves its own.
    const defaults = options !== null && typeof options === 'object' && Object.keys(options).length === 0;
    const existing = this.models.get(name);
    if (existing) {
      if (!defaults) throw new CheckpointError('E_BAD_INPUT', `model "${name}" is already open; pass its options on the first model() call`);
      return existing.model;
    }
    const settings = defaults ? this.settings.model : resolvePolicy(options, this.settings.policy);
    const dir = join(this.dir, name);
    let lock: NativeLock | null = null;
    if (!this.readOnly) {
      // One level: open() made the root. Catalog.open fsyncs the root, which makes this entry durable.
      callNative(() => native.ensureDir(dir));
      lock = callNative(() => native.lockFile(join(dir, 'LOCK')));
    }
    try {
      const catalog = Catalog.open(dir, name, this.readOnly, settings.policy.monitor);
      const history = new History(History.pathIn(dir), this.readOnly, (err) => this.logger.warn({ model: name, err }, 'history write failed'));
      const model = new ModelCheckpoints(name, dir, catalog, history, {
        logger: this.logger,
        staging: this.staging,
        workers: this.workers,
        pipeline: this.settings.pipeline,
        emit: (event, ...args) => this.emitSafely(event, ...args),
        episodes: (stream) => this.episodes(stream),
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

  /** The episode log of one stream, under `<root>/.episodes/<stream>/`; opened and recovered on first use. */
  episodes(stream: string, options: EpisodeLogOptions = {}): EpisodeLog {
    this.checkOpen();
    return this.episodeLogs.open(stream, options);
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
      await this.episodeLogs.closeAll(); // their last group commit is durable
    })();
    return this.modelsClosed;
  }

  /** The training loop may still run while the models close: from now on its reports are skipped. */
  private closeOnSignal(): Promise<void> {
    for (const { model } of this.models.values()) model.stopReports();
    return this.closeModels();
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
  private emitSafely<K extends StoreEventName>(event: K, ...args: StoreEventMap[K]): void {
    if (event === 'error' && this.listenerCount('error') === 0) return;
    try {
      (this.emit as (event: K, ...args: StoreEventMap[K]) => boolean)(event, ...args);
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
  path('directory path', dir);
  const settings = resolveStoreOptions(options, defaultWorkers());
  // Each level it makes is fsynced in its parent: a power cut cannot take a store whose saves were acknowledged.
  if (!settings.readOnly) callNative(() => native.makeDirs(resolve(dir)));
  return new CheckpointManager(dir, settings);
}
