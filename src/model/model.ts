// ModelCheckpoints: report/save/load/resume for one model. Decisions come
// from policy.ts, what to keep from retention.ts, durability from catalog.ts,
// memory and threads from pipeline.ts; this file sequences them: saves of
// one model may run at once on several workers but commit in seq order, a
// failed save rejects only its own ticket, deletions run after the commit.
import { join } from 'node:path';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import {
  CATEGORIES, checkMeta, checkReadOptions, readCheckpoint, readCheckpointSync, writeCheckpoint,
  type Category, type CheckpointIndex, type CheckpointInfo, type LoadedCheckpoint, type Metrics, type ReadOptions,
} from '../file/checkpoint-file.js';
import { Catalog, checkpointFileName, identityProblem, type CheckpointRecord } from '../durability/catalog.js';
import { badInput, callNative, CheckpointError } from '../errors.js';
import { History, type HistoryEntry } from '../durability/history.js';
import { native } from '../native.js';
import type { Logger, ModelSettings, PipelineSettings, SnapshotMode } from '../validate/options.js';
import { borrow, type Staged, type StagingPool } from '../pipeline/staging.js';
import type { WorkerPool } from '../pipeline/workers.js';
import { applyDecision, decide, type Decision, type Reason, type TrackerState } from '../policy/decide.js';
import { planRetention, singleBest } from '../policy/retention.js';
import { normalizeTensors, type TensorInput, type TensorLike, type TensorSpec } from '../file/tensors.js';
import type { EpisodeLog } from '../episodes/log.js'; // issue 8: load(x).episodes()
import { withEpisodes, type ReplayableCheckpoint } from '../episodes/store.js';

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
  /** Overrides the store's `snapshot` option for this report. */
  snapshot?: SnapshotMode;
}

/** The durable promise of every report that saves nothing (a settled promise can be shared). */
const NOTHING_SAVED: Promise<null> = Promise.resolve(null);

export interface Ticket {
  saved: boolean;
  reasons: Reason[];
  category: Category | null;
  seq?: number;
  /** Resolves once the checkpoint is in the catalog for good; null when nothing was saved. */
  durable: Promise<CheckpointInfo | null>;
  /** The policy asked for a save that backpressure dropped (the disk is behind and memory is full). */
  dropped?: true;
}

export interface SaveOptions {
  step: number;
  epoch?: number;
  metrics?: Metrics;
  meta?: Record<string, unknown>;
  category?: Category;
  /** Overrides the store's `snapshot` option for this save. */
  snapshot?: SnapshotMode;
}

/** Latency percentiles in milliseconds. */
export interface LatencyStats { count: number; p50: number; p99: number; max: number }

export interface ModelStats {
  checkpoints: Record<Category, number>;
  bytesOnDisk: number;
  quotaBytes: number | null;
  best: Record<string, { value: number; step: number; time: number }>;
  /** The step of the newest report or save, persisted across restarts (null before the first). */
  lastStep: number | null;
  lastSaveAgeMs: number | null;
  saves: number;
  skips: number;
  failures: number;
  /** Saves merged into a newer one because the disk was behind. */
  coalesced: number;
  /** Saves the policy asked for that backpressure dropped. */
  dropped: number;
  /** Accepted saves not yet durable (running or waiting). */
  queueDepth: number;
  /** Time report()/save() held the calling thread for a save (the copy). */
  stallMs: LatencyStats;
  /** Time from the start of a write to its commit. */
  persistMs: LatencyStats;
}

/** What a model needs from its store. */
export interface ModelContext {
  logger: Logger;
  staging: StagingPool;
  workers: WorkerPool;
  pipeline: PipelineSettings;
  emit(event: string, payload: unknown): void;
  /** The store's episode log of a stream (issue 8: a loaded checkpoint replays its episodes). */
  episodes(stream: string): EpisodeLog;
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
  /** Hash of borrowed arrays at report time (checkBorrowed). */
  borrowedHash?: string;
}

