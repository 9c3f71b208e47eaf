// ModelCheckpoints: report/save/load/resume for one model. A facade: the
// tracker decides and remembers, the save queue writes and orders commits,
// the committer makes them durable, the evictor applies retention, the
// loader reads with fallback.
import { monotonicWallClock } from '../clock.js';
import { CheckpointError } from '../errors.js';
import type { CheckpointFields, CheckpointInfo } from '../file/types.js';
import type { TensorInput, TensorSpec } from '../file/tensors.js';
import type { Catalog } from '../durability/catalog.js';
import type { History, HistoryEntry } from '../durability/history.js';
import type { ReadOptions } from '../file/types.js';
import { singleBest } from '../policy/ranking.js';
import type { ModelSettings } from '../validate/policy-options.js';
import { checkAttach, checkCategory, checkReport, checkSaveContent, checkSnapshot, checkWritable } from '../validate/report.js';
import { Committer } from './commit.js';
import { Evictor } from './evictor.js';
import { Loader, type Loaded, type Which } from './loader.js';
import { SaveQueue, type Placement } from './save-queue.js';
import { modelStats } from './stats.js';
import { Tracker } from './tracker.js';
import type { ModelContext, ModelStats, ReportInput, SaveOptions, TensorSource, Ticket } from './types.js';

/** The durable promise of every report that saves nothing (a settled promise can be shared). */
const NOTHING_SAVED: Promise<null> = Promise.resolve(null);
const NOT_SAVED: Ticket = Object.freeze({ saved: false, reasons: [], category: null, durable: NOTHING_SAVED });

export class ModelCheckpoints {
  private readonly tracker: Tracker;
  private readonly queue: SaveQueue;
  private readonly committer: Committer;
  private readonly evictor: Evictor;
  private readonly loader: Loader;
  private dropped = 0;
  private provider: { tensors: () => TensorInput; meta: (() => Record<string, unknown>) | null } | null = null;
  /** The last report's metrics and epoch: the final save describes the state it saves. */
  private lastReported = { metrics: {}, epoch: 0 };
  private closed = false;
  /** close() has begun: its final save is the last one (a signal may have started it mid-loop). */
  private closing = false;
  /** A signal is closing the store: the training loop may still run until the process ends. */
  private signalled = false;
  private closeRun: Promise<void> | null = null;
  private readonly now = monotonicWallClock();

  /** @internal created by the store's model() */
  constructor(
    readonly name: string,
    dir: string,
    private readonly catalog: Catalog,
    private readonly historyLog: History,
    private readonly ctx: ModelContext,
    /** The model's policy, retention and compression, resolved (and frozen) when it opened. */
    readonly settings: Readonly<ModelSettings>,
  ) {
    this.tracker = new Tracker(catalog, settings.policy);
    const aheadMs = catalog.readOnly ? 0 : this.tracker.countFrom(this.now());
    if (aheadMs > 0)
      ctx.logger.warn({ model: name, aheadMs }, 'the last save is dated in the future (the clock was set back, or the store moved between machines): time-based saves count from now');
    this.evictor = new Evictor(name, dir, catalog, ctx, settings.retention);
    this.committer = new Committer(name, catalog, historyLog, this.tracker, this.evictor, ctx, settings.alertAfter);
    this.queue = new SaveQueue(name, dir, catalog, ctx, settings.compression, {
      commit: (entry, index) => this.committer.commit(entry, index),
      failed: (entry, err) => this.committer.failed(entry, err),
      freeSpace: (bytes) => this.evictor.freeSpace(bytes),
    });
    this.loader = new Loader(name, catalog, ctx, settings.retention.primary);
  }

