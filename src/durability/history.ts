// A model's performance history: one framed record per report, across
// sessions. Reports are buffered and written at least every second and at
// every commit, so the training loop pays for an array push.
import { join } from 'node:path';
import { decodeMetrics, encodeMetrics, type Metrics } from '../file/checkpoint-file.js';
import { Journal, readJournal, repairJournal } from './journal.js';

export interface HistoryEntry {
  step: number;
  epoch: number;
  /** ms since epoch */
  time: number;
  metrics: Metrics;
  saved: boolean;
  reasons: string[];
}

const FLUSH_MS = 1000;

export class History {
  private buffer: HistoryEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly journal: Journal | null;

  constructor(private readonly path: string, readOnly: boolean, private readonly onError: (err: unknown) => void) {
    if (!readOnly) {
      // Entries appended after a torn tail would never be read back: cut it first.
      const scan = readJournal(path);
      if (scan.problem) repairJournal(path, scan);
    }
    this.journal = readOnly ? null : Journal.open(path);
  }

  static pathIn(dir: string): string {
    return join(dir, 'history');
  }

  append(entry: HistoryEntry): void {
    this.buffer.push(entry);
    if (!this.timer && this.journal) {
      this.timer = setTimeout(() => this.flush(false), FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Writes buffered entries; `sync` also makes them durable. Never throws: history must not stop training. */
  flush(sync: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.journal) return;
    try {
      // One write for the whole buffer; a failed one leaves the entries buffered.
      this.journal.appendMany(this.buffer.map((entry) => ({ ...entry, metrics: encodeMetrics(entry.metrics) })), { sync: false });
      this.buffer = [];
      if (sync) this.journal.sync();
    } catch (err) {
      this.onError(err);
    }
  }

  /** Everything recorded for this model, oldest first (a damaged tail is skipped). */
  read(): HistoryEntry[] {
    const onDisk = readJournal(this.path).records as HistoryEntry[];
    return [...onDisk.map((e) => ({ ...e, metrics: decodeMetrics(e.metrics) })), ...this.buffer];
  }

  close(): void {
    this.flush(true);
    this.journal?.close();
  }
}
