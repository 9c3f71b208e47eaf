// ModelCheckpoints: report/save/load/resume for one model. Decisions come
// from policy.ts, what to keep from retention.ts, durability from catalog.ts;
// this file sequences them: saves of one model commit in seq order, a failed
// save rejects only its own ticket, deletions run after the commit.
import { join } from 'node:path';
import {
  CATEGORIES, checkMeta, readCheckpoint, writeCheckpoint, type Category, type CheckpointInfo, type LoadedCheckpoint, type Metrics, type ReadOptions,
} from './checkpoint-file.js';
import { Catalog, checkpointFileName, type CheckpointRecord } from './catalog.js';
import { badInput, CheckpointError } from './errors.js';
import { History, type HistoryEntry } from './history.js';
import type { Logger, ModelSettings } from './options.js';
import type { Staged, StagingPool } from './pipeline.js';
import { applyDecision, decide, type Reason, type TrackerState } from './policy.js';
import { planRetention, singleBest } from './retention.js';
import { normalizeTensors, type TensorInput, type TensorLike } from './tensors.js';

export type TensorSource = TensorInput | (() => TensorInput);

export interface ReportInput {
  step: number;
  epoch?: number;
  metrics?: Metrics;
  /** The tensors, or a function called only when the report saves. */
  tensors?: TensorSource;
  meta?: Record<string, unknown>;
  /** Save whatever the policy says (reason "forced"). */
  force?: boolean;
}

export interface Ticket {
  saved: boolean;
  reasons: Reason[];
  category: Category | null;
  seq?: number;
  /** Resolves once the checkpoint is in the catalog for good; null when nothing was saved. */
  durable: Promise<CheckpointInfo | null>;
}

export interface SaveOptions {
  step: number;
  epoch?: number;
  metrics?: Metrics;
  meta?: Record<string, unknown>;
  category?: Category;
}

export interface ModelStats {
  checkpoints: Record<Category, number>;
  bytesOnDisk: number;
  quotaBytes: number | null;
  best: Record<string, { value: number; step: number; time: number }>;
  lastSaveAgeMs: number | null;
  saves: number;
  skips: number;
  failures: number;
  /** Saves merged into a newer one because the disk was behind. */
  coalesced: number;
  queueDepth: number;
}

/** What a model needs from its store. */
export interface ModelContext {
  logger: Logger;
  staging: StagingPool;
  emit(event: string, payload: unknown): void;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkModelName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !MODEL_NAME.test(name))
    throw badInput(`Expected a model name matching ${MODEL_NAME} but received ${JSON.stringify(name)}`);
}

interface SaveJob {
  /** The tracker as of this save's report: what its commit makes durable. */
  tracker: TrackerState;
  /** Best values this save's report replaced, given back if the save fails. */
  bestBefore: TrackerState['best'];
  step: number;
  epoch: number;
  metrics: Metrics;
  meta?: Record<string, unknown>;
  category: Category;
  reasons: Reason[];
  healthy: boolean;
  improved: string[];
}

interface Waiting {
  seq: number;
  staged: Staged;
  job: SaveJob;
  durable: Promise<CheckpointInfo>;
  settle: { resolve: (info: CheckpointInfo) => void; reject: (err: unknown) => void };
}

const REASON_ORDER: Reason[] = ['improved', 'steps', 'minutes', 'always', 'forced', 'final'];

/** The newer save's state with both saves' reasons; an improvement keeps the checkpoint "best". */
function mergeJobs(older: SaveJob, newer: SaveJob): SaveJob {
  const reasons = REASON_ORDER.filter((r) => older.reasons.includes(r) || newer.reasons.includes(r));
  const category: Category = reasons.includes('improved') ? 'best'
    : reasons.includes('final') ? 'final'
    : reasons.some((r) => r === 'steps' || r === 'minutes' || r === 'always') ? 'periodic' : 'manual';
  return {
    ...newer, reasons, category, improved: [...new Set([...older.improved, ...newer.improved])],
    bestBefore: { ...newer.bestBefore, ...older.bestBefore },
  };
}

