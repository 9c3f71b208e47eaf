// EpisodeLog: the append-only log of one stream (docs/EPISODES.md). append()
// validates and copies a record into the pending batch and returns; a group
// commit (at most commitMs later, or at once past batchBytes) hands the batch
// to the addon, which encodes, writes and fsyncs it off the JavaScript
// thread, and then every record of the batch is acknowledged together.
import { join } from 'node:path';
import TinyQueue from 'tinyqueue';
import { badInput, callNative, callNativeAsync, CheckpointError } from '../errors.js';
import { errorEvent, type Emit } from '../events.js';
import type { Logger } from '../logger.js';
import { native, type NativeLock } from '../native.js';
import { episodeNative, type NativeDamage, type NativeEpisodeWriter } from './native-episodes.js';
import { resolveEpisodeOptions, type EpisodeKeep, type EpisodeSettings } from '../validate/episode-options.js';
import { Batch, decodeRecord, MAX_RECORD_BYTES, rawSize } from './record-codec.js';
import { recoverStream } from './recovery.js';
import { writeArrowExport, type ExportResult } from './arrow-export.js';
import { planEpisodeRetention } from './retention.js';
import {
  blockMatches, encodeIndex, indexFile, indexRecord, segmentFile, segmentRecords, timeRange, type IndexBlock, type SegmentInfo,
} from './segment-index.js';
import { checkQuery, normalizeRecord } from './validate.js';
import type {
  AppendResult, EpisodeDamage, EpisodeLogOptions, EpisodeRecord, EpisodeRef, EpisodeRetention, EpisodeStats, ReplayQuery, StoredEpisode,
} from './types.js';

/** What a log needs from its store. */
export interface EpisodeContext {
  logger: Logger;
  emit: Emit;
  /** Time ranges of this stream that kept checkpoints reference: retention never drops them. */
  references(): ReplayQuery[];
  /** The store's `keep.episodes`, the default of `options.keep`. */
  keep: EpisodeKeep;
}

/** The records of one commit, as the index needs them, and the promise they share. */
interface PendingBatch {
  ids: number[];
  times: number[];
  models: string[];
  durable: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function pendingBatch(): PendingBatch {
  let settle!: Pick<PendingBatch, 'resolve' | 'reject'>;
  const durable = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  durable.catch(() => undefined); // failures also go to stats, the logger and the 'error' event
  return { ids: [], times: [], models: [], durable, ...settle };
}

/** Adjacent index blocks of one segment read with one call, up to this many bytes. */
const READ_BYTES = 4 * 1024 * 1024;
/** Batch buffers kept for reuse, and the room a new one has beyond batchBytes. */
const MAX_SPARE_BATCHES = 4;
const BATCH_SLACK = 1024 * 1024;
/** Reads a replay keeps in flight. */
const READ_AHEAD = 2;
/** Columns, index and features of one record (the block table's limit). */
const MAX_BLOCKS = 65_536;

interface ReadRun {
  segment: SegmentInfo;
  offset: number;
  bytes: number;
  blocks: number;
  minTime: number;
  firstId: number;
}

const byTimeThenId = (a: StoredEpisode, b: StoredEpisode) => a.time - b.time || a.id - b.id;

function matches(r: StoredEpisode, q: ReplayQuery): boolean {
  return (q.from === undefined || r.time >= q.from) && (q.to === undefined || r.time <= q.to)
    && (q.model === undefined || r.model === q.model) && (q.episode === undefined || r.episode === q.episode);
}

export class EpisodeLog {
  /** What recovery at open repaired or found damaged. */
  readonly repairs: readonly string[];
  private readonly segments: SegmentInfo[];
  private active: SegmentInfo | null;
  private writer: NativeEpisodeWriter | null;
  private nextId: number;
  private batch: Batch;
  /** Committed batch buffers, kept for reuse: written pages copy at memory speed, fresh ones fault in page by page. */
  private readonly spares: Batch[] = [];
  private pending: PendingBatch | null = null;
  private inflight: PendingBatch | null = null;
  private timer: NodeJS.Timeout | null = null;
  private committing: Promise<void> | null = null;
  private due = false;
  private needsRoll = false;
  private closed = false;
  private readonly counters = {
    appended: 0, acknowledged: 0, failed: 0, appendedBytes: 0, commits: 0, damaged: 0,
    dropped: { segments: 0, bytes: 0 }, reads: { segments: 0, blocks: 0, bytes: 0, records: 0 },
  };

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
    this.active = recovered.active;
    this.nextId = recovered.nextId;
    this.counters.damaged = recovered.damages.length;
    this.writer = readOnly || !this.active ? null
      : callNative(() => episodeNative.episodeWriterOpen(this.active!.path, this.active!.bytes, settings.level));
    this.batch = this.newBatch();
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
    if (normalized.blocks.length > MAX_BLOCKS) throw badInput(`an episode record holds at most ${MAX_BLOCKS} columns, index and features; this one has ${normalized.blocks.length}`);
    const headBytes = Buffer.byteLength(normalized.head, 'utf8');
    const schemaBytes = Buffer.byteLength(normalized.schema, 'utf8');
    const size = rawSize(headBytes + schemaBytes, normalized.blocks);
    if (size > MAX_RECORD_BYTES) throw badInput(`episode record of ${size} bytes exceeds the limit of ${MAX_RECORD_BYTES}`);
    const id = this.nextId++;
    this.batch.add(id, normalized, headBytes, schemaBytes, size);
    // One promise per commit, shared by its records: they are acknowledged together.
    const pending = (this.pending ??= pendingBatch());
    pending.ids.push(id);
    pending.times.push(normalized.time);
    pending.models.push(normalized.model);
    this.counters.appended++;
    this.counters.appendedBytes += size;
    if (this.batch.used >= this.settings.batchBytes) this.kick();
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
    return this.replayQuery(checkQuery(query));
  }

