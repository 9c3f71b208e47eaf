// CNN that classifies a window of 32 returns by the move over the next 8
// ticks: down, flat or up (flat = within half a window-volatility).
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Metrics } from '../../../src/index.js';
import type { History } from '../market.js';
import { argmax, oneHot, glorot, predict, rows, sample, SeededTrainer, type Trainer } from '../trainer.js';

const WINDOW = 32;
const HORIZON = 8;
const BATCH = 16;
const VALID = 128;

function label(h: History, end: number): number {
  let sum = 0;
  let squares = 0;
  for (let k = end - WINDOW + 1; k <= end; k++) {
    sum += h.returns[k];
    squares += h.returns[k] ** 2;
  }
  const vol = Math.sqrt(Math.max(squares / WINDOW - (sum / WINDOW) ** 2, 1e-12));
  const move = Math.log(h.prices[end + HORIZON] / h.prices[end]);
  const threshold = 0.5 * vol * Math.sqrt(HORIZON);
  return move < -threshold ? 0 : move > threshold ? 2 : 1;
}

export class CnnTrainer extends SeededTrainer implements Trainer {
  readonly name = 'cnn';
  readonly model = tfl.sequential({
    layers: [
      tfl.layers.reshape({ inputShape: [WINDOW], targetShape: [WINDOW, 1] }),
      // One strided convolution: tfjs's CPU convolutions are slow, and four models share two cores.
      tfl.layers.conv1d({ filters: 8, kernelSize: 5, strides: 2, activation: 'relu', kernelInitializer: glorot(21) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: glorot(23) }),
      tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: glorot(24) }),
    ],
  });
  readonly policy = { monitor: { val_loss: 'min' as const, val_acc: 'max' as const }, improvement: { minRelative: 0.005 }, every: { steps: null } };

  constructor() {
    super('cnn');
    this.model.compile({ optimizer: tf.train.adam(2e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  }

  private windows(h: History, ends: number[]) {
    const x = rows(ends, WINDOW, (row, end) => {
      for (let k = 0; k < WINDOW; k++) row[k] = h.returns[end - WINDOW + 1 + k] * 1000;
    });
    return { x, labels: ends.map((end) => label(h, end)) };
  }

  async train(h: History): Promise<Metrics> {
    const { x, labels } = this.windows(h, sample(this.rng, BATCH, WINDOW - 1, h.length - HORIZON - VALID));
    const y = oneHot(labels);
    const [loss, acc] = (await this.model.trainOnBatch(x, y)) as number[];
    tf.dispose([x, y]);
    return { loss, acc };
  }

  validate(h: History): Metrics {
    const ends = Array.from({ length: VALID }, (_, i) => h.length - HORIZON - VALID + i);
    const { x, labels } = this.windows(h, ends);
    const probs = predict(this.model, x);
    const predicted = argmax(probs, 3);
    let loss = 0;
    let correct = 0;
    labels.forEach((y, i) => {
      loss -= Math.log(Math.max(probs[i * 3 + y], 1e-7));
      if (predicted[i] === y) correct++;
    });
    return { val_loss: loss / VALID, val_acc: correct / VALID };
  }
}
