// The end of a save: a written (already durable) checkpoint committed to
// the catalog, announced (log, events) and followed by the retention it
// causes; or its failure counted, announced and, after `alertAfter` in a
// row, raised as an alert.
import { createHistogram } from 'node:perf_hooks';
import { errorEvent } from '../events.js';
import type { CheckpointIndex, CheckpointInfo } from '../file/types.js';
import type { Catalog } from '../durability/catalog.js';
import { checkpointFileName, type CheckpointRecord } from '../durability/records.js';
import type { History } from '../durability/history.js';
import type { Evictor } from './evictor.js';
import type { Running } from './save-queue.js';
import type { Tracker } from './tracker.js';
import type { ModelContext } from './types.js';

export class Committer {
  /** Time from the start of a write to its commit. */
  readonly persistLatency = createHistogram();
  private consecutiveFailures = 0;
  private alerted = false;

  constructor(
    private readonly name: string,
    private readonly catalog: Catalog,
    private readonly history: History,
    private readonly tracker: Tracker,
    private readonly evictor: Evictor,
    private readonly ctx: ModelContext,
    private readonly alertAfter: number,
  ) {}

  /** Commits a written checkpoint; once this returns, list() shows it and the retention it caused. */
  commit(entry: Running, index: CheckpointIndex): CheckpointInfo {
    const { seq, job } = entry;
    const record: CheckpointRecord = {
      seq, step: job.step, epoch: job.epoch, time: Date.now(), created: index.info.created, category: job.category,
      reasons: job.reasons, metrics: job.metrics, bytes: index.info.bytes, rawBytes: index.info.rawBytes,
      file: checkpointFileName(seq, job.step), pinned: false, healthy: job.healthy,
    };
    this.tracker.count('saves');
    this.catalog.commit(record, job.tracker, this.tracker.totals);
    this.catalog.syncSoon((err) => this.ctx.logger.error({ model: this.name, err }, 'journal fsync failed; the catalog was compacted, the checkpoint files stay durable'));
    this.catalog.compactIfLarge()?.catch((err) => this.ctx.logger.error({ model: this.name, err }, 'catalog compaction failed'));
    // Written, not fsync'd: history may lose its last second in a crash,
    // the checkpoint may not, and an fsync here would cost every save.
    this.history.write();
    const info = this.catalog.info(record);
    const durationMs = performance.now() - entry.started;
    this.persistLatency.record(Math.max(1, Math.round(durationMs * 1e6)));
    this.ctx.logger.info({ model: this.name, seq, step: job.step, reasons: job.reasons, metrics: job.metrics, bytes: record.bytes, durationMs }, 'saved');
    this.consecutiveFailures = 0;
    this.alerted = false;
    this.ctx.emit('saved', { model: this.name, info, durationMs });
    if (job.category === 'best') this.ctx.emit('improved', { model: this.name, info, improved: job.improved });
    // Before the ticket resolves: what this commit made redundant leaves the
    // catalog now (the unlinks follow on a worker).
    this.evictor.apply();
    return info;
  }

  /** A save that failed, written or not: its file goes, its best values are given back, and it is counted. */
  failed(entry: Running, err: unknown): void {
    if (entry.outcome && 'index' in entry.outcome) this.evictor.removeUncommitted(entry.seq, entry.job.step);
    this.tracker.giveBack(entry.job);
    this.tracker.count('failures');
    this.consecutiveFailures++;
    this.ctx.logger.error({ model: this.name, seq: entry.seq, step: entry.job.step, err }, 'save failed');
    this.ctx.emit('error', errorEvent(err, { model: this.name, seq: entry.seq }));
    if (this.consecutiveFailures >= this.alertAfter && !this.alerted) {
      this.alerted = true;
      this.ctx.emit('alert', { model: this.name, failures: this.consecutiveFailures, error: err });
    }
  }
}