  /** One record by id; E_NOT_FOUND when the stream does not hold it (dropped, failed, damaged or never appended). */
  async get(id: number): Promise<StoredEpisode> {
    this.checkOpen();
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw badInput(`Expected a non-negative integer record id but received ${String(id)}`);
    await this.settled();
    for (const segment of this.segments) {
      const block = segment.blocks.find((b) => b.firstId <= id && id <= b.lastId);
      if (!block) continue;
      const found = (await this.readRun(this.runOf(segment, [block]), new Set())).find((r) => r.id === id);
      if (found) return found;
    }
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
  }

  /** Flushes and releases the stream's lock. Idempotent; afterwards every method throws E_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settled();
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
      if (this.due || this.batch.used >= this.settings.batchBytes) {
        this.due = false;
        this.kick();
      }
    });
  }

  private async commit(): Promise<void> {
    const batch = this.batch;
    const records = (this.inflight = this.pending!);
    this.pending = null;
    this.batch = this.spares.pop() ?? this.newBatch();
    const writer = this.writer!;
    const count = records.ids.length;
    try {
      if (this.needsRoll || writer.broken() || this.active!.bytes >= this.settings.segmentBytes) await this.roll(records.ids[0]);
      const written = await callNativeAsync(() => writer.commit(batch.view(), batch.count, this.settings.codec));
      const active = this.active!;
      for (let i = 0; i < count; i++)
        indexRecord(active, { offset: written[2 * i], frameBytes: written[2 * i + 1], id: records.ids[i], time: records.times[i], model: records.models[i] }, this.settings.indexBytes);
      active.bytes = writer.size();
      this.counters.commits++;
      this.counters.acknowledged += count;
      records.resolve();
    } catch (err) {
      if (writer.broken()) this.needsRoll = true;
      this.counters.failed += count;
      records.reject(err);
      this.ctx.logger.error({ stream: this.stream, records: count, err }, 'episode commit failed');
      this.ctx.emit('error', errorEvent(err, { stream: this.stream, ids: [records.ids[0], records.ids[count - 1]] }));
    } finally {
      this.inflight = null;
      batch.reset(this.settings.batchBytes);
      if (this.spares.length < MAX_SPARE_BATCHES) this.spares.push(batch);
    }
  }

  /** A batch buffer with room for batchBytes and the record that crosses it (untouched pages cost nothing). */
  private newBatch(): Batch {
    return new Batch(this.settings.batchBytes + BATCH_SLACK);
  }

  /** Closes the open segment (its index written beside it) and continues in the next. */
  private async roll(firstId: number): Promise<void> {
    const old = this.active!;
    const closed = { ...old, sealedMs: Date.now() };
    const header = { seq: old.seq + 1, firstId, createdMs: Date.now() };
    const path = join(this.dir, segmentFile(header.seq));
    await callNativeAsync(() => this.writer!.roll(join(this.dir, indexFile(old.seq)), encodeIndex(closed), path, header));
    old.sealedMs = closed.sealedMs;
    this.active = { seq: header.seq, path, firstId, bytes: this.writer!.size(), createdMs: header.createdMs, sealedMs: null, blocks: [] };
    this.segments.push(this.active);
    this.needsRoll = false;
    this.applyRetention();
  }

