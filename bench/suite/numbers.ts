// How the suite's tables write numbers and ratios.
import { quantile } from './stats.js';

/** As many decimals as the noise allows: none from 100 up, three below 1. */
export function num(x: number): string {
  const abs = Math.abs(x);
  const decimals = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return x.toFixed(decimals);
}

export const times = (x: number) => `${x.toFixed(2)}×`;

/** value ÷ reference, or a dash where there is no reference. */
export const ratio = (value: number, reference: number | null | undefined) =>
  reference === null || reference === undefined || reference === 0 ? '—' : times(value / reference);

/**
 * Ratio of medians, then the p10–p90 of the per-round ratios: rounds pair
 * the two (same minute of disk), so this spread is the comparison's own.
 * Two that ran in different waves share no round: their spread is "—".
 */
export function pairedRatio(median: number, reference: number, mine: Map<number, number>, theirs: Map<number, number>): string {
  if (reference === 0) return '—';
  const perRound = [...mine].flatMap(([round, v]) => (theirs.get(round) ? [v / theirs.get(round)!] : [])).sort((a, b) => a - b);
  const spread = perRound.length ? ` (${quantile(perRound, 0.1).toFixed(2)}–${quantile(perRound, 0.9).toFixed(2)})` : mine.size && theirs.size ? ' (—)' : '';
  return `${times(median / reference)}${spread}`;
}