export class ModelCheckpoints {
  private inFlight: Promise<void> | null = null;
  private readonly waiting: Waiting[] = [];
  private pending = 0;
  private coalesced = 0;
  private consecutiveFailures = 0;
  private alerted = false;
  private provider: (() => TensorInput) | null = null;
  private metaProvider: (() => Record<string, unknown>) | null = null;
  /** The last report's metrics and epoch: the final save describes the state it saves. */
  private lastReported: { metrics: Metrics; epoch: number } = { metrics: {}, epoch: 0 };
  private closed = false;

  /** @internal created by CheckpointManager.model() */
  constructor(
    readonly name: string,
    private readonly dir: string,
    private readonly catalog: Catalog,
    private readonly historyLog: History,
    private readonly ctx: ModelContext,
    readonly settings: ModelSettings,
  ) {}

  /**
   * Reports progress; saves when the policy says so. Synchronous: a skip
   * costs a decision and touches no tensor; a save copies the tensors into
   * staging memory and returns, the write happens off this thread.
   */
  report(input: ReportInput): Ticket {
    this.checkWritable();
    const { step, epoch = 0, metrics = {}, force = false } = this.checkReport(input);
    const now = Date.now();
    const { policy } = this.settings;
    const report = { step, metrics, force };
    const decision = decide(policy, this.catalog.tracker, report, now);
    // Stage before any state changes: tensors that fail validation must not
    // leave behind a best value or a reset clock that no checkpoint holds.
    let staged: Staged | null = null;
    if (decision.save) {
      if (input.tensors === undefined)
        throw badInput(`model "${this.name}": the report at step ${step} saves (${decision.reasons.join(', ')}) but has no tensors`);
      staged = this.stage(input.tensors, input.meta);
    }
    const before = this.catalog.tracker;
    this.catalog.tracker = applyDecision(policy, before, report, decision, now);
    this.historyLog.append({ step, epoch, time: now, metrics, saved: decision.save, reasons: decision.reasons });
    this.lastReported = { metrics, epoch };
    if (decision.nonFinite.length)
      this.ctx.logger.warn({ model: this.name, step, metrics: decision.nonFinite }, 'non-finite metrics: never an improvement');
    if (decision.degraded) this.onDegraded(step, metrics, before);
    if (!staged) {
      this.catalog.counters.skips++;
      this.ctx.emit('skipped', { model: this.name, step });
      return { saved: false, reasons: [], category: null, durable: Promise.resolve(null) };
    }
    const healthy = decision.nonFinite.length === 0;
    return this.enqueue(staged, {
      tracker: this.catalog.tracker, bestBefore: before.best, step, epoch, metrics, meta: input.meta,
      category: decision.category!, reasons: decision.reasons, healthy, improved: decision.improved,
    });
  }

  /** Saves unconditionally (category "manual" unless told otherwise); resolves when durable. */
  async save(tensors: TensorSource, options: SaveOptions): Promise<CheckpointInfo> {
    this.checkWritable();
    const { step, epoch = 0, metrics = {} } = this.checkReport({ ...options, tensors });
    const category = options.category ?? 'manual';
    if (!CATEGORIES.includes(category)) throw badInput(`Expected one of ${CATEGORIES.join(', ')} for category but received ${JSON.stringify(category)}`);
    const staged = this.stage(tensors, options.meta);
    // Any save resets both clocks (DESIGN.md §6).
    this.catalog.tracker = { ...this.catalog.tracker, lastStep: step, lastSavedStep: step, lastSavedTime: Date.now() };
    const reasons: Reason[] = [category === 'final' ? 'final' : 'forced'];
    const tracker = this.catalog.tracker;
    const ticket = this.enqueue(staged, { tracker, bestBefore: tracker.best, step, epoch, metrics, meta: options.meta, category, reasons, healthy: true, improved: [] });
    return (await ticket.durable)!;
  }

