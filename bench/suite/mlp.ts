// A small MLP trained with plain TypeScript math (SGD with momentum, softmax
// cross-entropy) on a synthetic, seeded classification task: a real training
// loop whose step time the checkpointing overhead is measured against.
import { fillNormal, sfc32, type Rand } from '../workloads.js';

export interface MlpShape { inputs: number; hidden: number; classes: number; batch: number }

export const MLP_SHAPE: MlpShape = { inputs: 64, hidden: 256, classes: 10, batch: 16 };

export class Mlp {
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  readonly w2: Float32Array;
  readonly b2: Float32Array;
  private readonly velocity: Float32Array[];
  private readonly grads: Float32Array[];
  private readonly hidden: Float32Array;
  private readonly probs: Float32Array;
  private readonly teacher: Float32Array;
  private readonly x: Float32Array;
  private readonly labels: Int32Array;
  private readonly rand: Rand;

  constructor(private readonly shape: MlpShape = MLP_SHAPE, seed = 1, private readonly lr = 0.01, private readonly momentum = 0.9) {
    const { inputs, hidden, classes, batch } = shape;
    this.rand = sfc32(seed);
    this.w1 = new Float32Array(inputs * hidden);
    this.w2 = new Float32Array(hidden * classes);
    this.b1 = new Float32Array(hidden);
    this.b2 = new Float32Array(classes);
    fillNormal(this.w1, this.rand, { std: Math.sqrt(2 / inputs), tailFraction: 0 });
    fillNormal(this.w2, this.rand, { std: Math.sqrt(1 / hidden), tailFraction: 0 });
    this.teacher = new Float32Array(inputs * classes);
    fillNormal(this.teacher, this.rand, { std: 1, tailFraction: 0 });
    const params = [this.w1, this.b1, this.w2, this.b2];
    this.velocity = params.map((p) => new Float32Array(p.length));
    this.grads = params.map((p) => new Float32Array(p.length));
    this.hidden = new Float32Array(batch * hidden);
    this.probs = new Float32Array(batch * classes);
    this.x = new Float32Array(batch * inputs);
    this.labels = new Int32Array(batch);
  }

  /** Weights and optimizer state: what a checkpoint must hold to resume. */
  tensors(): Array<[string, Float32Array]> {
    const names = ['w1', 'b1', 'w2', 'b2'];
    return [
      ...[this.w1, this.b1, this.w2, this.b2].map((p, i): [string, Float32Array] => [`model/${names[i]}`, p]),
      ...this.velocity.map((v, i): [string, Float32Array] => [`sgd/velocity/${names[i]}`, v]),
    ];
  }

  /** One SGD step on a fresh batch; returns the batch's mean cross-entropy. */
  step(): number {
    this.sampleBatch();
    const loss = this.forward();
    this.backward();
    const params = [this.w1, this.b1, this.w2, this.b2];
    for (let p = 0; p < params.length; p++) {
      const w = params[p], v = this.velocity[p], g = this.grads[p];
      for (let i = 0; i < w.length; i++) {
        v[i] = this.momentum * v[i] - this.lr * g[i];
        w[i] += v[i];
      }
    }
    return loss;
  }

  /** Inputs drawn normal; the label is the class a fixed random linear teacher scores highest. */
  private sampleBatch(): void {
    const { inputs, classes, batch } = this.shape;
    fillNormal(this.x, this.rand, { std: 1, tailFraction: 0 });
    for (let b = 0; b < batch; b++) {
      let best = 0, bestScore = -Infinity;
      for (let c = 0; c < classes; c++) {
        let s = 0;
        for (let i = 0; i < inputs; i++) s += this.x[b * inputs + i] * this.teacher[i * classes + c];
        if (s > bestScore) { bestScore = s; best = c; }
      }
      this.labels[b] = best;
    }
  }

  private forward(): number {
    const { inputs, hidden, classes, batch } = this.shape;
    const { x, w1, b1, w2, b2, probs } = this;
    let loss = 0;
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < hidden; h++) {
        let s = b1[h];
        for (let i = 0; i < inputs; i++) s += x[b * inputs + i] * w1[i * hidden + h];
        this.hidden[b * hidden + h] = s > 0 ? s : 0;
      }
      let max = -Infinity;
      for (let c = 0; c < classes; c++) {
        let s = b2[c];
        for (let h = 0; h < hidden; h++) s += this.hidden[b * hidden + h] * w2[h * classes + c];
        probs[b * classes + c] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += (probs[b * classes + c] = Math.exp(probs[b * classes + c] - max));
      for (let c = 0; c < classes; c++) probs[b * classes + c] /= sum;
      loss -= Math.log(Math.max(probs[b * classes + this.labels[b]], 1e-12));
    }
    return loss / batch;
  }

  private backward(): void {
    const { inputs, hidden, classes, batch } = this.shape;
    const [gw1, gb1, gw2, gb2] = this.grads;
    for (const g of this.grads) g.fill(0);
    const dHidden = new Float32Array(hidden);
    for (let b = 0; b < batch; b++) {
      dHidden.fill(0);
      for (let c = 0; c < classes; c++) {
        const d = (this.probs[b * classes + c] - (c === this.labels[b] ? 1 : 0)) / batch;
        gb2[c] += d;
        for (let h = 0; h < hidden; h++) {
          gw2[h * classes + c] += this.hidden[b * hidden + h] * d;
          dHidden[h] += this.w2[h * classes + c] * d;
        }
      }
      for (let h = 0; h < hidden; h++) {
        if (this.hidden[b * hidden + h] <= 0) continue;
        const d = dHidden[h];
        gb1[h] += d;
        for (let i = 0; i < inputs; i++) gw1[i * hidden + h] += this.x[b * inputs + i] * d;
      }
    }
  }
}
