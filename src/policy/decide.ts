// Save decisions (docs/POLICIES.md): pure functions of (config, state, report, now).
// No clocks and no I/O here, so a decision is cheap (the skip path of
// report()) and the state round-trips through the catalog as plain JSON.
import { badInput } from '../errors.js';
import { categoryOf, type Reason } from './categories.js';

export type Direction = 'min' | 'max';

export interface PolicyConfig {
  /** First entry is the primary metric; may be empty. */
  monitor: Array<[name: string, direction: Direction]>;
  improvement: { mode: 'any' | 'all' | 'primary'; minDelta: number; minRelative: number };
  every: { steps: number | null; minutes: number | null };
  always: boolean;
  degradation: { minRelative: number; patience: number } | null;
}

export interface BestValue { value: number; step: number; time: number }

/** Plain JSON: the catalog persists it, so bests and clocks survive a restart. */
export interface TrackerState {
  best: Record<string, BestValue>;
  lastSavedStep: number | null;
  /** ms since epoch */
  lastSavedTime: number | null;
  lastStep: number | null;
  /** Consecutive reports whose primary metric is degraded vs its best. */
  worseStreak: number;
}

export interface Report { step: number; metrics: Record<string, number>; force?: boolean }

export interface Decision {
  save: boolean;
  /** Every trigger that fired, in the order improved, steps, minutes, always, forced. */
  reasons: Reason[];
  category: 'best' | 'periodic' | 'manual' | null;
  /** Monitored metrics that individually beat their best by the threshold. */
  improved: string[];
  /** Monitored metrics that are NaN or ±Infinity in this report. */
  nonFinite: string[];
  /** True exactly on the report whose streak reaches degradation.patience. */
  degraded: boolean;
}

export type PresetName = 'conservative' | 'balanced' | 'aggressive';
export interface Preset { keepBest: number; everySteps: number; minRelative: number }

const PRESETS: Record<PresetName, Preset> = {
  conservative: { keepBest: 20, everySteps: 50, minRelative: 0.001 },
  balanced: { keepBest: 10, everySteps: 100, minRelative: 0.005 },
  aggressive: { keepBest: 5, everySteps: 200, minRelative: 0.01 },
};

/** The tuning table of docs/POLICIES.md. */
export function presetConfig(name: PresetName): Preset {
  if (!Object.hasOwn(PRESETS, name))
    throw badInput(`Unknown preset ${JSON.stringify(name)}; expected one of ${Object.keys(PRESETS).join(', ')}`);
  return { ...PRESETS[name] };
}

export function initialState(): TrackerState {
  return { best: {}, lastSavedStep: null, lastSavedTime: null, lastStep: null, worseStreak: 0 };
}

/**
 * The tracker after a checkpoint it never saw (one adopted at open, as after
 * a power cut that took its commit record): its metrics become bests where
 * they beat them, and its step and time count as saved, so a worse model
 * after the restart is not an improvement and the interval clocks run from it.
 */
export function foldCheckpoint(
  monitor: PolicyConfig['monitor'], state: TrackerState, checkpoint: { step: number; time: number; metrics: Record<string, number> },
): TrackerState {
  const best = { ...state.best };
  for (const [name, direction] of monitor) {
    const value = checkpoint.metrics[name];
    if (isImprovement(direction, value, best[name]?.value, 0, 0)) best[name] = { value, step: checkpoint.step, time: checkpoint.time };
  }
  return {
    ...state, best,
    lastSavedStep: Math.max(state.lastSavedStep ?? checkpoint.step, checkpoint.step),
    lastSavedTime: Math.max(state.lastSavedTime ?? checkpoint.time, checkpoint.time),
  };
}

/** Whether `value` beats `best` by more than max(minDelta, |best|·minRelative). */
export function isImprovement(
  direction: Direction, value: number, best: number | undefined, minDelta: number, minRelative: number,
): boolean {
  if (!Number.isFinite(value)) return false;
  if (best === undefined) return true;
  const margin = Math.max(minDelta, Math.abs(best) * minRelative);
  return direction === 'min' ? value < best - margin : value > best + margin;
}

/** The value of a metric in a report, or undefined when it is absent. */
function metric(report: Report, name: string): number | undefined {
  const v = Object.hasOwn(report.metrics, name) ? report.metrics[name] : undefined;
  return typeof v === 'number' ? v : undefined;
}

/** Streak of degraded primary values after this report (unchanged when the primary is absent). */
function nextStreak(config: PolicyConfig, state: TrackerState, report: Report, improved: boolean): number {
  const primary = config.monitor[0];
  const deg = config.degradation;
  if (!deg || !primary || improved) return 0;
  const best = state.best[primary[0]];
  const v = metric(report, primary[0]);
  if (!best || v === undefined) return state.worseStreak; // no evidence either way
  const margin = Math.abs(best.value) * deg.minRelative;
  const worse = !Number.isFinite(v) || (primary[1] === 'min' ? v > best.value + margin : v < best.value - margin);
  return worse ? state.worseStreak + 1 : 0;
}

export function decide(config: PolicyConfig, state: TrackerState, report: Report, now: number): Decision {
  const { minDelta, minRelative, mode } = config.improvement;
  const improved: string[] = [];
  const nonFinite: string[] = [];
  for (const [name, direction] of config.monitor) {
    const v = metric(report, name);
    if (v === undefined) continue;
    if (!Number.isFinite(v)) nonFinite.push(name);
    else if (isImprovement(direction, v, state.best[name]?.value, minDelta, minRelative)) improved.push(name);
  }
  // A diverged report is never an improvement, whatever else went down.
  const isBest = nonFinite.length === 0 && config.monitor.length > 0 && (
    mode === 'any' ? improved.length > 0
      : mode === 'all' ? config.monitor.every(([name]) => improved.includes(name))
        : improved.includes(config.monitor[0][0]));

  // Clocks start at the first report, so a fresh run does not save at once.
  const sinceStep = report.step - (state.lastSavedStep ?? report.step);
  const sinceTime = now - (state.lastSavedTime ?? now);
  const { steps, minutes } = config.every;
  const reasons: Reason[] = [];
  if (isBest) reasons.push('improved');
  if (steps !== null && sinceStep >= steps) reasons.push('steps');
  if (minutes !== null && sinceTime >= minutes * 60_000) reasons.push('minutes');
  if (config.always) reasons.push('always');
  if (report.force) reasons.push('forced');

  const category = categoryOf(reasons) as Decision['category'];

  const patience = Math.max(1, config.degradation?.patience ?? 1);
  const streak = nextStreak(config, state, report, isBest);
  // `< patience` so a report without the primary metric (streak unchanged) cannot fire it twice.
  const degraded = config.degradation !== null && streak === patience && state.worseStreak < patience;
  return { save: reasons.length > 0, reasons, category, improved, nonFinite, degraded };
}

/** The state after `report` was decided by `decision`; never mutates `state`. */
export function applyDecision(
  config: PolicyConfig, state: TrackerState, report: Report, decision: Decision, now: number,
): TrackerState {
  // Shared when unchanged: tracker states are never mutated.
  let best = state.best;
  if (decision.category === 'best') {
    best = { ...state.best };
    for (const name of decision.improved) best[name] = { value: report.metrics[name], step: report.step, time: now };
  }
  return {
    best,
    lastSavedStep: decision.save ? report.step : state.lastSavedStep ?? report.step,
    lastSavedTime: decision.save ? now : state.lastSavedTime ?? now,
    lastStep: report.step,
    worseStreak: nextStreak(config, state, report, decision.category === 'best'),
  };
}
