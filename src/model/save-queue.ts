// The saves of one model between report() and their commit. Saves may run
// at once on several workers but commit in seq order; while one waits for a
// worker, a newer save takes its place (coalescing); a failed save fails
// only its own ticket.
import { join } from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { badInput, callNative, CheckpointError } from '../errors.js';
import { writeCheckedTo } from '../file/checkpoint-file.js';
import { type Category, type CheckpointIndex, type CheckpointInfo, type Metrics, type WriteOptions } from '../file/types.js';
import type { TensorSpec } from '../file/tensors.js';
import type { Catalog } from '../durability/catalog.js';
import { checkpointFileName } from '../durability/records.js';
import { native } from '../native.js';
import { categoryOf, mergeReasons, type Reason } from '../policy/categories.js';
import type { TrackerState } from '../policy/decide.js';
import { borrow, type Staged } from '../pipeline/staging.js';
import type { SnapshotMode } from '../validate/store-options.js';
import type { ImprovementClaim } from './tracker.js';
import type { ModelContext, Ticket } from './types.js';

/** What a save commits: its fields, and the tracker as of its report. */
export interface SaveJob extends ImprovementClaim {
  /** The tracker as of this save's report: what its commit makes durable. */
  tracker: TrackerState;
  epoch: number;
  metrics: Metrics;
  meta?: Record<string, unknown>;
  category: Category;
  reasons: Reason[];
  healthy: boolean;
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

/** A started save; `outcome` is set when its write finishes, its commit waits for every lower seq. */
export interface Running extends Waiting {
  started: number;
  outcome: { index: CheckpointIndex } | { error: unknown } | null;
}

/** Where a save's tensors went: a new queue entry, or `into` a waiting one. */
export interface Placement { staged: Staged; into?: Waiting }

/** What the queue hands back to its model. */
export interface SaveQueueHooks {
  /** Makes a written save durable; its result resolves the ticket. */
  commit(entry: Running, index: CheckpointIndex): CheckpointInfo;
  /** A save that failed (written or not); its ticket rejects with `err` after this. */
  failed(entry: Running, err: unknown): void;
  /** Evicts to make room for `bytes` after ENOSPC; true once something was freed. */
  freeSpace(bytes: number): Promise<boolean>;
}

/** The newer save's state with both saves' reasons; an improvement keeps the checkpoint "best". */
function mergeJobs(older: SaveJob, newer: SaveJob): SaveJob {
  const reasons = mergeReasons(older.reasons, newer.reasons);
  return {
    ...newer, reasons, category: categoryOf(reasons)!, improved: [...new Set([...older.improved, ...newer.improved])],
    bestBefore: { ...newer.bestBefore, ...older.bestBefore },
  };
}

/** One hash over every borrowed array: a change anywhere shows. */
function hashTensors(tensors: TensorSpec[]): string {
  return tensors.map((t) => native.xxh3(t.data)).join('');
}

export class SaveQueue {
  /** Accepted, not started; the last one may still take a newer save's state. */
  private readonly waiting: Waiting[] = [];
  /** Started, in seq order. */
  private readonly running: Running[] = [];
  private idleWaiters: Array<() => void> = [];
  private progressWaiters: Array<() => void> = [];
  coalesced = 0;
  /** Time report()/save() held the calling thread for a save (the copy). */
  readonly stall = createHistogram();

  constructor(
    private readonly name: string,
    private readonly dir: string,
    private readonly catalog: Catalog,
    private readonly ctx: ModelContext,
    private readonly compression: WriteOptions,
    private readonly hooks: SaveQueueHooks,
  ) {}