  private applyRetention(): void {
    const { keep } = this.settings;
    if (this.readOnly || (keep.maxBytes === null && keep.maxAgeDays === null)) return;
    try {
      for (const { segment, reason } of planEpisodeRetention(this.segments, keep, this.ctx.references(), Date.now())) {
        callNative(() => native.removeFile(segment.path));
        this.segments.splice(this.segments.indexOf(segment), 1);
        callNative(() => native.removeFile(join(this.dir, indexFile(segment.seq))));
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

  // ---- reading ----------------------------------------------------------------

  private async *replayQuery(q: ReplayQuery): AsyncGenerator<StoredEpisode> {
    await this.settled();
    const runs = this.plan(q);
    const heap = new TinyQueue<StoredEpisode>([], byTimeThenId);
    const opened = new Set<SegmentInfo>();
    // Reads run READ_AHEAD runs ahead of the merge, so decoding (on the libuv
    // pool) overlaps building the records on this thread.
    const reads = new Map<number, Promise<StoredEpisode[]>>();
    const fetch = (i: number) => {
      if (i >= runs.length || reads.has(i)) return;
      const read = this.readRun(runs[i], opened);
      read.catch(() => undefined); // awaited below, unless the caller stops early
      reads.set(i, read);
    };
    for (let i = 0; i < READ_AHEAD; i++) fetch(i);
    for (let i = 0; ;) {
      // Records of runs not read yet are no earlier than the next run's first time.
      if (i < runs.length && (heap.length === 0 || runs[i].minTime <= heap.peek()!.time)) {
        const records = await reads.get(i)!;
        reads.delete(i);
        fetch(++i + READ_AHEAD - 1);
        for (const r of records) if (matches(r, q)) heap.push(r);
        continue;
      }
      const r = heap.pop();
      if (!r) return;
      yield r;
    }
  }

  /** The reads a query needs: matching index blocks, merged while adjacent, in order of their first time. */
  private plan(q: ReplayQuery): ReadRun[] {
    const runs: ReadRun[] = [];
    for (const segment of this.segments) {
      let group: IndexBlock[] = [];
      const flush = () => {
        if (group.length) runs.push(this.runOf(segment, group));
        group = [];
      };
      for (const b of segment.blocks) {
        if (!blockMatches(b, q)) {
          flush();
          continue;
        }
        const prev = group.at(-1);
        if (prev && (prev.offset + prev.bytes !== b.offset || b.offset + b.bytes - group[0].offset > READ_BYTES)) flush();
        group.push(b);
      }
      flush();
    }
    return runs.sort((a, b) => a.minTime - b.minTime || a.firstId - b.firstId);
  }

  private runOf(segment: SegmentInfo, blocks: IndexBlock[]): ReadRun {
    const last = blocks[blocks.length - 1];
    return {
      segment, offset: blocks[0].offset, bytes: last.offset + last.bytes - blocks[0].offset, blocks: blocks.length,
      minTime: Math.min(...blocks.map((b) => b.minTime)), firstId: blocks[0].firstId,
    };
  }

  private async readRun(run: ReadRun, opened: Set<SegmentInfo>): Promise<StoredEpisode[]> {
    let read;
    try {
      read = await callNativeAsync(() => episodeNative.episodeReadRange(run.segment.path, run.offset, run.bytes, true));
    } catch (err) {
      // Retention dropped the segment while this replay was planned on it.
      if ((err as CheckpointError).code === 'E_NOT_FOUND' && !this.segments.includes(run.segment)) return [];
      throw err;
    }
    if (!opened.has(run.segment)) this.counters.reads.segments++;
    opened.add(run.segment);
    this.counters.reads.blocks += run.blocks;
    this.counters.reads.bytes += run.bytes;
    for (const d of read.damages) this.reportDamage(run.segment, d);
    const out: StoredEpisode[] = [];
    const words = new Uint32Array(read.buffer);
    const doubles = new Float64Array(read.buffer);
    for (const start of read.starts) {
      try {
        out.push(decodeRecord(read.buffer, start, words, doubles));
      } catch (err) {
        this.reportDamage(run.segment, { offset: run.offset, bytes: run.bytes, problem: (err as Error).message });
      }
    }
    this.counters.reads.records += out.length;
    return out;
  }

  private reportDamage(segment: SegmentInfo, d: NativeDamage): void {
    this.counters.damaged++;
    const damage: EpisodeDamage = { stream: this.stream, segment: segment.seq, ...d };
    this.ctx.logger.error(damage, 'episode log: damaged bytes skipped');
    this.ctx.emit('error', errorEvent(new CheckpointError('E_CORRUPT', `stream "${this.stream}" segment ${segment.seq}: ${d.bytes} damaged bytes at byte ${d.offset} skipped (${d.problem})`), damage));
  }

  private checkOpen(): void {
    if (this.closed) throw new CheckpointError('E_CLOSED', `episode stream "${this.stream}" is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly) throw badInput(`episode stream "${this.stream}" is open read-only`);
  }
}
