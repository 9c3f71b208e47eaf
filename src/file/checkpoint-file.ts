// The low-level API: write, read, inspect and verify one checkpoint file.
// Each call has a Promise form (the native work runs off the event loop);
// write and read also have a *Sync twin that runs on the calling thread,
// for callers that are already off the event loop (a worker thread).
import { badInput, callNative, callNativeAsync, CheckpointError } from '../errors.js';
import { native, type NativeReader, type NativeWriteOptions } from '../native.js';
import { path as checkPathArg } from '../validate/checks.js';
import { checkFields, checkReadOptions, checkVerifyOptions, checkWriteOptions } from '../validate/file-args.js';
import { normalizeTensors } from '../validate/tensors.js';
import { headJson, parseIndex } from './index-json.js';
import { allocateTensor, DTYPES, isDtype, type Tensor, type TensorInput, type TensorLike, type TensorSpec } from './tensors.js';
import type { CheckpointFields, CheckpointIndex, LoadedCheckpoint, ReadOptions, WriteOptions } from './types.js';

function checkPath(path: unknown): asserts path is string {
  checkPathArg('file path', path);
}

/** Everything a write needs, checked: nothing is created when one of them is bad. */
function writeArgs(path: string, tensors: TensorInput, fields: CheckpointFields, options: WriteOptions) {
  checkPath(path);
  const specs = normalizeTensors(tensors).map((t: TensorSpec) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data }));
  return { specs, head: headJson(checkFields(fields)), native: checkWriteOptions(options) };
}

/** Pairs every tensor of the file with the array it decodes into. */
function plan(index: CheckpointIndex, into: TensorInput | undefined) {
  const given = new Map<string, TensorLike>();
  if (into !== undefined) for (const spec of normalizeTensors(into)) given.set(spec.name, spec);
  const entries: Array<[string, Tensor]> = [];
  const targets = index.tensors.map((entry, position) => {
    if (!isDtype(entry.dtype)) throw new CheckpointError('E_VERSION', `unknown dtype ${entry.dtype}`);
    const dest = given.get(entry.name) as TensorSpec | undefined;
    given.delete(entry.name);
    let tensor: Tensor;
    if (dest) {
      if (dest.data.byteLength !== entry.nbytes || DTYPES[dest.dtype].size !== DTYPES[entry.dtype].size)
        throw badInput(
          `into["${entry.name}"] is ${dest.dtype} with ${dest.data.byteLength} bytes; the checkpoint holds ${entry.dtype} [${entry.shape.join(', ')}] of ${entry.nbytes} bytes`,
        );
      tensor = { dtype: entry.dtype, shape: entry.shape, data: dest.data };
    } else {
      tensor = allocateTensor(entry.dtype, entry.shape, entry.nbytes);
    }
    entries.push([entry.name, tensor]);
    return { tensor: position, data: tensor.data };
  });
  if (given.size > 0) throw badInput(`into names tensors the checkpoint lacks: ${[...given.keys()].join(', ')}`);
  // fromEntries: a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(entries) as Record<string, Tensor>, targets };
}

function loaded(index: CheckpointIndex, tensors: Record<string, Tensor>): LoadedCheckpoint {
  const { info, meta } = index;
  return { info, tensors, metrics: info.metrics, step: info.step, epoch: info.epoch, meta };
}

// Async: bad arguments reject, as every failure of the Promise form does.
export async function writeCheckpoint(
  path: string, tensors: TensorInput, fields: CheckpointFields = {}, options: WriteOptions = {},
): Promise<CheckpointIndex> {
  const { specs, head, native: opts } = writeArgs(path, tensors, fields, options);
  return writeNative(path, specs, head, opts, CALLER);
}

export function writeCheckpointSync(
  path: string, tensors: TensorInput, fields: CheckpointFields = {}, options: WriteOptions = {},
): CheckpointIndex {
  const { specs, head, native: opts } = writeArgs(path, tensors, fields, options);
  return writeNativeSync(path, specs, head, opts, CALLER);
}

/**
 * The store's own writes: tensors normalized and fields checked when they
 * were reported (validate/report.ts), so a save of many tensors is not
 * walked twice more on its way to the addon, which checks them again.
 */
export async function writeCheckedTo(path: string, specs: TensorSpec[], fields: CheckpointFields, options: WriteOptions): Promise<CheckpointIndex> {
  return writeNative(path, specs, headJson(fields), checkWriteOptions(options), STORE);
}