  /** Registers the tensors (and the meta) a final save on close() takes. */
  attach(provider: () => TensorInput, meta?: () => Record<string, unknown>): void {
    if (typeof provider !== 'function') throw badInput('Expected a function returning the tensors for attach()');
    if (meta !== undefined && typeof meta !== 'function') throw badInput('Expected a function returning the meta for attach()');
    this.provider = provider;
    this.metaProvider = meta ?? null;
  }

  list(): CheckpointInfo[] {
    this.catalog.refresh();
    return this.catalog.list().map((r) => this.info(r));
  }

  best(): CheckpointInfo | null {
    this.catalog.refresh();
    const record = singleBest(this.catalog.list(), this.settings.retention.primary);
    return record ? this.info(record) : null;
  }

  latest(): CheckpointInfo | null {
    this.catalog.refresh();
    const newest = this.catalog.newest();
    return newest ? this.info(newest) : null;
  }

  history(): HistoryEntry[] {
    return this.historyLog.read();
  }

  pin(seq: number, pinned = true): void {
    this.checkWritable();
    this.catalog.pin(seq, pinned);
  }

  /**
   * Loads a checkpoint, verified. A file that fails verification is
   * quarantined and, for 'best' and 'latest', the next candidate is tried.
   */
  async load(which: 'best' | 'latest' | number, options: ReadOptions = {}): Promise<LoadedCheckpoint> {
    this.checkOpen();
    this.catalog.refresh();
    let candidates: CheckpointRecord[];
    if (which === 'latest') candidates = [...this.catalog.list()].reverse();
    else if (which === 'best') candidates = this.bestFirst();
    else if (Number.isSafeInteger(which)) {
      const record = this.catalog.get(which as number);
      if (!record) throw new CheckpointError('E_NOT_FOUND', `model "${this.name}" has no checkpoint ${which}`);
      candidates = [record];
    } else throw badInput(`Expected 'best', 'latest' or a seq number for load() but received ${JSON.stringify(which)}`);
    const loaded = await this.loadFirstValid(candidates, options, which === 'best' || which === 'latest');
    if (!loaded) throw new CheckpointError('E_NOT_FOUND', `model "${this.name}" has no ${typeof which === 'number' ? `checkpoint ${which}` : 'checkpoint'} to load`);
    return loaded;
  }

  /** The newest valid checkpoint (healthy ones first), or null for a fresh model. */
  async resume(options: ReadOptions = {}): Promise<LoadedCheckpoint | null> {
    this.checkOpen();
    this.catalog.refresh();
    const candidates = [...this.catalog.list()].sort((a, b) => Number(b.healthy) - Number(a.healthy) || b.seq - a.seq);
    const loaded = await this.loadFirstValid(candidates, options, true);
    // Training continues from the loaded step, so steps may repeat after it.
    if (loaded && !this.catalog.readOnly) this.catalog.tracker = { ...this.catalog.tracker, lastStep: loaded.step };
    return loaded;
  }

  stats(): ModelStats {
    const records = this.catalog.list();
    const checkpoints: Record<Category, number> = { best: 0, periodic: 0, final: 0, manual: 0 };
    for (const r of records) checkpoints[r.category]++;
    const last = this.catalog.tracker.lastSavedTime;
    return {
      checkpoints,
      bytesOnDisk: records.reduce((sum, r) => sum + r.bytes, 0),
      quotaBytes: this.settings.retention.quotaBytes,
      best: this.catalog.tracker.best,
      lastSaveAgeMs: last === null || records.length === 0 ? null : Date.now() - last,
      ...this.catalog.counters,
      coalesced: this.coalesced,
      queueDepth: this.pending,
    };
  }

  /** @internal Resolves when every accepted save has settled. */
  async flush(): Promise<void> {
    await this.idle();
    this.historyLog.flush(true);
    if (!this.catalog.readOnly && !this.closed) this.catalog.saveState();
  }

