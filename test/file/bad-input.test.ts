// Every malformed argument to the file API is refused with E_BAD_INPUT and a
// message that names the problem, before anything touches the disk: no file
// or partial is left behind, and the next good call works as if nothing
// happened.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  inspectCheckpoint, readCheckpoint, readCheckpointSync, verifyCheckpoint, writeCheckpoint, writeCheckpointSync, type CheckpointFields, type ReadOptions, type TensorInput, type WriteOptions,
} from '../../src/index.js';
import { inspectFromSync, verifyFromSync, STORE } from '../../src/file/checkpoint-file.js';
import { expectRejectsCode, expectThrowsCode, sameBytes, tempDir } from '../helpers.js';

const root = tempDir();
const F = new Float32Array([1, 2, 3]);

function detached(): Float32Array {
  const buf = new ArrayBuffer(12);
  const view = new Float32Array(buf);
  structuredClone(buf, { transfer: [buf] });
  return view;
}

function cyclic(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
}

/** The next good write and read in `dir` work, and leave exactly one file. */
function expectHealthy(dir: string): void {
  const path = join(dir, 'healthy.tkpt');
  const w = new Float32Array(5000).map((_, i) => Math.sin(i));
  writeCheckpointSync(path, { w, b: new Int16Array([1, -1]) }, { step: 3, metrics: { loss: 0.1 } }, { chunkBytes: 4096 });
  const loaded = readCheckpointSync(path);
  expect(sameBytes(loaded.tensors.w.data, w)).toBe(true);
  expect(loaded.step).toBe(3);
}

/** Nothing in dir but what `expectHealthy` leaves: no file from the failed call, no partial in .tmp/. */
function expectNothingLeft(dir: string, badPath?: string, keep: string[] = []): void {
  if (badPath) expect(existsSync(badPath)).toBe(false);
  expect(readdirSync(dir).filter((f) => !['.tmp', 'healthy.tkpt', ...keep].includes(f))).toEqual([]);
  if (existsSync(join(dir, '.tmp'))) expect(readdirSync(join(dir, '.tmp'))).toEqual([]);
}

interface WriteRow {
  name: string;
  /** Built per call: some inputs (detached buffers) can be used only once. */
  args: () => { tensors: unknown; fields?: unknown; options?: unknown; path?: string };
  message: string | RegExp;
}

const T = (t: unknown) => ({ tensors: { t } });

