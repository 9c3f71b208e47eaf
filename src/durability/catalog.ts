// The durable index of one model's checkpoints (docs/ARCHITECTURE.md,
// "Durability"): an in-memory state rebuilt at open from catalog.json and
// the journal, kept current by journal records, compacted into catalog.json
// as the journal grows.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { callNative, CheckpointError } from '../errors.js';
import type { CheckpointInfo } from '../file/types.js';
import { native } from '../native.js';
import type { PolicyConfig, TrackerState } from '../policy/decide.js';
import { CatalogState, loadState } from './catalog-state.js';
import { CatalogJournal } from './catalog-journal.js';
import { moveToQuarantine } from './quarantine.js';
import { storedRecord, type CheckpointRecord, type Counters, type JournalEntry } from './records.js';
import { recoverModel } from './recovery.js';

/** Compact once the journal outgrows this: replaying it at open stays cheap. */
export const COMPACT_BYTES = 1 << 20;

export class Catalog {
  /** What recovery at open found and did (empty for a read-only catalog, which repairs nothing). */
  readonly repairs: string[];
  private state: CatalogState;
  /** The writer's journal; null for a read-only catalog, and once closed. */
  private log: CatalogJournal | null = null;
  private stamp: string;

  private constructor(readonly dir: string, readonly model: string, readonly readOnly: boolean) {
    // Taken before the load: a change the load misses still shows at the next refresh().
    this.stamp = readOnly ? changeStamp(dir) : '';
    const { state, repairs } = loadState(dir, readOnly);
    this.state = state;
    this.repairs = repairs;
  }

  /**
   * Loads the catalog; unless readOnly, recovers the directory (recovery.ts)
   * and opens the journal. `monitor` folds adopted checkpoints into the best values.
   */
  static open(dir: string, model: string, readOnly: boolean, monitor: PolicyConfig['monitor']): Catalog {
    const catalog = new Catalog(dir, model, readOnly);
    if (readOnly) return catalog;
    catalog.repairs.push(...recoverModel(dir, model, catalog.state, monitor));
    // The model directory may be new: its own entry in the store root must
    // be durable before a commit relies on the files in it, or a power cut
    // takes the whole model.
    callNative(() => native.fsyncDir(dirname(dir)));
    catalog.log = new CatalogJournal(dir, model, catalog.state.generation, (g) => catalog.state.snapshotPieces(model, g));
    if (catalog.repairs.length > 0 || catalog.log.largerThan(COMPACT_BYTES)) catalog.log.compactSync();
    return catalog;
  }

  /**
   * Read-only catalogs follow a writer in another process: reloaded when the
   * journal or catalog.json changed (one stat each). A writer's is always current.
   */
  refresh(): void {
    if (!this.readOnly) return;
    const stamp = changeStamp(this.dir);
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    this.state = loadState(this.dir, true).state;
  }

  /** By seq, oldest first. */
  list(): readonly CheckpointRecord[] {
    return this.state.list();
  }

  newest(): CheckpointRecord | undefined {
    return this.list().at(-1);
  }

  get(seq: number): CheckpointRecord | undefined {
    return this.state.records.get(seq);
  }

  /** The tracker and counters as last journaled (or, read-only, as the writer last journaled them). */
  persisted(): { tracker: TrackerState; counters: Counters } {
    this.refresh();
    return { tracker: this.state.tracker, counters: this.state.counters };
  }

  /** Files whose eviction is journaled but not yet confirmed unlinked (verifyStore reads it). */
  pendingEvictions(): readonly string[] {
    return [...this.state.pendingDeletes];
  }

  allocateSeq(): number {
    return this.state.nextSeq++;
  }

  path(record: CheckpointRecord): string {
    return join(this.dir, record.file);
  }

  info(r: CheckpointRecord): CheckpointInfo {
    return {
      model: this.model, seq: r.seq, step: r.step, epoch: r.epoch, category: r.category, reasons: r.reasons,
      metrics: r.metrics, bytes: r.bytes, rawBytes: r.rawBytes, created: r.created, path: this.path(r),
    };
  }

