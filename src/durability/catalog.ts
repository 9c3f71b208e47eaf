// The durable index of one model's checkpoints (docs/ARCHITECTURE.md,
// "Durability"): an in-memory state rebuilt at open from catalog.json and
// the journal, kept current by journal records that are fsynced before a
// commit is acknowledged, compacted into catalog.json as the journal grows.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { callNative, CheckpointError } from '../errors.js';
import type { CheckpointInfo } from '../file/types.js';
import { native } from '../native.js';
import type { PolicyConfig, TrackerState } from '../policy/decide.js';
import { CatalogState, loadState } from './catalog-state.js';
import { Journal } from './journal.js';
import { moveToQuarantine } from './quarantine.js';
import { storedRecord, type CheckpointRecord, type Counters, type JournalEntry } from './records.js';
import { recoverModel } from './recovery.js';

// Compact once the journal outgrows this: replaying it at open stays cheap.
const COMPACT_BYTES = 1 << 20;

export class Catalog {
  /** What recovery at open found and did (empty for a read-only catalog, which repairs nothing). */
  readonly repairs: string[];
  private state: CatalogState;
  private journal: Journal | null = null;
  /** Why the journal could not be restarted after a compaction (appends refused until a reopen). */
  private journalLost: Error | null = null;
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
    catalog.journal = Journal.open(join(dir, 'journal'));
    if (catalog.repairs.length > 0 || catalog.journal.bytes > COMPACT_BYTES) catalog.compact();
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
   * Makes a written checkpoint durable: once this resolves it is in the
   * catalog for good. The record is appended here and fsynced off the
   * calling thread; list() shows it only after the fsync. `tracker` is the
   * tracker as of the report that made this save, not the live one: a later
   * report's improvement whose save is still queued must not become durable
   * with this commit.
   */
  async commit(record: CheckpointRecord, tracker: TrackerState, counters: Counters): Promise<void> {
    this.append({ t: 'commit', record: storedRecord(record), tracker, counters }, false);
    await this.durable();
    this.state.put(record);
    this.state.tracker = tracker;
    this.state.counters = counters;
  }

  /**
   * Journals an eviction (not yet fsynced: durable() does that for a batch)
   * and drops the record from the catalog. Its file may be unlinked once
   * durable() resolves: a crash before the unlink is finished at the next open.
   */
  evict(record: CheckpointRecord, reason: string): void {
    this.append({ t: 'evict', seq: record.seq, file: record.file, reason }, false);
    this.state.apply({ t: 'evict', seq: record.seq, file: record.file, reason });
  }

  /**
   * Makes every record appended so far durable, off the calling thread. A
   * failed fsync may have lost those records' pages, so the catalog is
   * compacted: the journal restarts from the state in memory.
   */
  async durable(): Promise<void> {
    try {
      await this.journal!.syncAsync();
    } catch (err) {
      this.compact();
      throw err;
    }
  }

  /** Records that an evicted checkpoint's file is gone (unlinked by a worker). */
  deleted(file: string): void {
    if (!this.journal) return; // closed meanwhile: the next open finishes it
    this.append({ t: 'deleted', file }, false);
    this.state.apply({ t: 'deleted', file });
  }

  /** Moves a file that failed verification aside, kept for inspection; returns where it went. */
  quarantine(record: CheckpointRecord, reason: string): string {
    const target = moveToQuarantine(this.dir, record.file);
    this.forget(record, reason);
    return target;
  }

  /** Forgets a record whose file is gone (deleted behind the catalog's back) or was moved aside. */
  forget(record: CheckpointRecord, reason: string): void {
    const entry: JournalEntry = { t: 'quarantine', seq: record.seq, file: record.file, reason };
    this.append(entry);
    this.state.apply(entry);
  }

  pin(seq: number, pinned: boolean): void {
    if (!this.state.records.has(seq)) throw new CheckpointError('E_NOT_FOUND', `model "${this.model}" has no checkpoint ${seq}`);
    const entry: JournalEntry = { t: 'pin', seq, pinned };
    this.append(entry);
    this.state.apply(entry);
  }

  /** Persists tracker and counters between commits (at flush and close). */
  saveState(tracker: TrackerState, counters: Counters): void {
    const entry: JournalEntry = { t: 'state', tracker, counters };
    this.append(entry);
    this.state.apply(entry);
  }

  close(): void {
    if (this.journal && this.journal.bytes > COMPACT_BYTES) this.compact();
    this.journal?.close();
    this.journal = null;
  }

  private append(entry: JournalEntry, sync = true): void {
    if (this.journalLost)
      throw new CheckpointError('E_IO', `the journal of model "${this.model}" could not be restarted after a compaction (${this.journalLost.message}); reopen the store`, { cause: this.journalLost });
    if (!this.journal) throw new CheckpointError('E_CLOSED', `catalog of model "${this.model}" is ${this.readOnly ? 'read-only' : 'closed'}`);
    this.journal.append(entry, { sync });
  }

  /**
   * Writes catalog.json and empties the journal. A kill in between leaves the
   * old journal next to the new file: its generation tells the next open to
   * skip it (replayed, its last state record would undo what only the new
   * file holds, e.g. the best value of a checkpoint adopted at open).
   */
  private compact(): void {
    this.state.generation++;
    callNative(() => native.writeFileAtomic(join(this.dir, 'catalog.json'), Buffer.from(JSON.stringify(this.state.snapshot(this.model)))));
    this.journal?.close();
    callNative(() => native.truncateFile(join(this.dir, 'journal'), 0));
    this.journal = Journal.open(join(this.dir, 'journal'));
    // Not fsynced here: the fsync of any later record makes it durable too.
    // Without it, later records would read as a stale journal: none may follow.
    try {
      this.append({ t: 'generation', n: this.state.generation }, false);
    } catch (err) {
      this.journal.close();
      this.journal = null;
      this.journalLost = err as Error;
      throw err;
    }
  }
}

/** Changes whenever the journal or catalog.json of `dir` does (size and mtime of each). */
function changeStamp(dir: string): string {
  return [join(dir, 'journal'), join(dir, 'catalog.json')]
    .map((p) => { try { const st = statSync(p); return `${st.size}:${st.mtimeMs}`; } catch { return '-'; } })
    .join('|');
}
