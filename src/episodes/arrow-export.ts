// Export of a range of an episode stream to an Apache Arrow IPC file that
// pandas and pyarrow open (docs/EPISODES.md, "Export to Arrow"). Two replays:
// the first learns the columns (an Arrow file has one schema), the second
// writes batches of rows. The file appears whole or not at all: it is written
// beside its name, fsynced, then renamed over it.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RecordBatchFileWriter } from 'apache-arrow';
import { badInput, callNative, CheckpointError } from '../errors.js';
import { native } from '../native.js';
import { ExportLayout } from './arrow-columns.js';
import type { ReplayQuery, StoredEpisode } from './types.js';

export interface ExportResult {
  file: string;
  /** Rows written: one per record. */
  records: number;
  /** Size of the file. */
  bytes: number;
}

/** Rows per record batch, and the raw bytes after which a batch is written sooner. */
const BATCH_ROWS = 4096;
const BATCH_BYTES = 64 * 1024 * 1024;

function rawBytes(r: StoredEpisode): number {
  let n = 0;
  for (const c of Object.values(r.frame?.columns ?? {})) n += Array.isArray(c) ? c.length * 16 : ArrayBuffer.isView(c) ? c.byteLength : c.data.byteLength;
  for (const t of Object.values(r.features ?? {})) n += ArrayBuffer.isView(t) ? t.byteLength : (t as { data: ArrayBufferView }).data.byteLength;
  return n;
}

/** A failed write of the export, coded like the engine's own I/O failures. */
function writeError(err: unknown, file: string): CheckpointError {
  const e = err as NodeJS.ErrnoException;
  const code = e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'E_NOSPACE' : 'E_IO';
  return new CheckpointError(code, `cannot write the Arrow export "${file}": ${e.message}`, { cause: err, errno: typeof e.errno === 'number' ? -Math.abs(e.errno) : undefined });
}

/** What an export reads: a stream's name, and its records matching a query, in time order. */
export interface ExportSource {
  stream: string;
  replay(query: ReplayQuery): AsyncIterable<StoredEpisode>;
}

/** Writes the records of `log` matching `query` to `file` as an Arrow IPC file. */
export async function writeArrowExport(log: ExportSource, file: string, query: ReplayQuery = {}): Promise<ExportResult> {
  if (typeof file !== 'string' || file === '' || file.includes('\0')) throw badInput(`Expected a file path for the Arrow export but received ${JSON.stringify(file)}`);
  const layout = new ExportLayout();
  for await (const r of log.replay(query)) layout.see(r);
  const schema = layout.schema(new Map([['tensorkeep.stream', log.stream], ['tensorkeep.query', JSON.stringify(query)]]));

  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(tmp, 'wx');
  } catch (err) {
    throw writeError(err, file);
  }
  const writer = new RecordBatchFileWriter();
  writer.reset(undefined, schema);
  const fh = handle;
  // Bytes drain to the file while the next batch is built.
  const drained = (async () => {
    for await (const chunk of writer) await fh.write(chunk);
  })();
  drained.catch(() => undefined); // awaited below
  let records = 0;
  try {
    let rows: StoredEpisode[] = [];
    let bytes = 0;
    const flush = () => {
      if (rows.length) writer.write(layout.batch(schema, rows));
      records += rows.length;
      rows = [];
      bytes = 0;
    };
    for await (const r of log.replay(query)) {
      if (!layout.ids.has(r.id)) continue; // appended after the first pass
      rows.push(r);
      bytes += rawBytes(r);
      if (rows.length >= BATCH_ROWS || bytes >= BATCH_BYTES) flush();
    }
    flush();
    writer.close(); // writes the footer
    try {
      await drained;
      await fh.sync();
    } catch (err) {
      throw writeError(err, file);
    }
    const { size } = await fh.stat();
    await fh.close();
    try {
      await rename(tmp, file);
    } catch (err) {
      throw writeError(err, file);
    }
    callNative(() => native.fsyncDir(dirname(file)));
    return { file, records, bytes: size };
  } catch (err) {
    writer.abort();
    await drained.catch(() => undefined);
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
