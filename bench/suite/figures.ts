// A contender's figures in a set, from its round-tagged samples: the means
// and margins as before (tinybench-style), the spread beside each, and the
// median of each turn so that the report can pair contenders round by round.
import type { Contender } from './contenders.js';
import type { End, Placed, Ready } from './measure.js';
import { summarize, type Spread } from './stats.js';

export interface Figures {
  /** Mean time the save call blocked the calling thread. */
  stallMs: number;
  /** Mean time from the call until the save was done (durable, for a durable contender). */
  durableMs: number | null;
  durableRmePct: number | null;
  saves: number;
  /**
   * Event-loop delay between the call's return and the save's end: the mean
   * over saves of each one's p99, and the max over all; null when the save
   * is synchronous (the loop is blocked for all of it, see stallMs).
   */
  loopP99Ms: number | null;
  loopMaxMs: number | null;
  diskBytes: number | null;
  loadMs: number | null;
  loadRmePct: number | null;
  loads: number;
  /** RSS with the tensors, the load targets and the contender set up, before its first save. */
  baseRssBytes: number;
  /** Peak RSS of the process over every save and load. */
  peakRssBytes: number;
  /** Spreads beside the means (absent from results files older than the rounds). */
  stallSpread?: Spread;
  stallRmePct?: number;
  durableSpread?: Spread | null;
  loadSpread?: Spread | null;
  /**
   * Each turn (a round's saves of this contender): `[round, median stall
   * ms, median done ms, place in the round's order, saves]`, and per turn
   * of loads `[round, median ms, loads]`. Results files from before turns
   * hold one entry per save, without the count.
   */
  saveSamples?: Array<[number, number, number, number, number?]>;
  loadSamples?: Array<[number, number, number?]>;
}

/** The figures with a sample per save or load. */
export type FigureName = 'stall' | 'durable' | 'load';

/** The spread of a figure, or null where the row has none (also in results files without spreads). */
export function spreadOf(f: Figures, figure: FigureName): Spread | null {
  return (figure === 'stall' ? f.stallSpread : figure === 'durable' ? f.durableSpread : f.loadSpread) ?? null;
}

export function meanOf(f: Figures, figure: FigureName): number | null {
  return figure === 'stall' ? f.stallMs : figure === 'durable' ? f.durableMs : f.loadMs;
}

/** Per round, the median of the figure's samples in the contender's turn. */
export function byRound(f: Figures, figure: FigureName): Map<number, number> {
  if (figure === 'durable' && f.durableMs === null) return new Map();
  const entries: Array<[number, number]> = figure === 'load' ? (f.loadSamples ?? []).map(([round, ms]) => [round, ms])
    : (f.saveSamples ?? []).map(([round, stall, done]) => [round, figure === 'stall' ? stall : done]);
  // One entry per turn; a file from before turns has one per save.
  return new Map([...turns(entries, ([round]) => round)].map(([round, turn]) => [round, median(turn.map(([, v]) => v))]));
}

export function figuresOfSamples(contender: Contender, samples: Placed[], ready: Ready, end: End): Figures {
  const stall = summarize(samples.map((s) => s.save.stallMs));
  const done = summarize(samples.map((s) => s.save.doneMs));
  const loadSamples = samples.flatMap((s) => (s.load ? [s.load] : []));
  const load = loadSamples.length ? summarize(loadSamples.map((l) => l.ms)) : null;
  const loops = samples.flatMap((s) => (s.save.loop ? [s.save.loop] : []));
  return {
    stallMs: stall.mean,
    durableMs: contender.writes ? done.mean : null,
    durableRmePct: contender.writes ? done.rmePct : null,
    saves: samples.length,
    loopP99Ms: loops.length ? loops.reduce((sum, l) => sum + l.p99Ms, 0) / loops.length : null,
    loopMaxMs: loops.length ? Math.max(...loops.map((l) => l.maxMs)) : null,
    diskBytes: end.diskBytes,
    loadMs: load?.mean ?? null,
    loadRmePct: load?.rmePct ?? null,
    loads: loadSamples.length,
    baseRssBytes: ready.baseRssBytes,
    peakRssBytes: end.peakRssBytes,
    stallSpread: stall.spread,
    stallRmePct: stall.rmePct,
    durableSpread: contender.writes ? done.spread : null,
    loadSpread: load?.spread ?? null,
    saveSamples: [...turns(samples, (s) => s.save.round)].map(([round, turn]) => [
      round, median(turn.map((s) => s.save.stallMs)), median(turn.map((s) => s.save.doneMs)), turn[0].position, turn.length,
    ]),
    loadSamples: [...turns(loadSamples, (l) => l.round)].map(([round, turn]) => [round, median(turn.map((l) => l.ms)), turn.length]),
  };
}

const median = (values: number[]) => summarize(values).spread.median;

/** Samples grouped by round, in round order: a contender's turns. */
function turns<T>(samples: readonly T[], roundOf: (sample: T) => number): Map<number, T[]> {
  const byTurn = new Map<number, T[]>();
  for (const sample of samples) byTurn.set(roundOf(sample), [...(byTurn.get(roundOf(sample)) ?? []), sample]);
  return byTurn;
}
