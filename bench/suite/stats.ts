// Statistics of a contender's samples, as tinybench computes them (mean, and
// the relative margin of error at 95 % from Student's t), plus the spread:
// min, p10, median, p90, max (quantiles interpolated as tinybench does).

export interface Spread {
  min: number;
  p10: number;
  median: number;
  p90: number;
  max: number;
}

export interface Summary {
  spread: Spread;
  mean: number;
  /** Margin of error of the mean at 95 %, as a percentage of it (0 for one sample). */
  rmePct: number;
  count: number;
}

/** Two-sided 95 % critical values of Student's t for 1 to 30 degrees of freedom; the normal's beyond. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The q-quantile of sorted values, interpolated between the two nearest (tinybench's and numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const below = Math.floor(at);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (at - below) * (sorted[above] - sorted[below]);
}

export function spreadOf(values: readonly number[]): Spread {
  if (!values.length) throw new Error('no samples');
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], p10: quantile(sorted, 0.1), median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), max: sorted.at(-1)! };
}

export function summarize(values: readonly number[]): Summary {
  const count = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / count;
  const variance = count > 1 ? values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (count - 1) : 0;
  const sem = Math.sqrt(variance / count);
  const critical = T95[count - 2] ?? 1.96;
  return { spread: spreadOf(values), mean, rmePct: mean === 0 ? 0 : (sem * critical / Math.abs(mean)) * 100, count };
}
