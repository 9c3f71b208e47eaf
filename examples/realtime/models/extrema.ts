// Extrema detector: is the middle of a 25-tick price window its highest
// (class 1) or lowest (class 2) point, or neither (0)? Batches are balanced
// across the classes (extrema are rare); validation reports the F1 of the
// two extremum classes, averaged.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Metrics } from '../../../src/index.js';
import type { History } from '../market.js';
import { argmax, oneHot, glorot, predict, rows, sample, SeededTrainer, type Trainer } from '../trainer.js';

const HALF = 12;
const WINDOW = 2 * HALF + 1;
const PER_CLASS = 10;
const VALID = 400;

function label(h: History, end: number): number {
  const centre = h.prices[end - HALF];
  let max = true;
  let min = true;
  for (let k = end - WINDOW + 1; k <= end; k++) {
    if (h.prices[k] > centre) max = false;
    if (h.prices[k] < centre) min = false;
  }
  return max ? 1 : min ? 2 : 0;
}

/** F1 of one class: 2·tp / (2·tp + fp + fn); 0 when the class never occurs nor is predicted. */
function f1(predicted: Int32Array, labels: number[], c: number): number {
  let tp = 0;
  let wrong = 0;
  labels.forEach((y, i) => {
    if (predicted[i] === c && y === c) tp++;
    else if (predicted[i] === c || y === c) wrong++;
  });
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + wrong);
}

export class ExtremaTrainer extends SeededTrainer implements Trainer {
  readonly name = 'extrema';
  readonly model = tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [WINDOW], units: 32, activation: 'relu', kernelInitializer: glorot(41) }),
      tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: glorot(42) }),
      tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: glorot(43) }),
    ],
  });
  readonly policy = { monitor: { f1: 'max' as const }, every: { steps: null } };

  constructor() {
    super('extrema');
    this.model.compile({ optimizer: tf.train.adam(2e-3), loss: 'categoricalCrossentropy' });
  }

  private windows(h: History, ends: number[]): tf.Tensor2D {
    return rows(ends, WINDOW, (row, end) => {
      const centre = h.prices[end - HALF];
      for (let k = 0; k < WINDOW; k++) row[k] = Math.log(h.prices[end - WINDOW + 1 + k] / centre) * 1000;
    });
  }

  async train(h: History): Promise<Metrics> {
    const byClass: number[][] = [[], [], []];
    for (const end of sample(this.rng, 40 * PER_CLASS, WINDOW - 1, h.length - VALID)) {
      const bucket = byClass[label(h, end)];
      if (bucket.length < PER_CLASS) bucket.push(end);
    }
    const ends = byClass.flat();
    const x = this.windows(h, ends);
    const y = oneHot(ends.map((end) => label(h, end)));
    const loss = (await this.model.trainOnBatch(x, y)) as number;
    tf.dispose([x, y]);
    return { loss };
  }

  validate(h: History): Metrics {
    const ends = Array.from({ length: VALID }, (_, i) => h.length - VALID + i);
    const predicted = argmax(predict(this.model, this.windows(h, ends)), 3);
    const labels = ends.map((end) => label(h, end));
    return { f1: (f1(predicted, labels, 1) + f1(predicted, labels, 2)) / 2 };
  }
}
