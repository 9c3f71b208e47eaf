// The save pipeline's own figures that the contender grid does not
// give: what a report() that skips costs, and what checkpointing costs a real
// training loop. Runs in a child process; run.ts passes a job as JSON in argv.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { open } from '../../src/index.js';
import { answer } from './ipc.js';
import { Mlp } from './mlp.js';

export interface PipelineJob {
  dir: string;
  /** Minimum measured time of the skip task, ms. */
  time: number;
  /** Training steps per run, and runs per way. */
  steps: number;
  rounds: number;
}

export interface TrainingFigures {
  steps: number;
  rounds: number;
  parameters: number;
  checkpointBytes: number;
  /** Steps at which the hybrid policy saved (the naive way saves at the same ones). */
  saves: number;
  /** Median over the rounds of steps per second. */
  stepsPerSecond: { none: number; tensorkeep: number; naive: number };
  /** Slowdown against no checkpointing: 0.01 is 1 %. */
  overhead: { tensorkeep: number; naive: number };
}

export interface PipelineFigures {
  /** Mean cost of a report() whose policy decides not to save. */
  skipUs: number;
  skipRmePct: number;
  training: TrainingFigures;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function skipCost(dir: string, time: number): Promise<{ mean: number; rme: number }> {
  const store = await open(dir, { monitor: { loss: 'min' }, every: { steps: null } });
  const model = store.model('skip');
  const tensors = new Mlp().tensors();
  let step = 0;
  await model.report({ step: ++step, metrics: { loss: 1 }, tensors }).durable; // the first report is an improvement
  const bench = new Bench({ time, warmupTime: Math.min(time, 100), throws: true });
  // Made once, as a trainer would: a closure made in the task would be timed
  // too (under tsx each one also costs a call that names it, ~0.5 µs).
  const provider = () => tensors;
  bench.add('report() that skips', () => {
    if (model.report({ step: ++step, metrics: { loss: 1 }, tensors: provider }).saved) throw new Error('the skip task saved');
  });
  await bench.run();
  await store.close();
  const { latency } = bench.tasks[0].result as { latency: { mean: number; rme: number } };
  return { mean: latency.mean * 1e3, rme: latency.rme };
}

type Way = 'none' | 'tensorkeep' | 'naive';

/** Trains `steps` steps from the same seed; returns the wall time, checkpoints durable (tensorkeep) or written (naive) at its end. */
async function train(way: Way, dir: string, steps: number, saveAt: Set<number>): Promise<{ ms: number; savedAt: Set<number> }> {
  const mlp = new Mlp();
  const tensors = mlp.tensors();
  const savedAt = new Set<number>();
  // The hybrid policy: every improvement of the smoothed loss, and every 100 steps.
  const store = way === 'tensorkeep' ? await open(join(dir, way), { monitor: { loss: 'min' }, every: { steps: 100 } }) : null;
  const model = store?.model('mlp');
  const naivePath = join(dir, 'naive-checkpoint.json');
  let smoothed = 0;
  const t0 = performance.now();
  for (let step = 1; step <= steps; step++) {
    const loss = mlp.step();
    smoothed = step === 1 ? loss : 0.98 * smoothed + 0.02 * loss;
    if (model) {
      if (model.report({ step, metrics: { loss: smoothed }, tensors: () => tensors }).saved) savedAt.add(step);
    } else if (way === 'naive' && saveAt.has(step)) {
      writeFileSync(naivePath, JSON.stringify(Object.fromEntries(tensors.map(([name, t]) => [name, Array.from(t)]))));
      savedAt.add(step);
    }
  }
  await store?.flush();
  const ms = performance.now() - t0;
  await store?.close();
  rmSync(join(dir, way), { recursive: true, force: true });
  return { ms, savedAt };
}

/** The three ways in turn, `rounds` times, so drifts of a shared machine hit each way alike. */
async function trainingOverhead(dir: string, steps: number, rounds: number): Promise<TrainingFigures> {
  const times: Record<Way, number[]> = { none: [], tensorkeep: [], naive: [] };
  let schedule = new Set<number>();
  for (let round = 0; round < rounds; round++) {
    for (const way of ['none', 'tensorkeep', 'naive'] as const) {
      const { ms, savedAt } = await train(way, dir, steps, schedule);
      if (way === 'tensorkeep') schedule = savedAt;
      times[way].push(ms);
    }
  }
  const stepsPerSecond = {
    none: steps / (median(times.none) / 1e3),
    tensorkeep: steps / (median(times.tensorkeep) / 1e3),
    naive: steps / (median(times.naive) / 1e3),
  };
  const tensors = new Mlp().tensors();
  return {
    steps, rounds, saves: schedule.size, stepsPerSecond,
    parameters: tensors.filter(([name]) => name.startsWith('model/')).reduce((sum, [, t]) => sum + t.length, 0),
    checkpointBytes: tensors.reduce((sum, [, t]) => sum + t.byteLength, 0),
    overhead: {
      tensorkeep: stepsPerSecond.none / stepsPerSecond.tensorkeep - 1,
      naive: stepsPerSecond.none / stepsPerSecond.naive - 1,
    },
  };
}

await answer(async (job: PipelineJob): Promise<PipelineFigures> => {
  const dir = mkdtempSync(join(job.dir, 'pipeline-'));
  try {
    const skip = await skipCost(dir, job.time);
    return { skipUs: skip.mean, skipRmePct: skip.rme, training: await trainingOverhead(dir, job.steps, job.rounds) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
