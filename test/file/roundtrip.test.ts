// The file API: every dtype, shape and codec written and read back bit-exact.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import {
  readCheckpoint, readCheckpointSync, writeCheckpoint, writeCheckpointSync, inspectCheckpoint, verifyCheckpoint,
  type Codec, type TensorDict,
} from '../../src/index.js';
import { sameBytes, tempDir, weights } from '../helpers.js';

const CODECS: Codec[] = ['raw', 'zstd', 'shuffle+zstd'];

function everyDtype(): TensorDict {
  const f64 = new Float64Array([1.5, -0, NaN, Infinity, -Infinity, 5e-324]);
  // A NaN with a non-default payload must survive bit for bit.
  new DataView(f64.buffer).setBigUint64(16, 0x7ff8dead0000beefn, true);
  const f32 = new Float32Array([0.1, -0, NaN, 3.4e38]);
  new DataView(f32.buffer).setUint32(8, 0x7fc0abcd, true);
  return {
    f64,
    f32,
    f16: { dtype: 'float16', shape: [2, 2], data: new Uint16Array([0x3c00, 0x8000, 0x7e01, 0xfc00]) },
    bf16: { dtype: 'bfloat16', shape: [3], data: new Uint16Array([0x3f80, 0x8000, 0x7fc1]) },
    i64: new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]),
    u64: new BigUint64Array([0n, 2n ** 64n - 1n]),
    i32: new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
    u32: new Uint32Array([0, 2 ** 32 - 1]),
    i16: new Int16Array([-32768, 32767]),
    u16: new Uint16Array([0, 65535]),
    i8: new Int8Array([-128, 127]),
    u8: new Uint8Array([0, 255]),
    flags: { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) },
    scalar: { dtype: 'float32', shape: [], data: new Float32Array([42]) },
    empty: { dtype: 'float32', shape: [0, 7], data: new Float32Array(0) },
  };
}

