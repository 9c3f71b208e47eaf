// Tensors as callers hand them in (a TensorDict, a Map or [name, tensor]
// pairs): every problem is an E_BAD_INPUT naming the tensor, found before
// anything is copied or written.
import { badInput } from '../errors.js';
import { DTYPES, impliedDtype, isDtype, type Tensor, type TensorInput, type TensorLike, type TensorSpec, type TypedArray } from '../file/tensors.js';
import { describe } from './checks.js';
import { LIMITS } from './limits.js';

function isTypedArray(value: unknown): value is TypedArray {
  return impliedDtype(value) !== undefined;
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
  if (bytes > LIMITS.tensorNameBytes)
    throw badInput(`Tensor name "${name.slice(0, 40)}…" is ${bytes} bytes; the limit is ${LIMITS.tensorNameBytes}`);
  if (seen.has(name)) throw badInput(`Tensor name "${name}" appears twice`);
  seen.add(name);
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw badInput(`Expected array for shape of "${name}" but received ${describe(shape)}`);
  if (shape.length > LIMITS.dims) throw badInput(`Tensor "${name}" has ${shape.length} dimensions; the limit is ${LIMITS.dims}`);
  for (const d of shape)
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw badInput(`Expected non-negative integer for shape of "${name}" but received ${describe(d)}`);
  return shape as number[];
}

function toSpec(name: string, value: TensorLike): TensorSpec {
  if (isTypedArray(value)) {
    if (isDetached(value)) throw badInput(`Tensor "${name}" is backed by a detached ArrayBuffer`);
    return { name, dtype: impliedDtype(value)!, shape: [value.length], data: value };
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
