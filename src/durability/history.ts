// A model's performance history: one framed record per report, across
// sessions. Reports are buffered and written at least every second and at
// every commit, so the training loop pays for an array push.
import { join } from 'node:path';
import { metricsJson } from '../file/index-json.js';
import { type Metrics } from '../file/types.js';
import { Journal, readJournal, repairJournal, type JournalContents } from './journal.js';
import { bool, count, finite, list, metrics, obj, str } from './shape.js';

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

/** An entry's record as JSON (metrics encoded as in a file's index): written for every report, so without copies. */
export function entryJson(e: HistoryEntry): string {
  const reasons = e.reasons.length === 0 ? '[]' : JSON.stringify(e.reasons);
  return `{"step":${e.step},"epoch":${e.epoch},"time":${e.time},"metrics":${metricsJson(e.metrics)},"saved":${e.saved},"reasons":${reasons}}`;
}

function decodeEntry(v: unknown, where: string): HistoryEntry {
  const e = obj(v, where);
  return {
    step: count(e.step, `${where}.step`), epoch: count(e.epoch, `${where}.epoch`), time: finite(e.time, `${where}.time`),
    metrics: metrics(e.metrics, `${where}.metrics`), saved: bool(e.saved, `${where}.saved`), reasons: list(e.reasons, `${where}.reasons`, str),
  };
}

/** The history file's entries up to the first that is torn, fails its checksum or is not an entry of the right shape. */
export function scanHistory(path: string): JournalContents<HistoryEntry> {
  return readJournal(path, decodeEntry);
}

export class History {
  private buffer: HistoryEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly journal: Journal | null;

  constructor(private readonly path: string, readOnly: boolean, private readonly onError: (err: unknown) => void) {
    if (!readOnly) {
      // Entries appended after a damaged tail would never be read back: cut it first.
      const scan = scanHistory(path);
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
      this.timer = setTimeout(() => this.write(), FLUSH_MS);
      this.timer.unref();
    }
  }

  /**
   * Writes buffered entries (one write for the whole buffer; a failed one
   * leaves them buffered). Never throws: history must not stop training.
   */
  write(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.journal || this.buffer.length === 0) return;
    try {
      this.journal.appendJson(this.buffer.map(entryJson), { sync: false });
      this.buffer = [];
    } catch (err) {
      this.onError(err);
    }
  }

  /** Writes buffered entries and makes them durable, off the calling thread. Never rejects. */
  async flush(): Promise<void> {
    this.write();
    await this.journal?.syncAsync().catch(this.onError);
  }

  /** Everything recorded for this model, oldest first (a damaged tail is left out). */
  read(): HistoryEntry[] {
    return [...scanHistory(this.path).records, ...this.buffer];
  }

  async close(): Promise<void> {
    await this.flush();
    this.journal?.close();
  }
}
