// Corruption stress: `npm run stress:corruption -- --count N --seed S`
// (default 10 000). Damages the checkpoint files of an open store at random
// and checks every load refuses, reports and sets aside each damaged file
// (corruption-trials.ts says exactly what is checked). Prints one totals
// line; exits non-zero on any failure.
import { parseArgs } from 'node:util';
import { runCorruptionTrials, type CorruptionTotals } from './corruption-trials.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const count = Number(values.count);
const seed = Number(values.seed);
if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(seed))
  throw new Error('usage: corruption.ts [--count N] [--seed S] [--dir D] [--quiet]');

const kinds = (t: CorruptionTotals) => Object.entries(t.byKind).map(([k, n]) => `${k} ${n}`).join(', ');
const totals = await runCorruptionTrials({
  count, seed, workDir: values.dir,
  onProgress: (done, t) => {
    if (!values.quiet && (done % 500 === 0 || done === count)) console.log(`[${done}/${count}] detected ${t.detected}/${t.damaged}, failures ${t.failures}`);
  },
});
for (const failure of totals.firstFailures) console.error(failure);
console.log(
  `corruption stress: seed ${seed}: corruptions ${totals.trials} (${kinds(totals)}), damaged files ${totals.damaged}: ` +
  `detected ${totals.detected} (${((100 * totals.detected) / totals.damaged).toFixed(2)} %), harmless (loaded bit-exact) ${totals.harmless}, unaccounted ${totals.unaccounted}, ` +
  `wrong tensors ${totals.wrong}, crashes ${totals.crashes}, fsck findings ${totals.fsckProblems}, failures ${totals.failures} (${totals.seconds.toFixed(1)} s)`,
);
process.exit(totals.failures > 0 ? 1 : 0);
