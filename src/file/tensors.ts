// Tensors as the checkpoint file stores them: the dtypes and the arrays
// they load into. validate/tensors.ts checks what callers hand in.
import { CheckpointError } from '../errors.js';

/** Element types a checkpoint stores (safetensors F64 … BOOL map one to one). */
export type Dtype =
  | 'float64' | 'float32' | 'float16' | 'bfloat16'
  | 'int64' | 'int32' | 'int16' | 'int8'
  | 'uint64' | 'uint32' | 'uint16' | 'uint8' | 'bool';

export type TypedArray =
  | Float64Array | Float32Array
  | BigInt64Array | BigUint64Array
  | Int32Array | Int16Array | Int8Array
  | Uint32Array | Uint16Array | Uint8Array | Uint8ClampedArray;

/** A tensor as loaded: shape and dtype beside the flat data. */
export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: TypedArray;
}

/** A bare TypedArray is 1-D with the dtype its class implies. */
export type TensorLike = TypedArray | Tensor;
export type TensorDict = Record<string, TensorLike>;
/** Also accepted wherever a TensorDict is: a Map or [name, tensor] pairs, which keep their order. */
export type TensorInput = TensorDict | Map<string, TensorLike> | Array<[string, TensorLike]>;

interface DtypeInfo {
  size: number;
  /** The TypedArray class tensors of this dtype load into. */
  array: new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => TypedArray;
}

export const DTYPES: Readonly<Record<Dtype, DtypeInfo>> = {
  float64: { size: 8, array: Float64Array },
  float32: { size: 4, array: Float32Array },
  float16: { size: 2, array: Uint16Array },
  bfloat16: { size: 2, array: Uint16Array },
  int64: { size: 8, array: BigInt64Array },
  int32: { size: 4, array: Int32Array },
  int16: { size: 2, array: Int16Array },
  int8: { size: 1, array: Int8Array },
  uint64: { size: 8, array: BigUint64Array },
  uint32: { size: 4, array: Uint32Array },
  uint16: { size: 2, array: Uint16Array },
  uint8: { size: 1, array: Uint8Array },
  bool: { size: 1, array: Uint8Array },
};

const IMPLIED_DTYPE = new Map<unknown, Dtype>([
  [Float64Array, 'float64'], [Float32Array, 'float32'],
  [BigInt64Array, 'int64'], [BigUint64Array, 'uint64'],
  [Int32Array, 'int32'], [Int16Array, 'int16'], [Int8Array, 'int8'],
  [Uint32Array, 'uint32'], [Uint16Array, 'uint16'], [Uint8Array, 'uint8'], [Uint8ClampedArray, 'uint8'],
]);

/**
 * The dtype a bare TypedArray implies (undefined for anything else); its
 * buffer may still be detached. A subclass implies its base class's dtype:
 * a Node Buffer is a Uint8Array.
 */
export function impliedDtype(value: unknown): Dtype | undefined {
  if (!ArrayBuffer.isView(value)) return undefined;
  for (let c: unknown = value.constructor; typeof c === 'function'; c = Object.getPrototypeOf(c)) {
    const dtype = IMPLIED_DTYPE.get(c);
    if (dtype) return dtype;
  }
  return undefined;
}

/** A validated tensor, ready for the addon. */
export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: number[];
  data: TypedArray;
}

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/** Allocates a tensor of the given dtype and byte length (one allocation, no copy). */
export function allocateTensor(dtype: Dtype, shape: number[], nbytes: number): Tensor {
  const info = DTYPES[dtype];
  let buffer: ArrayBuffer;
  try {
    buffer = new ArrayBuffer(nbytes);
  } catch (cause) {
    throw new CheckpointError('E_IO', `cannot allocate ${nbytes} bytes for a ${dtype} tensor of shape [${shape.join(', ')}]`, { cause });
  }
  return { dtype, shape, data: new info.array(buffer, 0, nbytes / info.size) };
}
