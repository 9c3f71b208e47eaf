// The TensorFlow.js adapter: tensorkeep:// URLs as a tfjs IO handler,
// capturing and restoring models, the training callback.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, type CheckpointManager } from '../../src/index.js';
import { captureModel, checkpointCallback, registerTensorkeepRouter, restoreModel, tfjsHandler } from '../../src/adapters/tfjs/index.js';
import { expectRejectsCode, expectThrowsCode, sameBytes, tempDir } from '../helpers.js';
import { functionalModel, sequentialModel, useCpu } from '../fixtures/tfjs-models.js';
import { onEvent } from '../fixtures/events.js';

const dir = tempDir();
let store: CheckpointManager;

beforeAll(async () => {
  await useCpu();
  store = await open(join(dir, 'store'), { every: { steps: 2 } });
});
afterAll(() => store.close());

interface Case {
  name: string;
  build: () => tfl.LayersModel;
  inputs: () => tf.Tensor | tf.Tensor[];
  labels: () => tf.Tensor;
}

const seededInt = (shape: number[], max: number, seed: number) => tf.randomUniform(shape, 0, max, 'int32', seed);
const CASES: Case[] = [
  {
    name: 'sequential',
    build: sequentialModel,
    inputs: () => tf.randomNormal([8, 12, 2], 0, 1, 'float32', 11),
    labels: () => tf.oneHot(seededInt([8], 3, 12), 3),
  },
  {
    name: 'functional',
    build: functionalModel,
    inputs: () => [tf.cast(seededInt([8, 6], 10, 13), 'float32'), tf.randomNormal([8, 4], 0, 1, 'float32', 14)],
    labels: () => tf.oneHot(seededInt([8], 2, 15), 2),
  },
];

/** A compiled model with a few Adam steps behind it, so that the optimizer has state. */
async function trained(c: Case): Promise<tfl.LayersModel> {
  const model = c.build();
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  await model.fit(c.inputs(), c.labels(), { epochs: 3, batchSize: 4, shuffle: false, verbose: 0 });
  return model;
}

const predict = (model: tfl.LayersModel, c: Case) => (model.predict(c.inputs()) as tf.Tensor).dataSync();

async function optimizerValues(model: tfl.LayersModel): Promise<Array<[string, Float32Array | Int32Array]>> {
  const weights = await model.optimizer.getWeights();
  return weights.map(({ name, tensor }) => [name, tensor.dataSync() as Float32Array | Int32Array]);
}

/**
 * Asserts that `got`'s optimizer holds the state of `want`'s: the same
 * variables (Adam's step count, and both moments of every trainable weight),
 * each the same slot of the same weight, of the same length and bytes. A
 * variable is named after its weight's index ("#3/m"): two models built
 * apart name their layers apart (dense_Dense1, dense_Dense2), and a restored
 * optimizer keeps the names it was saved with, so both models' names count.
 */
