// Order-book ("COB") RL policy: from the 5-level book sizes, a softmax
// policy over short / flat / long for the next tick, trained with REINFORCE
// (batch-mean baseline, entropy bonus). Validation: greedy backtest.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Metrics } from '../../../src/index.js';
import { LEVELS, type History } from '../market.js';
import { argmax, oneHot, backtest, glorot, predict, rows, sample, SeededTrainer, type Trainer } from '../trainer.js';

const FEATURES = 2 * LEVELS;
const BATCH = 64;
const COST = 0.1;
const VALID = 300;
const ENTROPY = 0.01;
const POSITION = [-1, 0, 1];

export class CobRlTrainer extends SeededTrainer implements Trainer {
  readonly name = 'cob-rl';
  readonly model = tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [FEATURES], units: 16, activation: 'tanh', kernelInitializer: glorot(31) }),
      tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: glorot(32) }),
    ],
  });
  readonly policy = { monitor: { reward: 'max' as const }, every: { minutes: 5, steps: null } };

  constructor() {
    super('cob-rl');
    // compile() gives the model its optimizer, so checkpoints carry the optimizer state.
    this.model.compile({ optimizer: tf.train.adam(3e-3), loss: 'categoricalCrossentropy' });
  }

  private books(h: History, at: number[]): tf.Tensor2D {
    return rows(at, FEATURES, (row, t) => row.set(h.books.subarray(t * FEATURES, (t + 1) * FEATURES)));
  }

  async train(h: History): Promise<Metrics> {
    const ts = sample(this.rng, BATCH, 0, h.length - VALID - 1);
    const probs = predict(this.model, this.books(h, ts));
    const actions = ts.map((_, i) => {
      const u = this.rng.next();
      return u < probs[i * 3] ? 0 : u < probs[i * 3] + probs[i * 3 + 1] ? 1 : 2;
    });
    const rewards = ts.map((t, i) => POSITION[actions[i]] * h.returns[t + 1] * 1e4 - COST * Math.abs(POSITION[actions[i]]));
    const mean = rewards.reduce((a, b) => a + b, 0) / BATCH;
    const std = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / BATCH) + 1e-6;
    const x = this.books(h, ts);
    const taken = oneHot(actions);
    const advantage = tf.tensor1d(rewards.map((r) => (r - mean) / std));
    const vars = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const cost = this.model.optimizer.minimize(() => {
      const p = this.model.apply(x, { training: true }) as tf.Tensor2D;
      const logTaken = tf.log(tf.add(tf.sum(tf.mul(p, taken), 1), 1e-8));
      const entropy = tf.neg(tf.mean(tf.sum(tf.mul(p, tf.log(tf.add(p, 1e-8))), 1)));
      return tf.sub(tf.neg(tf.mean(tf.mul(logTaken, advantage))), tf.mul(ENTROPY, entropy)) as tf.Scalar;
    }, true, vars)!;
    const loss = cost.dataSync()[0];
    tf.dispose([x, taken, advantage, cost]);
    return { loss, train_reward: mean };
  }

  validate(h: History): Metrics {
    const ts = Array.from({ length: VALID }, (_, i) => h.length - VALID - 1 + i);
    const actions = argmax(predict(this.model, this.books(h, ts)), 3);
    return { reward: backtest(Array.from(actions, (a) => POSITION[a]), ts.map((t) => h.returns[t + 1]), COST) };
  }
}
