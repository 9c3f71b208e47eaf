// npm start: trains a small MLP (plain TypeScript math, no framework) on a
// synthetic two-spirals task and checkpoints it with tensorkeep: on every
// improvement of the validation loss and every 200 steps, resuming where the
// last run stopped. Options: --dir (default ./checkpoints) --seconds (20)
// --steps (no limit). Ctrl-C writes a final checkpoint.
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';

const { values } = parseArgs({
  options: { dir: { type: 'string', default: 'checkpoints' }, seconds: { type: 'string', default: '20' }, steps: { type: 'string' } },
});
const seconds = Number(values.seconds);
const maxSteps = values.steps === undefined ? Infinity : Number(values.steps);

const HIDDEN = 64;
const BATCH = 32;
const LR = 0.05;

/** Deterministic PRNG so that the data set is the same in every run. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function spirals(n: number, seed: number) {
  const rand = mulberry32(seed);
  const x = new Float32Array(n * 2);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const r = rand() * 3 + 0.2;
    const angle = r * 2.2 + label * Math.PI;
    x[2 * i] = r * Math.cos(angle) + (rand() - 0.5) * 0.2;
    x[2 * i + 1] = r * Math.sin(angle) + (rand() - 0.5) * 0.2;
    y[i] = label;
  }
  return { x, y, n };
}

const train = spirals(4000, 1);
const valid = spirals(1000, 2);

// Parameters, initialized once and then restored from the newest checkpoint.
const init = mulberry32(7);
const weights = {
  w1: Float32Array.from({ length: 2 * HIDDEN }, () => (init() - 0.5) * 1.4),
  b1: new Float32Array(HIDDEN),
  w2: Float32Array.from({ length: HIDDEN }, () => (init() - 0.5) * 0.3),
  b2: new Float32Array(1),
};
const hidden = new Float32Array(HIDDEN);

function forward(x0: number, x1: number): number {
  const { w1, b1, w2, b2 } = weights;
  let z = b2[0];
  for (let j = 0; j < HIDDEN; j++) {
    hidden[j] = Math.tanh(w1[j] * x0 + w1[HIDDEN + j] * x1 + b1[j]);
    z += w2[j] * hidden[j];
  }
  return 1 / (1 + Math.exp(-z));
}

/** One SGD step on a batch; returns its mean log-loss. */
function trainStep(rand: () => number): number {
  const { w1, b1, w2, b2 } = weights;
  let loss = 0;
  for (let b = 0; b < BATCH; b++) {
    const i = Math.floor(rand() * train.n);
    const x0 = train.x[2 * i], x1 = train.x[2 * i + 1], y = train.y[i];
    const p = forward(x0, x1);
    loss -= y * Math.log(p + 1e-7) + (1 - y) * Math.log(1 - p + 1e-7);
    const dz = (p - y) * (LR / BATCH);
    for (let j = 0; j < HIDDEN; j++) {
      const dh = dz * w2[j] * (1 - hidden[j] * hidden[j]);
      w2[j] -= dz * hidden[j];
      w1[j] -= dh * x0;
      w1[HIDDEN + j] -= dh * x1;
      b1[j] -= dh;
    }
    b2[0] -= dz;
  }
  return loss / BATCH;
}

function evaluate(): { val_loss: number; accuracy: number } {
  let loss = 0, correct = 0;
  for (let i = 0; i < valid.n; i++) {
    const p = forward(valid.x[2 * i], valid.x[2 * i + 1]);
    const y = valid.y[i];
    loss -= y * Math.log(p + 1e-7) + (1 - y) * Math.log(1 - p + 1e-7);
    if ((p > 0.5 ? 1 : 0) === y) correct++;
  }
  return { val_loss: loss / valid.n, accuracy: correct / valid.n };
}

const store = await open(values.dir!, {
  monitor: { val_loss: 'min', accuracy: 'max' },
  every: { steps: 200 },
  keep: { best: 5, periodic: 2 },
});
store.on('error', (err) => console.error(`save failed: ${(err as Error).message}`));
const model = store.model('spirals-mlp');
model.attach(() => weights);

const resumed = await model.resume({ into: weights });
let step = resumed ? resumed.step : 0;
if (resumed) {
  const best = model.best();
  console.log(`resumed ${resumed.info.category} checkpoint #${resumed.info.seq} at step ${step}` +
    ` (val_loss ${resumed.metrics.val_loss?.toFixed(4)}); best so far: #${best?.seq} val_loss ${best?.metrics.val_loss?.toFixed(4)} at step ${best?.step}`);
} else {
  console.log(`fresh start in ${store.dir}`);
}

let stopping = false;
const stop = () => { stopping = true; };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const rand = mulberry32(1000 + step); // a new stream per run: the data order differs after a resume
const started = performance.now();
let saves = 0;
let last = started;
while (!stopping && (performance.now() - started) / 1000 < seconds && step < maxSteps) {
  step++;
  const trainLoss = trainStep(rand);
  if (step % 20 !== 0) continue;
  const metrics = { ...evaluate(), train_loss: trainLoss };
  const ticket = model.report({ step, metrics, tensors: () => weights });
  if (ticket.saved) saves++;
  if (performance.now() - last > 2000) {
    last = performance.now();
    const best = model.best();
    console.log(`step ${step}  val_loss ${metrics.val_loss.toFixed(4)}  acc ${(metrics.accuracy * 100).toFixed(1)} %  ` +
      `saves ${saves}  best #${best?.seq} (${best?.metrics.val_loss?.toFixed(4)})`);
  }
  if (step % 100 === 0) await new Promise((r) => setImmediate(r)); // let saves commit and signals arrive
}
await store.close(); // final checkpoint, locks released
const s = store.stats()['spirals-mlp'];
console.log(`stopped at step ${step}: ${saves} saves this run, ${model.list().length} checkpoints kept ` +
  `(${Object.entries(s.checkpoints).map(([k, v]) => `${k} ${v}`).join(', ')}), ${(s.bytesOnDisk / 1024).toFixed(1)} KiB on disk`);