/** writeCheckedTo() on the calling thread (a worker's). */
export function writeCheckedToSync(path: string, specs: TensorSpec[], fields: CheckpointFields, options: WriteOptions): CheckpointIndex {
  return writeNativeSync(path, specs, headJson(fields), checkWriteOptions(options), STORE);
}

async function writeNative(path: string, specs: TensorSpec[], head: string, options: NativeWriteOptions, links: Links): Promise<CheckpointIndex> {
  const result = await callNativeAsync(() => native.writeCheckpoint(path, specs, head, options, true, links));
  return parseIndex(result.indexJson, path, result.fileBytes);
}

function writeNativeSync(path: string, specs: TensorSpec[], head: string, options: NativeWriteOptions, links: Links): CheckpointIndex {
  const result = callNative(() => native.writeCheckpoint(path, specs, head, options, false, links));
  return parseIndex(result.indexJson, path, result.fileBytes);
}

/**
 * Whose path a file is read from or written to. A path the caller chose may
 * be a symbolic link (a `latest.tkpt` of their own) or lead through one; the
 * store's own files and their directory never are followed (docs/FORMAT.md,
 * "Special files").
 */
export interface Links { followLinks: boolean }
const CALLER: Links = { followLinks: true };
export const STORE: Links = { followLinks: false };

export async function readCheckpoint(path: string, options: ReadOptions = {}): Promise<LoadedCheckpoint> {
  return readFrom(path, options, CALLER);
}

export function readCheckpointSync(path: string, options: ReadOptions = {}): LoadedCheckpoint {
  return readFromSync(path, options, CALLER);
}

/** Reads and validates the index only; no tensor bytes are read. */
export function inspectCheckpoint(path: string): Promise<CheckpointIndex> {
  return inspectFrom(path, CALLER);
}

/** Decodes and checks every chunk; throws E_CORRUPT or E_VERSION, else returns the index. */
export function verifyCheckpoint(path: string, options: { threads?: number } = {}): Promise<CheckpointIndex> {
  return verifyFrom(path, options, CALLER);
}

export async function readFrom(path: string, options: ReadOptions, links: Links): Promise<LoadedCheckpoint> {
  checkPath(path);
  const { verify, threads } = checkReadOptions(options);
  const reader = await callNativeAsync(() => native.openReader(path, true, links));
  try {
    const index = parseIndex(reader.indexJson, path, reader.fileBytes);
    const { tensors, targets } = plan(index, options.into);
    await callNativeAsync(() => reader.decode(targets, verify, threads, true));
    return loaded(index, tensors);
  } finally {
    reader.close();
  }
}

export function readFromSync(path: string, options: ReadOptions, links: Links): LoadedCheckpoint {
  checkPath(path);
  const { verify, threads } = checkReadOptions(options);
  return withReader(path, links, (reader) => {
    const index = parseIndex(reader.indexJson, path, reader.fileBytes);
    const { tensors, targets } = plan(index, options.into);
    callNative(() => reader.decode(targets, verify, threads, false));
    return loaded(index, tensors);
  });
}

export async function inspectFrom(path: string, links: Links): Promise<CheckpointIndex> {
  checkPath(path);
  const reader = await callNativeAsync(() => native.openReader(path, true, links));
  reader.close();
  return parseIndex(reader.indexJson, path, reader.fileBytes);
}

export function inspectFromSync(path: string, links: Links): CheckpointIndex {
  checkPath(path);
  return withReader(path, links, (reader) => parseIndex(reader.indexJson, path, reader.fileBytes));
}

export async function verifyFrom(path: string, options: { threads?: number }, links: Links): Promise<CheckpointIndex> {
  checkPath(path);
  const { threads } = checkVerifyOptions(options);
  const reader = await callNativeAsync(() => native.openReader(path, true, links));
  try {
    await callNativeAsync(() => reader.verifyAll(threads, true));
    return parseIndex(reader.indexJson, path, reader.fileBytes);
  } finally {
    reader.close();
  }
}

export function verifyFromSync(path: string, options: { threads?: number }, links: Links): CheckpointIndex {
  checkPath(path);
  const { threads } = checkVerifyOptions(options);
  return withReader(path, links, (reader) => {
    callNative(() => reader.verifyAll(threads, false));
    return parseIndex(reader.indexJson, path, reader.fileBytes);
  });
}

function withReader<T>(path: string, links: Links, fn: (reader: NativeReader) => T): T {
  const reader = callNative(() => native.openReader(path, false, links));
  try {
    return fn(reader);
  } finally {
    reader.close();
  }
}
