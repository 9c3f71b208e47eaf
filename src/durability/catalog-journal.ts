// The journal of one model's catalog as a writer keeps it: records appended
// to the page cache on the calling thread (a few hundred bytes each), made
// durable by an fsync on a libuv thread, and compacted into catalog.json.
// After open, a compaction serializes the catalog a slice at a time and
// writes it off the event loop; records appended meanwhile wait in memory
// and follow the new journal's generation record (docs/FORMAT.md, "Journal
// records").
import { join } from 'node:path';
import { callNative, callNativeAsync, CheckpointError } from '../errors.js';
import { native } from '../native.js';
import { Journal } from './journal.js';
import type { JournalEntry } from './records.js';

/** How long syncSoon() waits: commits in the same moment share one fsync, and the save right after a commit is not slowed by it. */
const SYNC_DELAY_MS = 1000;

/** Slices of the snapshot (1 000 records each) serialized between two turns of the event loop. */
const SLICES_PER_TURN = 2;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class CatalogJournal {
  private journal: Journal | null;
  /** Why the journal could not be restarted after a compaction (appends refused until a reopen). */
  private lost: Error | null = null;
  private compacting: Promise<void> | null = null;
  /** Appended during a compaction: written after the new journal's generation record. */
  private deferred: JournalEntry[] = [];
  /** The background fsync syncSoon() scheduled, until it starts. */
  private syncTimer: NodeJS.Timeout | null = null;

  /** `snapshot(g)`: catalog.json of the catalog as it is when first asked, with generation g, in pieces. */
  constructor(
    private readonly dir: string,
    private readonly model: string,
    private generation: number,
    private readonly snapshot: (generation: number) => Generator<string>,
  ) {
    this.journal = Journal.open(this.path);
  }

  private get path(): string {
    return join(this.dir, 'journal');
  }

  /** Whether the journal has outgrown `limit` bytes (never during a compaction, which empties it). */
  largerThan(limit: number): boolean {
    return !this.compacting && this.journal !== null && this.journal.bytes > limit;
  }

  /** Appends a record, not yet durable: durable() makes it so. */
  append(entry: JournalEntry): void {
    if (this.compacting && !this.lost) this.deferred.push(entry);
    else this.open().append(entry, { sync: false });
  }

  /**
   * Makes every record appended so far durable, off the calling thread. A
   * failed fsync may have lost those records' pages, so the catalog is
   * compacted: the journal restarts from the state in memory.
   */
  async durable(): Promise<void> {
    this.cancelSoon();
    if (this.compacting) await this.compacting.catch(() => undefined);
    try {
      await this.open().syncAsync();
    } catch (err) {
      await this.compact().catch(() => undefined);
      throw err;
    }
  }

  /** durable() in the background after SYNC_DELAY_MS, unless one is already scheduled; `failed` hears of its failure. */
  syncSoon(failed: (err: unknown) => void): void {
    this.syncTimer ??= setTimeout(() => {
      this.syncTimer = null;
      if (this.journal || this.compacting) this.durable().catch(failed);
    }, SYNC_DELAY_MS).unref();
  }

  /** Writes catalog.json and restarts the journal, on the calling thread: at open, before anything else may append. */
  compactSync(): void {
    const json = [...this.snapshot(this.generation + 1)].join('');
    callNative(() => native.writeFileAtomic(join(this.dir, 'catalog.json'), Buffer.from(json)));
    this.open().close();
    this.restart(() => callNative(() => native.truncateFile(this.path, 0)));
  }

  /** The same off the event loop; one at a time. */
  compact(): Promise<void> {
    this.compacting ??= this.compactAsync().finally(() => (this.compacting = null));
    return this.compacting;
  }

  /** Waits for a compaction in progress (its failure is the business of the durable() calls it affects). */
  async idle(): Promise<void> {
    await this.compacting?.catch(() => undefined);
  }

  close(): void {
    this.cancelSoon();
    this.journal?.close();
    this.journal = null;
  }

  private cancelSoon(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
  }

  private async compactAsync(): Promise<void> {
    this.open();
    // The first piece is taken now, before any await: the snapshot is the catalog as it is at this call.
    const parts: Buffer[] = [];
    for (const piece of this.snapshot(this.generation + 1)) {
      // After the first piece (the catalog taken whole) the slices wait for a turn: none falls in the caller's.
      if (parts.length % SLICES_PER_TURN === 1) await nextTurn();
      parts.push(Buffer.from(piece));
    }
    try {
      await callNativeAsync(() => native.writeFileAtomic(join(this.dir, 'catalog.json'), parts, true));
    } catch (err) {
      // catalog.json is as it was, so the journal still holds: what waited goes to it.
      this.open().appendMany(this.deferred.splice(0), { sync: false });
      throw err;
    }
    this.open().close();
    await this.restart(() => callNativeAsync(() => native.truncateFile(this.path, 0, true)));
  }

  /**
   * Empties the journal (`truncate`) and starts the next generation. A kill
   * before it leaves the old journal beside the new catalog.json: its older
   * generation tells the next open to skip it. Not fsynced here: the fsync
   * of any later record makes the generation record durable too, and no
   * record may go before it (they would read as a stale journal).
   */
  private restart(truncate: () => void | Promise<void>): void | Promise<void> {
    const next = () => {
      this.journal = Journal.open(this.path);
      this.generation++;
      this.journal.appendMany([{ t: 'generation', n: this.generation }, ...this.deferred.splice(0)], { sync: false });
    };
    const lose = (err: unknown): never => {
      this.journal?.close();
      this.journal = null;
      this.deferred = [];
      this.lost = err as Error;
      throw err;
    };
    this.journal = null;
    try {
      const truncated = truncate();
      if (truncated instanceof Promise) return truncated.then(next).catch(lose);
      next();
    } catch (err) {
      lose(err);
    }
  }

  private open(): Journal {
    if (this.lost)
      throw new CheckpointError('E_IO', `the journal of model "${this.model}" could not be restarted after a compaction (${this.lost.message}); reopen the store`, { cause: this.lost });
    if (!this.journal) throw new CheckpointError('E_CLOSED', `the catalog of model "${this.model}" is closed`);
    return this.journal;
  }
}