describe('round trip', () => {
  const dir = tempDir();

  it.each(CODECS)('keeps every dtype bit-exact, NaN payloads and -0 included (%s)', async (codec) => {
    const tensors = everyDtype();
    const path = join(dir, `all-${codec.replace('+', '_')}.tkpt`);
    await writeCheckpoint(path, tensors, { step: 7, epoch: 2, metrics: { loss: 0.25 }, meta: { note: 'ü' } }, { codec });
    const loaded = await readCheckpoint(path);
    expect(Object.keys(loaded.tensors)).toEqual(Object.keys(tensors));
    for (const [name, t] of Object.entries(tensors)) {
      const want = ArrayBuffer.isView(t) ? t : t.data;
      expect(sameBytes(loaded.tensors[name].data, want), name).toBe(true);
    }
    expect(loaded.tensors.f16).toMatchObject({ dtype: 'float16', shape: [2, 2] });
    expect(loaded.tensors.bf16.data).toBeInstanceOf(Uint16Array);
    expect(loaded.tensors.i64.data).toBeInstanceOf(BigInt64Array);
    expect(loaded.tensors.scalar.shape).toEqual([]);
    expect(loaded.tensors.empty.shape).toEqual([0, 7]);
    expect(loaded).toMatchObject({ step: 7, epoch: 2, metrics: { loss: 0.25 }, meta: { note: 'ü' } });
  });

  it.each(CODECS)('splits a tensor larger than 3 chunks and reassembles it (%s)', async (codec) => {
    const big = weights(3 * 4096 + 1000, 3); // 3.2 chunks of 16 KiB
    const path = join(dir, `big-${codec.replace('+', '_')}.tkpt`);
    const index = await writeCheckpoint(path, { big }, {}, { codec, chunkBytes: 16384 });
    expect(index.tensors[0].chunks.length).toBe(4);
    if (codec !== 'raw') expect(index.tensors[0].chunks.some((c) => c[3] === codec)).toBe(true);
    const loaded = await readCheckpoint(path);
    expect(sameBytes(loaded.tensors.big.data, big)).toBe(true);
  });

  it('takes a Node Buffer (a Uint8Array subclass) as a uint8 tensor', async () => {
    const path = join(dir, 'buffer.tkpt');
    await writeCheckpoint(path, { b: Buffer.from([1, 2, 250]) });
    const loaded = await readCheckpoint(path);
    expect(loaded.tensors.b.dtype).toBe('uint8');
    expect(Array.from(loaded.tensors.b.data as Uint8Array)).toEqual([1, 2, 250]);
  });

  it('stores incompressible chunks raw whatever the codec asked for', async () => {
    const noise = new Uint8Array(64 * 1024);
    for (let i = 0; i < noise.length; i += 65536) crypto.getRandomValues(noise.subarray(i, i + 65536));
    const path = join(dir, 'noise.tkpt');
    const index = await writeCheckpoint(path, { noise }, {}, { codec: 'zstd', chunkBytes: 16384 });
    expect(index.tensors[0].chunks.every((c) => c[3] === 'raw' && c[1] === c[2])).toBe(true);
    expect(sameBytes((await readCheckpoint(path)).tensors.noise.data, noise)).toBe(true);
  });

  it('writes fewer bytes with shuffle+zstd than zstd on bf16-rounded weights', async () => {
    const w = weights(1 << 18, 9);
    const u32 = new Uint32Array(w.buffer);
    for (let i = 0; i < u32.length; i++) u32[i] &= 0xffff0000; // round to bf16
    const sizes: Record<string, number> = {};
    for (const codec of CODECS) {
      sizes[codec] = (await writeCheckpoint(join(dir, `bf-${codec.replace('+', '_')}.tkpt`), { w }, {}, { codec })).info.bytes;
    }
    expect(sizes['shuffle+zstd']).toBeLessThan(sizes.zstd);
    expect(sizes['shuffle+zstd']).toBeLessThan(sizes.raw * 0.5);
  });

  it('keeps 1 000 small tensors with unicode names, in order', () => {
    const tensors: TensorDict = {};
    for (let i = 0; i < 1000; i++) tensors[`层/${i}/wëight-🙂`] = new Float32Array([i, -i, i / 3]);
    const path = join(dir, 'many.tkpt');
    writeCheckpointSync(path, tensors);
    const loaded = readCheckpointSync(path);
    expect(Object.keys(loaded.tensors)).toEqual(Object.keys(tensors));
    for (const [name, t] of Object.entries(tensors)) expect(sameBytes(loaded.tensors[name].data, t as Float32Array)).toBe(true);
  });

  it('decodes into existing arrays without allocating new ones', async () => {
    const w = weights(50_000, 4);
    const path = join(dir, 'into.tkpt');
    await writeCheckpoint(path, { w, b: new Int32Array([1, 2, 3]) });
    const dest = new Float32Array(w.length);
    const loaded = await readCheckpoint(path, { into: { w: dest } });
    expect(loaded.tensors.w.data).toBe(dest);
    expect(sameBytes(dest, w)).toBe(true);
    expect(Array.from(loaded.tensors.b.data as Int32Array)).toEqual([1, 2, 3]);
  });

  it('inspects the index without reading tensors and verifies every chunk', async () => {
    const path = join(dir, 'meta.tkpt');
    await writeCheckpoint(path, { w: weights(1000) }, { step: 3, metrics: { loss: NaN, acc: -Infinity } });
    const index = await inspectCheckpoint(path);
    expect(index.formatVersion).toBe(1);
    expect(index.tensors[0]).toMatchObject({ name: 'w', dtype: 'float32', shape: [1000], nbytes: 4000 });
    expect(index.info.metrics.loss).toBeNaN();
    expect(index.info.metrics.acc).toBe(-Infinity);
    await expect(verifyCheckpoint(path)).resolves.toMatchObject({ info: { step: 3 } });
  });
});
