// A journal of JSON records (docs/FORMAT.md): the catalog's commit log and the
// performance history. Framing, checksums and fsyncs are native
// (native/core/journal.h: u32 len | u64 xxh3 | payload); this file turns
// records into UTF-8 JSON and back.
import { CheckpointError, callNative, callNativeAsync } from '../errors.js';
import { native, type NativeJournal } from '../native.js';

export interface JournalContents<T = unknown> {
  /** The records of the intact part, parsed (and decoded), oldest first. */
  records: T[];
  /** Byte offset of each record's frame. */
  offsets: number[];
  /** Where the damaged tail starts (fileBytes when there is none). */
  validBytes: number;
  fileBytes: number;
  /** What is wrong at validBytes, or null when the whole file is intact. */
  problem: string | null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function recordJson(record: object): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(record);
  } catch (err) {
    throw new CheckpointError('E_BAD_INPUT', `journal record is not serializable: ${(err as Error).message}`, { cause: err });
  }
  if (typeof json !== 'string') throw new CheckpointError('E_BAD_INPUT', 'journal record must be a JSON-serializable object');
  return json;
}

export class Journal {
  private constructor(private readonly handle: NativeJournal, readonly path: string) {}

  /**
   * Opens (creating) the journal for appending. Records go after whatever the
   * file holds: cut a damaged tail first (readJournal + repairJournal), or it
   * would hide every later record.
   */
  static open(path: string): Journal {
    return new Journal(callNative(() => native.journalOpen(path)), path);
  }

  /**
   * Appends one record as one frame; with `sync` (the default) it is durable
   * on return. A failed append throws and leaves the journal as it was.
   */
  append(record: object, opts: { sync?: boolean } = {}): void {
    const bytes = Buffer.from(recordJson(record), 'utf8');
    callNative(() => this.handle.append(bytes, opts.sync ?? true));
  }

  /** Appends the records as one write: all of them or, when it fails (it throws), none. */
  appendMany(records: readonly object[], opts: { sync?: boolean } = {}): void {
    this.appendJson(records.map(recordJson), opts);
  }

  /** appendMany() of records already serialized, each a JSON object's text. */
  appendJson(json: readonly string[], opts: { sync?: boolean } = {}): void {
    if (json.length === 0) return;
    const lengths = new Uint32Array(json.length);
    let total = 0;
    for (let i = 0; i < json.length; i++) total += lengths[i] = Buffer.byteLength(json[i], 'utf8');
    const bytes = Buffer.allocUnsafe(total);
    for (let i = 0, at = 0; i < json.length; at += lengths[i++]) bytes.write(json[i], at, 'utf8');
    callNative(() => this.handle.appendMany(bytes, lengths, opts.sync ?? true));
  }

  /** Makes every appended record durable. */
  sync(): void {
    callNative(() => this.handle.sync());
  }

  /** sync() off the calling thread. */
  syncAsync(): Promise<void> {
    return callNativeAsync(() => this.handle.sync(true));
  }

  /** Idempotent; append, sync and bytes throw E_CLOSED afterwards. */
  close(): void {
    this.handle.close();
  }

  /** Size of the journal file in bytes. */
  get bytes(): number {
    return callNative(() => this.handle.size());
  }
}

/**
 * Reads every intact record, each turned into a T by `decode` (which throws
 * on a record of the wrong shape). The first frame that is torn, fails its
 * checksum, is not UTF-8 JSON or does not decode starts the damaged tail:
 * reading stops there and `problem` says why. A missing file is an empty journal.
 */
export function readJournal<T = unknown>(path: string, decode: (record: unknown, where: string) => T = (r) => r as T): JournalContents<T> {
  const scan = callNative(() => native.journalScan(path));
  const records: T[] = [];
  for (let i = 0; i < scan.records.length; i++) {
    const at = scan.offsets[i];
    let json: unknown;
    try {
      json = JSON.parse(utf8.decode(scan.records[i]));
    } catch (err) {
      // Intact frame, but not something Journal.append wrote: trust nothing after it.
      return { records, offsets: scan.offsets.slice(0, i), validBytes: at, fileBytes: scan.fileBytes, problem: `record at byte ${at} is not UTF-8 JSON (${(err as Error).message})` };
    }
    try {
      records.push(decode(json, `record at byte ${at}`));
    } catch (err) {
      return { records, offsets: scan.offsets.slice(0, i), validBytes: at, fileBytes: scan.fileBytes, problem: (err as Error).message };
    }
  }
  return { records, offsets: scan.offsets, validBytes: scan.validBytes, fileBytes: scan.fileBytes, problem: scan.problem };
}

/** Cuts the damaged tail that `scan` found (durably); returns how many bytes were cut. */
export function repairJournal(path: string, scan: Pick<JournalContents, 'validBytes' | 'fileBytes' | 'problem'>): number {
  if (scan.problem === null) return 0;
  callNative(() => native.truncateFile(path, scan.validBytes));
  return scan.fileBytes - scan.validBytes;
}
