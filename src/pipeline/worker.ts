// Piscina worker: runs the blocking native calls of the save pipeline
// (persist, delete, load, page pre-faulting) so the training thread never
// waits on the disk. Failures come back as values: an Error thrown across
// the thread boundary would lose its `code`.
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { readFromSync, STORE, writeCheckedToSync } from '../file/checkpoint-file.js';
import { type CheckpointFields, type LoadedCheckpoint, type WriteOptions } from '../file/types.js';
import { callNative, CheckpointError, type ErrorCode } from '../errors.js';
import { native } from '../native.js';
import { DTYPES, type Dtype, type TensorSpec } from '../file/tensors.js';

/** Where a staged tensor lives in a shared slab. */
export interface SlabTensor { name: string; dtype: Dtype; shape: number[]; offset: number; byteLength: number }

export type WorkerTask =
  | { kind: 'persist'; path: string; slab: SharedArrayBuffer; tensors: SlabTensor[]; fields: CheckpointFields; options: WriteOptions }
  | { kind: 'remove'; path: string }
  | { kind: 'load'; path: string; verify: boolean }
  | { kind: 'prefault'; slab: SharedArrayBuffer };

export interface WorkerFailure { failed: { code: ErrorCode | null; message: string; errno?: number } }

/** Rebuilds a CheckpointError (or a plain Error) from a failure a worker returned. */
export function failureToError(failure: WorkerFailure['failed']): Error {
  if (failure.code === null) return new Error(failure.message);
  return new CheckpointError(failure.code, failure.message, { errno: failure.errno });
}

function asFailure(err: unknown): WorkerFailure {
  if (err instanceof CheckpointError) return { failed: { code: err.code, message: err.message, errno: err.errno } };
  return { failed: { code: null, message: err instanceof Error ? err.message : String(err) } };
}

function persist(task: Extract<WorkerTask, { kind: 'persist' }>) {
  const tensors = task.tensors.map((t): TensorSpec => {
    const { array, size } = DTYPES[t.dtype];
    return { name: t.name, dtype: t.dtype, shape: t.shape, data: new array(task.slab, t.offset, t.byteLength / size) };
  });
  return writeCheckedToSync(task.path, tensors, task.fields, task.options);
}

/** A loaded checkpoint whose tensor buffers move to the caller's thread instead of being copied. */
function load(task: Extract<WorkerTask, { kind: 'load' }>) {
  const loaded: LoadedCheckpoint = readFromSync(task.path, { verify: task.verify }, STORE);
  const buffers = Object.values(loaded.tensors).map((t) => t.data.buffer);
  return move({ [transferableSymbol]: buffers, [valueSymbol]: loaded });
}

// A write to each page makes the kernel back the whole slab now, so the
// copy of a later save runs at memcpy speed instead of fault speed. The
// slab may already hold a save's bytes: an atomic add of zero writes
// without changing them, and no concurrent plain store can slip inside it.
function prefault(slab: SharedArrayBuffer): null {
  const words = new Int32Array(slab, 0, slab.byteLength >> 2);
  for (let i = 0; i < words.length; i += 1024) Atomics.add(words, i, 0);
  return null;
}

/**
 * Runs once in each worker thread: its nice value (and that of the encoder
 * threads it starts) makes compression yield the cores to training.
 */
export function setUp({ nice }: { nice: number }): void {
  native.lowerThreadPriority(nice);
}

export default function run(task: WorkerTask): unknown {
  try {
    switch (task.kind) {
      case 'persist': return persist(task);
      case 'remove': return callNative(() => native.removeFile(task.path));
      case 'load': return load(task);
      case 'prefault': return prefault(task.slab);
    }
  } catch (err) {
    return asFailure(err);
  }
}
