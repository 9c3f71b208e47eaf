// The tracker of one model: its best values, clocks and counters. This file
// alone changes them; policy/decide.ts computes each change, the catalog
// persists what a commit or a flush hands it.
import { badInput } from '../errors.js';
import type { Catalog } from '../durability/catalog.js';
import type { Counters } from '../durability/records.js';
import { applyDecision, decide, type Decision, type PolicyConfig, type Report, type TrackerState } from '../policy/decide.js';

/** What a save's failure gives back: the best values its report set. */
export interface ImprovementClaim {
  step: number;
  improved: string[];
  /** The best values before that report. */
  bestBefore: TrackerState['best'];
}

export class Tracker {
  private state: TrackerState;
  /** The tracker's own copy, changed in place. */
  private readonly counters: Counters;

  constructor(private readonly catalog: Catalog, private readonly policy: PolicyConfig) {
    const persisted = catalog.persisted();
    this.state = persisted.tracker;
    this.counters = { ...persisted.counters };
  }

  /**
   * A last save after `now` (the clock was set back, or the store came from
   * another machine) counts from `now`, or time-based saves would stop until
   * the clock caught up. Returns how far ahead it was.
   */
  countFrom(now: number): number {
    const ahead = (this.state.lastSavedTime ?? now) - now;
    if (ahead <= 0) return 0;
    this.state = { ...this.state, lastSavedTime: now };
    return ahead;
  }

  /** The live state; for a read-only model, what the writer last persisted. */
  get current(): TrackerState {
    return this.catalog.readOnly ? this.catalog.persisted().tracker : this.state;
  }

  /** A copy: the catalog keeps what a commit hands it, while the live counters go on. */
  get totals(): Counters {
    return this.catalog.readOnly ? this.catalog.persisted().counters : { ...this.counters };
  }

  /** Refuses a step before the last reported one (training continues forward, or from a resume). */
  checkStep(model: string, step: number): void {
    const last = this.state.lastStep;
    if (last !== null && step < last) throw badInput(`step ${step} goes backwards: model "${model}" last reported step ${last}`);
  }

  decide(report: Report, now: number): Decision {
    return decide(this.policy, this.state, report, now);
  }

  /** Records a decided report; returns the state before it. */
  apply(report: Report, decision: Decision, now: number): TrackerState {
    const before = this.state;
    this.state = applyDecision(this.policy, before, report, decision, now);
    return before;
  }

  /** An explicit save: it resets both clocks, as any save does. */
  saved(step: number, now: number): TrackerState {
    this.state = { ...this.state, lastStep: step, lastSavedStep: step, lastSavedTime: now };
    return this.state;
  }

  /**
   * A best save that failed leaves no checkpoint behind its best values:
   * restore the ones it set (unless a later report has improved on them), or
   * an equally good state could never be saved as best again.
   */
  giveBack(claim: ImprovementClaim): void {
    const best = { ...this.state.best };
    for (const metric of claim.improved) {
      if (best[metric]?.step !== claim.step) continue;
      if (claim.bestBefore[metric]) best[metric] = claim.bestBefore[metric];
      else delete best[metric];
    }
    this.state = { ...this.state, best };
  }

  /** Training continues from a resumed checkpoint, so steps may repeat after it. */
  resumedAt(step: number): void {
    this.state = { ...this.state, lastStep: step };
  }

  /** Counted in place: a skip, the most frequent report, allocates nothing for it. */
  count(kind: keyof Counters): void {
    this.counters[kind]++;
  }

  /** Journals the state between commits (at flush and close). */
  persist(): Promise<void> {
    return this.catalog.saveState(this.state, this.totals);
  }
}
