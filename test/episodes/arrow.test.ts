// Arrow export (docs/EPISODES.md, "Export to Arrow"): a stream with every
// dtype, NaN payloads, -0, string columns and empty frames is exported, read
// back with apache-arrow's tableFromIPC, and every value compared bit for
// bit with what was appended; bad input is refused with a code and no file.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC, Type, type Table } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import type { Column, EpisodeRecord } from '../../src/index.js';
import { DTYPES, type Dtype, type Tensor, type TypedArray } from '../../src/file/tensors.js';
import { freshStore } from '../fixtures/episodes.js';
import { tempDir } from '../helpers.js';

const root = tempDir();

/** Five elements of the dtype, bytes from a seed; bool as 0/1 (Arrow Bool keeps truth, not bytes). */
function sample(dtype: Dtype, seed: number, n = 5): TypedArray {
  const info = DTYPES[dtype];
  const bytes = new Uint8Array(n * info.size).map((_, i) => (i * 37 + seed * 11 + 5) & 0xff);
  if (dtype === 'bool') bytes.forEach((_, i) => (bytes[i] = (i + seed) % 3 === 0 ? 1 : 0));
  return new info.array(bytes.buffer, 0, n);
}

const TENSOR_ONLY = new Set<Dtype>(['float16', 'bfloat16', 'bool']);
const column = (dtype: Dtype, seed: number, n = 5): Column =>
  TENSOR_ONLY.has(dtype) ? { dtype, shape: [n], data: sample(dtype, seed, n) } : sample(dtype, seed, n);

function specials(): Float64Array {
  const out = new Float64Array(5);
  const bits = new BigUint64Array(out.buffer);
  bits[0] = 0x7ff8_0000_dead_beefn;
  bits[1] = 0xfff0_0000_0000_0001n;
  out[2] = -0;
  bits[3] = 1n;
  out[4] = -Infinity;
  return out;
}

const dtypes = Object.keys(DTYPES) as Dtype[];
const records: EpisodeRecord[] = [
  {
    time: 10, model: 'dqn', episode: 1, step: 0, action: 'buy', reward: NaN, context: { regime: 'volatile', spread: 0.0004 },
    frame: {
      columns: { ...Object.fromEntries(dtypes.map((d, i) => [d, column(d, i)])), special: specials(), side: ['b', 's', 'é✓', '', '𝄞'] },
      index: BigInt64Array.from([1n, 2n, 3n, -4n, 5n]),
    },
    features: { obs: Float32Array.from([0.5, -0, 1e-40]), grid: { dtype: 'int16', shape: [2, 3], data: sample('int16', 9, 6) } },
  },
  { time: 5, model: 'dqn', episode: 1, step: 1, reward: -0, frame: { columns: {} } },
  {
    time: 20, model: 'dqn', episode: 2, action: ['sell', 2], reward: Infinity,
    frame: { columns: { float64: new Float64Array(0), side: [], bool: { dtype: 'bool', shape: [0], data: new Uint8Array(0) } } },
  },
  { time: 10, model: 'dqn', context: null, features: { grid: { dtype: 'int16', shape: [1, 2], data: sample('int16', 3, 2) } } },
  { time: 15, model: 'other', episode: 7, frame: { columns: { float64: column('float64', 4) } } },
];

const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const dataOf = (c: Column | TypedArray | Tensor): TypedArray | string[] => (Array.isArray(c) || ArrayBuffer.isView(c) ? c : c.data);

/** The row's value of a List column: its values' bytes, its booleans, or its strings; null when absent. */
function listCell(table: Table, name: string, row: number): Buffer | boolean[] | string[] | null {
  const cell = table.getChild(name)!.get(row);
  if (cell === null) return null;
  const d = cell.data[0];
  if (d.typeId === Type.Bool) return [...cell] as boolean[];
  if (d.typeId === Type.Utf8) return [...cell] as string[];
  return bytesOf((d.values as TypedArray).subarray(0, d.length)); // a slice's values start at its first element
}

/** What listCell must give for a column appended as `c`. */
function expected(c: Column | TypedArray | Tensor | undefined, dtype?: Dtype): Buffer | boolean[] | string[] | null {
  if (c === undefined) return null;
  const data = dataOf(c);
  if (Array.isArray(data)) return data;
  if (dtype === 'bool') return [...(data as Uint8Array)].map((v) => v !== 0);
  return bytesOf(data);
}

/** Bits of a Float64 scalar column's row (NaN payloads and -0 included). */
function float64Bits(table: Table, name: string, row: number): bigint {
  const d = table.getChild(name)!.data[0];
  return new BigUint64Array(Float64Array.of((d.values as Float64Array)[d.offset + row]).buffer)[0];
}
const bitsOf = (x: number) => new BigUint64Array(Float64Array.of(x).buffer)[0];