async function expectSameOptimizerState(got: tfl.LayersModel, want: tfl.LayersModel | Array<[string, Float32Array | Int32Array]>, of: tfl.LayersModel): Promise<void> {
  const index = new Map([...of.weights, ...got.weights].map((w, i) => [w.name, i % of.weights.length]));
  const named = (variables: Array<[string, Float32Array | Int32Array]>) => variables.map(([name, values]): [string, Float32Array | Int32Array] => {
    const slash = name.lastIndexOf('/');
    const at = index.get(name.slice(0, slash));
    return [at === undefined ? name : `#${at}${name.slice(slash)}`, values];
  });
  const [g, w] = [named(await optimizerValues(got)), named(Array.isArray(want) ? want : await optimizerValues(want))];
  expect(w.map(([n]) => n).filter((n) => /^#\d+\/[mv]$/.test(n))).toHaveLength(2 * of.trainableWeights.length);
  expect(g.map(([n, v]) => [n, v.length])).toEqual(w.map(([n, v]) => [n, v.length]));
  g.forEach(([name, values], i) => expect(sameBytes(values, w[i][1]), name).toBe(true));
}

describe.each(CASES)('tfjsHandler round trip: $name model', (c) => {
  it('with the optimizer: tf.loadLayersModel restores topology, weights, optimizer and training config', async () => {
    const model = await trained(c);
    const ckpts = store.model(`${c.name}-opt`);
    const result = await model.save(tfjsHandler(ckpts, { step: 24, epoch: 3, metrics: { loss: 0.5 } }), { includeOptimizer: true });
    expect(result.modelArtifactsInfo.weightDataBytes).toBeGreaterThan(0);

    const saved = ckpts.latest()!;
    expect(saved).toMatchObject({ step: 24, epoch: 3, category: 'manual', metrics: { loss: 0.5 } });
    const optimizerVariables = await optimizerValues(model);
    const file = await ckpts.load(saved.seq!);
    // Every weight and every optimizer variable is its own named tensor.
    expect(Object.keys(file.tensors)).toEqual([...model.weights.map((w) => w.originalName), ...optimizerVariables.map(([n]) => n)]);

    const loaded = await tfl.loadLayersModel(tfjsHandler(ckpts));
    expect(sameBytes(predict(loaded, c), predict(model, c))).toBe(true);
    expect(loaded.optimizer.getClassName()).toBe('Adam');
    await expectSameOptimizerState(loaded, model, model);
  });

  it('without the optimizer: only the model weights are stored and the loaded model predicts the same', async () => {
    const model = await trained(c);
    const ckpts = store.model(`${c.name}-plain`);
    await model.save(tfjsHandler(ckpts));
    expect(ckpts.latest()).toMatchObject({ step: 0, category: 'manual' });
    const file = await ckpts.load('latest');
    expect(Object.keys(file.tensors)).toEqual(model.weights.map((w) => w.originalName));

    const loaded = await tfl.loadLayersModel(tfjsHandler(ckpts, { checkpoint: 'latest' }));
    expect(sameBytes(predict(loaded, c), predict(model, c))).toBe(true);
    expect(loaded.optimizer).toBeUndefined();
  });
});

describe('tensorkeep:// URLs', () => {
  it('save and load through the router once it is registered, and not after', async () => {
    const model = await trained(CASES[0]);
    const unregister = registerTensorkeepRouter(store);
    await model.save('tensorkeep://routed?step=7&epoch=1', { includeOptimizer: true });
    await model.save('tensorkeep://routed?step=9');
    const ckpts = store.model('routed');
    expect(ckpts.list().map((i) => [i.seq, i.step, i.epoch])).toEqual([[1, 7, 1], [2, 9, 0]]);
    const first = await tfl.loadLayersModel('tensorkeep://routed/1');
    expect(first.optimizer.getClassName()).toBe('Adam');
    const latest = await tfl.loadLayersModel('tensorkeep://routed');
    expect(latest.optimizer).toBeUndefined();
    expect(sameBytes(predict(latest, CASES[0]), predict(model, CASES[0]))).toBe(true);

    await expectRejectsCode(model.save('tensorkeep://routed?step=-1'), 'E_BAD_INPUT');
    await expectRejectsCode(model.save('tensorkeep://../escape'), 'E_BAD_INPUT');
    unregister();
    // (a load would fall back to tfjs's HTTP loader; a save has no fallback)
    await expect(model.save('tensorkeep://routed')).rejects.toThrow(/Cannot find any save handlers/);
  });
});

describe('captureModel / restoreModel', () => {
  it('put weights, optimizer state and trainer state back into a live model', async () => {
    const c = CASES[1];
    const model = await trained(c);
    const ckpts = store.model('captured');
    const captured = await captureModel(model, { state: { rng: [1, 2, 3], cursor: 40 } });
    await ckpts.save(captured.tensors(), { step: 12, epoch: 2, meta: captured.meta });

    const fresh = c.build();
    fresh.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const restored = await restoreModel(fresh, await ckpts.load('latest'));
    expect(restored).toEqual({ step: 12, epoch: 2, state: { rng: [1, 2, 3], cursor: 40 } });
    expect(sameBytes(predict(fresh, c), predict(model, c))).toBe(true);
    await expectSameOptimizerState(fresh, model, model);
  });

  it('refuse a model of another shape and a checkpoint not written by the adapter', async () => {
    const ckpts = store.model('captured');
    const other = CASES[0].build();
    await expectRejectsCode(ckpts.load('latest').then((l) => restoreModel(other, l)), 'E_BAD_INPUT');
    const foreign = store.model('foreign');
    await foreign.save({ w: new Float32Array(4) }, { step: 1 });
    await expectRejectsCode(foreign.load('latest').then((l) => restoreModel(other, l)), 'E_BAD_INPUT');
    await expectRejectsCode(tfl.loadLayersModel(tfjsHandler(foreign)), 'E_BAD_INPUT');
  });
});

describe('checkpointCallback', () => {
  const c = CASES[0];
  const fit = (model: tfl.LayersModel, callback: tfl.Callback) =>
    model.fit(c.inputs(), c.labels(), { epochs: 2, batchSize: 2, shuffle: false, verbose: 0, callbacks: [callback] });
  const compiled = () => {
    const model = c.build();
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['acc'] });
    return model;
  };

  it('reports every batch (loss and acc) and saves only when the store policy says so', async () => {
    const ckpts = store.model('callback-policy', { every: { steps: 3 } });
    const skipped: number[] = [];
    const onSkip = ({ model, step }: { model: string; step: number }) => model === 'callback-policy' && skipped.push(step);
    onEvent(store, 'skipped', onSkip);
    await fit(compiled(), checkpointCallback(ckpts, { every: 'batch' }));
    store.off('skipped', onSkip);
    await store.flush();
    // 2 epochs of 4 batches: steps 1..8; the step clock starts at step 1 and saves at 4 and 7.
    expect(skipped).toEqual([1, 2, 3, 5, 6, 8]);
    const latest = ckpts.latest()!;
    expect(latest).toMatchObject({ step: 7, epoch: 1 });
    expect(Object.keys(latest.metrics).sort()).toEqual(['acc', 'loss']);
  });

  it('refuses bad options where they enter', () => {
    const ckpts = store.model('callback-policy');
    expectThrowsCode(() => checkpointCallback(ckpts, { every: 'step' as never }), 'E_BAD_INPUT', 'every');
    expectThrowsCode(() => checkpointCallback(ckpts, { initialStep: -5 }), 'E_BAD_INPUT', 'initialStep but received -5');
    expectThrowsCode(() => checkpointCallback(ckpts, { state: { rng: 1 } as never }), 'E_BAD_INPUT', 'state');
  });

  it('saves the weights, optimizer and trainer state as they were at the step', async () => {
    const ckpts = store.model('callback-always', { always: true });
    const model = compiled();
    await fit(model, checkpointCallback(ckpts, { every: 'epoch', state: () => ({ note: 'x' }) }));
    await store.flush();
    const last = await ckpts.load('latest');
    expect(last).toMatchObject({ step: 8, epoch: 1, meta: { state: { note: 'x' } } });
    const fresh = compiled();
    expect(await restoreModel(fresh, last)).toEqual({ step: 8, epoch: 1, state: { note: 'x' } });
    expect(sameBytes(predict(fresh, c), predict(model, c))).toBe(true);
    const want = await optimizerValues(model);
    await expectSameOptimizerState(fresh, want, model);
    // The same checkpoint through tfjs's own loader: compiled from its training config, optimizer restored.
    const loaded = await tfl.loadLayersModel(tfjsHandler(ckpts));
    expect(loaded.optimizer.getClassName()).toBe('Adam');
    expect(sameBytes(predict(loaded, c), predict(model, c))).toBe(true);
    await expectSameOptimizerState(loaded, want, model);
  });
});
