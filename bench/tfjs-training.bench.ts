// Training-loop overhead of checkpointing a TensorFlow.js model: steps/s of
// the CNN trainer of `npm start` (examples/realtime/models/cnn.ts) with
//   a. no checkpoints (the machine's limit for this loop),
//   b. tensorkeep: report() every evaluation (10 steps), the store's policy
//      saving on every improvement of val_loss / val_acc by 0.5 % and every
//      100 steps,
//   c. tfjs's usual file save on the same schedule: `await model.save()` of
//      model.json + weights.bin written with fs.writeFile (what tfjs-node's
//      file:// handler does), optimizer included as in b.
// Training is deterministic (CPU backend, seeded), so every variant trains
// the same trajectory and saves at the same steps. Variants alternate round
// by round so that machine load drifts hit them alike. Besides wall time,
// each run measures the CPU time of the training thread itself (Linux
// schedstat, ns): on a shared machine wall time moves by tens of percent
// with the load, the thread's own CPU time does not.
// Run: npm run bench:tfjs [-- --steps 300 --rounds 5]
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { open, type CheckpointManager, type Metrics, type ModelCheckpoints } from '../src/index.js';
import { captureModel } from '../src/adapters/tfjs/index.js';
import { resolvePolicy } from '../src/validate/policy-options.js';
import { applyDecision, decide, initialState } from '../src/policy/decide.js';
import { Market } from '../examples/realtime/market.js';
import { CnnTrainer } from '../examples/realtime/models/cnn.js';

const { values: args } = parseArgs({
  options: { steps: { type: 'string', default: '300' }, rounds: { type: 'string', default: '5' }, dir: { type: 'string' } },
});
const STEPS = Number(args.steps);
const ROUNDS = Number(args.rounds);
if (!(STEPS >= 10 && ROUNDS >= 1)) throw new RangeError('--steps must be >= 10 and --rounds >= 1');
const EVAL_EVERY = 10;
const POLICY = { monitor: { val_loss: 'min' as const, val_acc: 'max' as const }, improvement: { minRelative: 0.005 }, every: { steps: 100 } };
const root = mkdtempSync(join(args.dir ?? os.tmpdir(), 'tensorkeep-bench-tfjs-'));

tf.enableProdMode();
await tf.setBackend('cpu');
const market = new Market('bench');
for (let i = 0; i < 1024; i++) market.advance();

/** What one variant does at an evaluation; returns whether it saved. */
type OnEval = (trainer: CnnTrainer, step: number, metrics: Metrics) => Promise<boolean>;

interface Variant {
  name: string;
  setUp?: () => Promise<void>;
  onEval: OnEval;
  tearDown?: () => Promise<void>;
  /** Per run: saves, ms of the training thread in checkpointing (the calls, and the event-loop turns where saves commit), its CPU ms in all. */
  saves: number[];
  checkpointMs: number[];
  cpuMs: number[];
}

/** CPU time of the main (training) thread so far, in ms: the first field of its schedstat, in ns. */
function trainingThreadCpuMs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

async function train(trainer: CnnTrainer, variant: Variant): Promise<void> {
  let saves = 0;
  let checkpointing = 0;
  const cpu = trainingThreadCpuMs();
  for (let step = 1; step <= STEPS; step++) {
    const trained = await trainer.train(market.history);
    if (step % EVAL_EVERY !== 0) continue;
    const metrics = { ...trainer.validate(market.history), ...trained };
    const t0 = performance.now();
    if (await variant.onEval(trainer, step, metrics)) saves++;
    // tfjs's trainOnBatch resolves in microtasks and never lets the event loop
    // turn; a loop must (fit() does, every batch), or finished writes never
    // commit. Whatever runs in this turn (tensorkeep's commits) is counted.
    await new Promise((resolve) => setImmediate(resolve));
    checkpointing += performance.now() - t0;
  }
  variant.saves.push(saves);
  variant.checkpointMs.push(checkpointing);
  variant.cpuMs.push(trainingThreadCpuMs() - cpu);
}

let store: CheckpointManager;
let ckpts: ModelCheckpoints;
let run = 0;
const tensorkeep: Variant = {
  name: 'tensorkeep (report → policy saves)',
  setUp: async () => {
    store = await open(join(root, `tk-${run++}`));
    ckpts = store.model('cnn', POLICY);
  },
  onEval: async (trainer, step, metrics) => {
    const captured = await captureModel(trainer.model);
    return ckpts.report({ step, metrics, ...captured }).saved;
  },
  // Saves still in flight finish here, outside the timing: the loop never waited for them.
  tearDown: () => store.close(),
  saves: [],
  checkpointMs: [],
  cpuMs: [],
};

/** tfjs-node's file:// save: model.json (topology + manifest) and weights.bin, plain fs.writeFile. */
function fileSave(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    await mkdir(dir, { recursive: true });
    const { modelTopology, format, generatedBy, convertedBy, trainingConfig, weightSpecs, weightData } = artifacts;
    await writeFile(join(dir, 'weights.bin'), Buffer.from(weightData as ArrayBuffer));
    const weightsManifest = [{ paths: ['./weights.bin'], weights: weightSpecs }];
    await writeFile(join(dir, 'model.json'), JSON.stringify({ modelTopology, format, generatedBy, convertedBy, trainingConfig, weightsManifest }));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  });
}

