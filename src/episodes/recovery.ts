// Opening a stream's directory (docs/EPISODES.md, "Recovery"): closed
// segments come with their index (rebuilt from the segment when it is missing
// or stale); the last segment is scanned whole, a torn tail cut back to the
// last intact record, damaged records in the middle skipped and reported.
// Nothing acknowledged is lost: an acknowledged record was fsynced whole, so
// only damage after the fact (a bit flip) can make it unreadable.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { callNative } from '../errors.js';
import { native } from '../native.js';
import { episodeNative, type NativeSegmentScan } from './native-episodes.js';
import {
  encodeIndex, indexFile, indexRecord, INDEX_FILE, readIndex, SEGMENT_FILE, segmentFile, type SegmentInfo,
} from './segment-index.js';
import type { EpisodeDamage } from './types.js';

export interface RecoveredStream {
  /** By seq; every one but `active` is closed. */
  segments: SegmentInfo[];
  /** The segment appends go to (created if needed); null when read-only and there is none to continue. */
  active: SegmentInfo | null;
  nextId: number;
  repairs: string[];
  damages: EpisodeDamage[];
}

function modelOf(head: string): string | null {
  try {
    const model = (JSON.parse(head) as { model?: unknown }).model;
    return typeof model === 'string' ? model : null;
  } catch {
    return null;
  }
}

/** A segment's index, from a scan of the segment itself. */
function indexFromScan(seq: number, path: string, scan: NativeSegmentScan, indexBytes: number, sealedMs: number | null): SegmentInfo {
  const info: SegmentInfo = {
    seq, path, firstId: scan.headerOk ? scan.header.firstId : (scan.ids[0] ?? 0), bytes: scan.goodEnd,
    createdMs: scan.headerOk ? scan.header.createdMs : sealedMs ?? Date.now(), sealedMs, blocks: [],
  };
  for (let i = 0; i < scan.ids.length; i++)
    indexRecord(info, { offset: scan.offsets[i], frameBytes: scan.frameBytes[i], id: scan.ids[i], time: scan.times[i], model: modelOf(scan.heads[i]) }, indexBytes);
  info.bytes = scan.fileBytes;
  return info;
}

function lastId(s: SegmentInfo): number {
  return s.blocks.length ? s.blocks[s.blocks.length - 1].lastId : s.firstId - 1;
}

export function recoverStream(dir: string, stream: string, indexBytes: number, readOnly: boolean): RecoveredStream {
  const repairs: string[] = [];
  const damages: EpisodeDamage[] = [];
  const repair = (what: string) => repairs.push(what);
  const noteDamage = (seq: number, list: Array<{ offset: number; bytes: number; problem: string }>) => {
    for (const d of list) {
      damages.push({ stream, segment: seq, ...d });
      repair(`segment ${seq}: skipped ${d.bytes} damaged bytes at byte ${d.offset} (${d.problem}); the records around them are kept`);
    }
  };
  if (!readOnly) {
    const leftovers = callNative(() => native.clearTmpDir(dir));
    if (leftovers) repair(`removed ${leftovers} unfinished index file(s) from .tmp/`);
  }
  const names = existsSync(dir) ? readdirSync(dir) : [];
  const seqs = names.map((n) => SEGMENT_FILE.exec(n)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
  const seqSet = new Set(seqs);
  for (const name of names) {
    const m = INDEX_FILE.exec(name);
    if (m && !seqSet.has(Number(m[1])) && !readOnly) {
      callNative(() => native.removeFile(join(dir, name)));
      repair(`removed ${name}: its segment is gone`);
    }
  }

  const segments: SegmentInfo[] = [];
  let active: SegmentInfo | null = null;
  const seal = (info: SegmentInfo, why: string) => {
    if (readOnly) return;
    callNative(() => native.writeFileAtomic(join(dir, indexFile(info.seq)), encodeIndex(info)));
    repair(`segment ${info.seq}: ${why}; index rebuilt from the segment`);
  };
  for (const [i, seq] of seqs.entries()) {
    const path = join(dir, segmentFile(seq));
    const indexPath = join(dir, indexFile(seq));
    const size = statSync(path).size;
    const saved = existsSync(indexPath) ? readIndex(indexPath, seq, path, size) : null;
    const isLast = i === seqs.length - 1;
    if (saved && !isLast) {
      segments.push(saved);
      continue;
    }
    const scan = callNative(() => episodeNative.episodeScanSegment(path));
    if (isLast && saved && scan.tail === null && scan.damages.length === 0 && scan.headerOk) {
      segments.push(saved); // closed by a roll whose next segment was never created
      continue;
    }
    if (!scan.headerOk && scan.ids.length === 0) {
      // No record and no usable header: a roll that died before its fsyncs.
      if (!readOnly) {
        callNative(() => native.removeFile(path));
        if (existsSync(indexPath)) callNative(() => native.removeFile(indexPath));
        repair(`removed segment ${seq}: no records (${scan.headerProblem})`);
      }
      continue;
    }
    noteDamage(seq, scan.damages);
    if (scan.tail !== null && isLast && scan.headerOk) {
      const cut = scan.fileBytes - scan.goodEnd;
      if (!readOnly) {
        callNative(() => native.truncateFile(path, scan.goodEnd));
        repair(`segment ${seq}: cut a torn tail of ${cut} bytes at byte ${scan.goodEnd} (${scan.tail})`);
      }
      scan.fileBytes = scan.goodEnd;
    } else if (scan.tail !== null) {
      noteDamage(seq, [{ offset: scan.goodEnd, bytes: scan.fileBytes - scan.goodEnd, problem: scan.tail }]);
    }
    if (isLast && scan.headerOk) {
      if (existsSync(indexPath) && !readOnly) {
        callNative(() => native.removeFile(indexPath));
        repair(`segment ${seq}: removed an index that no longer matches it`);
      }
      active = indexFromScan(seq, path, scan, indexBytes, null);
      segments.push(active);
      continue;
    }
    const sealedMs = statSync(path).mtimeMs;
    const info = indexFromScan(seq, path, scan, indexBytes, sealedMs);
    if (!scan.headerOk) repair(`segment ${seq}: ${scan.headerProblem}; appends continue in a new segment`);
    seal(info, saved ? 'index stale' : 'index missing or unreadable');
    segments.push(info);
  }

  const last = segments.at(-1);
  const nextId = last ? Math.max(...segments.map(lastId)) + 1 : 1;
  if (!active && !readOnly) {
    const seq = (seqs.at(-1) ?? 0) + 1;
    const header = { seq, firstId: nextId, createdMs: Date.now() };
    const path = join(dir, segmentFile(seq));
    callNative(() => episodeNative.episodeCreateSegment(path, header));
    active = { seq, path, firstId: nextId, bytes: 64, createdMs: header.createdMs, sealedMs: null, blocks: [] };
    segments.push(active);
  }
  return { segments, active, nextId: Math.max(nextId, active?.firstId ?? 1), repairs, damages };
}
