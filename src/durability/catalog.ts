// The durable index of one model's checkpoints (DESIGN.md §4-5): an in-memory
// map rebuilt at open from catalog.json + the journal, kept current by
// fsync'd journal records, and repaired at open from what the directory
// really holds (the files describe themselves).
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  decodeMetrics, encodeMetrics, inspectCheckpointSync, type Category, type CheckpointInfo, type Metrics,
} from '../file/checkpoint-file.js';
import { callNative, CheckpointError } from '../errors.js';
import { Journal, readJournal, repairJournal } from './journal.js';
import { native } from '../native.js';
import { foldCheckpoint, initialState, type PolicyConfig, type TrackerState } from '../policy/decide.js';

export interface CheckpointRecord {
  seq: number;
  step: number;
  epoch: number;
  /** ms since epoch of the report that triggered the save */
  time: number;
  created: string;
  category: Category;
  reasons: string[];
  metrics: Metrics;
  bytes: number;
  rawBytes: number;
  file: string;
  pinned: boolean;
  /** false when a monitored metric was NaN/±Infinity: resume() prefers healthy ones */
  healthy: boolean;
}

export interface Counters {
  saves: number;
  skips: number;
  failures: number;
}

type JournalEntry =
  | { t: 'commit'; record: CheckpointRecord; tracker: TrackerState; counters: Counters }
  | { t: 'evict'; seq: number; file: string; reason: string }
  | { t: 'deleted'; file: string }
  | { t: 'quarantine'; seq: number; file: string; reason: string }
  | { t: 'pin'; seq: number; pinned: boolean }
  | { t: 'state'; tracker: TrackerState; counters: Counters }
  // The first record of a journal a compaction started: it continues the
  // catalog.json of the same generation.
  | { t: 'generation'; n: number };

interface Snapshot {
  version: 1;
  model: string;
  nextSeq: number;
  records: CheckpointRecord[];
  tracker: TrackerState;
  counters: Counters;
  /** Files whose eviction is journaled but whose unlink is not confirmed. */
  pendingDeletes: string[];
  /**
   * Counts compactions (absent in files of before it: 0). A journal whose
   * generation record is older (none: 0) predates this file: a kill
   * between writing it and emptying the journal left that journal behind,
   * and everything in it is already here.
   */
  generation?: number;
}

export const CHECKPOINT_FILE = /^(\d{8,})-s(\d+)\.tkpt$/;
// Compact once the journal outgrows this: replaying it at open stays cheap.
const COMPACT_BYTES = 1 << 20;

export function checkpointFileName(seq: number, step: number): string {
  return `${String(seq).padStart(8, '0')}-s${step}.tkpt`;
}

export class Catalog {
  readonly repairs: string[] = [];
  tracker: TrackerState = initialState();
  counters: Counters = { saves: 0, skips: 0, failures: 0 };
  private readonly records = new Map<number, CheckpointRecord>();
  private readonly pendingDeletes = new Set<string>();
  private nextSeq = 1;
  private generation = 0;
  private journal: Journal | null = null;
  /** Why the journal could not be restarted after a compaction (appends refused until a reopen). */
  private journalLost: Error | null = null;
  private stamp = '';
  private sorted: CheckpointRecord[] | null = null;

  private constructor(
    readonly dir: string, readonly model: string, readonly readOnly: boolean,
    private readonly monitor: PolicyConfig['monitor'],
  ) {}

  /**
   * Loads the catalog; unless readOnly, repairs the directory as DESIGN.md §5
   * says. `monitor` folds adopted checkpoints into the best values.
   */
  static open(dir: string, model: string, readOnly: boolean, monitor: PolicyConfig['monitor']): Catalog {
    const catalog = new Catalog(dir, model, readOnly, monitor);
    if (readOnly) catalog.refresh();
    else catalog.load();
    if (!readOnly) {
      catalog.recover();
      // The model directory may be new (the manager creates it): its own
      // entry in the store root must be durable before a commit relies on
      // the files in it, or a power cut takes the whole model.
      callNative(() => native.fsyncDir(dirname(dir)));
      catalog.journal = Journal.open(join(dir, 'journal'));
      if (catalog.repairs.length > 0 || catalog.journal.bytes > COMPACT_BYTES) catalog.compact();
    }
    return catalog;
  }