const WRITE_ROWS: WriteRow[] = [
  // tensors
  { name: 'an unknown dtype', args: () => T({ dtype: 'float128', shape: [3], data: F }), message: 'Unknown dtype "float128" for tensor "t"' },
  { name: 'a dtype that is not a string', args: () => T({ dtype: 4, shape: [3], data: F }), message: 'Unknown dtype 4 for tensor "t"' },
  { name: 'a shape that does not match the data length', args: () => T({ dtype: 'float32', shape: [2, 2], data: F }), message: 'shape [2, 2] of float32 needs 16 bytes but its data has 12' },
  { name: 'data of another element size than the dtype', args: () => T({ dtype: 'float64', shape: [2], data: new Float32Array(4) }), message: 'dtype float64 (8-byte elements) but its data is a Float32Array' },
  { name: 'duplicate names in [name, tensor] pairs', args: () => ({ tensors: [['a', F], ['b', F], ['a', F]] }), message: 'Tensor name "a" appears twice' },
  { name: 'a pair that is not [name, tensor]', args: () => ({ tensors: [['a', F], ['b']] }), message: 'Expected [name, tensor] pairs' },
  { name: 'a name that is not a string', args: () => ({ tensors: [[5, F]] }), message: 'Expected string for tensor name but received 5' },
  { name: 'a Map with a non-string key', args: () => ({ tensors: new Map<unknown, unknown>([[Symbol('s'), F]]) }), message: 'Expected string for tensor name' },
  { name: 'an empty name', args: () => ({ tensors: { '': F } }), message: 'Tensor names must not be empty' },
  { name: 'a name of 1025 ASCII bytes', args: () => ({ tensors: { ['n'.repeat(1025)]: F } }), message: 'is 1025 bytes; the limit is 1024' },
  { name: 'a name of 513 "é" (1026 UTF-8 bytes, 513 UTF-16 units)', args: () => ({ tensors: { ['é'.repeat(513)]: F } }), message: 'is 1026 bytes; the limit is 1024' },
  { name: 'a name of 257 emoji (1028 UTF-8 bytes)', args: () => ({ tensors: { ['🙂'.repeat(257)]: F } }), message: 'is 1028 bytes; the limit is 1024' },
  { name: 'a name with a lone surrogate', args: () => ({ tensors: { ['w\uD800']: F } }), message: 'lone UTF-16 surrogate' },
  { name: 'a detached buffer (bare TypedArray)', args: () => T(detached()), message: 'Tensor "t" is backed by a detached ArrayBuffer' },
  { name: 'a detached buffer ({dtype, shape, data} with a matching empty shape)', args: () => T({ dtype: 'float32', shape: [0], data: detached() }), message: 'detached ArrayBuffer' },
  ...([NaN, Infinity, -1, 1.5, '3', 2 ** 53, null] as unknown[]).map((d) => ({
    name: `a shape entry of ${typeof d === 'string' ? `"${d}"` : String(d)}`,
    args: () => T({ dtype: 'float32', shape: [d], data: F }),
    message: 'Expected non-negative integer for shape of "t"',
  })),
  ...([3, '3', null, { length: 1, 0: 3 }, new Uint32Array([3])] as unknown[]).map((shape, i) => ({
    name: `a shape that is not an array (#${i}: ${Object.prototype.toString.call(shape)})`,
    args: () => T({ dtype: 'float32', shape, data: F }),
    message: 'Expected array for shape of "t"',
  })),
  { name: 'a shape of 33 dimensions', args: () => T({ dtype: 'float32', shape: [...Array(32).fill(1), 3], data: F }), message: 'has 33 dimensions; the limit is 32' },
  ...([[1, 2, 3], new DataView(new ArrayBuffer(12)), null, undefined, new ArrayBuffer(12), 'abc'] as unknown[]).map((data, i) => ({
    name: `data that is not a TypedArray (#${i}: ${Object.prototype.toString.call(data)})`,
    args: () => T({ dtype: 'float32', shape: [3], data }),
    message: 'Expected TypedArray for data of "t"',
  })),
  ...([[1, 2, 3], new DataView(new ArrayBuffer(12)), null, 7, 'abc'] as unknown[]).map((t, i) => ({
    name: `a tensor that is neither a TypedArray nor {dtype, shape, data} (#${i}: ${Object.prototype.toString.call(t)})`,
    args: () => T(t),
    message: 'Expected TypedArray or {dtype, shape, data} for tensor "t"',
  })),
  ...([null, 5, 'tensors', new Float32Array(3), undefined] as unknown[]).map((tensors, i) => ({
    name: `a tensors argument that is not a collection (#${i}: ${Object.prototype.toString.call(tensors)})`,
    args: () => ({ tensors }),
    message: 'Expected an object of named tensors',
  })),
  // fields
  { name: 'fields that are not an object', args: () => ({ tensors: { F }, fields: null }), message: 'Expected an object for checkpoint fields' },
  { name: 'a metric that is a string', args: () => ({ tensors: { F }, fields: { metrics: { loss: '0.5' } } }), message: 'Expected number for metric "loss" but received string' },
  { name: 'a metric that is a BigInt', args: () => ({ tensors: { F }, fields: { metrics: { loss: 1n } } }), message: 'Expected number for metric "loss" but received bigint' },
  { name: 'metrics that are an array', args: () => ({ tensors: { F }, fields: { metrics: [1] } }), message: 'Expected an object of numbers for metrics' },
  { name: 'meta holding a BigInt', args: () => ({ tensors: { F }, fields: { meta: { n: 1n } } }), message: 'meta.n holds a value of type bigint, which is not JSON' },
  { name: 'meta holding a cycle', args: () => ({ tensors: { F }, fields: { meta: { inner: cyclic() } } }), message: /^meta\.inner.* refers to itself/ },
  { name: 'meta that is an array', args: () => ({ tensors: { F }, fields: { meta: [1] } }), message: 'Expected a plain object for meta' },
  ...([-1, 1.5, NaN, '3', 2 ** 53, Infinity] as unknown[]).map((step) => ({
    name: `a step of ${typeof step === 'string' ? `"${step}"` : String(step)}`,
    args: () => ({ tensors: { F }, fields: { step } }),
    message: 'Expected non-negative integer for step',
  })),
  { name: 'a negative epoch', args: () => ({ tensors: { F }, fields: { epoch: -1 } }), message: 'Expected non-negative integer for epoch' },
  { name: 'a fractional seq', args: () => ({ tensors: { F }, fields: { seq: 0.5 } }), message: 'Expected non-negative integer for seq' },
  // The reader refuses these head fields as E_CORRUPT; the writer must not
  // accept them and produce a checkpoint nobody can read.
  { name: 'a model that is not a string', args: () => ({ tensors: { F }, fields: { model: { name: 'm' } } }), message: 'model' },
  { name: 'a category that is not a string', args: () => ({ tensors: { F }, fields: { category: 5 } }), message: 'category' },
  { name: 'reasons that are not an array of strings', args: () => ({ tensors: { F }, fields: { reasons: 'improved' } }), message: 'reasons' },
  // options
  { name: 'write options that are not an object', args: () => ({ tensors: { F }, options: null }), message: 'Expected an object for write options' },
  { name: 'the unknown codec "lz4"', args: () => ({ tensors: { F }, options: { codec: 'lz4' } }), message: 'Unknown codec "lz4"; expected one of raw, zstd, shuffle+zstd' },
  { name: 'a codec name in the wrong case', args: () => ({ tensors: { F }, options: { codec: 'ZSTD' } }), message: 'Unknown codec "ZSTD"' },
  ...([0, 20, 1.5, '1'] as unknown[]).map((level) => ({
    name: `level ${typeof level === 'string' ? `"${level}"` : level}`,
    args: () => ({ tensors: { F }, options: { level } }),
    message: 'Expected integer in [1, 19] for level',
  })),
  ...([4100, 2048, 4032, 512 << 20, 0, 4096.5] as unknown[]).map((chunkBytes) => ({
    name: `chunkBytes ${chunkBytes}`,
    args: () => ({ tensors: { F }, options: { chunkBytes } }),
    message: 'Expected a multiple of 64 in [4096, 268435456] for chunkBytes',
  })),
  ...([0, 65, 1.5, -1] as unknown[]).map((threads) => ({
    name: `threads ${threads}`,
    args: () => ({ tensors: { F }, options: { threads } }),
    message: 'Expected integer in [1, 64] for threads',
  })),
  // path
  { name: 'an empty path', args: () => ({ tensors: { F }, path: '' }), message: 'Expected a file path' },
  { name: 'a path that is not a string', args: () => ({ tensors: { F }, path: 42 as unknown as string }), message: 'Expected a file path' },
  // The C side would see the path end at the NUL and write a different file.
  { name: 'a path with a NUL byte', args: () => ({ tensors: { F }, path: 'c.tkpt\0.evil' }), message: /NUL|null byte|\\0/i },
];

