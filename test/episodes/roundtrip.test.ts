// Episode records come back bit for bit: every dtype of src/file/tensors.ts as a
// frame column, an index and a feature (bare TypedArrays and {dtype, shape,
// data}), NaN payloads and -0, string columns (empty, non-ASCII, lone
// surrogates), empty frames, JSON fields, in time order, after a reopen too.
import { describe, expect, it } from 'vitest';
import { open, type Column, type EpisodeRecord, type StoredEpisode, type TensorDict } from '../../src/index.js';
import { DTYPES, type Dtype, type Tensor, type TypedArray } from '../../src/file/tensors.js';
import { collect, freshStore, silent, tick } from '../fixtures/episodes.js';
import { sameBytes, tempDir } from '../helpers.js';

const root = tempDir();

/** Eight elements of the dtype whose bytes run through every value the test cares about. */
function sample(dtype: Dtype, seed: number): TypedArray {
  const info = DTYPES[dtype];
  const bytes = new Uint8Array(8 * info.size).map((_, i) => (i * 37 + seed * 11 + 5) & 0xff);
  if (dtype === 'bool') bytes.forEach((_, i) => (bytes[i] = i % 3 === 0 ? 1 : 0));
  return new info.array(bytes.buffer, 0, 8);
}

/** Float64 NaNs with payloads, both zeros, infinities, subnormals. */
function specialFloat64(): Float64Array {
  const out = new Float64Array(8);
  const bits = new BigUint64Array(out.buffer);
  bits[0] = 0x7ff8_0000_dead_beefn; // quiet NaN with a payload
  bits[1] = 0xfff0_0000_0000_0001n; // signalling NaN, sign set
  out[2] = -0;
  out[3] = 0;
  out[4] = Infinity;
  out[5] = -Infinity;
  bits[6] = 1n; // smallest subnormal
  out[7] = Number.MAX_VALUE;
  return out;
}

function specialFloat32(): Float32Array {
  const out = new Float32Array(4);
  const bits = new Uint32Array(out.buffer);
  bits[0] = 0x7fc0_1234;
  bits[1] = 0xff80_0001;
  out[2] = -0;
  bits[3] = 1;
  return out;
}

/** Asserts two frames/feature maps hold the same names, forms, dtypes, shapes and bytes. */
function expectSameValue(got: Column | Tensor | TypedArray, want: Column | Tensor | TypedArray, what: string): void {
  if (Array.isArray(want)) {
    expect(got, what).toEqual(want);
    return;
  }
  if (ArrayBuffer.isView(want)) {
    expect(ArrayBuffer.isView(got), what).toBe(true);
    const g = got as TypedArray;
    const expected = want instanceof Uint8ClampedArray ? Uint8Array : want.constructor;
    expect(g.constructor, what).toBe(expected);
    expect(sameBytes(g, want), `${what}: bytes`).toBe(true);
    return;
  }
  const g = got as Tensor;
  expect({ dtype: g.dtype, shape: g.shape }, what).toEqual({ dtype: want.dtype, shape: want.shape });
  expect(sameBytes(g.data, want.data), `${what}: bytes`).toBe(true);
}

function expectSameRecord(got: StoredEpisode, want: EpisodeRecord): void {
  const { frame, features, reward, ...plain } = want;
  const { frame: gFrame, features: gFeatures, reward: gReward, id: _id, ...gPlain } = got;
  expect(gPlain).toEqual(plain);
  expect(Object.is(gReward, reward), `reward ${gReward} vs ${reward}`).toBe(true);
  expect(gFrame === undefined).toBe(frame === undefined);
  if (frame) {
    expect(Object.keys(gFrame!.columns)).toEqual(Object.keys(frame.columns));
    for (const [name, col] of Object.entries(frame.columns)) expectSameValue(gFrame!.columns[name], col, `column ${name}`);
    expect(gFrame!.index === undefined).toBe(frame.index === undefined);
    if (frame.index) expectSameValue(gFrame!.index!, frame.index, 'index');
  }
  expect(gFeatures === undefined).toBe(features === undefined);
  if (features) {
    expect(Object.keys(gFeatures!)).toEqual(Object.keys(features));
    for (const [name, t] of Object.entries(features)) expectSameValue(gFeatures![name] as Tensor, t as Tensor, `feature ${name}`);
  }
}

const ALL_DTYPES = Object.keys(DTYPES) as Dtype[];
const IMPLIED = new Set<Dtype>(['float64', 'float32', 'int64', 'int32', 'int16', 'int8', 'uint64', 'uint32', 'uint16', 'uint8']);

function everyDtypeRecord(time: number): EpisodeRecord {
  const columns: Record<string, Column> = {};
  const features: TensorDict = {};
  for (const [i, dtype] of ALL_DTYPES.entries()) {
    columns[`t_${dtype}`] = { dtype, shape: [8], data: sample(dtype, i) };
    features[`t_${dtype}`] = { dtype, shape: [2, 4], data: sample(dtype, i + 50) };
    if (IMPLIED.has(dtype)) {
      columns[`a_${dtype}`] = sample(dtype, i + 100);
      features[`a_${dtype}`] = sample(dtype, i + 150);
    }
  }
  columns.strings = ['', 'plain', 'naïve – ünïcode ✓', '\u{1F600} emoji', 'lone \ud800 surrogate', 'quote " and \\ backslash', '\u0000nul', 'x'.repeat(300)];
  columns.clamped = new Uint8ClampedArray([0, 1, 2, 255, 254, 3, 4, 5]);
  features.nan64 = specialFloat64();
  features.nan32 = specialFloat32();
  features.scalar = { dtype: 'float64', shape: [], data: new Float64Array([-0]) };
  features.empty = { dtype: 'int16', shape: [0, 3], data: new Int16Array(0) };
  return {
    time, model: 'dqn', episode: 'ep-7', step: 3, action: { side: 'buy', size: [1, 2.5] }, reward: -0,
    context: { nested: { list: [null, true, 'x', 1e-300] } },
    frame: { columns, index: new BigInt64Array([-1n, 0n, 1n, 2n ** 62n, -(2n ** 63n), 5n, 6n, 7n]) },
    features,
  };
}

