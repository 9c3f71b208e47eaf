// The segment a stream appends to: a committed batch's records written,
// fsynced and indexed, and the roll to a new segment once it is full (its
// index written beside it). Encoding, writes and fsyncs run in the addon,
// off the JavaScript thread.
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { callNative, callNativeAsync } from '../errors.js';
import type { EpisodeSettings } from '../validate/episode-options.js';
import { episodeNative, type NativeEncodedBatch, type NativeEpisodeWriter } from './native-episodes.js';
import type { Batch } from './record-batch.js';
import { encodeIndex, indexFile, indexRecord, segmentFile, type SegmentInfo } from './segment-index.js';

/** The records of one commit, as the index needs them. */
export interface BatchRecords {
  ids: number[];
  times: number[];
  models: string[];
}

export class SegmentWriter {
  private readonly writer: NativeEpisodeWriter;
  /** A failed commit could not be cut back: the next commit starts a new segment. */
  private needsRoll = false;

  /** `segments` is the stream's list: a roll adds to it. `onRoll` runs after each roll (retention). */
  constructor(
    private readonly dir: string,
    private active: SegmentInfo,
    private readonly segments: SegmentInfo[],
    private readonly settings: EpisodeSettings,
    private readonly onRoll: () => void,
    private readonly now: Clock,
  ) {
    this.writer = callNative(() => episodeNative.episodeWriterOpen(active.path, active.bytes, settings.level));
  }

  /** Starts encoding a full chunk while an earlier commit is written; write() takes the result. */
  encodeAhead(chunk: Batch): Promise<NativeEncodedBatch> {
    const encoded = callNativeAsync(() => episodeNative.episodeEncode([chunk.view()], [chunk.count], this.settings.codec, this.settings.level));
    encoded.catch(() => undefined); // write() awaits it
    return encoded;
  }

  /**
   * Writes and fsyncs a batch, then indexes its records: they are
   * acknowledged when this resolves. `ahead` holds the encodings of its
   * first chunks, started by encodeAhead(); the rest are encoded here.
   */
  async write(chunks: readonly Batch[], ahead: readonly Promise<NativeEncodedBatch>[], records: BatchRecords): Promise<void> {
    // Encodings read the chunks: they settle before anything can fail and the chunks be reused.
    const settled = await Promise.allSettled(ahead);
    try {
      const encoded = settled.map((s) => {
        if (s.status === 'rejected') throw s.reason;
        return s.value;
      });
      if (this.needsRoll || this.writer.broken() || this.active.bytes >= this.settings.segmentBytes) await this.roll(records.ids[0]);
      const rest = chunks.slice(encoded.length);
      const written = await callNativeAsync(() => this.writer.commit(encoded, rest.map((c) => c.view()), rest.map((c) => c.count), this.settings.codec));
      for (let i = 0; i < records.ids.length; i++)
        indexRecord(this.active, { offset: written[2 * i], frameBytes: written[2 * i + 1], id: records.ids[i], time: records.times[i], model: records.models[i] }, this.settings.indexBytes);
      this.active.bytes = this.writer.size();
    } catch (err) {
      if (this.writer.broken()) this.needsRoll = true;
      throw err;
    }
  }

  close(): void {
    this.writer.close();
  }

  /** Closes the open segment (its index written beside it) and continues in the next. */
  private async roll(firstId: number): Promise<void> {
    const old = this.active;
    const now = this.now();
    const closed = { ...old, sealedMs: now };
    const header = { seq: old.seq + 1, firstId, createdMs: now };
    const path = join(this.dir, segmentFile(header.seq));
    await callNativeAsync(() => this.writer.roll(join(this.dir, indexFile(old.seq)), encodeIndex(closed), path, header));
    old.sealedMs = closed.sealedMs;
    this.active = { seq: header.seq, path, firstId, bytes: this.writer.size(), createdMs: header.createdMs, sealedMs: null, blocks: [] };
    this.segments.push(this.active);
    this.needsRoll = false;
    this.onRoll();
  }
}
