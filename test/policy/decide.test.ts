// The save decision (policy/decide.ts): triggers, improvement rules, clocks,
// presets.
import { describe, expect, it } from 'vitest';
import {
  applyDecision, decide, foldCheckpoint, initialState, isImprovement, presetConfig,
  type Decision, type Direction, type PolicyConfig, type Report, type TrackerState,
} from '../../src/policy/decide.js';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

type Overrides = Partial<Omit<PolicyConfig, 'improvement' | 'every'>> & {
  improvement?: Partial<PolicyConfig['improvement']>;
  every?: Partial<PolicyConfig['every']>;
};

function config(o: Overrides = {}): PolicyConfig {
  return {
    monitor: o.monitor ?? [['loss', 'min']],
    improvement: { mode: 'any', minDelta: 0, minRelative: 0, ...o.improvement },
    every: { steps: null, minutes: null, ...o.every },
    always: o.always ?? false,
    degradation: o.degradation ?? null,
  };
}

function stateWithBest(best: Record<string, number>, extra: Partial<TrackerState> = {}): TrackerState {
  const s = initialState();
  for (const [k, value] of Object.entries(best)) s.best[k] = { value, step: 0, time: T0 };
  return { ...s, lastSavedStep: 0, lastSavedTime: T0, lastStep: 0, ...extra };
}

type Step = Report & { now?: number };

/** Feeds reports through decide + applyDecision, as the manager will. */
function run(cfg: PolicyConfig, reports: Step[], state = initialState()): { decisions: Decision[]; state: TrackerState } {
  const decisions: Decision[] = [];
  for (const { now = T0, ...report } of reports) {
    const d = decide(cfg, state, report, now);
    state = applyDecision(cfg, state, report, d, now);
    decisions.push(d);
  }
  return { decisions, state };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') for (const v of Object.values(o)) deepFreeze(v);
  return Object.freeze(o);
}

describe('isImprovement', () => {
  it.each<[string, Direction, number, number | undefined, number, number, boolean]>([
    ['min: any finite value improves when there is no best', 'min', 123, undefined, 1, 1, true],
    ['max: any finite value improves when there is no best', 'max', -5, undefined, 1, 1, true],
    ['min: equal to best with zero thresholds is not an improvement', 'min', 1, 1, 0, 0, false],
    ['min: strictly lower with zero thresholds improves', 'min', 0.75, 1, 0, 0, true],
    ['min: exactly minDelta lower is not an improvement', 'min', 0.5, 1, 0.5, 0, false],
    ['min: just past minDelta improves', 'min', 0.4375, 1, 0.5, 0, true],
    ['min: exactly minRelative lower is not an improvement', 'min', 1.5, 2, 0, 0.25, false],
    ['min: just past minRelative improves', 'min', 1.25, 2, 0, 0.25, true],
    ['min: the larger threshold wins (minDelta)', 'min', 1.5, 2, 0.5, 0.125, false],
    ['min: the larger threshold wins (minRelative)', 'min', 1.75, 2, 0.125, 0.25, false],
    ['min: minRelative uses |best| for a negative best', 'min', -2.5, -2, 0, 0.25, false],
    ['min: past minRelative of a negative best improves', 'min', -2.75, -2, 0, 0.25, true],
    ['max: equal to best is not an improvement', 'max', 1, 1, 0, 0, false],
    ['max: exactly minDelta higher is not an improvement', 'max', 1.5, 1, 0.5, 0, false],
    ['max: just past minDelta improves', 'max', 1.5625, 1, 0.5, 0, true],
    ['max: exactly minRelative higher is not an improvement', 'max', 2.5, 2, 0, 0.25, false],
    ['max: just past minRelative improves', 'max', 2.75, 2, 0, 0.25, true],
    ['max: minRelative uses |best| for a negative best', 'max', -1.5, -2, 0, 0.25, false],
    ['min: worse is never an improvement', 'min', 2, 1, 0, 0, false],
    ['max: worse is never an improvement', 'max', 0.5, 1, 0, 0, false],
    ['min: NaN is never an improvement', 'min', NaN, 1, 0, 0, false],
    ['min: NaN is not an improvement even without a best', 'min', NaN, undefined, 0, 0, false],
    ['min: -Infinity is never an improvement', 'min', -Infinity, 1, 0, 0, false],
    ['max: +Infinity is never an improvement', 'max', Infinity, 1, 0, 0, false],
    ['max: +Infinity is not an improvement even without a best', 'max', Infinity, undefined, 0, 0, false],
  ])('%s', (_name, direction, value, best, minDelta, minRelative, expected) => {
    expect(isImprovement(direction, value, best, minDelta, minRelative)).toBe(expected);
  });
});

