// The shape of a suite run as written to bench/results/<date>.json, and the
// look-ups the report and the comparison share.
import type { Machine } from '../lib/machine.js';
import type { WorkloadName } from '../workloads.js';
import type { Contender } from './contenders.js';
import type { Figures } from './figures.js';
import type { LimitFigures } from './limits.js';
import type { PipelineFigures } from './pipeline.js';

/** A contender's description and what it measured, or why it could not. */
export interface Row extends Omit<Contender, 'start'> {
  figures?: Figures;
  error?: string;
  /** The wave it ran in, from 1 (absent from results files older than the waves). */
  wave?: number;
}

/** Contenders alive together and driven in the same rounds: only they pair round by round. */
export interface Wave {
  ids: string[];
  /** Round numbers go on from wave to wave: this wave's are firstRound … firstRound + rounds - 1. */
  firstRound: number;
  rounds: number;
}

export const VARIANTS = ['fp32', 'bf16'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface SetResult {
  workload: WorkloadName;
  variant: Variant;
  /** The workload's name at its scale, e.g. "cnn-12m x0.1". */
  name: string;
  tensors: number;
  rawBytes: number;
  rows: Row[];
  /** How many rounds drove the contenders (absent from results files older than the rounds). */
  rounds?: number;
  /** Each limit as the best of the ways and contenders measured for it. */
  limits?: LimitFigures[];
  /** The waves in the order they ran, and the memory they had to fit (absent from results files older than the waves). */
  waves?: Wave[];
  memoryBudgetBytes?: number;
}

export interface SuiteOptions {
  scale: number;
  /** Time budget of a set's rounds, ms per contender. */
  time: number;
  /** Minimum samples per contender, after one warm-up. */
  iterations: number;
  /** A contender's turn in a round: saves back to back for this many ms (at least one). */
  turn: number;
  workloads: WorkloadName[];
  /** fp32 as drawn, and/or every value rounded to bf16 precision. */
  variants: Variant[];
  /** Training steps per run of the overhead measurement, and rounds of the three ways. */
  steps: number;
  rounds: number;
  /** --memory-budget: what a wave's children may hold together, instead of 70 % of the memory available at each set's start. */
  memoryBudgetMB?: number;
  /** --max-live: children alive at once, at most. */
  maxLive?: number;
}

export interface SuiteResult {
  date: string;
  command: string;
  code: string | null;
  options: SuiteOptions;
  machine: Machine & { loadAverageAtEnd: number[] };
  durationS: number;
  sets: SetResult[];
  pipeline: { figures?: PipelineFigures; error?: string };
}

export const setKey = (s: SetResult) => `${s.workload} ${s.variant}`;

/** The figures of a contender in a set, if it ran there and finished. */
export const figuresOf = (set: SetResult | undefined, id: string): Figures | undefined => set?.rows.find((r) => r.id === id)?.figures;
