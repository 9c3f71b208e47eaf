// A set's table: per contender, each figure with its spread, beside its
// ratios to the best baseline and to the machine's limit measured in the same
// rounds; then the limits themselves, each the best of what competed for it.
import { markdownTable } from 'markdown-table';
import { byRound, meanOf, spreadOf, type FigureName, type Figures } from './figures.js';
import type { LimitFigures, LimitId } from './limits.js';
import { num, pairedRatio, ratio } from './numbers.js';
import type { Row, SetResult } from './results.js';
import type { Spread } from './stats.js';

const MB = 1e6;

/** A figure with a sample per round: mean [min / median / max], then its ratio column. */
interface Sampled {
  title: string;
  figure: FigureName;
  limit: LimitId;
  /** Which baselines compete for "best baseline" (lowest median). */
  baseline: (row: Row) => boolean;
  mark?: (row: Row) => string;
}

const SAMPLED: Sampled[] = [
  { title: 'stall', figure: 'stall', limit: 'memcpy-1', baseline: () => true },
  { title: 'done', figure: 'durable', limit: 'durable-write', baseline: (row) => row.durable, mark: (row) => (row.durable ? '' : ' †') },
  { title: 'load', figure: 'load', limit: 'page-cache-read', baseline: () => true },
];

/** A figure measured once per contender: the value (÷ best baseline, ÷ limit). */
interface Single {
  title: string;
  value: (f: Figures) => number | null;
  show: (value: number, f: Figures) => string;
  limit?: (set: SetResult, f: Figures) => number;
  missing?: (row: Row) => string;
}

const DISK: Single = { title: 'on disk MB', value: (f) => f.diskBytes, show: (v) => num(v / MB), limit: (set) => set.rawBytes };
const SINGLES: Single[] = [
  // A save that allocates nothing: the process as it was before the first save.
  { title: 'peak RSS MB', value: (f) => f.peakRssBytes, show: (v) => num(v / MB), limit: (_set, f) => f.baseRssBytes },
  {
    title: 'loop delay p99 / max ms', value: (f) => f.loopMaxMs, show: (v, f) => `${num(f.loopP99Ms!)} / ${num(v)}`,
    missing: (row) => (row.writes ? 'all in the stall' : ''),
  },
];

const median = (f: Figures, figure: FigureName) => spreadOf(f, figure)?.median ?? meanOf(f, figure);

function withSpread(mean: number, spread: Spread | null): string {
  return spread ? `${num(mean)} [${num(spread.min)} / ${num(spread.median)} / ${num(spread.max)}]` : num(mean);
}

/** The baseline with the lowest median of the figure, if any measured it. */
function bestBaseline(set: SetResult, column: Sampled): Figures | null {
  const rows = set.rows.filter((r) => r.kind === 'baseline' && r.figures && column.baseline(r) && meanOf(r.figures, column.figure) !== null);
  return rows.map((r) => r.figures!).reduce<Figures | null>((a, f) => (a && median(a, column.figure)! <= median(f, column.figure)! ? a : f), null);
}

function sampledCells(set: SetResult, row: Row, column: Sampled, best: Figures | null): [string, string] {
  const f = row.figures!;
  const mean = meanOf(f, column.figure);
  if (mean === null) return ['', ''];
  const mine = median(f, column.figure)!;
  const limit = set.limits?.find((l) => l.id === column.limit);
  const toBest = best ? pairedRatio(mine, median(best, column.figure)!, byRound(f, column.figure), byRound(best, column.figure)) : '—';
  const toLimit = limit ? pairedRatio(mine, limit.spread.median, byRound(f, column.figure), new Map(limit.rounds)) : '—';
  return [`${withSpread(mean, spreadOf(f, column.figure))}${column.mark?.(row) ?? ''}`, `${toBest} · ${toLimit}`];
}

function singleCell(set: SetResult, row: Row, column: Single): string {
  const f = row.figures!;
  const value = column.value(f);
  if (value === null) return column.missing?.(row) ?? '';
  const values = set.rows.filter((r) => r.kind === 'baseline' && r.figures).map((r) => column.value(r.figures!)).filter((v): v is number => v !== null);
  const best = values.length ? Math.min(...values) : null;
  return `${column.show(value, f)} (${ratio(value, best)}, ${ratio(value, column.limit?.(set, f))})`;
}