describe('writeCheckpoint refuses bad input with E_BAD_INPUT', () => {
  it.each(WRITE_ROWS)('$name', async ({ args, message }) => {
    const dir = mkdtempSync(join(root, 'w'));
    const target = (p: string | undefined) => (p === undefined ? join(dir, 'bad.tkpt') : p === '' || typeof p !== 'string' ? p : join(dir, p));
    {
      const { tensors, fields, options, path } = args();
      expectThrowsCode(
        () => writeCheckpointSync(target(path), tensors as TensorInput, fields as CheckpointFields, options as WriteOptions),
        'E_BAD_INPUT', message,
      );
    }
    {
      const { tensors, fields, options, path } = args();
      await expectRejectsCode(
        writeCheckpoint(target(path), tensors as TensorInput, fields as CheckpointFields, options as WriteOptions),
        'E_BAD_INPUT', message,
      );
    }
    expectNothingLeft(dir, join(dir, 'bad.tkpt'));
    expect(existsSync(join(dir, 'c.tkpt'))).toBe(false); // the NUL row's truncated name
    expectHealthy(dir);
    expectNothingLeft(dir);
  });
});

describe('inputs at the limits are accepted', () => {
  const dir = tempDir();

  it.each([
    ['a name of exactly 1024 ASCII bytes', 'n'.repeat(1024)],
    ['a name of 512 "é" (exactly 1024 UTF-8 bytes)', 'é'.repeat(512)],
    ['a name of 256 emoji (exactly 1024 UTF-8 bytes)', '🙂'.repeat(256)],
  ])('%s', (_what, name) => {
    const path = join(dir, 'limit.tkpt');
    writeCheckpointSync(path, [[name, F]]);
    expect(Object.keys(readCheckpointSync(path).tensors)).toEqual([name]);
  });

  it('chunkBytes 4096 and 256 MiB, level 1 and 19, threads 1 and 64, a 32-dim shape', () => {
    const path = join(dir, 'limits.tkpt');
    const t = { dtype: 'float32' as const, shape: [...Array(31).fill(1), 3], data: F };
    for (const options of [{ chunkBytes: 4096, level: 19, threads: 64 }, { chunkBytes: 256 << 20, level: 1, threads: 1 }]) {
      writeCheckpointSync(path, { t }, {}, options);
      expect(readCheckpointSync(path).tensors.t.shape).toHaveLength(32);
    }
  });

  it('a metric named "__proto__" is kept as an own key, never silently dropped', () => {
    const path = join(dir, 'proto-metric.tkpt');
    const metrics = JSON.parse('{"__proto__": 0.5, "loss": 1}') as Record<string, number>;
    writeCheckpointSync(path, { F }, { metrics });
    expect(Object.keys(readCheckpointSync(path).metrics).sort()).toEqual(['__proto__', 'loss']);
  });

  it('a tensor backed by a SharedArrayBuffer is written, and read into, like any other', async () => {
    // Staging slabs are SharedArrayBuffers (docs/ARCHITECTURE.md, "A save"): the addon must take views of them.
    const shared = new Float32Array(new SharedArrayBuffer(16));
    shared.set([1, -2, 3.5, 4]);
    const path = join(dir, 'shared.tkpt');
    writeCheckpointSync(path, { shared });
    await writeCheckpoint(join(dir, 'shared-async.tkpt'), { shared });
    const into = new Float32Array(new SharedArrayBuffer(16));
    readCheckpointSync(path, { into: { shared: into } });
    expect(Array.from(into)).toEqual([1, -2, 3.5, 4]);
  });
});

