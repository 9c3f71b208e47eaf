// DQN trading agent: Q-values of going short, flat or long from the last 16
// returns, learned from transitions drawn from the recent stream with a
// target network. Validation: a greedy backtest over the newest ticks.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Metrics } from '../../../src/index.js';
import type { History } from '../market.js';
import { argmax, backtest, glorot, predict, rows, sample, SeededTrainer, type Trainer } from '../trainer.js';

const LOOKBACK = 16;
const BATCH = 32;
const GAMMA = 0.9;
const COST = 0.3; // basis points per unit traded
const VALID = 300;
const TARGET_EVERY = 100;
const POSITION = [-1, 0, 1];

function qNetwork(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [LOOKBACK], units: 32, activation: 'relu', kernelInitializer: glorot(11) }),
      tfl.layers.dense({ units: 3, kernelInitializer: glorot(12) }),
    ],
  });
}

export class DqnTrainer extends SeededTrainer implements Trainer {
  readonly name = 'dqn';
  readonly model = qNetwork();
  // The target network is a lagged copy of the model: not saved, re-synced at resume.
  private readonly target = qNetwork();
  readonly policy = { monitor: { reward: 'max' as const }, every: { steps: 200 } };
  private updates = 0;

  constructor() {
    super('dqn');
    this.model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
    this.syncTarget();
  }

  private features(h: History) {
    return (at: number[]) => rows(at, LOOKBACK, (row, t) => {
      for (let k = 0; k < LOOKBACK; k++) row[k] = h.returns[t - LOOKBACK + 1 + k] * 1000;
    });
  }

  async train(h: History): Promise<Metrics> {
    const states = this.features(h);
    const ts = sample(this.rng, BATCH, LOOKBACK, h.length - VALID - 1);
    const actions = ts.map(() => this.rng.int(3));
    const q = predict(this.model, states(ts));
    const next = predict(this.target, states(ts.map((t) => t + 1)));
    ts.forEach((t, i) => {
      const pos = POSITION[actions[i]];
      const reward = pos * h.returns[t + 1] * 1e4 - COST * Math.abs(pos);
      q[i * 3 + actions[i]] = reward + GAMMA * Math.max(next[i * 3], next[i * 3 + 1], next[i * 3 + 2]);
    });
    const [x, y] = [states(ts), tf.tensor2d(q, [BATCH, 3])];
    const loss = (await this.model.trainOnBatch(x, y)) as number;
    tf.dispose([x, y]);
    if (++this.updates % TARGET_EVERY === 0) this.syncTarget();
    return { loss };
  }

  validate(h: History): Metrics {
    const ts = Array.from({ length: VALID }, (_, i) => h.length - VALID - 1 + i);
    const actions = argmax(predict(this.model, this.features(h)(ts)), 3);
    return { reward: backtest(Array.from(actions, (a) => POSITION[a]), ts.map((t) => h.returns[t + 1]), COST) };
  }

  override state(): Record<string, unknown> {
    return { ...super.state(), updates: this.updates };
  }

  override restore(state: Record<string, unknown>): void {
    super.restore(state);
    this.updates = state.updates as number;
    this.syncTarget();
  }

  private syncTarget(): void {
    this.target.setWeights(this.model.getWeights());
  }
}