/** The error's first clause, for a table cell; the results file keeps all of it. */
const shortError = (error: string) => error.replace(/^\w*Error: /, '').split(' (')[0].slice(0, 80);

const TITLES = ['contender', 'stall ms', 'stall ÷ best, ÷ limit', 'done ms', 'done ÷ best, ÷ limit', 'on disk MB', 'load ms', 'load ÷ best, ÷ limit', 'peak RSS MB', 'loop delay p99 / max ms'];

function rowCells(set: SetResult, row: Row, best: Array<Figures | null>): string[] {
  if (!row.figures) return [row.label, `failed: ${shortError(row.error!)}`, ...TITLES.slice(2).map(() => '')];
  const [stall, done, load] = SAMPLED.map((c, i) => sampledCells(set, row, c, best[i]));
  return [row.label, ...stall, ...done, singleCell(set, row, DISK), ...load, ...SINGLES.map((c) => singleCell(set, row, c))];
}

/** A limit's row: its figure in its column, and which candidate gave the median. */
function limitCells(limit: LimitFigures): string[] {
  const at = 1 + 2 * SAMPLED.findIndex((c) => c.figure === limit.figure) + (limit.figure === 'load' ? 1 : 0);
  const cells = TITLES.map(() => '');
  cells[0] = limit.label;
  cells[at] = withSpread(limit.mean, limit.spread);
  cells[at + 1] = `= ${limit.bestId}`;
  return cells;
}

export function setTable(set: SetResult): string {
  const best = SAMPLED.map((c) => bestBaseline(set, c));
  const body = [...set.rows.map((row) => rowCells(set, row, best)), ...(set.limits ?? []).map(limitCells)];
  return markdownTable([TITLES, ...body], { align: ['l', ...TITLES.slice(1).map(() => 'r')] });
}

/** Which contenders shared rounds (a wave each), then "limit = best of …" for each limit of the set. */
export function limitNotes(set: SetResult): string {
  const waves = set.waves ?? [];
  const shared = waves.length > 1
    ? waves.map((w, i) => `wave ${i + 1} of ${waves.length}, rounds ${w.firstRound}–${w.firstRound + w.rounds - 1}: ${w.ids.join(', ')}`)
    : [`${set.rounds ?? '?'} rounds${waves.length ? ', every contender in each' : ''}.`];
  const lines = (set.limits ?? []).map((l) => `${l.label} = best of ${l.candidates.join(', ')} (lowest median: ${l.bestId})`);
  return [...shared, ...lines].join('\n');
}

export const SET_LEGEND = [
  'stall / done / load ms: mean [min / median / max] over the samples. Ratio cells: ÷ the best baseline\'s · ÷ the limit\'s, each the ratio of',
  'medians (p10–p90 of the per-round ratios: a round gives every contender of its wave a turn, saves back to back for --turn ms, and',
  'pairs the medians of their turns, which share the same minute of disk).',
  'Waves: when memory holds fewer children than contenders, each wave shares its own rounds; a ratio between two waves is the ratio of',
  'medians only (spread "—"), and a limit pairs per round only with its best candidate\'s wave.',
  'Other cells: the figure (÷ the best baseline\'s, ÷ the limit\'s). Below 1× is better for every figure.',
  'Limits: stall ÷ a copy on 1 thread; done ÷ a durable write of the raw bytes; on disk ÷ raw bytes; load ÷ a page-cache read of the raw bytes;',
  'peak RSS ÷ the process before its first save (tensors, load targets and the contender set up). Each limit (rows "limit: …") is, statistic',
  'by statistic, the best of its ways (rows "way: …") and of the contenders doing the same work, so no contender beats it. † written, not durable (no fsync).',
  'Load: into the trainer\'s existing arrays from the page cache; only tensorkeep\'s checks checksums (xxh3 of every chunk).',
  'Loop delay: event-loop delay between the save call\'s return and the save being done; "all in the stall" for synchronous saves.',
].join('\n');
