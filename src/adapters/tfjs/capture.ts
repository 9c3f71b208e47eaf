// Exact resume of a tfjs LayersModel: its weights, its optimizer's state and
// the trainer's own state (RNG, data position: JSON) in one checkpoint, and
// back into a live model so that training continues bit for bit.
import { io, Variable, tensor as makeTensor, type Optimizer, type Tensor as TfTensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError, type LoadedCheckpoint, type Tensor } from '../../index.js';
import { storedType, tensorFor, tfjsMetaOf, toArtifacts, type NamedTensors, type TfjsMeta, type WeightSpec } from './artifacts.js';

// Adam keeps beta1^t and beta2^t as running products that getWeights() leaves
// out; its setWeights() recomputes them with pow(), which differs from the
// product in the last bits, so a resumed run would drift. They travel as
// extra tensors and are put back after setWeights().
const HIDDEN_OPTIMIZER_STATE = ['accBeta1', 'accBeta2'];

export interface CaptureOptions {
  /** Save the optimizer's state too (default true; skipped if the model is not compiled). */
  includeOptimizer?: boolean;
  /** The trainer's own state, stored as `meta.state` (JSON): RNG state, data position, ... */
  state?: Record<string, unknown>;
}

export interface CapturedModel {
  /** Reads the weights when called (report() calls it only when it saves). */
  tensors: () => NamedTensors;
  meta: { tfjs: TfjsMeta; state?: Record<string, unknown> };
}

type NamedTensor = Awaited<ReturnType<Optimizer['getWeights']>>[number];

interface Source {
  spec: WeightSpec;
  read: () => Tensor['data'];
}

// Model topology only changes when layers are added, which training does not do.
const topologies = new WeakMap<LayersModel, {}>();

function topologyOf(model: LayersModel): {} {
  let topology = topologies.get(model);
  if (!topology) topologies.set(model, (topology = model.toJSON(null, false) as {}));
  return topology;
}

/** The arrays of a tfjs tensor: CPU tensors are never written after creation, so no copy is taken here. */
function tensorSource(name: string, variable: TfTensor, group: WeightSpec['group']): Source {
  const spec: WeightSpec = { name, shape: [...variable.shape], dtype: variable.dtype as WeightSpec['dtype'], group };
  storedType(spec); // refuse string / complex weights now, not at the first save
  return { spec, read: () => variable.dataSync() as Tensor['data'] };
}

function hiddenState(optimizer: Optimizer): Array<[string, Variable]> {
  const fields = optimizer as unknown as Record<string, unknown>;
  return HIDDEN_OPTIMIZER_STATE.filter((key) => fields[key] instanceof Variable).map((key) => [key, fields[key] as Variable]);
}

async function optimizerSources(optimizer: Optimizer): Promise<Source[]> {
  let weights: NamedTensor[];
  try {
    weights = await optimizer.getWeights();
  } catch (cause) {
    throw new CheckpointError('E_BAD_INPUT', `The ${optimizer.getClassName()} optimizer cannot export its state (${(cause as Error).message}); pass includeOptimizer: false`, { cause });
  }
  return weights.map(({ name, tensor }) => {
    if (tensor instanceof Variable) return tensorSource(name, tensor, 'optimizer');
    // A temporary (the iteration count): read it now and let it go.
    const values = tensor.dataSync().slice() as Tensor['data'];
    const source = tensorSource(name, tensor, 'optimizer');
    tensor.dispose();
    return { spec: source.spec, read: () => values };
  });
}

/**
 * What a checkpoint of `model` holds: weights and (by default) optimizer
 * state as tensors read lazily, the tfjs manifest and `state` as meta. Spread
 * it into report(): `ckpts.report({ step, metrics, ...await captureModel(model) })`.
 */
