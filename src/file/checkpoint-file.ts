// The low-level API: write, read, inspect and verify one checkpoint file.
// Each call has a Promise form (the native work runs off the event loop) and
// a *Sync twin that runs on the calling thread (what a worker wants).
import { badInput, callNative, callNativeAsync, CheckpointError } from '../errors.js';
import { native, type NativeReader, type NativeWriteOptions } from '../native.js';
import {
  allocateTensor, DTYPES, isDtype, normalizeTensors,
  type Dtype, type Tensor, type TensorInput, type TensorLike, type TensorSpec,
} from './tensors.js';
import { VERSION } from '../version.js';

export type Codec = 'raw' | 'zstd' | 'shuffle+zstd';
export const CODECS: readonly Codec[] = ['raw', 'zstd', 'shuffle+zstd'];

export type Category = 'best' | 'periodic' | 'final' | 'manual';
export const CATEGORIES: readonly Category[] = ['best', 'periodic', 'final', 'manual'];
export type Metrics = Record<string, number>;

/** What a checkpoint records beside its tensors. */
export interface CheckpointFields {
  step?: number;
  epoch?: number;
  metrics?: Metrics;
  meta?: Record<string, unknown>;
  model?: string;
  seq?: number;
  category?: Category;
  reasons?: string[];
}

export interface WriteOptions {
  codec?: Codec;
  /** zstd level, 1 (fastest, the default) to 19. */
  level?: number;
  /** Bytes per chunk; a multiple of 64 in [4 KiB, 256 MiB]; default 4 MiB. */
  chunkBytes?: number;
  /** Threads for compression; default: one per core. */
  threads?: number;
}

export interface CheckpointInfo {
  model: string | null;
  seq: number | null;
  step: number;
  epoch: number;
  category: Category | null;
  reasons: string[];
  metrics: Metrics;
  /** Size of the file on disk. */
  bytes: number;
  /** Sum of the tensors' raw bytes. */
  rawBytes: number;
  created: string;
  path: string;
}

export interface TensorIndexEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  nbytes: number;
  chunks: Array<[offset: number, storedLen: number, rawLen: number, codec: Codec, xxh3: string]>;
}

/** The index of a checkpoint file: everything but the tensor bytes. */
export interface CheckpointIndex {
  info: CheckpointInfo;
  meta: Record<string, unknown>;
  formatVersion: number;
  writer: string;
  codec: { name: Codec; level: number; chunk_bytes: number };
  tensors: TensorIndexEntry[];
}

export interface LoadedCheckpoint {
  info: CheckpointInfo;
  tensors: Record<string, Tensor>;
  metrics: Metrics;
  step: number;
  epoch: number;
  meta: Record<string, unknown>;
}

export interface ReadOptions {
  /** Decode into these arrays instead of allocating (byte sizes must match). */
  into?: TensorInput;
  /** Check every chunk's xxh3 (default true). */
  verify?: boolean;
  threads?: number;
}

// JSON has no NaN or Infinity; a diverged run's metrics must still round-trip.
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

// Object.fromEntries defines own properties, so a metric named "__proto__" stays a metric.
export function encodeMetrics(metrics: Metrics): Record<string, number | string> {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, Number.isFinite(v) ? v : String(v)]));
}

export function decodeMetrics(raw: Record<string, unknown>): Metrics {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? NON_FINITE[v] : (v as number)]));
}

function checkInteger(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0))
    throw badInput(`Expected non-negative integer for ${name} but received ${String(value)}`);
}

const isCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isString = (v: unknown) => typeof v === 'string';
const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown) => Array.isArray(v) && v.every(isString);