describe('improvement modes', () => {
  const both: PolicyConfig['monitor'] = [['loss', 'min'], ['accuracy', 'max']];
  const best = { loss: 1, accuracy: 0.5 };
  it.each<[string, PolicyConfig['improvement']['mode'], PolicyConfig['monitor'], Record<string, number>, boolean, string[]]>([
    ['any: loss down alone is an improvement', 'any', both, { loss: 0.5, accuracy: 0.5 }, true, ['loss']],
    ['any: accuracy up alone is an improvement', 'any', both, { loss: 1, accuracy: 0.75 }, true, ['accuracy']],
    ['any: neither improved is not an improvement', 'any', both, { loss: 1, accuracy: 0.5 }, false, []],
    ['any: a missing metric does not block the other', 'any', both, { accuracy: 0.75 }, true, ['accuracy']],
    ['any: both improved lists both', 'any', both, { loss: 0.5, accuracy: 0.75 }, true, ['loss', 'accuracy']],
    ['all: both improved is an improvement', 'all', both, { loss: 0.5, accuracy: 0.75 }, true, ['loss', 'accuracy']],
    ['all: one improved is not an improvement', 'all', both, { loss: 0.5, accuracy: 0.5 }, false, ['loss']],
    ['all: a missing monitored metric is not an improvement', 'all', both, { loss: 0.5 }, false, ['loss']],
    ['primary: primary improved is an improvement', 'primary', both, { loss: 0.5, accuracy: 0.25 }, true, ['loss']],
    ['primary: only a secondary improved is not', 'primary', both, { loss: 1, accuracy: 0.75 }, false, ['accuracy']],
    ['primary: missing primary is not an improvement', 'primary', both, { accuracy: 0.75 }, false, ['accuracy']],
    ['no monitor is never an improvement', 'any', [], { loss: 0.5 }, false, []],
    ['unmonitored metrics are ignored', 'any', [['loss', 'min']], { loss: 1, lr: 0.001, accuracy: 0.99 }, false, []],
    ['an empty report is not an improvement', 'any', both, {}, false, []],
  ])('%s', (_name, mode, monitor, metrics, isBest, improved) => {
    const cfg = config({ monitor, improvement: { mode } });
    const d = decide(cfg, stateWithBest(best), { step: 1, metrics }, T0);
    expect(d.save).toBe(isBest);
    expect(d.category).toBe(isBest ? 'best' : null);
    expect(d.reasons).toEqual(isBest ? ['improved'] : []);
    expect(d.improved).toEqual(improved);
  });

  it('the first report of a fresh run is an improvement in every mode', () => {
    for (const mode of ['any', 'all', 'primary'] as const) {
      const d = decide(config({ monitor: both, improvement: { mode } }), initialState(), { step: 0, metrics: { loss: 3, accuracy: 0.1 } }, T0);
      expect(d.category, mode).toBe('best');
    }
  });

  it('thresholds apply per metric in a multi-metric report', () => {
    const cfg = config({ monitor: both, improvement: { mode: 'any', minDelta: 0.25, minRelative: 0 } });
    const d = decide(cfg, stateWithBest(best), { step: 1, metrics: { loss: 0.75, accuracy: 0.8125 } }, T0);
    expect(d.improved).toEqual(['accuracy']);
  });
});

