// What retention lets go, made so: each eviction is journaled and leaves the
// catalog at once (list() no longer shows it), then the file is unlinked on
// a worker after one fsync for the batch. No save waits for an unlink.
import { join } from 'node:path';
import type { Catalog } from '../durability/catalog.js';
import { checkpointFileName, type CheckpointRecord } from '../durability/records.js';
import { errorEvent } from '../events.js';
import { planRetention, type RetentionConfig } from '../policy/retention.js';
import type { ModelContext } from './types.js';

export class Evictor {
  /** Evictions and unlinks in progress: close() and flush() wait for them. */
  private readonly deletes = new Set<Promise<void>>();

  constructor(
    private readonly name: string,
    private readonly dir: string,
    private readonly catalog: Catalog,
    private readonly ctx: ModelContext,
    private readonly retention: RetentionConfig,
  ) {}

  /** Applies retention to the catalog as it is now (after a commit, and at close). */
  apply(): void {
    try {
      const plan = planRetention(this.catalog.list(), this.retention);
      this.evict(plan.evict.map((e) => ({ record: e.record, reason: e.reason })));
      if (plan.overQuota)
        this.ctx.logger.warn({ model: this.name, quotaBytes: this.retention.quotaBytes }, 'over quota: only protected checkpoints remain');
    } catch (err) {
      this.ctx.logger.error({ model: this.name, err }, 'retention failed');
      this.ctx.emit('error', errorEvent(err, { model: this.name }));
    }
  }

  /** Evicts for a save of `bytes` that hit ENOSPC; true once something was freed. */
  async freeSpace(bytes: number): Promise<boolean> {
    const records = this.catalog.list();
    const onDisk = records.reduce((sum, r) => sum + r.bytes, 0);
    const plan = planRetention(records, { ...this.retention, quotaBytes: onDisk }, bytes);
    await Promise.all(this.evict(plan.evict.map((e) => ({ record: e.record, reason: `disk full (${e.reason})` }))));
    return plan.evict.length > 0;
  }

  /** A file written but not committed (its journal append failed): it goes, or the next open would adopt it. */
  removeUncommitted(seq: number, step: number): void {
    void this.unlinkOnWorker(join(this.dir, checkpointFileName(seq, step)), () => undefined, (err) =>
      this.ctx.logger.warn({ model: this.name, seq, err }, 'could not remove an uncommitted checkpoint; the next open adopts it'));
  }

  /** Resolves when no eviction or unlink is in progress (one may start another). */
  async done(): Promise<void> {
    while (this.deletes.size > 0) await Promise.all(this.deletes);
  }

  /**
   * Journals each eviction (so a crash finishes it at the next open), then
   * unlinks the files on a worker once one fsync covers the batch.
   */
  private evict(victims: Array<{ record: CheckpointRecord; reason: string }>): Array<Promise<void>> {
    if (victims.length === 0) return [];
    for (const { record, reason } of victims) {
      this.catalog.evict(record, reason);
      this.ctx.logger.info({ model: this.name, seq: record.seq, file: record.file, bytes: record.bytes, reason }, 'evicted');
      this.ctx.emit('evicted', { model: this.name, seq: record.seq, file: record.file, bytes: record.bytes, reason });
    }
    const journaled = this.catalog.durable();
    const tracked: Promise<void> = journaled.catch(() => undefined).finally(() => this.deletes.delete(tracked));
    this.deletes.add(tracked);
    return victims.map(({ record }) => journaled.then(
      () => this.unlinkOnWorker(this.catalog.path(record), () => this.catalog.deleted(record.file), (err) =>
        this.ctx.logger.warn({ model: this.name, seq: record.seq, err }, 'eviction: unlink failed, retried at next open')),
      (err) => this.ctx.logger.error({ model: this.name, seq: record.seq, err }, 'eviction not journaled: the file stays'),
    ));
  }

  private unlinkOnWorker(path: string, done: () => void, failed: (err: unknown) => void): Promise<void> {
    const unlink = this.ctx.workers.run({ kind: 'remove', path }).then(done, failed);
    this.deletes.add(unlink);
    return unlink.finally(() => this.deletes.delete(unlink));
  }
}