  /** @internal The final save of close(), then the catalog is closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.provider && !this.catalog.readOnly) {
      const step = this.catalog.tracker.lastStep ?? 0;
      try {
        const { metrics, epoch } = this.lastReported;
        const tracker = this.catalog.tracker;
        const meta = this.metaProvider?.();
        this.enqueue(this.stage(this.provider, meta), { tracker, bestBefore: tracker.best, step, epoch, metrics, meta, category: 'final', reasons: ['final'], healthy: true, improved: [] });
      } catch (err) {
        this.ctx.logger.error({ model: this.name, err }, 'final save could not start');
      }
    }
    await this.idle();
    this.applyRetention(); // the pass scheduled after the last commit would find the model closed
    this.closed = true;
    this.historyLog.close();
    this.catalog.close();
  }

  private stage(source: TensorSource, meta?: Record<string, unknown>): Staged {
    if (meta !== undefined) checkMeta(meta);
    return this.ctx.staging.stage(normalizeTensors(typeof source === 'function' ? source() : source));
  }

  /**
   * Starts a save at once when none is in flight; otherwise it waits behind
   * the running one (commits stay in seq order). When the disk is slower than
   * the saves, the last waiting save is replaced by the newer one (reasons
   * merged), so memory stays at two waiting copies at most and the replaced ticket
   * resolves to the newer checkpoint. A waiting improvement is never replaced
   * by a save that is not one: the best state must reach the disk, and so
   * must the interval saves (at most N steps lost), so such a save queues
   * behind it and later ones merge into that.
   */
  private enqueue(staged: Staged, job: SaveJob): Ticket {
    const last = this.waiting.at(-1);
    if (last && (last.job.category !== 'best' || job.category === 'best')) {
      last.staged.release();
      last.staged = staged;
      last.job = mergeJobs(last.job, job);
      this.coalesced++;
      this.ctx.logger.debug({ model: this.name, seq: last.seq, step: job.step }, 'coalesced with the waiting save');
      return { saved: true, reasons: last.job.reasons, category: last.job.category, seq: last.seq, durable: last.durable };
    }
    let settle!: Waiting['settle'];
    const durable = new Promise<CheckpointInfo>((resolve, reject) => (settle = { resolve, reject }));
    // A caller that ignores `durable` must not crash on an unhandled rejection:
    // the failure is already logged and emitted.
    durable.catch(() => undefined);
    const entry: Waiting = { seq: this.catalog.allocateSeq(), staged, job, durable, settle };
    this.waiting.push(entry);
    this.pending++;
    if (!this.inFlight) this.startNext();
    return { saved: true, reasons: job.reasons, category: job.category, seq: entry.seq, durable };
  }

  private startNext(): void {
    const next = this.waiting.shift();
    if (!next) {
      this.inFlight = null;
      return;
    }
    this.inFlight = this.persist(next.seq, next.staged, next.job)
      .then(next.settle.resolve, next.settle.reject)
      .finally(() => {
        next.staged.release();
        this.pending--;
        this.startNext();
      });
  }

  /** Resolves when no save is running or waiting. */
  private async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  private async persist(
    seq: number,
    staged: Staged,
    job: SaveJob,
  ): Promise<CheckpointInfo> {
    const started = performance.now();
    const file = checkpointFileName(seq, job.step);
    const fields = { model: this.name, seq, step: job.step, epoch: job.epoch, metrics: job.metrics, meta: job.meta, category: job.category, reasons: job.reasons };
    const tensors = staged.tensors.map((t) => [t.name, t] as [string, TensorLike]);
    const write = () => writeCheckpoint(join(this.dir, file), tensors, fields, this.settings.compression);
    try {
      let index;
      try {
        index = await write();
      } catch (err) {
        if ((err as CheckpointError).code !== 'E_NOSPACE' || !this.freeSpace(staged.rawBytes)) throw err;
        this.ctx.logger.warn({ model: this.name, seq }, 'disk full: evicted checkpoints, retrying the save once');
        index = await write();
      }
      const record: CheckpointRecord = {
        seq, step: job.step, epoch: job.epoch, time: Date.now(), created: index.info.created, category: job.category,
        reasons: job.reasons, metrics: job.metrics, bytes: index.info.bytes, rawBytes: index.info.rawBytes, file, pinned: false, healthy: job.healthy,
      };
      this.catalog.counters.saves++;
      this.catalog.commit(record, job.tracker);
      // Written, not fsync'd: history may lose its last second in a crash,
      // the checkpoint may not, and an fsync here would cost every save.
      this.historyLog.flush(false);
      const info = this.info(record);
      const durationMs = performance.now() - started;
      this.ctx.logger.info({ model: this.name, seq, step: job.step, reasons: job.reasons, metrics: job.metrics, bytes: record.bytes, durationMs }, 'saved');
      this.consecutiveFailures = 0;
      this.alerted = false;
      this.ctx.emit('saved', { model: this.name, info, durationMs });
      if (job.category === 'best') this.ctx.emit('improved', { model: this.name, info, improved: job.improved });
      setImmediate(() => this.applyRetention());
      return info;
    } catch (err) {
      this.giveBackBest(job);
      this.onSaveFailed(seq, job.step, err);
      throw err;
    }
  }