describe('non-finite metrics', () => {
  const both: PolicyConfig['monitor'] = [['loss', 'min'], ['accuracy', 'max']];
  it.each([NaN, Infinity, -Infinity])('a monitored %s is never an improvement and is listed in nonFinite', (bad) => {
    const cfg = config({ monitor: both });
    const d = decide(cfg, stateWithBest({ loss: 1, accuracy: 0.5 }), { step: 1, metrics: { loss: bad, accuracy: 0.75 } }, T0);
    expect(d).toMatchObject({ save: false, category: null, reasons: [], nonFinite: ['loss'] });
  });

  it.each([NaN, Infinity, -Infinity])('a %s report is not an improvement even without a best', (bad) => {
    const d = decide(config(), initialState(), { step: 1, metrics: { loss: bad } }, T0);
    expect(d).toMatchObject({ save: false, nonFinite: ['loss'] });
  });

  it.each([NaN, Infinity, -Infinity])('a %s report does not poison the best', (bad) => {
    const cfg = config({ always: true });
    const { decisions, state } = run(cfg, [
      { step: 0, metrics: { loss: 1 } },
      { step: 1, metrics: { loss: bad } },
      { step: 2, metrics: { loss: 1.25 } },
      { step: 3, metrics: { loss: 0.75 } },
    ]);
    expect(decisions.map((d) => d.category)).toEqual(['best', 'periodic', 'periodic', 'best']);
    expect(state.best.loss).toEqual({ value: 0.75, step: 3, time: T0 });
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });

  it('non-finite unmonitored metrics are ignored', () => {
    const d = decide(config(), stateWithBest({ loss: 1 }), { step: 1, metrics: { loss: 0.5, grad: NaN } }, T0);
    expect(d).toMatchObject({ category: 'best', nonFinite: [] });
  });
});

describe('interval saves', () => {
  it.each([
    ['before the interval', 109, false],
    ['exactly at the interval (>=)', 110, true],
    ['past the interval', 250, true],
  ])('every.steps: the clock starts at the first report; %s', (_name, step, save) => {
    const cfg = config({ monitor: [], every: { steps: 100 } });
    const { decisions, state } = run(cfg, [{ step: 10, metrics: {} }, { step, metrics: {} }]);
    expect(decisions[0].save).toBe(false);
    expect(decisions[1]).toMatchObject(save ? { save, reasons: ['steps'], category: 'periodic' } : { save, category: null });
    expect(state.lastSavedStep).toBe(save ? step : 10);
  });

  it.each([
    ['before the interval', 10 * MIN - 1, false],
    ['exactly at the interval (>=)', 10 * MIN, true],
  ])('every.minutes: the clock starts at the first report; %s', (_name, elapsed, save) => {
    const cfg = config({ monitor: [], every: { minutes: 10 } });
    const { decisions, state } = run(cfg, [{ step: 0, metrics: {}, now: T0 }, { step: 1, metrics: {}, now: T0 + elapsed }]);
    expect(decisions[0].save).toBe(false);
    expect(decisions[1]).toMatchObject(save ? { save, reasons: ['minutes'], category: 'periodic' } : { save });
    expect(state.lastSavedTime).toBe(save ? T0 + elapsed : T0);
  });

  it('fractional minutes are honoured', () => {
    const cfg = config({ monitor: [], every: { minutes: 0.5 } });
    const { decisions } = run(cfg, [{ step: 0, metrics: {} }, { step: 1, metrics: {}, now: T0 + 30_000 }]);
    expect(decisions[1].reasons).toEqual(['minutes']);
  });

  it('the first report only starts the clocks: it is not a save', () => {
    const cfg = config({ monitor: [], every: { steps: 100, minutes: 10 } });
    const s0 = initialState();
    const d = decide(cfg, s0, { step: 500, metrics: {} }, T0);
    expect(d.save).toBe(false);
    expect(applyDecision(cfg, s0, { step: 500, metrics: {} }, d, T0))
      .toMatchObject({ lastSavedStep: 500, lastSavedTime: T0, lastStep: 500 });
  });

  it('an improvement save resets both clocks', () => {
    const cfg = config({ every: { steps: 100, minutes: 10 } });
    const { decisions } = run(cfg, [
      { step: 0, metrics: { loss: 2 }, now: T0 },                 // best (first value)
      { step: 50, metrics: { loss: 1 }, now: T0 + 5 * MIN },      // best: resets both clocks
      { step: 149, metrics: { loss: 3 }, now: T0 + 15 * MIN - 1 }, // 99 steps, 10 min - 1 ms since
      { step: 150, metrics: { loss: 3 }, now: T0 + 15 * MIN - 1 },
    ]);
    expect(decisions.map((d) => d.reasons)).toEqual([['improved'], ['improved'], [], ['steps']]);
  });

  it('a time save resets the step clock and vice versa', () => {
    const cfg = config({ monitor: [], every: { steps: 100, minutes: 10 } });
    const { decisions } = run(cfg, [
      { step: 0, metrics: {}, now: T0 },
      { step: 60, metrics: {}, now: T0 + 10 * MIN },   // minutes
      { step: 159, metrics: {}, now: T0 + 11 * MIN },  // 99 steps since the time save
      { step: 160, metrics: {}, now: T0 + 12 * MIN },  // steps
      { step: 161, metrics: {}, now: T0 + 22 * MIN - 1 },
      { step: 162, metrics: {}, now: T0 + 22 * MIN },  // minutes, counted from the step save
    ]);
    expect(decisions.map((d) => d.reasons)).toEqual([[], ['minutes'], [], ['steps'], [], ['minutes']]);
  });

  it('a forced save resets the clocks too', () => {
    const cfg = config({ monitor: [], every: { steps: 100 } });
    const { decisions } = run(cfg, [
      { step: 0, metrics: {} }, { step: 40, metrics: {}, force: true }, { step: 139, metrics: {} }, { step: 140, metrics: {} },
    ]);
    expect(decisions.map((d) => d.reasons)).toEqual([[], ['forced'], [], ['steps']]);
  });

  it('hybrid "improved OR every 100 steps" lists both reasons when both fire', () => {
    const cfg = config({ every: { steps: 100 } });
    const { decisions } = run(cfg, [
      { step: 0, metrics: { loss: 1 } },     // first value: improved
      { step: 60, metrics: { loss: 1.5 } },  // nothing
      { step: 100, metrics: { loss: 0.5 } }, // both
      { step: 150, metrics: { loss: 0.25 } }, // improved only
      { step: 250, metrics: { loss: 0.5 } }, // steps only
    ]);
    expect(decisions.map((d) => [d.reasons, d.category])).toEqual([
      [['improved'], 'best'], [[], null], [['improved', 'steps'], 'best'], [['improved'], 'best'], [['steps'], 'periodic'],
    ]);
  });
});

