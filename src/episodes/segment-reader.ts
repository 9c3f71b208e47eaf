// Reading an episode stream (docs/EPISODES.md, "Replay"): which index
// blocks a query needs, read in runs off the JavaScript thread, decoded,
// and merged into time order. Damaged bytes are skipped and reported.
import TinyQueue from 'tinyqueue';
import { callNativeAsync, CheckpointError } from '../errors.js';
import { errorEvent, type Emit } from '../events.js';
import type { Logger } from '../logger.js';
import { episodeNative, type NativeDamage } from './native-episodes.js';
import { decodeRecord, DecodedRecords } from './record-codec.js';
import { blockMatches, type IndexBlock, type SegmentInfo } from './segment-index.js';
import type { EpisodeDamage, EpisodeStats, ReplayQuery, StoredEpisode } from './types.js';

/** Adjacent index blocks of one segment read with one call, up to this many bytes. */
const READ_BYTES = 4 * 1024 * 1024;
/** Reads a replay keeps in flight. */
const READ_AHEAD = 2;

interface ReadRun {
  segment: SegmentInfo;
  offset: number;
  bytes: number;
  blocks: number;
  minTime: number;
  firstId: number;
}

const byTimeThenId = (a: StoredEpisode, b: StoredEpisode) => a.time - b.time || a.id - b.id;

function inOrder(records: StoredEpisode[]): boolean {
  for (let k = 1; k < records.length; k++) if (byTimeThenId(records[k - 1], records[k]) > 0) return false;
  return true;
}

function matches(r: StoredEpisode, q: ReplayQuery): boolean {
  return (q.from === undefined || r.time >= q.from) && (q.to === undefined || r.time <= q.to)
    && (q.model === undefined || r.model === q.model) && (q.episode === undefined || r.episode === q.episode);
}

/** The counters a reader adds to (its log's stats()). */
export type ReadCounters = Pick<EpisodeStats, 'reads' | 'damaged'>;

export class SegmentReader {
  /** `segments` is the log's own list: segments it adds or drops are seen at the next read. */
  constructor(
    private readonly stream: string,
    private readonly segments: readonly SegmentInfo[],
    private readonly counters: ReadCounters,
    private readonly ctx: { logger: Logger; emit: Emit },
  ) {}

  /** One record by id, or null when no segment holds it readable. */
  async get(id: number): Promise<StoredEpisode | null> {
    for (const segment of this.segments) {
      const block = segment.blocks.find((b) => b.firstId <= id && id <= b.lastId);
      if (!block) continue;
      const found = (await this.readRun(this.runOf(segment, [block]), new Set())).find((r) => r.id === id);
      if (found) return found;
    }
    return null;
  }

  /** The records matching the query, in time order (ties in id order); only the index blocks that can match are read. */
  async *replay(q: ReplayQuery): AsyncGenerator<StoredEpisode> {
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
        const records = (await reads.get(i)!).filter((r) => matches(r, q));
        reads.delete(i);
        fetch(++i + READ_AHEAD - 1);
        // The common case, a run in order and before every record still to
        // come, needs no merge: it is yielded as it is.
        const last = records[records.length - 1];
        if (heap.length === 0 && last && (i >= runs.length || runs[i].minTime > last.time) && inOrder(records)) yield* records;
        else for (const r of records) heap.push(r);
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
    const decoded = new DecodedRecords(read.buffer);
    for (let i = 0; i < read.starts.length; i++) {
      try {
        out.push(decodeRecord(decoded, read.starts[i], read.schemas[i]));
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
}