describe('readCheckpoint refuses bad input with E_BAD_INPUT', () => {
  const dir = tempDir();
  const path = join(dir, 'good.tkpt');
  const W = new Float32Array([1, 2, 3, 4, 5, 6]);
  const B = new Int32Array([7, 8]);

  beforeAll(() => {
    writeCheckpointSync(path, { w: { dtype: 'float32', shape: [2, 3], data: W }, b: B });
  });

  /** Sentinel-filled arrays, to prove a refused read wrote nothing into them. */
  const sentinel = (n: number) => new Float32Array(n).fill(-999);

  const READ_ROWS: Array<{ name: string; options: () => unknown; message: string | RegExp; into?: Float32Array[] }> = [
    { name: 'into of the wrong byte size', options: () => ({ into: { w: sentinel(5) } }), message: 'into["w"] is float32 with 20 bytes; the checkpoint holds float32 [2, 3] of 24 bytes' },
    { name: 'into of another element size with the same byte size', options: () => ({ into: { w: new Float64Array(3) } }), message: 'into["w"] is float64 with 24 bytes' },
    { name: 'into naming a tensor the file lacks', options: () => ({ into: { w: sentinel(6), nope: sentinel(1) } }), message: 'into names tensors the checkpoint lacks: nope' },
    { name: 'into that is not a collection', options: () => ({ into: 5 }), message: 'Expected an object of named tensors' },
    { name: 'into holding a plain array', options: () => ({ into: { w: [1, 2, 3, 4, 5, 6] } }), message: 'Expected TypedArray or {dtype, shape, data} for tensor "w"' },
    { name: 'into holding a detached buffer', options: () => ({ into: { w: detached() } }), message: 'detached ArrayBuffer' },
    ...(['yes', 1, null, 0] as unknown[]).map((verify) => ({
      name: `verify ${JSON.stringify(verify)}`,
      options: () => ({ verify }),
      message: 'Expected boolean for verify',
    })),
    ...([0, 65, 2.5] as unknown[]).map((threads) => ({ name: `threads ${threads}`, options: () => ({ threads }), message: 'Expected integer in [1, 64] for threads' })),
    { name: 'read options that are not an object', options: () => null, message: 'Expected an object for read options' },
  ];

  it.each(READ_ROWS)('$name', async ({ options, message }) => {
    const first = options() as ReadOptions;
    expectThrowsCode(() => readCheckpointSync(path, first), 'E_BAD_INPUT', message);
    await expectRejectsCode(readCheckpoint(path, options() as ReadOptions), 'E_BAD_INPUT', message);
    // A refused read decodes nothing into the caller's arrays.
    const into = (first as { into?: Record<string, unknown> } | null)?.into;
    if (into && typeof into === 'object')
      for (const v of Object.values(into)) if (v instanceof Float32Array && v.length > 0) expect(v.every((x) => x === -999)).toBe(true);
    expectNothingLeft(dir, undefined, ['good.tkpt']);
    const loaded = readCheckpointSync(path);
    expect(sameBytes(loaded.tensors.w.data, W)).toBe(true);
    expectHealthy(dir);
  });

  it('a refused into leaves even the tensors it matched untouched', () => {
    const w = sentinel(6);
    expectThrowsCode(() => readCheckpointSync(path, { into: { w, b: new Int32Array(3) } }), 'E_BAD_INPUT', 'into["b"]');
    expect(w.every((x) => x === -999)).toBe(true);
  });

  it.each([
    ['an empty path', ''],
    ['a path that is not a string', 7 as unknown as string],
  ])('read, inspect and verify refuse %s', async (_what, bad) => {
    expectThrowsCode(() => readCheckpointSync(bad), 'E_BAD_INPUT', 'Expected a file path');
    expectThrowsCode(() => inspectFromSync(bad, STORE), 'E_BAD_INPUT', 'Expected a file path');
    expectThrowsCode(() => verifyFromSync(bad, {}, STORE), 'E_BAD_INPUT', 'Expected a file path');
    await expectRejectsCode(readCheckpoint(bad), 'E_BAD_INPUT', 'Expected a file path');
    await expectRejectsCode(inspectCheckpoint(bad), 'E_BAD_INPUT', 'Expected a file path');
    await expectRejectsCode(verifyCheckpoint(bad), 'E_BAD_INPUT', 'Expected a file path');
  });

  it('read, inspect and verify refuse a path with a NUL byte instead of reading the file it prefixes', async () => {
    const bad = `${path}\0.other`;
    expectThrowsCode(() => readCheckpointSync(bad), 'E_BAD_INPUT');
    expectThrowsCode(() => inspectFromSync(bad, STORE), 'E_BAD_INPUT');
    await expectRejectsCode(verifyCheckpoint(bad), 'E_BAD_INPUT');
  });
});