describe('a checkpoint the tracker never saw (adopted at open)', () => {
  const monitor: PolicyConfig['monitor'] = [['loss', 'min']];

  it('its better metrics become bests, and its step and time count as saved', () => {
    const before = stateWithBest({ loss: 0.5 }, { lastSavedStep: 100, lastSavedTime: T0 });
    const after = foldCheckpoint(monitor, before, { step: 200, time: T0 + 5 * MIN, metrics: { loss: 0.3 } });
    expect(after.best.loss).toEqual({ value: 0.3, step: 200, time: T0 + 5 * MIN });
    expect(after).toMatchObject({ lastSavedStep: 200, lastSavedTime: T0 + 5 * MIN });
    // The interval clock runs from the adopted save: ten minutes after it, not after the one before.
    const cfg = config({ monitor: [], every: { minutes: 10 } });
    expect(decide(cfg, after, { step: 201, metrics: {} }, T0 + 12 * MIN).save).toBe(false);
    expect(decide(cfg, after, { step: 202, metrics: {} }, T0 + 15 * MIN).save).toBe(true);
  });

  it('an older or worse one moves nothing back', () => {
    const before = stateWithBest({ loss: 0.2 }, { lastSavedStep: 300, lastSavedTime: T0 + 9 * MIN });
    const after = foldCheckpoint(monitor, before, { step: 200, time: T0, metrics: { loss: 0.3 } });
    expect(after.best.loss.value).toBe(0.2);
    expect(after).toMatchObject({ lastSavedStep: 300, lastSavedTime: T0 + 9 * MIN });
  });

  it('into a fresh tracker', () => {
    const after = foldCheckpoint(monitor, initialState(), { step: 7, time: T0, metrics: { loss: 1 } });
    expect(after).toMatchObject({ lastSavedStep: 7, lastSavedTime: T0, best: { loss: { value: 1, step: 7, time: T0 } } });
  });
});