  /**
   * Read-only catalogs follow a writer in another process: reloaded when the
   * journal or catalog.json changed (one stat each). A writer's is always current.
   */
  refresh(): void {
    if (!this.readOnly) return;
    const stamp = [join(this.dir, 'journal'), join(this.dir, 'catalog.json')]
      .map((p) => { try { const st = statSync(p); return `${st.size}:${st.mtimeMs}`; } catch { return '-'; } })
      .join('|');
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    this.records.clear();
    this.sorted = null;
    this.pendingDeletes.clear();
    this.load();
  }

  /** By seq, oldest first; sorted once per change, not per call. */
  list(): readonly CheckpointRecord[] {
    this.sorted ??= [...this.records.values()].sort((a, b) => a.seq - b.seq);
    return this.sorted;
  }

  newest(): CheckpointRecord | undefined {
    return this.list().at(-1);
  }

  get(seq: number): CheckpointRecord | undefined {
    return this.records.get(seq);
  }

  /** Files whose eviction is journaled but not yet confirmed unlinked (verifyStore reads it). */
  pendingEvictions(): readonly string[] {
    return [...this.pendingDeletes];
  }

  allocateSeq(): number {
    return this.nextSeq++;
  }

  path(record: CheckpointRecord): string {
    return join(this.dir, record.file);
  }

  /**
   * Makes a written checkpoint durable: once this resolves it is in the
   * catalog for good. The record is appended here and fsync'd off the
   * calling thread; list() shows it only after the fsync.
   * `tracker` is the tracker as of the report that made this save, not the
   * live one: a later report's improvement whose save is still queued must
   * not become durable with this commit.
   */
  async commit(record: CheckpointRecord, tracker: TrackerState): Promise<void> {
    this.append({ t: 'commit', record: stored(record), tracker, counters: this.counters }, false);
    await this.durable();
    this.put(record.seq, record);
    this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
  }

  /**
   * Journals an eviction (not yet fsync'd: durable() does that for a batch)
   * and drops the record from the catalog. Its file may be unlinked once
   * durable() resolves: a crash before the unlink is finished at the next open.
   */
  evict(record: CheckpointRecord, reason: string): void {
    this.append({ t: 'evict', seq: record.seq, file: record.file, reason }, false);
    this.remove(record.seq);
    this.pendingDeletes.add(record.file);
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
    this.pendingDeletes.delete(file);
    this.append({ t: 'deleted', file }, false);
  }

  /** Moves a file that failed verification aside, kept for inspection. */
  quarantine(record: CheckpointRecord, reason: string): string {
    const target = this.moveToQuarantine(record.file);
    this.append({ t: 'quarantine', seq: record.seq, file: record.file, reason });
    this.remove(record.seq);
    return target;
  }

  /** Forgets a record whose file is gone (deleted behind the catalog's back). */
  forget(record: CheckpointRecord, reason: string): void {
    this.append({ t: 'quarantine', seq: record.seq, file: record.file, reason });
    this.remove(record.seq);
  }

  pin(seq: number, pinned: boolean): void {
    const record = this.records.get(seq);
    if (!record) throw new CheckpointError('E_NOT_FOUND', `model "${this.model}" has no checkpoint ${seq}`);
    this.append({ t: 'pin', seq, pinned });
    this.put(seq, { ...record, pinned });
  }

  /** Persists tracker and counters between commits (at flush and close). */
  saveState(): void {
    this.append({ t: 'state', tracker: this.tracker, counters: this.counters });
  }

  close(): void {
    if (this.journal && !this.readOnly) {
      this.saveState();
      if (this.journal.bytes > COMPACT_BYTES) this.compact();
    }
    this.journal?.close();
    this.journal = null;
  }

  private put(seq: number, record: CheckpointRecord): void {
    this.records.set(seq, record);
    this.sorted = null;
  }

  private remove(seq: number): void {
    this.records.delete(seq);
    this.sorted = null;
  }