describe('Arrow export', () => {
  it('writes one row per record, every value bit for bit, read back with tableFromIPC', async () => {
    const store = await freshStore(root);
    const log = store.episodes('ticks');
    const ids = records.map((r) => log.append(r).id);
    const file = join(root, 'ticks.arrow');
    const result = await log.export(file);
    const raw = readFileSync(file);
    expect(result).toEqual({ file, records: records.length, bytes: raw.length });
    const table = tableFromIPC(raw);
    expect(table.numRows).toBe(records.length);
    expect(table.schema.metadata.get('tensorkeep.stream')).toBe('ticks');

    // Replay order: time, ties by id.
    const order = records.map((r, i) => ({ r, id: ids[i] })).sort((a, b) => a.r.time - b.r.time || a.id - b.id);
    const frameColumns = [...dtypes, 'special', 'side'];
    order.forEach(({ r, id }, row) => {
      expect(table.getChild('id')!.get(row)).toBe(BigInt(id));
      expect(float64Bits(table, 'time', row)).toBe(bitsOf(r.time));
      expect(table.getChild('model')!.get(row)).toBe(r.model);
      expect(table.getChild('episode')!.get(row)).toBe(r.episode === undefined ? null : BigInt(r.episode));
      expect(table.getChild('step')!.get(row)).toBe(r.step === undefined ? null : BigInt(r.step));
      expect(table.getChild('action')!.get(row)).toBe(r.action === undefined ? null : JSON.stringify(r.action));
      expect(table.getChild('context')!.get(row)).toBe(r.context === undefined ? null : JSON.stringify(r.context));
      if (r.reward === undefined) expect(table.getChild('reward')!.get(row)).toBeNull();
      else expect(float64Bits(table, 'reward', row)).toBe(bitsOf(r.reward));
      for (const name of frameColumns) {
        const c = r.frame?.columns[name];
        expect(listCell(table, `frame.${name}`, row), `row ${row} frame.${name}`).toEqual(expected(c, name as Dtype));
      }
      expect(listCell(table, 'index', row)).toEqual(expected(r.frame?.index));
      for (const name of ['obs', 'grid']) expect(listCell(table, `features.${name}`, row)).toEqual(expected(r.features?.[name] as Tensor));
      const grid = r.features?.grid as Tensor | undefined;
      expect(listCell(table, 'shapes.grid', row)).toEqual(grid ? bytesOf(Int32Array.from(grid.shape)) : null);
    });

    // Arrow types as docs/EPISODES.md maps them; the dtype is kept in the field metadata.
    const item = (name: string) => table.schema.fields.find((f) => f.name === name)!;
    expect(item('frame.float16').type.children[0].type.typeId).toBe(Type.Float);
    expect(item('frame.bfloat16').metadata.get('tensorkeep.dtype')).toBe('bfloat16');
    expect(item('frame.side').type.children[0].type.typeId).toBe(Type.Utf8);
    expect(item('frame.bool').type.children[0].type.typeId).toBe(Type.Bool);
    expect(item('frame.int64').type.children[0].type.typeId).toBe(Type.Int);
    expect(table.schema.fields.some((f) => f.name === 'shapes.obs')).toBe(false); // 1-D features need no shape column
    await store.close();
  });

  it('exports a range and a model, through store.episodes(stream).export(file, range), and an empty range', async () => {
    const store = await freshStore(root);
    const log = store.episodes('ticks');
    for (const r of records) log.append(r);
    const file = join(root, 'range.arrow');
    expect((await store.episodes('ticks').export(file, { from: 10, to: 20, model: 'dqn' })).records).toBe(3);
    const table = tableFromIPC(readFileSync(file));
    expect([...table.getChild('time')!]).toEqual([10, 10, 20]);
    const empty = join(root, 'empty.arrow');
    expect((await log.export(empty, { from: 1000 })).records).toBe(0);
    expect(tableFromIPC(readFileSync(empty)).numRows).toBe(0);
    await store.close();
  });

  it('refuses bad input with a coded error and leaves no file', async () => {
    const store = await freshStore(root);
    const log = store.episodes('ticks');
    log.append({ time: 1, model: 'dqn', frame: { columns: { x: new Float64Array(2) } } });
    log.append({ time: 2, model: 'dqn', frame: { columns: { x: new Int32Array(2) } } });
    const dir = mkdtempSync(join(root, 'out'));
    await expect(log.export(join(dir, 'missing', 'x.arrow'), { to: 1 })).rejects.toMatchObject({ code: 'E_IO' });
    await expect(log.export(join(dir, 'x.arrow'), { from: 'yesterday' as never })).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await expect(log.export('')).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await expect(log.export(join(dir, 'x.arrow'))).rejects.toMatchObject({ code: 'E_BAD_INPUT', message: expect.stringMatching(/frame\.x.*float64.*int32/) });
    expect(readdirSync(dir)).toEqual([]);
    expect((await log.export(join(dir, 'x.arrow'), { to: 1 })).records).toBe(1);
    await store.close();
  });
});