/** Where report()/save() put a save's tensors: a new queue entry, or `into` a waiting one. */
interface Placement { staged: Staged; into?: Waiting }

/** A started save; `outcome` is set when its write finishes, its commit waits for every lower seq. */
interface Running extends Waiting {
  started: number;
  outcome: { index: CheckpointIndex } | { error: unknown } | null;
}

function percentiles(h: RecordableHistogram): LatencyStats {
  const ms = (ns: number) => (h.count === 0 ? 0 : ns / 1e6);
  return { count: h.count, p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
}

/** One hash over every borrowed array: a change anywhere shows. */
function hashTensors(tensors: TensorSpec[]): string {
  return tensors.map((t) => native.xxh3(t.data)).join('');
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
  /** Accepted, not started; the last one may still take a newer save's state. */
  private readonly waiting: Waiting[] = [];
  /** Started, in seq order. */
  private readonly running: Running[] = [];
  private idleWaiters: Array<() => void> = [];
  private committing = false;
  private progressWaiters: Array<() => void> = [];
  private readonly deletes = new Set<Promise<void>>();
  private coalesced = 0;
  private dropped = 0;
  private readonly stall = createHistogram();
  private readonly persistLatency = createHistogram();
  private consecutiveFailures = 0;
  private alerted = false;
  private provider: (() => TensorInput) | null = null;
  private metaProvider: (() => Record<string, unknown>) | null = null;
  /** The last report's metrics and epoch: the final save describes the state it saves. */
  private lastReported: { metrics: Metrics; epoch: number } = { metrics: {}, epoch: 0 };
  private closed = false;
  /** close() has begun: its final save is the last one (a signal may have started it mid-loop). */
  private closing = false;

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
    // A loop still running while close() finishes must not crash on its next report.
    if (this.closing) return { saved: false, reasons: [], category: null, durable: NOTHING_SAVED };
    const { step, epoch = 0, metrics = {}, force = false } = this.checkReport(input);
    const now = Date.now();
    const { policy } = this.settings;
    const report = { step, metrics, force };
    let decision = decide(policy, this.catalog.tracker, report, now);
    // Stage before any state changes: tensors that fail validation, or a save
    // that backpressure drops, must not leave behind a best value or a reset
    // clock that no checkpoint holds.
    let placed: Placement | null = null;
    let dropped = false;
    if (decision.save) {
      if (input.tensors === undefined)
        throw badInput(`model "${this.name}": the report at step ${step} saves (${decision.reasons.join(', ')}) but has no tensors`);
      const specs = this.specsOf(input.tensors, input.meta);
      placed = this.place(specs, decision.category === 'best', this.modeOf(input.snapshot));
      if (!placed) {
        dropped = true;
        decision = { ...decision, save: false, reasons: [], category: null, improved: [] };
        this.drop(step);
      }
    }
    const before = this.catalog.tracker;
    this.catalog.tracker = applyDecision(policy, before, report, decision, now);
    this.historyLog.append({ step, epoch, time: now, metrics, saved: decision.save, reasons: decision.reasons });
    this.lastReported = { metrics, epoch };
    if (decision.nonFinite.length)
      this.ctx.logger.warn({ model: this.name, step, metrics: decision.nonFinite }, 'non-finite metrics: never an improvement');
    if (decision.degraded) this.onDegraded(step, metrics, before);
    if (!placed) {
      if (dropped) return { saved: false, reasons: [], category: null, durable: NOTHING_SAVED, dropped: true };
      this.catalog.counters.skips++;
      this.ctx.emit('skipped', { model: this.name, step });
      return { saved: false, reasons: [], category: null, durable: NOTHING_SAVED };
    }
    const healthy = decision.nonFinite.length === 0;
    return this.enqueue(placed, {
      tracker: this.catalog.tracker, bestBefore: before.best, step, epoch, metrics, meta: input.meta,
      category: decision.category!, reasons: decision.reasons, healthy, improved: decision.improved,
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
    const { step, epoch = 0, metrics = {} } = this.checkReport({ ...options, tensors });
    const category = options.category ?? 'manual';
    if (!CATEGORIES.includes(category)) throw badInput(`Expected one of ${CATEGORIES.join(', ')} for category but received ${JSON.stringify(category)}`);
    const specs = this.specsOf(tensors, options.meta);
    const mode = this.modeOf(options.snapshot);
    const block = this.ctx.pipeline.backpressure === 'block';
    let placed = this.place(specs, category === 'best', mode, block);
    while (!placed && block) {
      // Room comes with a commit of this model or a slab freed by any model.
      await Promise.race([this.ctx.staging.released(), new Promise<void>((resolve) => this.progressWaiters.push(resolve))]);
      this.checkWritable();
      placed = this.place(specs, category === 'best', mode, block);
    }
    if (!placed) {
      this.drop(step);
      throw new CheckpointError('E_NOSPACE', `model "${this.name}": save at step ${step} dropped: the disk is behind and staging memory is full (backpressure '${this.ctx.pipeline.backpressure}')`);
    }
    // Any save resets both clocks (DESIGN.md §6).
    this.catalog.tracker = { ...this.catalog.tracker, lastStep: step, lastSavedStep: step, lastSavedTime: Date.now() };
    const reasons: Reason[] = [category === 'final' ? 'final' : 'forced'];
    const tracker = this.catalog.tracker;
    const ticket = this.enqueue(placed, { tracker, bestBefore: tracker.best, step, epoch, metrics, meta: options.meta, category, reasons, healthy: true, improved: [] });
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
   * Loads a checkpoint, verified, off the calling thread: on a worker, or
   * with `into` straight into the caller's arrays from a libuv thread. A
   * file that fails verification is quarantined and, for 'best' and
   * 'latest', the next candidate is tried.
   */
  async load(which: 'best' | 'latest' | number, options: ReadOptions = {}): Promise<LoadedCheckpoint & ReplayableCheckpoint> {
    const candidates = this.candidates(which);
    for (const record of candidates) {
      try {
        return this.replayable({ ...(await this.read(record, options)), info: this.info(record) });
      } catch (err) {
        this.skipUnreadable(record, err, typeof which !== 'number');
      }
    }
    throw this.nothingToLoad(which);
  }

  /** load() on the calling thread, for start-up code that wants it. */
  loadSync(which: 'best' | 'latest' | number, options: ReadOptions = {}): LoadedCheckpoint & ReplayableCheckpoint {
    const candidates = this.candidates(which);
    for (const record of candidates) {
      try {
        return this.replayable({ ...this.holds(record, readCheckpointSync(this.catalog.path(record), options)), info: this.info(record) });
      } catch (err) {
        this.skipUnreadable(record, err, typeof which !== 'number');
      }
    }
    throw this.nothingToLoad(which);
  }

  /** The newest valid checkpoint (healthy ones first), or null for a fresh model. */
  async resume(options: ReadOptions = {}): Promise<(LoadedCheckpoint & ReplayableCheckpoint) | null> {
    this.checkOpen();
    this.catalog.refresh();
    const candidates = [...this.catalog.list()].sort((a, b) => Number(b.healthy) - Number(a.healthy) || b.seq - a.seq);
    let loaded: (LoadedCheckpoint & ReplayableCheckpoint) | null = null;
    for (const record of candidates) {
      try {
        loaded = this.replayable({ ...(await this.read(record, options)), info: this.info(record) });
        break;
      } catch (err) {
        this.skipUnreadable(record, err, true);
      }
    }
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
      lastStep: this.catalog.tracker.lastStep,
      lastSaveAgeMs: last === null || records.length === 0 ? null : Date.now() - last,
      ...this.catalog.counters,
      coalesced: this.coalesced,
      dropped: this.dropped,
      queueDepth: this.waiting.length + this.running.length,
      stallMs: percentiles(this.stall),
      persistMs: percentiles(this.persistLatency),
    };
  }

  /** @internal Resolves when every accepted save has settled and the evictions they caused are done. */
  async flush(): Promise<void> {
    await this.idle();
    // The retention pass the last commit scheduled, and the unlinks it started.
    await new Promise((resolve) => setImmediate(resolve));
    await this.deletesDone();
    this.historyLog.flush(true);
    if (!this.catalog.readOnly && !this.closed) this.catalog.saveState();
  }

  /** @internal The final save of close(), then the catalog is closed. */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    if (this.provider && !this.catalog.readOnly) {
      const step = this.catalog.tracker.lastStep ?? 0;
      try {
        const { metrics, epoch } = this.lastReported;
        const tracker = this.catalog.tracker;
        const meta = this.metaProvider?.();
        // Copied even with a store-wide borrow: on a signal the training loop
        // may still be running and changing them.
        const placed = this.place(this.specsOf(this.provider, meta), false, 'copy');
        if (!placed) throw new CheckpointError('E_NOSPACE', 'staging memory is full');
        this.enqueue(placed, { tracker, bestBefore: tracker.best, step, epoch, metrics, meta, category: 'final', reasons: ['final'], healthy: true, improved: [] });
      } catch (err) {
        this.ctx.logger.error({ model: this.name, err }, 'final save could not start');
      }
    }
    await this.idle();
    this.applyRetention(); // the pass scheduled after the last commit would find the model closed
    await this.deletesDone();
    this.closed = true;
    this.historyLog.close();
    this.catalog.close();
  }

  private specsOf(source: TensorSource, meta?: Record<string, unknown>): TensorSpec[] {
    if (meta !== undefined) checkMeta(meta);
    return normalizeTensors(typeof source === 'function' ? source() : source);
  }

  private modeOf(snapshot: unknown): SnapshotMode {
    if (snapshot === undefined) return this.ctx.pipeline.snapshot;
    if (snapshot !== 'copy' && snapshot !== 'borrow') throw badInput(`Expected 'copy' or 'borrow' for snapshot but received ${JSON.stringify(snapshot)}`);
    return snapshot;
  }

  /**
   * Where a new save's tensors go. While a save waits for a worker, the
   * newer one takes its place (coalesce: reasons merged, memory stays at one
   * waiting copy), except that a waiting improvement is never replaced by a
   * save that is not one: the best state must reach the disk, and so must
   * the interval saves, so such a save queues behind it. With 'skip' (or
   * `exclusive`, a blocking save()) nothing merges. Null when there is no
   * room: backpressure drops the save, or a blocking save() waits.
   */
  private place(specs: TensorSpec[], isBest: boolean, mode: SnapshotMode, exclusive = false): Placement | null {
    const started = performance.now();
    if (mode === 'copy') this.ctx.staging.checkFits(this.name, specs);
    const last = this.waiting.at(-1);
    const { backpressure } = this.ctx.pipeline;
    let placed: Placement | null;
    if (last && (exclusive || backpressure === 'skip')) placed = null;
    else if (last && (last.job.category !== 'best' || isBest)) {
      const staged = this.stageSpecs(specs, mode, last.staged);
      placed = staged && { staged, into: last };
    } else {
      const staged = this.stageSpecs(specs, mode);
      placed = staged && { staged };
    }
    if (placed) this.stall.record(Math.max(1, Math.round((performance.now() - started) * 1e6)));
    return placed;
  }

  /** Copies (or borrows) the tensors; `replacing` is released once the new copy is made. */
  private stageSpecs(specs: TensorSpec[], mode: SnapshotMode, replacing?: Staged): Staged | null {
    if (mode === 'copy') return this.ctx.staging.stage(this.name, specs, replacing);
    replacing?.release();
    return borrow(specs);
  }

  private drop(step: number): void {
    this.dropped++;
    this.ctx.logger.warn({ model: this.name, step, backpressure: this.ctx.pipeline.backpressure }, 'save dropped: the disk is behind and staging memory is full');
    this.ctx.emit('skipped', { model: this.name, step, reason: 'backpressure' });
  }

  private enqueue(placed: Placement, job: SaveJob): Ticket {
    const borrowedHash = placed.staged.slab === null && this.ctx.pipeline.checkBorrowed ? hashTensors(placed.staged.tensors) : undefined;
    if (placed.into) {
      const last = placed.into;
      last.staged = placed.staged;
      last.borrowedHash = borrowedHash;
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
    const entry: Waiting = { seq: this.catalog.allocateSeq(), staged: placed.staged, job, durable, settle, borrowedHash };
    this.waiting.push(entry);
    this.startMore();
    return { saved: true, reasons: job.reasons, category: job.category, seq: entry.seq, durable };
  }

  /** Starts waiting saves while a worker of the store could take them. */
  private startMore(): void {
    while (this.waiting.length > 0 && this.running.length < this.ctx.pipeline.workers) {
      const entry: Running = { ...this.waiting.shift()!, started: performance.now(), outcome: null };
      this.running.push(entry);
      this.write(entry).then(
        (index) => (entry.outcome = { index }),
        (error) => (entry.outcome = { error }),
      ).finally(() => void this.commitInOrder());
    }
  }

  /**
   * Commits (or fails) finished saves from the oldest on, one at a time: a
   * later seq never commits before an earlier one.
   */
  private async commitInOrder(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    while (this.running[0]?.outcome) {
      const entry = this.running[0];
      const outcome = entry.outcome!;
      try {
        if ('error' in outcome) throw outcome.error;
        entry.settle.resolve(await this.commit(entry, outcome.index));
      } catch (err) {
        // Written but not committed (the journal append failed, e.g. a full
        // disk): the file goes, or the next open would adopt it.
        if ('index' in outcome) this.removeUncommitted(entry);
        this.giveBackBest(entry.job);
        this.onSaveFailed(entry.seq, entry.job.step, err);
        entry.settle.reject(err);
      } finally {
        this.running.shift();
        entry.staged.release();
      }
      this.startMore();
      for (const wake of this.progressWaiters.splice(0)) wake();
    }
    this.committing = false;
    if (!this.busy()) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private busy(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** Resolves when no save is running or waiting. */
  private idle(): Promise<void> {
    return this.busy() ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  /** Writes the checkpoint file (not yet durable); on a full disk, evicts and retries once. */
  private async write(entry: Running): Promise<CheckpointIndex> {
    const { seq, staged, job } = entry;
    const path = join(this.dir, checkpointFileName(seq, job.step));
    const fields = { model: this.name, seq, step: job.step, epoch: job.epoch, metrics: job.metrics, meta: job.meta, category: job.category, reasons: job.reasons };
    const options = this.settings.compression;
    const once = () => staged.slab
      ? this.ctx.workers.run<CheckpointIndex>({ kind: 'persist', path, slab: staged.slab.buffer, tensors: staged.slab.layout, fields, options })
      // Borrowed arrays are not shared memory a worker could see: the addon
      // writes them from a libuv thread, reading them in place.
      : writeCheckpoint(path, staged.tensors.map((t) => [t.name, t] as [string, TensorLike]), fields, options);
    let index: CheckpointIndex;
    try {
      index = await once();
    } catch (err) {
      if ((err as CheckpointError).code !== 'E_NOSPACE' || !(await this.freeSpace(staged.rawBytes))) throw err;
      this.ctx.logger.warn({ model: this.name, seq }, 'disk full: evicted checkpoints, retrying the save once');
      index = await once();
    }
    if (entry.borrowedHash !== undefined && hashTensors(staged.tensors) !== entry.borrowedHash) {
      callNative(() => native.removeFile(path));
      throw badInput(`model "${this.name}": borrowed tensors of the save at step ${job.step} changed before it was durable`);
    }
    return index;
  }

  private removeUncommitted(entry: Running): void {
    void this.unlinkOnWorker(join(this.dir, checkpointFileName(entry.seq, entry.job.step)), () => undefined, (err) =>
      this.ctx.logger.warn({ model: this.name, seq: entry.seq, err }, 'could not remove an uncommitted checkpoint; the next open adopts it'));
  }

  /** Resolves when no eviction or unlink is in progress (one may start another). */
  private async deletesDone(): Promise<void> {
    while (this.deletes.size > 0) await Promise.all(this.deletes);
  }

  /** Unlinks on a worker; close() and flush() wait for it. */
  private unlinkOnWorker(path: string, done: () => void, failed: (err: unknown) => void): Promise<void> {
    const unlink = this.ctx.workers.run({ kind: 'remove', path }).then(done, failed);
    this.deletes.add(unlink);
    return unlink.finally(() => this.deletes.delete(unlink));
  }

  /** Makes a written checkpoint durable: its journal record, then the events. */
  private async commit(entry: Running, index: CheckpointIndex): Promise<CheckpointInfo> {
    const { seq, job } = entry;
    const record: CheckpointRecord = {
      seq, step: job.step, epoch: job.epoch, time: Date.now(), created: index.info.created, category: job.category,
      reasons: job.reasons, metrics: job.metrics, bytes: index.info.bytes, rawBytes: index.info.rawBytes,
      file: checkpointFileName(seq, job.step), pinned: false, healthy: job.healthy,
    };
    this.catalog.counters.saves++;
    await this.catalog.commit(record, job.tracker);
    // Written, not fsync'd: history may lose its last second in a crash,
    // the checkpoint may not, and an fsync here would cost every save.
    this.historyLog.flush(false);
    const info = this.info(record);
    const durationMs = performance.now() - entry.started;
    this.persistLatency.record(Math.max(1, Math.round(durationMs * 1e6)));
    this.ctx.logger.info({ model: this.name, seq, step: job.step, reasons: job.reasons, metrics: job.metrics, bytes: record.bytes, durationMs }, 'saved');
    this.consecutiveFailures = 0;
    this.alerted = false;
    this.ctx.emit('saved', { model: this.name, info, durationMs });
    if (job.category === 'best') this.ctx.emit('improved', { model: this.name, info, improved: job.improved });
    setImmediate(() => this.applyRetention());
    return info;
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

  /** Evicts for a save of `bytes` that hit ENOSPC; true once something was freed. */
  private async freeSpace(bytes: number): Promise<boolean> {
    const records = this.catalog.list();
    const onDisk = records.reduce((sum, r) => sum + r.bytes, 0);
    const plan = planRetention(records, { ...this.settings.retention, quotaBytes: onDisk }, bytes);
    await Promise.all(this.evict(plan.evict.map((e) => ({ record: e.record, reason: `disk full (${e.reason})` }))));
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

  /**
   * Journals each eviction (so a crash finishes it at the next open), then
   * unlinks the file on a worker: no save waits for an unlink.
   */
  private evict(victims: Array<{ record: CheckpointRecord; reason: string }>): Array<Promise<void>> {
    if (victims.length === 0) return [];
    for (const { record, reason } of victims) {
      this.catalog.evict(record, reason);
      this.ctx.logger.info({ model: this.name, seq: record.seq, file: record.file, bytes: record.bytes, reason }, 'evicted');
      this.ctx.emit('evicted', { model: this.name, seq: record.seq, file: record.file, bytes: record.bytes, reason });
    }
    // One fsync for the batch, off this thread; no unlink before it.
    const journaled = this.catalog.durable();
    const tracked: Promise<void> = journaled.catch(() => undefined).finally(() => this.deletes.delete(tracked));
    this.deletes.add(tracked);
    return victims.map(({ record }) => journaled.then(
      () => this.unlinkOnWorker(this.catalog.path(record), () => this.catalog.deleted(record.file), (err) =>
        this.ctx.logger.warn({ model: this.name, seq: record.seq, err }, 'eviction: unlink failed, retried at next open')),
      (err) => this.ctx.logger.error({ model: this.name, seq: record.seq, err }, 'eviction not journaled: the file stays'),
    ));
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

  /** What load(which) tries, in order. */
  private candidates(which: 'best' | 'latest' | number): CheckpointRecord[] {
    this.checkOpen();
    this.catalog.refresh();
    if (which === 'latest') return [...this.catalog.list()].reverse();
    if (which === 'best') return this.bestFirst();
    if (!Number.isSafeInteger(which)) throw badInput(`Expected 'best', 'latest' or a seq number for load() but received ${JSON.stringify(which)}`);
    const record = this.catalog.get(which);
    if (!record) throw new CheckpointError('E_NOT_FOUND', `model "${this.name}" has no checkpoint ${which}`);
    return [record];
  }

  private nothingToLoad(which: 'best' | 'latest' | number): CheckpointError {
    return new CheckpointError('E_NOT_FOUND', `model "${this.name}" has no ${typeof which === 'number' ? `checkpoint ${which}` : 'checkpoint'} to load`);
  }

  /** A loaded checkpoint that replays the episodes its meta references (issue 8). */
  private replayable(loaded: LoadedCheckpoint): LoadedCheckpoint & ReplayableCheckpoint {
    return withEpisodes(loaded, { episodes: (stream) => this.ctx.episodes(stream) });
  }

  private async read(record: CheckpointRecord, options: ReadOptions): Promise<LoadedCheckpoint> {
    const path = this.catalog.path(record);
    const { verify } = checkReadOptions(options);
    if (options.into !== undefined) return this.holds(record, await readCheckpoint(path, options));
    return this.holds(record, await this.ctx.workers.run<LoadedCheckpoint>({ kind: 'load', path, verify }));
  }

  /** A file that verifies but is another checkpoint (swapped, copied over) is as unreadable as a corrupt one. */
  private holds(record: CheckpointRecord, loaded: LoadedCheckpoint): LoadedCheckpoint {
    const problem = identityProblem(this.name, record, loaded.info);
    if (problem) throw new CheckpointError('E_CORRUPT', problem);
    return loaded;
  }

  /** Rethrows what is not an unreadable file; quarantines an unreadable one and rethrows unless falling back. */
  private skipUnreadable(record: CheckpointRecord, err: unknown, fallBack: boolean): void {
    const code = (err as CheckpointError).code;
    if (code !== 'E_CORRUPT' && code !== 'E_NOT_FOUND' && code !== 'E_VERSION') throw err;
    this.onUnreadable(record, err as CheckpointError);
    if (!fallBack) throw err;
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
    if (metrics !== undefined && (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)))
      throw badInput('Expected an object of numbers for metrics');
    // A copy: the history buffer, the commit and the final save hold on to
    // the values after report() returns, and callers reuse their objects.
    const copy: Metrics = {};
    for (const k of metrics === undefined ? [] : Object.keys(metrics)) {
      const v = metrics![k];
      if (typeof v !== 'number') throw badInput(`Expected number for metric "${k}" but received ${typeof v}`);
      copy[k] = v;
    }
    if (force !== undefined && typeof force !== 'boolean') throw badInput(`Expected boolean for force but received ${String(force)}`);
    return { step, epoch, metrics: copy, force };
  }

  private checkOpen(): void {
    if (this.closed) throw new CheckpointError('E_CLOSED', `model "${this.name}" is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.catalog.readOnly) throw new CheckpointError('E_BAD_INPUT', `model "${this.name}" is open read-only`);
  }
}