let tracker = initialState();
const policy = resolvePolicy(POLICY).policy;
const files: Variant = {
  name: 'tfjs model.save (model.json + weights.bin)',
  setUp: async () => {
    tracker = initialState();
    run++;
  },
  // The same decisions as tensorkeep's policy, made by its pure decision function.
  onEval: async (trainer, step, metrics) => {
    const now = Date.now();
    const decision = decide(policy, tracker, { step, metrics }, now);
    tracker = applyDecision(policy, tracker, { step, metrics }, decision, now);
    if (decision.save) await trainer.model.save(fileSave(join(root, `files-${run}`, `step-${step}`)), { includeOptimizer: true });
    return decision.save;
  },
  saves: [],
  checkpointMs: [],
  cpuMs: [],
};

const none: Variant = { name: 'no checkpoints (limit)', onEval: async () => false, saves: [], checkpointMs: [], cpuMs: [] };
const variants = [none, tensorkeep, files];
const samples = new Map<Variant, number[]>(variants.map((v) => [v, []]));

// Round 0 warms up (JIT, allocator, page cache) and is not counted.
for (let round = 0; round <= ROUNDS; round++) {
  console.log(round === 0 ? 'warm-up round …' : `round ${round}/${ROUNDS} …`);
  const bench = new Bench({ name: `round ${round}`, iterations: 1, time: 0, warmupIterations: 0, warmupTime: 0, throws: true });
  let trainer: CnnTrainer;
  // Rotate the order so that no variant always runs first.
  for (const variant of variants.map((_, i) => variants[(i + round) % variants.length])) {
    bench.add(variant.name, () => train(trainer, variant), {
      async: true,
      beforeEach: async () => {
        trainer = new CnnTrainer(); // same seeds: the same trajectory every time
        await variant.setUp?.();
      },
      afterEach: async () => {
        await variant.tearDown?.();
        trainer.model.optimizer.dispose();
        trainer.model.dispose();
      },
    });
  }
  await bench.run();
  if (round === 0) {
    for (const v of variants) v.saves.length = v.checkpointMs.length = v.cpuMs.length = 0;
    continue;
  }
  for (const task of bench.tasks) {
    if (task.result.state !== 'completed') throw new Error(`${task.name}: ${task.result.state}`);
    samples.get(variants.find((v) => v.name === task.name)!)!.push(task.result.latency.mean);
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stdev = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(xs.length - 1, 1));
const pct = (xs: number[]) => `${(mean(xs) * 100).toFixed(2)} ± ${(stdev(xs) * 100).toFixed(2)} %`;
/** Per-round overhead against the no-checkpoint run of the same round (paired: drift cancels). */
const paired = (xs: number[], base: number[]) => xs.map((x, i) => x / base[i] - 1);
const wall = samples.get(none)!;
const rows = variants.map((v) => {
  const ms = samples.get(v)!;
  const saves = mean(v.saves);
  return {
    variant: v.name,
    'steps/s (wall)': Number(((STEPS * 1000) / mean(ms)).toFixed(1)),
    'wall overhead': v === none ? `± ${((stdev(ms) / mean(ms)) * 100).toFixed(1)} % (1 sd)` : pct(paired(ms, wall)),
    'steps per CPU-s (training thread)': Number(((STEPS * 1000) / mean(v.cpuMs)).toFixed(1)),
    'CPU overhead': v === none ? `± ${((stdev(v.cpuMs) / mean(v.cpuMs)) * 100).toFixed(1)} % (1 sd)` : pct(paired(v.cpuMs, none.cpuMs)),
    'saves per run': saves,
    // What checkpointing took on the training thread beyond the bare loop's event-loop turns, per save and as a share of the run.
    'ms per save (training thread)': saves ? Number(((mean(v.checkpointMs) - mean(none.checkpointMs)) / saves).toFixed(3)) : '',
    'share of run': v === none ? '' : `${(((mean(v.checkpointMs) - mean(none.checkpointMs)) / mean(wall)) * 100).toFixed(2)} %`,
  };
});
console.log(`\nCNN trainer, ${STEPS} steps per run (evaluation every ${EVAL_EVERY}), ${ROUNDS} rounds; goal: tensorkeep overhead <= 1 %`);
console.table(rows);

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const out = join(resultsDir, `tfjs-training-${new Date().toISOString().slice(0, 10)}.json`);
writeFileSync(out, `${JSON.stringify({
  date: new Date().toISOString(), steps: STEPS, rounds: ROUNDS, node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length,
  loadAverage: os.loadavg(), rows,
  samplesMs: Object.fromEntries(variants.map((v) => [v.name, { wall: samples.get(v), trainingThreadCpu: v.cpuMs }])),
}, null, 2)}\n`);
console.log(`results: ${out}`);
rmSync(root, { recursive: true, force: true });