function headJson(fields: CheckpointFields): string {
  if (fields === null || typeof fields !== 'object') throw badInput('Expected an object for checkpoint fields');
  checkInteger('step', fields.step);
  checkInteger('epoch', fields.epoch);
  checkInteger('seq', fields.seq);
  const metrics = fields.metrics ?? {};
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics))
    throw badInput('Expected an object of numbers for metrics');
  for (const [k, v] of Object.entries(metrics))
    if (typeof v !== 'number') throw badInput(`Expected number for metric "${k}" but received ${typeof v}`);
  const meta = fields.meta ?? {};
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw badInput('Expected a plain object for meta');
  // The reader checks these fields; a writer that let a bad one through would commit an unreadable file.
  if (fields.model !== undefined && !isString(fields.model)) throw badInput(`Expected string for model but received ${typeof fields.model}`);
  if (fields.category !== undefined && !CATEGORIES.includes(fields.category))
    throw badInput(`Expected one of ${CATEGORIES.join(', ')} for category but received ${JSON.stringify(fields.category)}`);
  if (fields.reasons !== undefined && !isStringArray(fields.reasons)) throw badInput('Expected an array of strings for reasons');
  const head = {
    created: new Date().toISOString(),
    writer: `tensorkeep ${VERSION}`,
    model: fields.model ?? null,
    seq: fields.seq ?? null,
    step: fields.step ?? 0,
    epoch: fields.epoch ?? 0,
    category: fields.category ?? null,
    reasons: fields.reasons ?? [],
    metrics: encodeMetrics(metrics),
    meta,
  };
  // One stringify both builds the index head and proves meta is JSON (no BigInt, no cycles).
  try {
    return JSON.stringify(head);
  } catch (cause) {
    throw new CheckpointError('E_BAD_INPUT', `meta is not JSON-serializable: ${(cause as Error).message}`, { cause });
  }
}

/** meta must be a plain object that JSON can hold (no BigInt, no cycles). */
export function checkMeta(meta: unknown): void {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw badInput('Expected a plain object for meta');
  try {
    JSON.stringify(meta);
  } catch (cause) {
    throw new CheckpointError('E_BAD_INPUT', `meta is not JSON-serializable: ${(cause as Error).message}`, { cause });
  }
}

function nativeOptions(options: WriteOptions): NativeWriteOptions {
  if (options === null || typeof options !== 'object') throw badInput('Expected an object for write options');
  const { codec = 'shuffle+zstd', level = 1, chunkBytes = 4 << 20, threads } = options;
  if (!CODECS.includes(codec)) throw badInput(`Unknown codec ${JSON.stringify(codec)}; expected one of ${CODECS.join(', ')}`);
  if (!Number.isInteger(level) || level < 1 || level > 19) throw badInput(`Expected integer in [1, 19] for level but received ${level}`);
  if (!Number.isInteger(chunkBytes) || chunkBytes < 4096 || chunkBytes > 256 << 20 || chunkBytes % 64 !== 0)
    throw badInput(`Expected a multiple of 64 in [4096, 268435456] for chunkBytes but received ${chunkBytes}`);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 64))
    throw badInput(`Expected integer in [1, 64] for threads but received ${threads}`);
  return { codec, level, chunkBytes, threads };
}

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) throw badInput(`Expected a file path but received ${String(path)}`);
  // The system calls would silently cut the path at a NUL byte.
  if (path.includes('\0')) throw badInput(`Expected a file path without NUL bytes but received ${JSON.stringify(path)}`);
}

function toNative(specs: TensorSpec[]) {
  return specs.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data }));
}

function corruptField(path: string, field: string, value: unknown): never {
  throw new CheckpointError('E_CORRUPT', `${path}: index field "${field}" has an invalid value ${JSON.stringify(value)}`);
}

/** A head field of the index: the addon checks the tensor table, not these. */
function field<T>(raw: Record<string, unknown>, name: string, fallback: T, valid: (v: unknown) => boolean, path: string): T {
  const value = raw[name];
  if (value === undefined || value === null) return fallback;
  if (!valid(value)) corruptField(path, name, value);
  return value as T;
}

