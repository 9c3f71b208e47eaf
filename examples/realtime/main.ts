// npm start: a realtime training system. Four TensorFlow.js models train
// side by side on a seeded synthetic market stream (a DQN trading agent, a
// CNN classifying price windows, an order-book RL policy, an extrema
// detector), each with its own checkpoints and save policy. Every start
// resumes each model from its newest checkpoint; a model whose validation
// metric degrades is put back to its best checkpoint; Ctrl-C (or SIGTERM)
// stops and writes final checkpoints.
// Options: --dir (./checkpoints) --seconds (60) --steps (per model, this run).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { parseArgs } from 'node:util';
import { open, type LoadedCheckpoint } from '../../src/index.js';
import { resumeLine, revertLine, statusLine, storeLogger, summary } from './console.js';
import { Market } from './market.js';
import { CnnTrainer } from './models/cnn.js';
import { CobRlTrainer } from './models/cob-rl.js';
import { DqnTrainer } from './models/dqn.js';
import { ExtremaTrainer } from './models/extrema.js';
import { ModelRun } from './run.js';
import type { Trainer } from './trainer.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: 'checkpoints' },
    seconds: { type: 'string', default: '60' },
    steps: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const maxSteps = values.steps === undefined ? Infinity : Number(values.steps);
if (!(seconds > 0) || !(maxSteps > 0)) throw new Error('--seconds and --steps take positive numbers');

const SEED = 'tensorkeep-market';
const WARM_UP_TICKS = 1024; // history the trainers need before their first step
const STATUS_EVERY_MS = 5000;
// A validation metric 25 % worse than its best for 4 evaluations in a row
// (40 steps) puts the model back to its best checkpoint.
const DEGRADATION = { minRelative: 0.25, patience: 4, revert: true };

tf.enableProdMode();
await tf.setBackend('cpu');

const store = await open(values.dir!, { keep: { best: 3, periodic: 2 }, logger: storeLogger });
const runs: ModelRun[] = [];
const byName = new Map<string, ModelRun>();
const onRevert = (model: string, best: LoadedCheckpoint) => byName.get(model)?.revertTo(best);
const trainers: Trainer[] = [new DqnTrainer(), new CnnTrainer(), new CobRlTrainer(), new ExtremaTrainer()];
for (const trainer of trainers) {
  const ckpts = store.model(trainer.name, { ...trainer.policy, degradation: { ...DEGRADATION, onRevert } });
  const run = await ModelRun.resume(trainer, ckpts);
  runs.push(run);
  byName.set(run.name, run);
}
store.on('saved', ({ model }: { model: string }) => byName.get(model)!.saves++);

console.log(`tensorkeep realtime: ${runs.length} models on a seeded market stream, ${seconds} s, checkpoints in ${store.dir} (Ctrl-C stops and saves)`);
for (const run of runs) console.log(resumeLine(run));

// The stream goes on from the furthest point any model's checkpoint reached.
const resumedMarket = runs.map((r) => r.resumedMarket).filter((m) => m !== undefined).sort((a, b) => b.tick - a.tick)[0];
const market = new Market(SEED, resumedMarket);
for (let i = 0; i < WARM_UP_TICKS; i++) market.advance();
console.log(`market   ${resumedMarket ? `resumed at tick ${resumedMarket.tick}` : 'new stream'}, regime ${market.regime}`);

let stopping = false;
const stop = (signal: string) => {
  console.log(`${signal}: stopping, writing final checkpoints`);
  stopping = true;
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const started = performance.now();
let lastStatus = started;
const stepsAtStatus = new Map(runs.map((r) => [r.name, r.step]));
while (!stopping && performance.now() - started < seconds * 1000 && runs.some((r) => r.stepsThisRun < maxSteps)) {
  if (market.advance()) console.log(`market   tick ${market.tick}: regime switch to ${market.regime}`);
  for (const run of runs) {
    const reverted = await run.applyRevert();
    if (reverted) console.log(revertLine(run, reverted.info));
    if (run.stepsThisRun < maxSteps) await run.trainStep(market);
  }
  const now = performance.now();
  if (now - lastStatus >= STATUS_EVERY_MS) {
    for (const run of runs) console.log(statusLine(run, ((run.step - stepsAtStatus.get(run.name)!) * 1000) / (now - lastStatus)));
    for (const run of runs) stepsAtStatus.set(run.name, run.step);
    lastStatus = now;
  }
  // Lets finished saves commit and signals arrive.
  await new Promise((resolve) => setImmediate(resolve));
}

const elapsed = (performance.now() - started) / 1000;
// The final checkpoint (close() with the attached models) holds the state as of this last report.
for (const run of runs) await run.report(market, run.trainer.validate(market.history));
await store.close();
console.log(`stopped after ${elapsed.toFixed(1)} s`);
console.table(summary(runs, elapsed));