  /**
   * A best save that failed leaves no checkpoint behind its best values:
   * restore the ones it set (unless a later report has improved on them), or
   * an equally good state could never be saved as best again.
   */
  private giveBackBest(job: SaveJob): void {
    const best = { ...this.catalog.tracker.best };
    for (const metric of job.improved) {
      if (best[metric]?.step !== job.step) continue;
      if (job.bestBefore[metric]) best[metric] = job.bestBefore[metric];
      else delete best[metric];
    }
    this.catalog.tracker = { ...this.catalog.tracker, best };
  }

  private onSaveFailed(seq: number, step: number, err: unknown): void {
    this.catalog.counters.failures++;
    this.consecutiveFailures++;
    this.ctx.logger.error({ model: this.name, seq, step, err }, 'save failed');
    this.ctx.emit('error', Object.assign(err instanceof Error ? err : new Error(String(err)), { model: this.name, seq }));
    if (this.consecutiveFailures >= this.settings.alertAfter && !this.alerted) {
      this.alerted = true;
      this.ctx.emit('alert', { model: this.name, failures: this.consecutiveFailures, error: err });
    }
  }

  /** Evicts for a save of `bytes` that hit ENOSPC; true if anything was freed. */
  private freeSpace(bytes: number): boolean {
    const records = this.catalog.list();
    const onDisk = records.reduce((sum, r) => sum + r.bytes, 0);
    const plan = planRetention(records, { ...this.settings.retention, quotaBytes: onDisk }, bytes);
    this.evict(plan.evict.map((e) => ({ record: e.record, reason: `disk full (${e.reason})` })));
    return plan.evict.length > 0;
  }

  private applyRetention(): void {
    if (this.closed) return;
    try {
      const plan = planRetention(this.catalog.list(), this.settings.retention);
      this.evict(plan.evict.map((e) => ({ record: e.record, reason: e.reason })));
      if (plan.overQuota)
        this.ctx.logger.warn({ model: this.name, quotaBytes: this.settings.retention.quotaBytes }, 'over quota: only protected checkpoints remain');
    } catch (err) {
      this.ctx.logger.error({ model: this.name, err }, 'retention failed');
      this.ctx.emit('error', err);
    }
  }

  private evict(victims: Array<{ record: CheckpointRecord; reason: string }>): void {
    for (const { record, reason } of victims) {
      this.catalog.evict(record, reason);
      try {
        this.catalog.deleteEvicted(record.file);
      } catch (err) {
        // The journal says "evicted": the next open finishes the unlink.
        this.ctx.logger.warn({ model: this.name, seq: record.seq, err }, 'eviction: unlink failed, retried at next open');
      }
      this.ctx.logger.info({ model: this.name, seq: record.seq, file: record.file, bytes: record.bytes, reason }, 'evicted');
      this.ctx.emit('evicted', { model: this.name, seq: record.seq, file: record.file, bytes: record.bytes, reason });
    }
  }

  private bestFirst(): CheckpointRecord[] {
    const primary = this.settings.retention.primary;
    const all = [...this.catalog.list()].reverse();
    if (!primary) return all;
    const value = (r: CheckpointRecord) => {
      const v = r.metrics[primary.name];
      return Number.isFinite(v) ? (primary.direction === 'min' ? v : -v) : Infinity;
    };
    return all.sort((a, b) => value(a) - value(b) || b.seq - a.seq);
  }