describe('episode records round-trip bit-exact', () => {
  it('every dtype as column, index and feature, NaN payloads, -0, strings, in both forms', async () => {
    const store = await freshStore(root);
    const log = store.episodes('all-dtypes');
    const records = [everyDtypeRecord(1), everyDtypeRecord(2)];
    const ids = records.map((r) => log.append(r).id);
    const replayed = await collect(log.replay());
    expect(replayed.map((r) => r.id)).toEqual(ids);
    replayed.forEach((r, i) => expectSameRecord(r, records[i]));
    // The same after a reopen, and through get().
    await store.close();
    const again = await open(store.dir, { logger: silent });
    const reopened = again.episodes('all-dtypes');
    expect(reopened.repairs).toEqual([]);
    expectSameRecord(await reopened.get(ids[1]), records[1]);
    await again.close();
  });

  it('empty frames: no columns, zero rows, an index alone; empty strings; no optional fields', async () => {
    const store = await freshStore(root);
    const log = store.episodes('empty');
    const records: EpisodeRecord[] = [
      { time: 1, model: 'm' },
      { time: 2, model: 'm', frame: { columns: {} } },
      { time: 3, model: 'm', frame: { columns: { a: new Float64Array(0), s: [] } } },
      { time: 4, model: 'm', frame: { columns: {}, index: new Int32Array([3, 1, 2]) } },
      { time: 5, model: 'm', frame: { columns: { s: [''] } }, features: {} },
      { time: 6, model: 'm', reward: NaN, action: null, context: [] },
      { time: 7, model: 'm', reward: -Infinity, step: 0, episode: 0 },
    ];
    for (const r of records) log.append(r);
    const replayed = await collect(log.replay());
    expect(replayed.length).toBe(records.length);
    replayed.forEach((r, i) => expectSameRecord(r, records[i]));
    expect(replayed[3].frame!.columns).toEqual({});
    await store.close();
  });

  it('replays in time order whatever the append order, ties in id order, with time, model and episode filters', async () => {
    const store = await freshStore(root);
    const log = store.episodes('order', { indexBytes: 256 }); // many small index blocks
    const times = [5, 3, 9, 3, 1, 7, 7, 2, 8, 6, 4, 0];
    const ids = times.map((t, i) => log.append(tick(i, i % 3 ? 'a' : 'b', t)).id);
    const all = await collect(log.replay());
    const expected = times.map((t, i) => ({ t, id: ids[i] })).sort((x, y) => x.t - y.t || x.id - y.id);
    expect(all.map((r) => [r.time, r.id])).toEqual(expected.map((e) => [e.t, e.id]));
    expect((await collect(log.replay({ from: 3, to: 7 }))).map((r) => r.time)).toEqual([3, 3, 4, 5, 6, 7, 7]);
    expect((await collect(log.replay({ model: 'b' }))).every((r) => r.model === 'b')).toBe(true);
    expect((await collect(log.replay({ model: 'b' }))).length).toBe(4);
    expect((await collect(log.replay({ episode: 0, from: 6 }))).map((r) => r.time)).toEqual([6, 7, 7, 8, 9]);
    expect(await collect(log.replay({ from: 100 }))).toEqual([]);
    expect(await collect(log.replay({ from: 5, to: 4 }))).toEqual([]);
    await store.close();
  });

  it('copies on append: changing the arrays afterwards changes nothing stored', async () => {
    const store = await freshStore(root);
    const log = store.episodes('copies');
    const record = tick(1);
    const { id } = log.append(record);
    (record.frame!.columns.price as Float64Array).fill(-1);
    (record.features!.obs as Float32Array).fill(-1);
    (record.frame!.columns.side as string[])[0] = 'changed';
    const back = await log.get(id);
    expect(Array.from(back.frame!.columns.price as Float64Array)).toEqual([1, 1.5, 2, 2.5]);
    expect((back.frame!.columns.side as string[])[0]).toBe('b');
    expectSameRecord(back, tick(1));
    await store.close();
  });

  it('get() by id, ref() for a checkpoint, and E_NOT_FOUND for an id never appended', async () => {
    const store = await freshStore(root);
    const log = store.episodes('ids');
    const ids = Array.from({ length: 5 }, (_, i) => log.append(tick(i)).id);
    expect(ids).toEqual([1, 2, 3, 4, 5]);
    expectSameRecord(await log.get(4), tick(3));
    await expect(log.get(99)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(log.ref({ from: 1, to: 3, model: 'dqn' })).toEqual({ stream: 'ids', from: 1, to: 3, model: 'dqn' });
    const stats = log.stats();
    expect(stats).toMatchObject({ records: 5, appended: 5, acknowledged: 5, failed: 0, pending: 0, firstId: 1, lastId: 5, minTime: 0, maxTime: 4 });
    await store.close();
    expect(() => log.append(tick(9))).toThrow(expect.objectContaining({ code: 'E_CLOSED' }));
  });
});
