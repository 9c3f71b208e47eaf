// The in-memory state of one model's catalog, and how it is rebuilt from
// disk: catalog.json, then the journal records of the same generation,
// each decoded whole before it is applied.
import { join } from 'node:path';
import { callNative, type CheckpointError } from '../errors.js';
import { native } from '../native.js';
import { initialState, type TrackerState } from '../policy/decide.js';
import { readJournal, repairJournal, type JournalContents } from './journal.js';
import { decodeEntry, decodeSnapshot, storedRecord, type CheckpointRecord, type Counters, type JournalEntry, type Snapshot } from './records.js';

export class CatalogState {
  readonly records = new Map<number, CheckpointRecord>();
  readonly pendingDeletes = new Set<string>();
  tracker: TrackerState = initialState();
  counters: Counters = { saves: 0, skips: 0, failures: 0 };
  nextSeq = 1;
  generation = 0;
  /** The records by seq, kept in order as they change: a catalog of 100 000 is never re-sorted per commit. */
  private readonly sorted: CheckpointRecord[] = [];

  /** By seq, oldest first. Changes with the catalog: copy it to keep it. */
  list(): readonly CheckpointRecord[] {
    return this.sorted;
  }

  put(record: CheckpointRecord): void {
    const at = this.indexOf(record.seq);
    if (this.records.has(record.seq)) this.sorted[at] = record;
    // A new seq is almost always the last: a push keeps the array's elements
    // packed (splicing 100 000 records in one by one leaves them slow to read).
    else if (at === this.sorted.length) this.sorted.push(record);
    else this.sorted.splice(at, 0, record);
    this.records.set(record.seq, record);
    this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
  }

  remove(seq: number): void {
    if (!this.records.delete(seq)) return;
    this.sorted.splice(this.indexOf(seq), 1);
  }

  /** Where `seq` is in `sorted`, or would go. */
  private indexOf(seq: number): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid].seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  apply(entry: JournalEntry): void {
    switch (entry.t) {
      case 'commit':
        this.put(entry.record);
        this.tracker = entry.tracker;
        this.counters = entry.counters;
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
        if (record) this.put({ ...record, pinned: entry.pinned });
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

  /**
   * catalog.json of this state as it is now, with `generation`, in pieces:
   * the records a slice at a time, so that a compaction after open can
   * yield to the event loop between slices (catalog-journal.ts). Taken at once:
   * what changes later is not in it (records are replaced, never mutated).
   */
  *snapshotPieces(model: string, generation: number, slice = 1000): Generator<string> {
    const records = this.list().slice();
    const rest: Omit<Snapshot, 'records'> = {
      version: 1, model, nextSeq: this.nextSeq, tracker: this.tracker, counters: this.counters,
      pendingDeletes: [...this.pendingDeletes], generation,
    };
    yield '{"records":[';
    for (let i = 0; i < records.length; i += slice)
      yield (i ? ',' : '') + records.slice(i, i + slice).map((r) => JSON.stringify(storedRecord(r))).join(',');
    yield `],${JSON.stringify(rest).slice(1)}`;
  }
}

/** catalog.json decoded whole, or null (none, or damaged: then said in `repairs`). */
function readSnapshot(path: string, repairs: string[]): Snapshot | null {
  try {
    return decodeSnapshot(JSON.parse(callNative(() => native.readStoreFile(path)).toString('utf8')));
  } catch (err) {
    if ((err as CheckpointError).code === 'E_NOT_FOUND') return null;
    // Replaced atomically, so this is disk damage, a hand edit or something
    // that is not a file: none of it is applied, and the journal and the
    // checkpoint files (which describe themselves) tell what is there.
    repairs.push(`catalog.json unreadable (${(err as Error).message}); rebuilt from the journal and the files`);
    return null;
  }
}

/**
 * The intact entries of a catalog journal, oldest first. A torn frame, a
 * failed checksum, or a record that is not a journal entry of the right
 * shape starts the damaged tail: nothing from there on is trusted.
 */
export function scanJournal(path: string): JournalContents<JournalEntry> {
  return readJournal(path, decodeEntry);
}

/**
 * The state that catalog.json and the journal of `dir` hold. What cannot be
 * trusted is reported in `repairs` and, unless `readOnly`, cut from the journal.
 */
export function loadState(dir: string, readOnly: boolean): { state: CatalogState; repairs: string[] } {
  const state = new CatalogState();
  const repairs: string[] = [];
  const snap = readSnapshot(join(dir, 'catalog.json'), repairs);
  if (snap) {
    for (const r of snap.records) state.put(r);
    for (const f of snap.pendingDeletes) state.pendingDeletes.add(f);
    state.tracker = snap.tracker;
    state.counters = snap.counters;
    state.nextSeq = Math.max(state.nextSeq, snap.nextSeq);
    state.generation = snap.generation ?? 0;
  }
  const journalPath = join(dir, 'journal');
  const scan = scanJournal(journalPath);
  const { records: entries, problem, validBytes } = scan;
  const first = entries[0];
  const journalGeneration = first?.t === 'generation' ? first.n : 0;
  if (journalGeneration >= state.generation) for (const entry of entries) state.apply(entry);
  else if (!readOnly) repairs.push(`journal: skipped ${entries.length} records a compaction had already written to catalog.json`);
  if (problem && !readOnly) {
    repairJournal(journalPath, scan);
    repairs.push(`journal: cut ${scan.fileBytes - validBytes} bytes at byte ${validBytes} (${problem})`);
  }
  return { state, repairs };
}
