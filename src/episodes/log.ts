// EpisodeLog: the append-only log of one stream (docs/EPISODES.md). append()
// validates and copies a record into the pending batch (a list of reused
// chunk buffers) and returns; a group commit (at most commitMs later, or at
// once past batchBytes) hands the batch to the addon, which encodes, writes
// and fsyncs it off the JavaScript thread, and then every record of the
// batch is acknowledged together.
import { join } from 'node:path';
import { monotonicWallClock } from '../clock.js';
import { badInput, callNative, callNativeAsync, CheckpointError } from '../errors.js';
import { errorEvent, type Emit } from '../events.js';
import type { Logger } from '../logger.js';
import { native, type NativeLock } from '../native.js';
import { resolveEpisodeOptions, type EpisodeKeep, type EpisodeSettings } from '../validate/episode-options.js';
import { rawSize } from './record-batch.js';
import { ChunkPool, pendingBatch, type PendingBatch } from './pending-batch.js';
import { SegmentReader } from './segment-reader.js';
import { LIMITS } from '../validate/limits.js';
import { recoverStream } from './recovery.js';
import { writeArrowExport, type ExportResult } from './arrow-export.js';
import { planEpisodeRetention } from './retention.js';
import { indexFile, segmentRecords, timeRange, type SegmentInfo } from './segment-index.js';
import { SegmentWriter } from './segment-writer.js';
import { checkQuery, normalizeRecord } from '../validate/episode-record.js';
import type { AppendResult, EpisodeLogOptions, EpisodeRecord, EpisodeRef, EpisodeStats, ReplayQuery, StoredEpisode } from './types.js';

/** What a log needs from its store. */
export interface EpisodeContext {
  logger: Logger;
  emit: Emit;
  /** Time ranges of this stream that kept checkpoints reference: retention never drops them. */
  references(): ReplayQuery[];
  /** The store's `keep.episodes`, the default of `options.keep`. */
  keep: EpisodeKeep;
}

export class EpisodeLog {
  /** What recovery at open repaired or found damaged. */
  readonly repairs: readonly string[];
  private readonly segments: SegmentInfo[];
  /** Null when read-only. */
  private readonly writer: SegmentWriter | null;
  private nextId: number;
  /** Committed chunk buffers, kept for reuse: written pages copy at memory speed, fresh ones fault in page by page. */
  private readonly chunks: ChunkPool;
  private pending: PendingBatch | null = null;
  private inflight: PendingBatch | null = null;
  private timer: NodeJS.Timeout | null = null;
  private committing: Promise<void> | null = null;
  private due = false;
  /** A retention pass in progress. */
  private retaining: Promise<void> | null = null;
  private closed = false;
  private readonly counters = {
    appended: 0, acknowledged: 0, failed: 0, appendedBytes: 0, commits: 0, damaged: 0,
    dropped: { segments: 0, bytes: 0 }, reads: { segments: 0, blocks: 0, bytes: 0, records: 0 },
  };
  private readonly reader: SegmentReader;
  private readonly now = monotonicWallClock();

  private constructor(
    readonly stream: string,
    readonly dir: string,
    readonly readOnly: boolean,
    private readonly settings: EpisodeSettings,
    private readonly ctx: EpisodeContext,
    private readonly lock: NativeLock | null,
  ) {
    const recovered = recoverStream(dir, stream, settings.indexBytes, readOnly);
    this.repairs = recovered.repairs;
    this.segments = recovered.segments;
    this.nextId = recovered.nextId;
    this.counters.damaged = recovered.damages.length;
    this.reader = new SegmentReader(stream, this.segments, this.counters, ctx);
    this.chunks = new ChunkPool(settings.batchBytes);
    this.writer = readOnly || !recovered.active ? null
      : new SegmentWriter(dir, recovered.active, this.segments, settings, () => this.applyRetention(), this.now);
  }