  get depth(): number {
    return this.waiting.length + this.running.length;
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
  place(specs: TensorSpec[], isBest: boolean, mode: SnapshotMode, exclusive = false): Placement | null {
    const started = performance.now();
    if (mode === 'copy') this.ctx.staging.checkFits(this.name, specs);
    const last = this.waiting.at(-1);
    let placed: Placement | null;
    if (last && (exclusive || this.ctx.pipeline.backpressure === 'skip')) placed = null;
    else if (last && (last.job.category !== 'best' || isBest)) {
      const staged = this.stage(specs, mode, last.staged);
      placed = staged && { staged, into: last };
    } else {
      const staged = this.stage(specs, mode);
      placed = staged && { staged };
    }
    if (placed) this.stall.record(Math.max(1, Math.round((performance.now() - started) * 1e6)));
    return placed;
  }

  /** Resolves at the next commit of this model or release of a slab: a blocked save tries again then. */
  progress(): Promise<void> {
    return Promise.race([this.ctx.staging.released(), new Promise<void>((resolve) => this.progressWaiters.push(resolve))]);
  }

  /** Queues a placed save (or merges it into the waiting one); the ticket's `durable` settles at its commit. */
  enqueue(placed: Placement, job: SaveJob): Ticket {
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

  /** Resolves when no save is running or waiting. */
  idle(): Promise<void> {
    return this.depth > 0 ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  /** Copies (or borrows) the tensors; `replacing` is released once the new copy is made. */
  private stage(specs: TensorSpec[], mode: SnapshotMode, replacing?: Staged): Staged | null {
    if (mode === 'copy') return this.ctx.staging.stage(this.name, specs, replacing);
    replacing?.release();
    return borrow(specs);
  }

  /** Starts waiting saves while a worker of the store could take them. */
  private startMore(): void {
    while (this.waiting.length > 0 && this.running.length < this.ctx.pipeline.workers) {
      const entry: Running = { ...this.waiting.shift()!, started: performance.now(), outcome: null };
      this.running.push(entry);
      this.write(entry).then(
        (index) => (entry.outcome = { index }),
        (error) => (entry.outcome = { error }),
      ).finally(() => this.commitInOrder());
    }
  }

  /** Commits (or fails) finished saves from the oldest on, one at a time: a later seq never commits before an earlier one. */
  private commitInOrder(): void {
    while (this.running[0]?.outcome) {
      const entry = this.running[0];
      const outcome = entry.outcome!;
      try {
        if ('error' in outcome) throw outcome.error;
        entry.settle.resolve(this.hooks.commit(entry, outcome.index));
      } catch (err) {
        this.hooks.failed(entry, err);
        entry.settle.reject(err);
      } finally {
        this.running.shift();
        entry.staged.release();
      }
      this.startMore();
      for (const wake of this.progressWaiters.splice(0)) wake();
    }
    if (this.depth === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Writes the checkpoint file (not yet durable); on a full disk, evicts and retries once. */
  private async write(entry: Running): Promise<CheckpointIndex> {
    const { seq, staged, job } = entry;
    const path = join(this.dir, checkpointFileName(seq, job.step));
    const fields = { model: this.name, seq, step: job.step, epoch: job.epoch, metrics: job.metrics, meta: job.meta, category: job.category, reasons: job.reasons };
    const once = () => staged.slab
      ? this.ctx.workers.run<CheckpointIndex>({ kind: 'persist', path, slab: staged.slab.buffer, tensors: staged.slab.layout, fields, options: this.compression })
      // Borrowed arrays are not shared memory a worker could see: the addon
      // writes them from a libuv thread, reading them in place.
      : writeCheckedTo(path, staged.tensors, fields, this.compression);
    let index: CheckpointIndex;
    try {
      index = await once();
    } catch (err) {
      if ((err as CheckpointError).code !== 'E_NOSPACE' || !(await this.hooks.freeSpace(staged.rawBytes))) throw err;
      this.ctx.logger.warn({ model: this.name, seq }, 'disk full: evicted checkpoints, retrying the save once');
      index = await once();
    }
    if (entry.borrowedHash !== undefined && hashTensors(staged.tensors) !== entry.borrowedHash) {
      callNative(() => native.removeFile(path));
      throw badInput(`model "${this.name}": borrowed tensors of the save at step ${job.step} changed before it was durable`);
    }
    return index;
  }
}