  /**
   * Commits a written checkpoint: its record is appended and the catalog
   * lists it at once. No fsync of the record is needed first: the file is
   * durable on its own (fsynced, renamed, its directory fsynced) and
   * describes itself, so a power cut that takes the record leaves a file the
   * next open adopts (recovery.ts). The journal is fsynced soon after
   * (syncSoon), and before any unlink, pin or close. `tracker` is the
   * tracker as of the report that made this save, not the live one: a later
   * report's improvement whose save is still queued must not become durable
   * with this commit.
   */
  commit(record: CheckpointRecord, tracker: TrackerState, counters: Counters): void {
    this.writer().append({ t: 'commit', record: storedRecord(record), tracker, counters });
    this.state.put(record);
    this.state.tracker = tracker;
    this.state.counters = counters;
  }

  /**
   * Makes the records appended so far durable in the background, a little
   * later: one fsync for every commit of the next moment, and none inside
   * the save that follows at once. `failed` hears of an fsync that failed
   * (the catalog is compacted then, see CatalogJournal.durable).
   */
  syncSoon(failed: (err: unknown) => void): void {
    this.writer().syncSoon(failed);
  }

  /**
   * Journals an eviction (not yet fsynced: durable() does that for a batch)
   * and drops the record from the catalog. Its file may be unlinked once
   * durable() resolves: a crash before the unlink is finished at the next open.
   */
  evict(record: CheckpointRecord, reason: string): void {
    this.record({ t: 'evict', seq: record.seq, file: record.file, reason });
  }

  /** Makes every record appended so far durable, off the calling thread. */
  durable(): Promise<void> {
    return this.writer().durable();
  }

  /** Records that an evicted checkpoint's file is gone (unlinked by a worker). */
  deleted(file: string): void {
    if (!this.log) return; // closed meanwhile: the next open finishes it
    this.record({ t: 'deleted', file });
  }

  /** Moves a file that failed verification aside, kept for inspection; resolves to where it went. */
  async quarantine(record: CheckpointRecord, reason: string): Promise<string> {
    const target = await moveToQuarantine(this.dir, record.file);
    await this.forget(record, reason);
    return target;
  }

  /** Forgets a record whose file is gone (deleted behind the catalog's back) or was moved aside. */
  forget(record: CheckpointRecord, reason: string): Promise<void> {
    this.record({ t: 'quarantine', seq: record.seq, file: record.file, reason });
    return this.durable();
  }

  /** Pins (or unpins) a checkpoint: at once in memory, durable when the promise resolves. */
  pin(seq: number, pinned: boolean): Promise<void> {
    if (!this.state.records.has(seq)) throw new CheckpointError('E_NOT_FOUND', `model "${this.model}" has no checkpoint ${seq}`);
    this.record({ t: 'pin', seq, pinned });
    return this.durable();
  }

  /** Persists tracker and counters between commits (at flush and close). */
  saveState(tracker: TrackerState, counters: Counters): Promise<void> {
    this.record({ t: 'state', tracker, counters });
    return this.durable();
  }

  /** Compacts off the event loop when the journal has outgrown 1 MiB; null when it has not. */
  compactIfLarge(): Promise<void> | null {
    return this.log?.largerThan(COMPACT_BYTES) ? this.log.compact() : null;
  }

  /** Closes the journal; a model's close journals and fsyncs its state first (saveState), which covers every commit record. */
  async close(): Promise<void> {
    await this.log?.idle();
    await this.compactIfLarge();
    this.log?.close();
    this.log = null;
  }

  private record(entry: JournalEntry): void {
    this.writer().append(entry);
    this.state.apply(entry);
  }

  private writer(): CatalogJournal {
    if (!this.log) throw new CheckpointError('E_CLOSED', `catalog of model "${this.model}" is ${this.readOnly ? 'read-only' : 'closed'}`);
    return this.log;
  }
}

/** Changes whenever the journal or catalog.json of `dir` does (size and mtime of each). */
function changeStamp(dir: string): string {
  return [join(dir, 'journal'), join(dir, 'catalog.json')]
    .map((p) => { try { const st = statSync(p); return `${st.size}:${st.mtimeMs}`; } catch { return '-'; } })
    .join('|');
}