export async function captureModel(model: LayersModel, options: CaptureOptions = {}): Promise<CapturedModel> {
  const { includeOptimizer = true, state } = options;
  const sources = model.weights.map((w) => tensorSource(w.originalName, w.read(), undefined));
  const optimizer = includeOptimizer ? model.optimizer : null;
  let hidden: Array<[string, Variable]> = [];
  if (optimizer) {
    sources.push(...(await optimizerSources(optimizer)));
    hidden = hiddenState(optimizer);
  }
  const tfjs: TfjsMeta = {
    weightSpecs: sources.map((s) => s.spec), modelTopology: topologyOf(model), format: 'layers-model',
    // As model.save() does with includeOptimizer: tf.loadLayersModel then compiles the model and restores the optimizer.
    ...(optimizer ? { trainingConfig: (model as unknown as { getTrainingConfig(): io.TrainingConfig }).getTrainingConfig() } : {}),
    ...(hidden.length ? { optimizerState: hidden.map(([key]) => `optimizer/${key}`) } : {}),
  };
  return {
    tensors: () => [
      ...sources.map(({ spec, read }): [string, Tensor] => [spec.name, { dtype: storedType(spec).dtype, shape: spec.shape, data: read() }]),
      ...hidden.map(([key, v]): [string, Tensor] => [`optimizer/${key}`, { dtype: 'float32', shape: [], data: v.dataSync() as Float32Array }]),
    ],
    meta: state === undefined ? { tfjs } : { tfjs, state },
  };
}

export interface RestoredState {
  step: number;
  epoch: number;
  /** The `state` given to captureModel (or checkpointCallback) when the checkpoint was taken. */
  state: Record<string, unknown> | undefined;
}

function bad(loaded: LoadedCheckpoint, message: string): CheckpointError {
  return new CheckpointError('E_BAD_INPUT', `checkpoint #${loaded.info.seq} of model "${loaded.info.model}": ${message}`);
}

/**
 * Puts a checkpoint written by captureModel, checkpointCallback or
 * tfjsHandler into a live model: weights in `model.weights` order (shapes
 * checked), then the optimizer state, exactly.
 */
export async function restoreModel(model: LayersModel, loaded: LoadedCheckpoint): Promise<RestoredState> {
  const tfjs = tfjsMetaOf(loaded);
  const { weightData } = toArtifacts(loaded);
  const decoded = io.decodeWeights(weightData!, tfjs.weightSpecs);
  try {
    const modelSpecs = tfjs.weightSpecs.filter((s) => s.group !== 'optimizer');
    if (modelSpecs.length !== model.weights.length)
      throw bad(loaded, `it has ${modelSpecs.length} model weights, the model has ${model.weights.length}`);
    model.weights.forEach((w, i) => {
      const saved = modelSpecs[i].shape;
      if (saved.length !== w.shape.length || saved.some((d, k) => d !== w.shape[k]))
        throw bad(loaded, `weight ${i} ("${modelSpecs[i].name}") has shape [${saved}], the model's "${w.originalName}" has [${w.shape}]`);
    });
    model.setWeights(modelSpecs.map((s) => decoded[s.name]));
    const optimizerSpecs = tfjs.weightSpecs.filter((s) => s.group === 'optimizer');
    if (optimizerSpecs.length) await restoreOptimizer(model, loaded, tfjs, optimizerSpecs.map((s) => ({ name: s.name, tensor: decoded[s.name] })));
  } finally {
    for (const t of Object.values(decoded)) t.dispose();
  }
  const state = loaded.meta.state;
  return { step: loaded.step, epoch: loaded.epoch, state: typeof state === 'object' && state !== null ? (state as Record<string, unknown>) : undefined };
}

async function restoreOptimizer(model: LayersModel, loaded: LoadedCheckpoint, tfjs: TfjsMeta, weights: NamedTensor[]): Promise<void> {
  const optimizer = model.optimizer;
  if (!optimizer) throw bad(loaded, 'it holds optimizer state but the model is not compiled');
  // setWeights() replaces the optimizer's variables without disposing the old ones.
  const previous = await optimizer.getWeights();
  await optimizer.setWeights(weights);
  const current = await optimizer.getWeights();
  const kept = new Set<TfTensor>(current.map((w) => w.tensor).filter((t) => t instanceof Variable));
  for (const { tensor } of [...previous, ...current]) if (!kept.has(tensor)) tensor.dispose();
  const hidden = new Map(hiddenState(optimizer));
  for (const name of tfjs.optimizerState ?? []) {
    const variable = hidden.get(name.replace(/^optimizer\//, ''));
    if (!variable) throw bad(loaded, `it holds optimizer state "${name}" that the ${optimizer.getClassName()} optimizer does not have`);
    const saved = tensorFor(loaded, { name, shape: [], dtype: 'float32' });
    const value = makeTensor(saved.data as Float32Array, [], 'float32');
    variable.assign(value);
    value.dispose();
  }
}