  private append(entry: JournalEntry, sync = true): void {
    if (this.journalLost)
      throw new CheckpointError('E_IO', `the journal of model "${this.model}" could not be restarted after a compaction (${this.journalLost.message}); reopen the store`, { cause: this.journalLost });
    if (!this.journal) throw new CheckpointError('E_CLOSED', `catalog of model "${this.model}" is ${this.readOnly ? 'read-only' : 'closed'}`);
    this.journal.append(entry, { sync });
  }

  private apply(entry: JournalEntry): void {
    switch (entry.t) {
      case 'commit':
        this.put(entry.record.seq, loaded(entry.record));
        this.tracker = entry.tracker;
        this.counters = entry.counters;
        this.nextSeq = Math.max(this.nextSeq, entry.record.seq + 1);
        break;
      case 'evict':
        this.remove(entry.seq);
        this.pendingDeletes.add(entry.file);
        break;
      case 'deleted':
        this.pendingDeletes.delete(entry.file);
        break;
      case 'quarantine':
        this.remove(entry.seq);
        this.nextSeq = Math.max(this.nextSeq, entry.seq + 1);
        break;
      case 'pin': {
        const record = this.records.get(entry.seq);
        if (record) this.put(entry.seq, { ...record, pinned: entry.pinned });
        break;
      }
      case 'state':
        this.tracker = entry.tracker;
        this.counters = entry.counters;
        break;
      case 'generation':
        break;
    }
  }

  private load(): void {
    const snapshotPath = join(this.dir, 'catalog.json');
    if (existsSync(snapshotPath)) {
      try {
        const snap = JSON.parse(readFileSync(snapshotPath, 'utf8')) as Snapshot;
        for (const r of snap.records) this.put(r.seq, loaded(r));
        for (const f of snap.pendingDeletes) this.pendingDeletes.add(f);
        this.tracker = snap.tracker;
        this.counters = snap.counters;
        this.nextSeq = snap.nextSeq;
        this.generation = snap.generation ?? 0;
      } catch (err) {
        // catalog.json is replaced atomically, so this is disk damage: the
        // journal and the files themselves still tell what is there.
        this.repairs.push(`catalog.json unreadable (${(err as Error).message}); rebuilt from the journal and the files`);
      }
    }
    const journalPath = join(this.dir, 'journal');
    const scan = readJournal(journalPath);
    const first = scan.records[0] as JournalEntry | undefined;
    const journalGeneration = first?.t === 'generation' ? first.n : 0;
    if (journalGeneration >= this.generation) for (const entry of scan.records) this.apply(entry as JournalEntry);
    else if (!this.readOnly) this.repairs.push(`journal: skipped ${scan.records.length} records a compaction had already written to catalog.json`);
    if (scan.problem && !this.readOnly) {
      repairJournal(journalPath, scan);
      this.repairs.push(`journal: cut ${scan.fileBytes - scan.validBytes} bytes at byte ${scan.validBytes} (${scan.problem})`);
    }
  }

  private recover(): void {
    const removed = callNative(() => native.clearTmpDir(this.dir));
    if (removed > 0) this.repairs.push(`.tmp: removed ${removed} unfinished file(s)`);

    const present = new Set(readdirSync(this.dir).filter((f) => CHECKPOINT_FILE.test(f)));
    for (const file of this.pendingDeletes) {
      if (present.has(file)) {
        callNative(() => native.removeFile(join(this.dir, file)));
        present.delete(file);
        this.repairs.push(`finished the eviction of ${file}`);
      }
    }
    this.pendingDeletes.clear();

    for (const record of this.list()) {
      if (!present.delete(record.file)) {
        this.remove(record.seq);
        this.repairs.push(`checkpoint ${record.seq} (${record.file}) is missing from the directory; dropped from the catalog`);
      }
    }
    for (const file of [...present].sort()) this.adopt(file);
  }

