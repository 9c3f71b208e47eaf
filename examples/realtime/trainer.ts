// What the orchestrator needs from each of the four trainers, and the pieces
// they share: seeded initializers, a seeded RNG whose state is saved, and
// batch features cut from the market history.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import seedrandom from 'seedrandom';
import type { Metrics, PolicyOptions } from '../../src/index.js';
import type { History } from './market.js';

export interface Trainer {
  readonly name: string;
  readonly model: tfl.LayersModel;
  /** Save policy of this model (store.model(name, policy)). */
  readonly policy: PolicyOptions;
  /** One optimizer step on data drawn from the history; returns training metrics. */
  train(history: History): Promise<Metrics>;
  /** Metrics on the newest data, which training never draws from. */
  validate(history: History): Metrics;
  /** The trainer's own state (its RNG), saved with each checkpoint. */
  state(): Record<string, unknown>;
  restore(state: Record<string, unknown>): void;
}

export const glorot = (seed: number) => tfl.initializers.glorotUniform({ seed });

/** A seeded RNG whose state a checkpoint carries. */
export class Rng {
  private prng: seedrandom.prng;
  constructor(seed: string) {
    this.prng = seedrandom.alea(seed, { state: true });
  }
  next(): number {
    return this.prng();
  }
  int(below: number): number {
    return Math.floor(this.prng() * below);
  }
  state(): seedrandom.State {
    return this.prng.state();
  }
  restore(state: seedrandom.State): void {
    this.prng = seedrandom.alea('', { state });
  }
}

/** The common part of the trainers: a seeded RNG, which is all the state most of them have. */
export abstract class SeededTrainer {
  protected readonly rng: Rng;

  constructor(seed: string) {
    this.rng = new Rng(seed);
  }

  state(): Record<string, unknown> {
    return { rng: this.rng.state() };
  }

  restore(state: Record<string, unknown>): void {
    this.rng.restore(state.rng as seedrandom.State);
  }
}

/** Rows of `width` features for each index of `at`, filled by `fill(row, index)`. */
export function rows(at: number[], width: number, fill: (row: Float32Array, index: number) => void): tf.Tensor2D {
  const data = new Float32Array(at.length * width);
  at.forEach((index, r) => fill(data.subarray(r * width, (r + 1) * width), index));
  return tf.tensor2d(data, [at.length, width]);
}

/** One-hot rows of 3 classes. */
export function oneHot(labels: number[]): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 3) as tf.Tensor2D);
}

/** Row-wise argmax of a [n, k] probability matrix. */
export function argmax(probs: Float32Array, k: number): Int32Array {
  const out = new Int32Array(probs.length / k);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** Predictions of `model` for a batch, as plain numbers; the tensors are freed. */
export function predict(model: tfl.LayersModel, x: tf.Tensor): Float32Array {
  const out = model.predict(x) as tf.Tensor;
  const values = out.dataSync() as Float32Array;
  tf.dispose([x, out]);
  return values;
}

/** Mean reward per tick (basis points) of holding positions[i] (-1, 0, 1) over the return after each tick; `cost` per unit traded. */
export function backtest(positions: ArrayLike<number>, nextReturns: ArrayLike<number>, cost: number): number {
  let total = 0;
  let held = 0;
  for (let i = 0; i < positions.length; i++) {
    total += positions[i] * nextReturns[i] * 1e4 - cost * Math.abs(positions[i] - held);
    held = positions[i];
  }
  return total / positions.length;
}

/** Uniform draws of history indices in [from, to). */
export function sample(rng: Rng, n: number, from: number, to: number): number[] {
  return Array.from({ length: n }, () => from + rng.int(to - from));
}