describe('always, forced and categories', () => {
  it.each<[string, Overrides, Report, Decision['reasons'], Decision['category']]>([
    ['always saves every report as periodic', { always: true }, { step: 1, metrics: { loss: 2 } }, ['always'], 'periodic'],
    ['force saves as manual', {}, { step: 1, metrics: { loss: 2 }, force: true }, ['forced'], 'manual'],
    ['force with an improvement is best', {}, { step: 1, metrics: { loss: 0.5 }, force: true }, ['improved', 'forced'], 'best'],
    ['force with an interval is periodic', { every: { steps: 1 } }, { step: 1, metrics: { loss: 2 }, force: true }, ['steps', 'forced'], 'periodic'],
    ['force: false is no trigger', {}, { step: 1, metrics: { loss: 2 }, force: false }, [], null],
    ['every trigger at once, in order', { always: true, every: { steps: 1, minutes: 0 } },
      { step: 1, metrics: { loss: 0.5 }, force: true }, ['improved', 'steps', 'minutes', 'always', 'forced'], 'best'],
    ['nothing fires: no save, null category', { every: { steps: 10, minutes: 10 } }, { step: 1, metrics: { loss: 2 } }, [], null],
  ])('%s', (_name, o, report, reasons, category) => {
    const d = decide(config(o), stateWithBest({ loss: 1 }), report, T0);
    expect(d).toMatchObject({ save: reasons.length > 0, reasons, category });
  });
});

describe('best tracking', () => {
  it('records value, step and time of every improved metric', () => {
    const cfg = config({ monitor: [['loss', 'min'], ['accuracy', 'max']] });
    const { state } = run(cfg, [
      { step: 1, metrics: { loss: 1, accuracy: 0.5 }, now: T0 },
      { step: 2, metrics: { loss: 0.5, accuracy: 0.25 }, now: T0 + 7 },
    ]);
    expect(state.best).toEqual({ loss: { value: 0.5, step: 2, time: T0 + 7 }, accuracy: { value: 0.5, step: 1, time: T0 } });
  });

  it('mode all: a partial improvement updates no best', () => {
    const cfg = config({ monitor: [['loss', 'min'], ['accuracy', 'max']], improvement: { mode: 'all' } });
    const { state } = run(cfg, [{ step: 1, metrics: { loss: 0.5, accuracy: 0.25 } }], stateWithBest({ loss: 1, accuracy: 0.5 }));
    expect(state.best.loss.value).toBe(1);
  });

  it('a periodic or forced save does not move the best', () => {
    const cfg = config({ monitor: [['loss', 'min'], ['accuracy', 'max']], improvement: { mode: 'primary' }, always: true });
    const { decisions, state } = run(cfg, [{ step: 1, metrics: { loss: 2, accuracy: 0.75 }, force: true }], stateWithBest({ loss: 1, accuracy: 0.5 }));
    expect(decisions[0]).toMatchObject({ category: 'periodic', improved: ['accuracy'] });
    expect(state.best.accuracy.value).toBe(0.5);
  });
});

describe('degradation', () => {
  const deg = { minRelative: 0.25, patience: 3 };

  it('fires once when the streak reaches patience and re-arms after a non-worse report', () => {
    const cfg = config({ degradation: deg });
    const { decisions, state } = run(cfg, [
      { step: 0, metrics: { loss: 2 } }, // best 2, worse means > 2.5
      { step: 1, metrics: { loss: 3 } },
      { step: 2, metrics: { loss: 3 } },
      { step: 3, metrics: { loss: 3 } }, // fires
      { step: 4, metrics: { loss: 3 } }, // streak 4: silent
      { step: 5, metrics: { loss: 2.5 } }, // exactly at the threshold: not worse, resets
      { step: 6, metrics: { loss: 2.5625 } },
      { step: 7, metrics: { loss: NaN } }, // non-finite counts as worse
      { step: 8, metrics: { loss: Infinity } }, // fires again
    ]);
    expect(decisions.map((d) => d.degraded)).toEqual([false, false, false, true, false, false, false, false, true]);
    expect(state.worseStreak).toBe(3);
  });

  it.each<[Direction, number, number, boolean]>([
    ['min', 2, 2.5, false], ['min', 2, 2.5625, true], ['max', 2, 1.5, false], ['max', 2, 1.4375, true],
    ['min', -2, -1.5, false], ['min', -2, -1.4375, true],
  ])('%s: best %s, value %s is worse: %s (patience 1)', (direction, best, value, worse) => {
    const cfg = config({ monitor: [['m', direction]], degradation: { minRelative: 0.25, patience: 1 } });
    const d = decide(cfg, stateWithBest({ m: best }), { step: 1, metrics: { m: value } }, T0);
    expect(d.degraded).toBe(worse);
  });

  it('an improvement resets the streak', () => {
    const cfg = config({ degradation: { minRelative: 0, patience: 2 } });
    const { decisions } = run(cfg, [
      { step: 0, metrics: { loss: 2 } }, { step: 1, metrics: { loss: 3 } },
      { step: 2, metrics: { loss: 1 } }, { step: 3, metrics: { loss: 3 } }, { step: 4, metrics: { loss: 3 } },
    ]);
    expect(decisions.map((d) => d.degraded)).toEqual([false, false, false, false, true]);
  });

  it('only the primary metric counts', () => {
    const cfg = config({ monitor: [['loss', 'min'], ['accuracy', 'max']], degradation: { minRelative: 0, patience: 1 } });
    const d = decide(cfg, stateWithBest({ loss: 1, accuracy: 0.5 }), { step: 1, metrics: { loss: 1, accuracy: 0 } }, T0);
    expect(d.degraded).toBe(false);
  });

  it('a report without the primary metric neither extends nor resets the streak, and cannot re-fire', () => {
    const cfg = config({ degradation: { minRelative: 0, patience: 2 } });
    const { decisions, state } = run(cfg, [
      { step: 0, metrics: { loss: 1 } }, { step: 1, metrics: { loss: 2 } }, { step: 2, metrics: {} },
      { step: 3, metrics: { loss: 2 } }, { step: 4, metrics: {} },
    ]);
    expect(decisions.map((d) => d.degraded)).toEqual([false, false, false, true, false]);
    expect(state.worseStreak).toBe(2);
  });

  it('without a best or without the option nothing degrades', () => {
    expect(decide(config({ degradation: deg }), initialState(), { step: 0, metrics: { loss: NaN } }, T0).degraded).toBe(false);
    const { decisions, state } = run(config(), [{ step: 0, metrics: { loss: 1 } }, { step: 1, metrics: { loss: 9 } }]);
    expect(decisions[1].degraded).toBe(false);
    expect(state.worseStreak).toBe(0);
  });
});