  /** A complete checkpoint file the journal lacks (crash between rename and journal append). */
  private adopt(file: string): void {
    try {
      const index = inspectCheckpointSync(join(this.dir, file));
      const { info } = index;
      const seq = info.seq ?? Number(CHECKPOINT_FILE.exec(file)![1]);
      if (this.records.has(seq)) throw new CheckpointError('E_CORRUPT', `its seq ${seq} is already taken by ${this.records.get(seq)!.file}`);
      const record = recordFromInfo({ ...info, seq }, file);
      this.put(seq, record);
      // Before the compaction at open persists the tracker: the file holds
      // values the tracker never saw.
      this.tracker = foldCheckpoint(this.monitor, this.tracker, record);
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      this.repairs.push(`adopted ${file} (seq ${seq}, step ${info.step}), complete but missing from the journal`);
    } catch (err) {
      const target = this.moveToQuarantine(file);
      this.repairs.push(`quarantined ${file} -> ${target}: ${(err as Error).message}`);
    }
  }

  private moveToQuarantine(file: string): string {
    const qdir = join(this.dir, '.quarantine');
    callNative(() => native.ensureDir(qdir));
    const target = join(qdir, `${file}.${Date.now()}`);
    renameSync(join(this.dir, file), target);
    callNative(() => native.fsyncDir(this.dir));
    return target;
  }

  /**
   * Writes catalog.json and empties the journal. A kill in between leaves the
   * old journal next to the new file: its generation tells the next open to
   * skip it (replayed, its last state record would undo what only the new
   * file holds, e.g. the best value of a checkpoint adopted at open).
   */
  private compact(): void {
    this.generation++;
    const snap: Snapshot = {
      version: 1,
      model: this.model,
      nextSeq: this.nextSeq,
      records: this.list().map(stored),
      tracker: this.tracker,
      counters: this.counters,
      pendingDeletes: [...this.pendingDeletes],
      generation: this.generation,
    };
    callNative(() => native.writeFileAtomic(join(this.dir, 'catalog.json'), Buffer.from(JSON.stringify(snap))));
    this.journal?.close();
    callNative(() => native.truncateFile(join(this.dir, 'journal'), 0));
    this.journal = Journal.open(join(this.dir, 'journal'));
    // Not fsync'd here: the fsync of any later record makes it durable too.
    // Without it, later records would read as a stale journal: none may follow.
    try {
      this.append({ t: 'generation', n: this.generation }, false);
    } catch (err) {
      this.journal.close();
      this.journal = null;
      this.journalLost = err as Error;
      throw err;
    }
  }
}

/**
 * Why the file at a record's name is not that record's checkpoint (two files
 * swapped, one copied over another: each verifies, but holds other tensors),
 * or null. A file without seq or model in its index (written by hand) is not contradicted.
 */
export function identityProblem(model: string, record: CheckpointRecord, info: CheckpointInfo): string | null {
  const holds = (info.seq === null || info.seq === record.seq) && (info.model === null || info.model === model) && info.step === record.step;
  if (holds) return null;
  return `${record.file} holds checkpoint ${info.seq ?? '?'} (step ${info.step}) of model ${JSON.stringify(info.model)}, ` +
    `not checkpoint ${record.seq} (step ${record.step}) of model ${JSON.stringify(model)}`;
}

// JSON has no NaN: a diverged run's metrics are stored as strings, as in the file index.
function stored(record: CheckpointRecord): CheckpointRecord {
  return { ...record, metrics: encodeMetrics(record.metrics) as unknown as Metrics };
}

function loaded(record: CheckpointRecord): CheckpointRecord {
  return { ...record, metrics: decodeMetrics(record.metrics) };
}

/** A catalog record for an adopted file: the file's own index says what it is. */
function recordFromInfo(info: CheckpointInfo, file: string): CheckpointRecord {
  const healthy = Object.values(info.metrics).every(Number.isFinite);
  return {
    seq: info.seq ?? 0,
    step: info.step,
    epoch: info.epoch,
    time: Date.parse(info.created) || Date.now(),
    created: info.created,
    category: info.category ?? 'manual',
    reasons: info.reasons,
    metrics: info.metrics,
    bytes: info.bytes,
    rawBytes: info.rawBytes,
    file,
    pinned: false,
    healthy,
  };
}
