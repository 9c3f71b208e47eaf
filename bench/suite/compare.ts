// `npm run bench -- --compare A.json B.json`: what changed from run A to run B,
// figure by figure, for every set and contender both runs measured.
import { markdownTable } from 'markdown-table';
import type { Figures } from './figures.js';
import { num } from './numbers.js';
import { setKey, type SuiteResult } from './results.js';

const FIGURES: Array<[string, (f: Figures) => number | null | undefined]> = [
  ['stall ms', (f) => f.stallMs],
  ['done ms', (f) => f.durableMs],
  ['on disk MB', (f) => (f.diskBytes === null ? null : f.diskBytes / 1e6)],
  ['load ms', (f) => f.loadMs],
  ['peak RSS MB', (f) => f.peakRssBytes / 1e6],
  ['loop max ms', (f) => f.loopMaxMs],
  // Medians: only in results files written since the rounds; blank when either run lacks them.
  ['stall median ms', (f) => f.stallSpread?.median],
  ['done median ms', (f) => f.durableSpread?.median],
  ['load median ms', (f) => f.loadSpread?.median],
];

function change(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined) return '';
  return `${num(a)} → ${num(b)} (${a === 0 ? '—' : `${(b / a).toFixed(2)}×`})`;
}

function describe(label: string, r: SuiteResult): string {
  return `${label}: ${r.date} · \`${r.command}\` · code ${r.code ?? 'unknown'} · ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.filesystem} · load ${r.machine.loadAverageAtStart.join(' ')} → ${r.machine.loadAverageAtEnd.join(' ')}`;
}

export function compare(a: SuiteResult, b: SuiteResult): string {
  const rows: string[][] = [];
  for (const setB of b.sets) {
    const setA = a.sets.find((s) => setKey(s) === setKey(setB));
    for (const rowB of setB.rows) {
      const fa = setA?.rows.find((r) => r.id === rowB.id)?.figures;
      const fb = rowB.figures;
      if (fa && fb) rows.push([setKey(setB), rowB.label, ...FIGURES.map(([, get]) => change(get(fa), get(fb)))]);
    }
  }
  const table = markdownTable([['set', 'contender', ...FIGURES.map(([title]) => title)], ...rows]);
  const pa = a.pipeline.figures, pb = b.pipeline.figures;
  const pipeline = pa && pb ? markdownTable([
    ['pipeline figure', 'A → B (B ÷ A)'],
    ['report() that skips, µs', change(pa.skipUs, pb.skipUs)],
    ['training steps/s, no checkpoints', change(pa.training.stepsPerSecond.none, pb.training.stepsPerSecond.none)],
    ['training steps/s, tensorkeep', change(pa.training.stepsPerSecond.tensorkeep, pb.training.stepsPerSecond.tensorkeep)],
    ['training overhead, tensorkeep, %', change(pa.training.overhead.tensorkeep * 100, pb.training.overhead.tensorkeep * 100)],
  ]) : 'pipeline figures: not in both runs';
  const notes = a.options.scale !== b.options.scale ? `\nThe runs differ in scale (${a.options.scale} vs ${b.options.scale}): figures are not comparable.\n` : '';
  return `${describe('A', a)}\n${describe('B', b)}\n${notes}\n${rows.length ? table : 'no set and contender in both runs'}\n\n${pipeline}`;
}