  /**
   * @internal
   * Opens (creating unless read-only) the stream stored in `dir`: takes its
   * LOCK, recovers it, applies retention. Use store.episodes(stream) rather
   * than this, so that checkpoints protect the episodes they reference.
   */
  static open(dir: string, stream: string, options: EpisodeLogOptions, ctx: EpisodeContext, readOnly = false): EpisodeLog {
    const settings = resolveEpisodeOptions(options, ctx.keep);
    let lock: NativeLock | null = null;
    if (!readOnly) {
      callNative(() => native.ensureDir(dir));
      lock = callNative(() => native.lockFile(join(dir, 'LOCK')));
    }
    try {
      const log = new EpisodeLog(stream, dir, readOnly, settings, ctx, lock);
      if (log.repairs.length) {
        for (const repair of log.repairs) ctx.logger.warn({ stream }, `episode recovery: ${repair}`);
        ctx.emit('repaired', { stream, repairs: log.repairs });
      }
      log.applyRetention();
      return log;
    } catch (err) {
      lock?.release();
      throw err;
    }
  }

  /**
   * Appends a record. Synchronous: checks it (E_BAD_INPUT, nothing appended),
   * copies its bytes, and returns; `durable` resolves after the fsync that
   * covers it, at most commitMs later (or at flush/close).
   */
  append(record: EpisodeRecord): AppendResult {
    this.checkWritable();
    const normalized = normalizeRecord(record);
    if (normalized.blocks.length > LIMITS.episodeBlocks) throw badInput(`an episode record holds at most ${LIMITS.episodeBlocks} columns, index and features; this one has ${normalized.blocks.length}`);
    const headBytes = Buffer.byteLength(normalized.head, 'utf8');
    const schemaBytes = Buffer.byteLength(normalized.schema, 'utf8');
    const size = rawSize(headBytes + schemaBytes, normalized.blocks);
    if (size > LIMITS.episodeRecordBytes) throw badInput(`episode record of ${size} bytes exceeds the limit of ${LIMITS.episodeRecordBytes}`);
    const id = this.nextId++;
    // One promise per commit, shared by its records: they are acknowledged together.
    const pending = (this.pending ??= pendingBatch());
    let chunk = pending.chunks[pending.chunks.length - 1];
    // A full chunk is followed by another, never grown: nothing is copied
    // twice. While a commit is written, the full chunk is encoded at once
    // (on the libuv pool) rather than when its own commit starts.
    if (!chunk || (chunk.count > 0 && chunk.used + size > chunk.capacity)) {
      if (chunk && this.committing && pending.ahead.length === pending.chunks.length - 1) pending.ahead.push(this.writer!.encodeAhead(chunk));
      pending.chunks.push((chunk = this.chunks.take()));
    }
    chunk.add(id, normalized, headBytes, schemaBytes, size);
    pending.bytes += size;
    pending.ids.push(id);
    pending.times.push(normalized.time);
    pending.models.push(normalized.model);
    this.counters.appended++;
    this.counters.appendedBytes += size;
    if (pending.bytes >= this.settings.batchBytes) this.kick();
    else this.timer ??= setTimeout(() => {
      this.timer = null;
      this.kick();
    }, this.settings.commitMs);
    return { id, durable: pending.durable };
  }

  /**
   * Replays the records matching the query in time order (ties in id order).
   * Records appended before the call are included once committed; only the
   * index blocks that can match are read.
   */
  replay(query?: ReplayQuery): AsyncGenerator<StoredEpisode> {
    this.checkOpen();
    const q = checkQuery(query);
    return (async function* (log: EpisodeLog) {
      await log.settled();
      yield* log.reader.replay(q);
    })(this);
  }

  /** One record by id; E_NOT_FOUND when the stream does not hold it (dropped, failed, damaged or never appended). */
  async get(id: number): Promise<StoredEpisode> {
    this.checkOpen();
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw badInput(`Expected a non-negative integer record id but received ${String(id)}`);
    await this.settled();
    const found = await this.reader.get(id);
    if (found) return found;
    throw new CheckpointError('E_NOT_FOUND', `stream "${this.stream}" holds no readable record ${id}`);
  }

  /** A reference to records of this stream, to store as a checkpoint's `meta.episodes`. */
  ref(query: ReplayQuery = {}): EpisodeRef {
    const { from, to, model, episode } = checkQuery(query);
    return JSON.parse(JSON.stringify({ stream: this.stream, from, to, model, episode })) as EpisodeRef;
  }

