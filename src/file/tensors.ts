import { badInput, CheckpointError } from '../errors.js';

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

/** The dtype a bare TypedArray implies (undefined for anything else); its buffer may still be detached. */
export function impliedDtype(value: unknown): Dtype | undefined {
  return ArrayBuffer.isView(value) ? IMPLIED_DTYPE.get(value.constructor) : undefined;
}

export const MAX_NAME_BYTES = 1024;
export const MAX_DIMS = 32;

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

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : `${String(value)} of type ${typeof value}`;
}

function isTypedArray(value: unknown): value is TypedArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && IMPLIED_DTYPE.has(value.constructor);
}

function isDetached(data: TypedArray): boolean {
  try {
    // Constructing a view throws on a detached buffer (transferred to a worker
    // or structuredClone'd away); reading its bytes would read nothing.
    new Uint8Array(data.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

function entriesOf(input: TensorInput): Array<[string, TensorLike]> {
  if (input instanceof Map) return [...input.entries()];
  if (Array.isArray(input)) {
    for (const item of input)
      if (!Array.isArray(item) || item.length !== 2)
        throw badInput(`Expected [name, tensor] pairs for tensors but received ${describe(item)}`);
    return input;
  }
  if (input === null || typeof input !== 'object' || ArrayBuffer.isView(input))
    throw badInput(`Expected an object of named tensors but received ${describe(input)}`);
  return Object.entries(input);
}

function checkName(name: unknown, seen: Set<string>): asserts name is string {
  if (typeof name !== 'string') throw badInput(`Expected string for tensor name but received ${describe(name)}`);
  if (name.length === 0) throw badInput('Tensor names must not be empty');
  // A lone surrogate has no UTF-8 form: it would come back as U+FFFD, a different name.
  if (!name.isWellFormed()) throw badInput(`Tensor name "${name}" contains a lone UTF-16 surrogate`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES)
    throw badInput(`Tensor name "${name.slice(0, 40)}…" is ${bytes} bytes; the limit is ${MAX_NAME_BYTES}`);
  if (seen.has(name)) throw badInput(`Tensor name "${name}" appears twice`);
  seen.add(name);
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw badInput(`Expected array for shape of "${name}" but received ${describe(shape)}`);
  if (shape.length > MAX_DIMS) throw badInput(`Tensor "${name}" has ${shape.length} dimensions; the limit is ${MAX_DIMS}`);
  for (const d of shape)
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw badInput(`Expected non-negative integer for shape of "${name}" but received ${describe(d)}`);
  return shape as number[];
}

function toSpec(name: string, value: TensorLike): TensorSpec {
  if (isTypedArray(value)) {
    if (isDetached(value)) throw badInput(`Tensor "${name}" is backed by a detached ArrayBuffer`);
    return { name, dtype: IMPLIED_DTYPE.get(value.constructor)!, shape: [value.length], data: value };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value))
    throw badInput(`Expected TypedArray or {dtype, shape, data} for tensor "${name}" but received ${describe(value)}`);
  const { dtype, shape, data } = value as Partial<Tensor>;
  if (!isDtype(dtype))
    throw badInput(`Unknown dtype ${JSON.stringify(dtype)} for tensor "${name}"; expected one of ${Object.keys(DTYPES).join(', ')}`);
  const dims = checkShape(name, shape);
  if (!isTypedArray(data)) throw badInput(`Expected TypedArray for data of "${name}" but received ${describe(data)}`);
  if (isDetached(data)) throw badInput(`Tensor "${name}" is backed by a detached ArrayBuffer`);
  const size = DTYPES[dtype].size;
  if (data.BYTES_PER_ELEMENT !== size && data.BYTES_PER_ELEMENT !== 1)
    throw badInput(`Tensor "${name}" has dtype ${dtype} (${size}-byte elements) but its data is a ${data.constructor.name}`);
  const elements = dims.reduce((a, b) => a * b, 1);
  if (elements * size !== data.byteLength)
    throw badInput(
      `Tensor "${name}": shape [${dims.join(', ')}] of ${dtype} needs ${elements * size} bytes but its data has ${data.byteLength}`,
    );
  return { name, dtype, shape: [...dims], data };
}

/** Validates a tensor collection; every problem is an E_BAD_INPUT naming the tensor. */
export function normalizeTensors(input: TensorInput): TensorSpec[] {
  const seen = new Set<string>();
  return entriesOf(input).map(([name, value]) => {
    checkName(name, seen);
    return toSpec(name, value);
  });
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
