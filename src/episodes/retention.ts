// What an episode stream keeps (docs/EPISODES.md, "Retention"): a pure
// function of its segments, the limits and the ranges that kept checkpoints
// reference. Whole closed segments go, oldest first; the open segment and
// every segment holding a referenced time never do.
import { timeRange, type SegmentInfo } from './segment-index.js';
import type { EpisodeSettings } from '../validate/episode-options.js';
import type { ReplayQuery } from './types.js';

export interface EpisodeDrop {
  segment: SegmentInfo;
  reason: string;
}

const DAY_MS = 86_400_000;

export function isReferenced(segment: SegmentInfo, refs: readonly ReplayQuery[]): boolean {
  const range = timeRange(segment);
  if (!range) return false;
  return refs.some((r) => (r.from === undefined || range.max >= r.from) && (r.to === undefined || range.min <= r.to));
}

export function planEpisodeRetention(
  segments: readonly SegmentInfo[], keep: EpisodeSettings['keep'], refs: readonly ReplayQuery[], now: number,
): EpisodeDrop[] {
  const drops: EpisodeDrop[] = [];
  let total = segments.reduce((sum, s) => sum + s.bytes, 0);
  for (const s of segments) {
    if (s.sealedMs === null || isReferenced(s, refs)) continue;
    let reason: string | null = null;
    if (keep.maxAgeDays !== null && now - s.sealedMs > keep.maxAgeDays * DAY_MS) reason = `older than ${keep.maxAgeDays} days`;
    else if (keep.maxBytes !== null && total > keep.maxBytes) reason = `stream over ${keep.maxBytes} bytes`;
    if (reason === null) continue;
    drops.push({ segment: s, reason });
    total -= s.bytes;
  }
  return drops;
}