  /**
   * Reports progress; saves when the policy says so. Synchronous: a skip
   * costs a decision and touches no tensor; a save copies the tensors into
   * staging memory and returns, the write happens off this thread.
   */
  report(input: ReportInput): Ticket {
    // A loop still running while close() runs (after a signal: until the process ends) must not crash on its next report.
    if (this.closing && (!this.closed || this.signalled)) return NOT_SAVED;
    this.checkWritable();
    const { step, epoch, metrics, force } = checkReport(input);
    this.tracker.checkStep(this.name, step);
    const now = this.now();
    const report = { step, metrics, force };
    let decision = this.tracker.decide(report, now);
    // Stage before any state changes: tensors that fail validation, or a save
    // that backpressure drops, must not leave behind a best value or a reset
    // clock that no checkpoint holds.
    let placed: Placement | null = null;
    let dropped = false;
    if (decision.save) {
      if (input.tensors === undefined)
        throw new CheckpointError('E_BAD_INPUT', `model "${this.name}": the report at step ${step} saves (${decision.reasons.join(', ')}) but has no tensors`);
      const specs = this.content(input.tensors, input.meta, { step, epoch, metrics, category: decision.category!, reasons: decision.reasons });
      placed = this.queue.place(specs, decision.category === 'best', checkSnapshot(input.snapshot, this.ctx.pipeline.snapshot));
      if (!placed) {
        dropped = true;
        decision = { ...decision, save: false, reasons: [], category: null, improved: [] };
        this.drop(step);
      }
    }
    const before = this.tracker.apply(report, decision, now);
    this.historyLog.append({ step, epoch, time: now, metrics, saved: decision.save, reasons: decision.reasons });
    this.lastReported = { metrics, epoch };
    if (decision.nonFinite.length)
      this.ctx.logger.warn({ model: this.name, step, metrics: decision.nonFinite }, 'non-finite metrics: never an improvement');
    if (decision.degraded) this.onDegraded(step, metrics[this.settings.retention.primary!.name], before.best);
    if (!placed) {
      if (dropped) return { ...NOT_SAVED, dropped: true };
      this.tracker.count('skips');
      this.ctx.emit('skipped', { model: this.name, step });
      return NOT_SAVED;
    }
    return this.queue.enqueue(placed, {
      tracker: this.tracker.current, bestBefore: before.best, step, epoch, metrics, meta: input.meta,
      category: decision.category!, reasons: decision.reasons, healthy: decision.nonFinite.length === 0, improved: decision.improved,
    });
  }

  /**
   * Saves unconditionally (category "manual" unless told otherwise); resolves
   * when durable. With backpressure 'block' it waits for room instead of
   * merging into a waiting save or being dropped.
   */
  async save(tensors: TensorSource, options: SaveOptions): Promise<CheckpointInfo> {
    this.checkWritable();
    if (this.closing) throw new CheckpointError('E_CLOSED', `model "${this.name}" is closing`);
    const { step, epoch, metrics } = checkReport({ ...options, tensors });
    this.tracker.checkStep(this.name, step);
    const category = checkCategory(options.category);
    const specs = this.content(tensors, options.meta, { step, epoch, metrics, category, reasons: [category === 'final' ? 'final' : 'forced'] });
    const mode = checkSnapshot(options.snapshot, this.ctx.pipeline.snapshot);
    const block = this.ctx.pipeline.backpressure === 'block';
    let placed = this.queue.place(specs, category === 'best', mode, block);
    while (!placed && block) {
      await this.queue.progress();
      this.checkWritable();
      placed = this.queue.place(specs, category === 'best', mode, block);
    }
    if (!placed) {
      this.drop(step);
      throw new CheckpointError('E_NOSPACE', `model "${this.name}": save at step ${step} dropped: the disk is behind and staging memory is full (backpressure '${this.ctx.pipeline.backpressure}')`);
    }
    const tracker = this.tracker.saved(step, this.now());
    const ticket = this.queue.enqueue(placed, {
      tracker, bestBefore: tracker.best, step, epoch, metrics, meta: options.meta, category,
      reasons: [category === 'final' ? 'final' : 'forced'], healthy: true, improved: [],
    });
    return (await ticket.durable)!;
  }

  /** Registers the tensors (and the meta) a final save on close() takes. */
  attach(provider: () => TensorInput, meta?: () => Record<string, unknown>): void {
    checkAttach(provider, meta);
    this.provider = { tensors: provider, meta: meta ?? null };
  }

  list(): CheckpointInfo[] {
    this.catalog.refresh();
    return this.catalog.list().map((r) => this.catalog.info(r));
  }

  best(): CheckpointInfo | null {
    this.catalog.refresh();
    const record = singleBest(this.catalog.list(), this.settings.retention.primary);
    return record ? this.catalog.info(record) : null;
  }

  latest(): CheckpointInfo | null {
    this.catalog.refresh();
    const newest = this.catalog.newest();
    return newest ? this.catalog.info(newest) : null;
  }

  history(): HistoryEntry[] {
    return this.historyLog.read();
  }

  /**
   * Keeps a checkpoint whatever retention says; unpinned, it is subject to
   * retention again at once. In effect on return; durable when the promise resolves.
   */
  pin(seq: number, pinned = true): Promise<void> {
    this.checkWritable();
    const durable = this.catalog.pin(seq, pinned);
    // A caller that does not await it must not crash on an unhandled rejection.
    durable.catch((err) => this.ctx.logger.error({ model: this.name, seq, err }, 'pin not durable'));
    if (!pinned) this.evictor.apply();
    return durable;
  }