  private async loadFirstValid(candidates: CheckpointRecord[], options: ReadOptions, fallBack: boolean): Promise<LoadedCheckpoint | null> {
    for (const record of candidates) {
      try {
        const loaded = await readCheckpoint(this.catalog.path(record), options);
        return { ...loaded, info: this.info(record) };
      } catch (err) {
        const code = (err as CheckpointError).code;
        if (code !== 'E_CORRUPT' && code !== 'E_NOT_FOUND' && code !== 'E_VERSION') throw err;
        this.onUnreadable(record, err as CheckpointError);
        if (!fallBack) throw err;
      }
    }
    return null;
  }

  private onUnreadable(record: CheckpointRecord, err: CheckpointError): void {
    if (this.catalog.readOnly) {
      this.ctx.emit('error', Object.assign(err, { model: this.name, seq: record.seq, file: record.file }));
      return;
    }
    let where = 'missing';
    if (err.code === 'E_NOT_FOUND') this.catalog.forget(record, err.message);
    else where = this.catalog.quarantine(record, err.message);
    this.ctx.logger.error({ model: this.name, seq: record.seq, file: record.file, quarantined: where, err }, 'checkpoint unreadable; falling back');
    this.ctx.emit('error', Object.assign(err, { model: this.name, seq: record.seq, file: record.file }));
  }

  private onDegraded(step: number, metrics: Metrics, before: { best: Record<string, { value: number }> }): void {
    const primary = this.settings.retention.primary!;
    const payload = { model: this.name, step, metric: primary.name, value: metrics[primary.name], best: before.best[primary.name]?.value };
    this.ctx.logger.warn(payload, 'degraded: primary metric worse than best for `patience` reports');
    this.ctx.emit('degraded', payload);
    if (!this.settings.revert) return;
    // The best checkpoint may still be on its way to the disk.
    this.idle()
      .then(() => this.load('best'))
      .then((best) => {
        this.ctx.logger.warn({ model: this.name, seq: best.info.seq }, 'reverted to the best checkpoint');
        this.settings.onRevert?.(this.name, best);
      })
      .catch((err) => this.ctx.logger.error({ model: this.name, err }, 'revert failed'));
  }

  private info(r: CheckpointRecord): CheckpointInfo {
    return {
      model: this.name, seq: r.seq, step: r.step, epoch: r.epoch, category: r.category, reasons: r.reasons,
      metrics: r.metrics, bytes: r.bytes, rawBytes: r.rawBytes, created: r.created, path: this.catalog.path(r),
    };
  }

  private checkReport(input: ReportInput): { step: number; epoch?: number; metrics?: Metrics; force?: boolean } {
    if (input === null || typeof input !== 'object') throw badInput('Expected an object for report()');
    const { step, epoch, metrics, force } = input;
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)
      throw badInput(`Expected non-negative integer for step but received ${String(step)}`);
    const last = this.catalog.tracker.lastStep;
    if (last !== null && step < last) throw badInput(`step ${step} goes backwards: model "${this.name}" last reported step ${last}`);
    if (epoch !== undefined && (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0))
      throw badInput(`Expected non-negative integer for epoch but received ${String(epoch)}`);
    if (metrics !== undefined) {
      if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) throw badInput('Expected an object of numbers for metrics');
      for (const [k, v] of Object.entries(metrics)) if (typeof v !== 'number') throw badInput(`Expected number for metric "${k}" but received ${typeof v}`);
    }
    if (force !== undefined && typeof force !== 'boolean') throw badInput(`Expected boolean for force but received ${String(force)}`);
    return input;
  }

  private checkOpen(): void {
    if (this.closed) throw new CheckpointError('E_CLOSED', `model "${this.name}" is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.catalog.readOnly) throw new CheckpointError('E_BAD_INPUT', `model "${this.name}" is open read-only`);
  }
}