function parseIndex(indexJson: string, path: string, fileBytes: number): CheckpointIndex {
  const raw = JSON.parse(indexJson) as Record<string, unknown>;
  const tensors = raw.tensors as TensorIndexEntry[];
  const metrics = field<Record<string, unknown>>(raw, 'metrics', {}, isObject, path);
  for (const [k, v] of Object.entries(metrics))
    if (typeof v !== 'number' && !(typeof v === 'string' && v in NON_FINITE)) corruptField(path, `metrics.${k}`, v);
  return {
    info: {
      model: field<string | null>(raw, 'model', null, isString, path),
      seq: field<number | null>(raw, 'seq', null, isCount, path),
      step: field(raw, 'step', 0, isCount, path),
      epoch: field(raw, 'epoch', 0, isCount, path),
      category: field<Category | null>(raw, 'category', null, (v) => CATEGORIES.includes(v as Category), path),
      reasons: field<string[]>(raw, 'reasons', [], isStringArray, path),
      metrics: decodeMetrics(metrics),
      bytes: fileBytes,
      rawBytes: tensors.reduce((sum, t) => sum + t.nbytes, 0),
      created: field(raw, 'created', '', isString, path),
      path,
    },
    meta: field<Record<string, unknown>>(raw, 'meta', {}, isObject, path),
    formatVersion: raw.format_version as number,
    writer: field(raw, 'writer', 'unknown', isString, path),
    codec: raw.codec as CheckpointIndex['codec'],
    tensors,
  };
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

export async function writeCheckpoint(
  path: string, tensors: TensorInput, fields: CheckpointFields = {}, options: WriteOptions = {},
): Promise<CheckpointIndex> {
  checkPath(path);
  const specs = normalizeTensors(tensors);
  const head = headJson(fields);
  const result = await callNativeAsync(() => native.writeCheckpoint(path, toNative(specs), head, nativeOptions(options), true));
  return parseIndex(result.indexJson, path, result.fileBytes);
}

export function writeCheckpointSync(
  path: string, tensors: TensorInput, fields: CheckpointFields = {}, options: WriteOptions = {},
): CheckpointIndex {
  checkPath(path);
  const specs = normalizeTensors(tensors);
  const head = headJson(fields);
  const result = callNative(() => native.writeCheckpoint(path, toNative(specs), head, nativeOptions(options), false));
  return parseIndex(result.indexJson, path, result.fileBytes);
}

export function checkReadOptions(options: ReadOptions) {
  if (options === null || typeof options !== 'object') throw badInput('Expected an object for read options');
  const { verify = true, threads } = options;
  if (typeof verify !== 'boolean') throw badInput(`Expected boolean for verify but received ${String(verify)}`);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 64))
    throw badInput(`Expected integer in [1, 64] for threads but received ${threads}`);
  return { verify, threads };
}

export async function readCheckpoint(path: string, options: ReadOptions = {}): Promise<LoadedCheckpoint> {
  checkPath(path);
  const { verify, threads } = checkReadOptions(options);
  const reader = await callNativeAsync(() => native.openReader(path, true));
  try {
    const index = parseIndex(reader.indexJson, path, reader.fileBytes);
    const { tensors, targets } = plan(index, options.into);
    await callNativeAsync(() => reader.decode(targets, verify, threads, true));
    return loaded(index, tensors);
  } finally {
    reader.close();
  }
}

export function readCheckpointSync(path: string, options: ReadOptions = {}): LoadedCheckpoint {
  checkPath(path);
  const { verify, threads } = checkReadOptions(options);
  const reader = callNative(() => native.openReader(path, false));
  try {
    const index = parseIndex(reader.indexJson, path, reader.fileBytes);
    const { tensors, targets } = plan(index, options.into);
    callNative(() => reader.decode(targets, verify, threads, false));
    return loaded(index, tensors);
  } finally {
    reader.close();
  }
}

function withReader<T>(path: string, fn: (reader: NativeReader) => T): T {
  checkPath(path);
  const reader = callNative(() => native.openReader(path, false));
  try {
    return fn(reader);
  } finally {
    reader.close();
  }
}

/** Reads and validates the index only; no tensor bytes are read. */
export async function inspectCheckpoint(path: string): Promise<CheckpointIndex> {
  checkPath(path);
  const reader = await callNativeAsync(() => native.openReader(path, true));
  reader.close();
  return parseIndex(reader.indexJson, path, reader.fileBytes);
}

export function inspectCheckpointSync(path: string): CheckpointIndex {
  return withReader(path, (reader) => parseIndex(reader.indexJson, path, reader.fileBytes));
}

/** Decodes and checks every chunk; throws E_CORRUPT or E_VERSION, else returns the index. */
export async function verifyCheckpoint(path: string, options: { threads?: number } = {}): Promise<CheckpointIndex> {
  checkPath(path);
  const { threads } = checkReadOptions(options);
  const reader = await callNativeAsync(() => native.openReader(path, true));
  try {
    await callNativeAsync(() => reader.verifyAll(threads, true));
    return parseIndex(reader.indexJson, path, reader.fileBytes);
  } finally {
    reader.close();
  }
}

export function verifyCheckpointSync(path: string, options: { threads?: number } = {}): CheckpointIndex {
  const { threads } = checkReadOptions(options);
  return withReader(path, (reader) => {
    callNative(() => reader.verifyAll(threads, false));
    return parseIndex(reader.indexJson, path, reader.fileBytes);
  });
}
