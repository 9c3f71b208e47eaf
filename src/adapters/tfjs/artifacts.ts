// tfjs ModelArtifacts <-> a tensorkeep checkpoint. The checkpoint holds one
// named tensor per weight-manifest entry, in manifest order, and `meta.tfjs`
// holds the rest of the artifacts (topology, training config, user metadata,
// the manifest itself), so tf.loadLayersModel gets back what model.save()
// handed over.
import { io } from '@tensorflow/tfjs-core';
import { CheckpointError, type Dtype, type LoadedCheckpoint, type Tensor } from '../../index.js';

export type WeightSpec = io.WeightsManifestEntry;

/** Everything of a ModelArtifacts but the weight bytes: a checkpoint's `meta.tfjs`. */
export interface TfjsMeta {
  weightSpecs: WeightSpec[];
  modelTopology?: {};
  trainingConfig?: io.TrainingConfig;
  userDefinedMetadata?: Record<string, object>;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  /** Names of extra tensors holding optimizer state that tfjs's getWeights() leaves out (capture.ts). */
  optimizerState?: string[];
}

export type NamedTensors = Array<[string, Tensor]>;

// How each manifest dtype (or quantized dtype) is stored; string and
// complex64 weights do not occur in layers models and are refused.
const STORED: Record<string, { dtype: Dtype; size: number }> = {
  float32: { dtype: 'float32', size: 4 },
  int32: { dtype: 'int32', size: 4 },
  bool: { dtype: 'bool', size: 1 },
  uint8: { dtype: 'uint8', size: 1 },
  uint16: { dtype: 'uint16', size: 2 },
  float16: { dtype: 'float16', size: 2 },
};

export function storedType(spec: WeightSpec): { dtype: Dtype; size: number } {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const stored = Object.hasOwn(STORED, dtype) ? STORED[dtype] : undefined;
  if (!stored)
    throw new CheckpointError('E_BAD_INPUT', `Weight "${spec.name}" has dtype ${JSON.stringify(dtype)}; tensorkeep/tfjs stores ${Object.keys(STORED).join(', ')}`);
  return stored;
}

function weightBytes(spec: WeightSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1) * storedType(spec).size;
}

/** Byte views into the artifacts' weight data (no copy) and the meta describing them. */
export function fromArtifacts(artifacts: io.ModelArtifacts): { tensors: NamedTensors; meta: { tfjs: TfjsMeta } } {
  const { modelTopology, weightSpecs = [], weightData, trainingConfig, userDefinedMetadata, format, generatedBy, convertedBy } = artifacts;
  if (modelTopology instanceof ArrayBuffer)
    throw new CheckpointError('E_BAD_INPUT', 'tensorkeep/tfjs saves layers models (JSON topology), not GraphDef models');
  if (weightData === undefined && artifacts.getWeightStream)
    throw new CheckpointError('E_BAD_INPUT', 'tensorkeep/tfjs needs the weights as weightData, not as a weight stream');
  // model.save() hands over one buffer; sharded data is joined (one copy).
  const buffer = weightData === undefined ? new ArrayBuffer(0) : weightData instanceof ArrayBuffer ? weightData : io.concatenateArrayBuffers(weightData);
  const tensors: NamedTensors = [];
  let offset = 0;
  for (const spec of weightSpecs) {
    const nbytes = weightBytes(spec);
    if (offset + nbytes > buffer.byteLength)
      throw new CheckpointError('E_BAD_INPUT', `Weight "${spec.name}" ends at byte ${offset + nbytes} but the weight data has ${buffer.byteLength}`);
    // Bytes with the weight's dtype: no alignment needed, and the staging copy is a plain memcpy.
    tensors.push([spec.name, { dtype: storedType(spec).dtype, shape: [...spec.shape], data: new Uint8Array(buffer, offset, nbytes) }]);
    offset += nbytes;
  }
  if (offset !== buffer.byteLength)
    throw new CheckpointError('E_BAD_INPUT', `The weight manifest describes ${offset} bytes but the weight data has ${buffer.byteLength}`);
  const tfjs: TfjsMeta = { weightSpecs, modelTopology, trainingConfig, userDefinedMetadata, format, generatedBy, convertedBy };
  return { tensors, meta: { tfjs } };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isSpec(v: unknown): v is WeightSpec {
  return isObject(v) && typeof v.name === 'string' && typeof v.dtype === 'string'
    && Array.isArray(v.shape) && v.shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    && (v.group === undefined || v.group === 'model' || v.group === 'optimizer');
}

/** The checkpoint's `meta.tfjs`, checked: a file's meta is untrusted input. */
export function tfjsMetaOf(loaded: LoadedCheckpoint): TfjsMeta {
  const where = `checkpoint #${loaded.info.seq} of model "${loaded.info.model}"`;
  const tfjs = loaded.meta.tfjs;
  if (!isObject(tfjs) || !Array.isArray(tfjs.weightSpecs))
    throw new CheckpointError('E_BAD_INPUT', `${where} was not written by tensorkeep/tfjs: it has no meta.tfjs.weightSpecs`);
  const bad = tfjs.weightSpecs.findIndex((s) => !isSpec(s));
  if (bad >= 0) throw new CheckpointError('E_CORRUPT', `${where}: entry ${bad} of meta.tfjs.weightSpecs is not a weight spec`);
  if (tfjs.optimizerState !== undefined && !(Array.isArray(tfjs.optimizerState) && tfjs.optimizerState.every((n) => typeof n === 'string')))
    throw new CheckpointError('E_CORRUPT', `${where}: meta.tfjs.optimizerState is not a list of names`);
  return tfjs as unknown as TfjsMeta;
}

/** The checkpoint's tensor for a manifest entry, checked against the entry. */
export function tensorFor(loaded: LoadedCheckpoint, spec: WeightSpec): Tensor {
  const tensor = Object.hasOwn(loaded.tensors, spec.name) ? loaded.tensors[spec.name] : undefined;
  if (!tensor || tensor.data.byteLength !== weightBytes(spec))
    throw new CheckpointError('E_CORRUPT', `checkpoint #${loaded.info.seq} of model "${loaded.info.model}": weight "${spec.name}" ` +
      (tensor ? `has ${tensor.data.byteLength} bytes, its manifest entry says ${weightBytes(spec)}` : 'is in the manifest but not in the file'));
  return tensor;
}

/** An ArrayBuffer holding exactly the tensor's bytes (its own buffer when it fills it). */
function ownBuffer({ data }: Tensor): ArrayBuffer {
  if (data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data.buffer;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
}

/** A loaded checkpoint as the ModelArtifacts tfjs loads (weight data as one buffer per weight). */
export function toArtifacts(loaded: LoadedCheckpoint): io.ModelArtifacts {
  const { weightSpecs, optimizerState: _extra, ...rest } = tfjsMetaOf(loaded);
  const weightData = weightSpecs.map((spec) => ownBuffer(tensorFor(loaded, spec))).filter((b) => b.byteLength > 0);
  return { ...rest, weightSpecs, weightData };
}