  /** Writes the records matching the query to `file`, an Apache Arrow IPC file (docs/EPISODES.md, "Export to Arrow"). */
  export(file: string, query: ReplayQuery = {}): Promise<ExportResult> {
    this.checkOpen();
    return writeArrowExport(this, file, query);
  }

  /** Commits what is pending now; resolves when every record appended so far is acknowledged or has failed. */
  async flush(): Promise<void> {
    await this.settled();
    await this.retaining;
  }

  /** Flushes and releases the stream's lock. Idempotent; afterwards every method throws E_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settled();
    await this.retaining;
    this.writer?.close();
    this.lock?.release();
  }

  stats(): EpisodeStats {
    const ranges = this.segments.map(timeRange).filter((r) => r !== null);
    const blocks = this.segments.flatMap((s) => s.blocks);
    return {
      stream: this.stream,
      segments: this.segments.length,
      records: this.segments.reduce((n, s) => n + segmentRecords(s), 0),
      bytesOnDisk: this.segments.reduce((n, s) => n + s.bytes, 0),
      firstId: blocks.length ? blocks[0].firstId : null,
      lastId: blocks.length ? blocks[blocks.length - 1].lastId : null,
      minTime: ranges.length ? Math.min(...ranges.map((r) => r.min)) : null,
      maxTime: ranges.length ? Math.max(...ranges.map((r) => r.max)) : null,
      pending: (this.pending?.ids.length ?? 0) + (this.inflight?.ids.length ?? 0),
      ...structuredClone(this.counters),
    };
  }

  // ---- group commit -----------------------------------------------------------

  private kick(): void {
    if (this.committing) {
      this.due = true;
      return;
    }
    if (!this.pending) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.committing = this.commit().finally(() => {
      this.committing = null;
      if (this.due || (this.pending?.bytes ?? 0) >= this.settings.batchBytes) {
        this.due = false;
        this.kick();
      }
    });
  }

  private async commit(): Promise<void> {
    const records = (this.inflight = this.pending!);
    this.pending = null;
    const count = records.ids.length;
    try {
      await this.writer!.write(records.chunks, records.ahead, records);
      this.counters.commits++;
      this.counters.acknowledged += count;
      records.resolve();
    } catch (err) {
      this.counters.failed += count;
      records.reject(err);
      this.ctx.logger.error({ stream: this.stream, records: count, err }, 'episode commit failed');
      this.ctx.emit('error', errorEvent(err, { stream: this.stream, ids: [records.ids[0], records.ids[count - 1]] }));
    } finally {
      this.inflight = null;
      this.chunks.giveBack(records.chunks);
    }
  }

  /** Drops what retention lets go, off the event loop: one pass at a time, and close() waits for it. */
  private applyRetention(): void {
    this.retaining ??= this.retain().finally(() => (this.retaining = null));
  }

  private async retain(): Promise<void> {
    const { keep } = this.settings;
    if (this.readOnly || (keep.maxBytes === null && keep.maxAgeDays === null)) return;
    try {
      for (const { segment, reason } of planEpisodeRetention(this.segments, keep, this.ctx.references(), this.now())) {
        // Out of the list first: a replay planned from now on does not read it (one in flight sees E_NOT_FOUND and skips it).
        this.segments.splice(this.segments.indexOf(segment), 1);
        await callNativeAsync(() => native.removeFile(segment.path, true));
        await callNativeAsync(() => native.removeFile(join(this.dir, indexFile(segment.seq)), true));
        this.counters.dropped.segments++;
        this.counters.dropped.bytes += segment.bytes;
        this.ctx.logger.info({ stream: this.stream, segment: segment.seq, bytes: segment.bytes, reason }, 'episode segment dropped');
      }
    } catch (err) {
      this.ctx.logger.error({ stream: this.stream, err }, 'episode retention failed');
      this.ctx.emit('error', errorEvent(err, { stream: this.stream }));
    }
  }

  /** Commits what is pending and waits until every record appended so far has settled. */
  private async settled(): Promise<void> {
    const waiting = [this.inflight?.durable, this.pending?.durable];
    if (this.pending) this.kick();
    await Promise.allSettled(waiting);
  }

  private checkOpen(): void {
    if (this.closed) throw new CheckpointError('E_CLOSED', `episode stream "${this.stream}" is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly) throw badInput(`episode stream "${this.stream}" is open read-only`);
  }
}