describe('purity and persistence', () => {
  it('decide and applyDecision never mutate their inputs', () => {
    const cfg = deepFreeze(config({ monitor: [['loss', 'min'], ['accuracy', 'max']], every: { steps: 1 }, degradation: { minRelative: 0, patience: 1 } }));
    const state = deepFreeze(stateWithBest({ loss: 1, accuracy: 0.5 }, { worseStreak: 0 }));
    const before = structuredClone(state);
    for (const metrics of [{ loss: 0.5, accuracy: 0.75 }, { loss: 2, accuracy: 0.25 }, { loss: NaN }] as Report['metrics'][]) {
      const report = deepFreeze({ step: 5, metrics });
      const d = decide(cfg, state, report, T0 + 1);
      expect(decide(cfg, state, report, T0 + 1)).toEqual(d);
      const next = applyDecision(cfg, state, report, d, T0 + 1);
      expect(next).not.toBe(state);
      // A new best object when a best changed; otherwise the (frozen) one is shared.
      if (d.category === 'best') expect(next.best).not.toBe(state.best);
      else expect(next.best).toBe(state.best);
    }
    expect(state).toEqual(before);
  });

  it('after a restart (state through JSON) a worse model is not an improvement and the clocks go on', () => {
    const cfg = config({ every: { steps: 100 } });
    const first = run(cfg, [{ step: 0, metrics: { loss: 1 } }, { step: 10, metrics: { loss: 0.5 } }]);
    const restored = JSON.parse(JSON.stringify(first.state)) as TrackerState;
    expect(restored).toEqual(first.state);
    const { decisions } = run(cfg, [
      { step: 11, metrics: { loss: 0.75 } }, { step: 109, metrics: { loss: 0.5 } }, { step: 110, metrics: { loss: 0.5 } },
    ], restored);
    expect(decisions.map((d) => d.reasons)).toEqual([[], [], ['steps']]);
  });
});

describe('presets', () => {
  it.each([
    ['conservative', { keepBest: 20, everySteps: 50, minRelative: 0.001 }],
    ['balanced', { keepBest: 10, everySteps: 100, minRelative: 0.005 }],
    ['aggressive', { keepBest: 5, everySteps: 200, minRelative: 0.01 }],
  ] as const)('%s matches the table in docs/POLICIES.md', (name, want) => {
    expect(presetConfig(name)).toEqual(want);
  });

  it('an unknown preset is E_BAD_INPUT', () => {
    expect(() => presetConfig('toString' as never)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
  });
});