  /**
   * Loads a checkpoint, verified, off the calling thread. A file that fails
   * verification is quarantined and, for 'best' and 'latest', the next
   * candidate is tried.
   */
  async load(which: Which, options: ReadOptions = {}): Promise<Loaded> {
    this.checkOpen();
    const loaded = await this.loader.first(this.loader.candidates(which), options, typeof which !== 'number');
    if (loaded) return loaded;
    throw new CheckpointError('E_NOT_FOUND', `model "${this.name}" has no ${typeof which === 'number' ? `checkpoint ${which}` : 'checkpoint'} to load`);
  }

  /** The newest valid checkpoint (healthy ones first), or null for a fresh model. */
  async resume(options: ReadOptions = {}): Promise<Loaded | null> {
    this.checkOpen();
    const loaded = await this.loader.first(this.loader.resumeOrder(), options, true);
    if (loaded && !this.catalog.readOnly) this.tracker.resumedAt(loaded.step);
    return loaded;
  }

  stats(): ModelStats {
    return modelStats(this.catalog, this.tracker, this.settings.retention.quotaBytes, this.now(), {
      coalesced: this.queue.coalesced, dropped: this.dropped, queueDepth: this.queue.depth,
      stall: this.queue.stall, persist: this.committer.persistLatency,
    });
  }

  /** Resolves when every accepted save has settled and the evictions they caused are done. */
  async flush(): Promise<void> {
    await this.queue.idle();
    await this.evictor.done();
    await this.historyLog.flush();
    if (!this.catalog.readOnly && !this.closed) await this.tracker.persist();
  }

  /** The final save (with attach()), then the catalog is closed; the store's close() calls it. */
  close(): Promise<void> {
    this.closeRun ??= this.closeOnce();
    return this.closeRun;
  }

  /** @internal A signal is closing the store: reports are skipped from now on, never refused. */
  stopReports(): void {
    this.closing = true;
    this.signalled = true;
  }

  private async closeOnce(): Promise<void> {
    this.closing = true;
    if (this.provider && !this.catalog.readOnly) this.finalSave(this.provider);
    await this.queue.idle();
    await this.evictor.done();
    await this.historyLog.close();
    if (!this.catalog.readOnly) await this.tracker.persist();
    await this.catalog.close();
    this.closed = true;
  }

  private finalSave(provider: NonNullable<ModelCheckpoints['provider']>): void {
    const step = this.tracker.current.lastStep ?? 0;
    try {
      const { metrics, epoch } = this.lastReported;
      const tracker = this.tracker.current;
      const meta = provider.meta?.();
      // Copied even with a store-wide borrow: on a signal the training loop
      // may still be running and changing them.
      const specs = this.content(provider.tensors, meta, { step, epoch, metrics, category: 'final', reasons: ['final'] });
      const placed = this.queue.place(specs, false, 'copy');
      if (!placed) throw new CheckpointError('E_NOSPACE', 'staging memory is full');
      this.queue.enqueue(placed, { tracker, bestBefore: tracker.best, step, epoch, metrics, meta, category: 'final', reasons: ['final'], healthy: true, improved: [] });
    } catch (err) {
      this.ctx.logger.error({ model: this.name, err }, 'final save could not start');
    }
  }

  /** A save's tensors and meta, checked; and everything the writer would refuse of them, refused now. */
  private content(source: TensorSource, meta: Record<string, unknown> | undefined, fields: Omit<CheckpointFields, 'model' | 'meta' | 'seq'>): TensorSpec[] {
    const specs = checkSaveContent(source, meta);
    checkWritable(specs, { ...fields, model: this.name, meta }, this.settings.compression);
    return specs;
  }

  private drop(step: number): void {
    this.dropped++;
    this.ctx.logger.warn({ model: this.name, step, backpressure: this.ctx.pipeline.backpressure }, 'save dropped: the disk is behind and staging memory is full');
    this.ctx.emit('skipped', { model: this.name, step, reason: 'backpressure' });
  }

  private onDegraded(step: number, value: number, bestBefore: Record<string, { value: number }>): void {
    const metric = this.settings.retention.primary!.name;
    const payload = { model: this.name, step, metric, value, best: bestBefore[metric]?.value };
    this.ctx.logger.warn(payload, 'degraded: primary metric worse than best for `patience` reports');
    this.ctx.emit('degraded', payload);
    if (!this.settings.revert) return;
    // The best checkpoint may still be on its way to the disk.
    this.queue.idle()
      .then(() => this.load('best'))
      .then((best) => {
        this.ctx.logger.warn({ model: this.name, seq: best.info.seq }, 'reverted to the best checkpoint');
        this.settings.onRevert?.(this.name, best);
      })
      .catch((err) => this.ctx.logger.error({ model: this.name, err }, 'revert failed'));
  }

  private checkOpen(): void {
    if (this.closed) throw new CheckpointError('E_CLOSED', `model "${this.name}" is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.catalog.readOnly) throw new CheckpointError('E_BAD_INPUT', `model "${this.name}" is open read-only`);
  }
}
