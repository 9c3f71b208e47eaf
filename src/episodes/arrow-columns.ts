// The Arrow columns of an episode export (docs/EPISODES.md, "Export to
// Arrow"): which columns a range of records needs, and one RecordBatch of
// rows built from them by copying bytes, so values stay bit-exact (NaN
// payloads, -0) — Arrow's builders would go through JS numbers.
import {
  Bool, Field, Float16, Float32, Float64, Int16, Int32, Int64, Int8, List, makeData, RecordBatch, Schema, Struct, Uint16, Uint32,
  Uint64, Uint8, Utf8, type Data, type DataType,
} from 'apache-arrow';
import { badInput } from '../errors.js';
import type { Dtype, Tensor, TypedArray } from '../file/tensors.js';
import type { Column, StoredEpisode } from './types.js';

/** 's' is a string column; anything else the dtype of a numeric one. */
type Kind = Dtype | 's';

const ARROW_TYPES: Record<Dtype, () => DataType> = {
  float64: () => new Float64(), float32: () => new Float32(), float16: () => new Float16(), bfloat16: () => new Uint16(),
  int64: () => new Int64(), int32: () => new Int32(), int16: () => new Int16(), int8: () => new Int8(),
  uint64: () => new Uint64(), uint32: () => new Uint32(), uint16: () => new Uint16(), uint8: () => new Uint8(), bool: () => new Bool(),
};

/** A list column: its name, what its values are, and how to take them from a record. */
interface ListSlot {
  name: string;
  kind: Kind;
  pick(r: StoredEpisode): Column | undefined;
}

/** The columns a range of records needs; built by seeing every record once. */
export class ExportLayout {
  /** Ids seen, so that records appended between the two passes stay out. */
  readonly ids = new Set<number>();
  private episodes: 'none' | 'number' | 'string' = 'none';
  private readonly lists = new Map<string, ListSlot>();
  private readonly shaped = new Set<string>();

  see(r: StoredEpisode): void {
    this.ids.add(r.id);
    if (r.episode !== undefined) this.episodes = typeof r.episode === 'string' || this.episodes === 'string' ? 'string' : 'number';
    for (const [col, column] of Object.entries(r.frame?.columns ?? {}))
      this.slot(`frame.${col}`, kindOf(column), r, (x) => x.frame?.columns[col]);
    if (r.frame?.index) this.slot('index', kindOf(r.frame.index), r, (x) => x.frame?.index);
    for (const [name, t] of Object.entries(r.features ?? {})) {
      this.slot(`features.${name}`, kindOf(t), r, (x) => x.features?.[name] as Column | undefined);
      if (!isTypedArray(t) && (t as Tensor).shape.length !== 1) this.shaped.add(name);
    }
  }

  private slot(name: string, kind: Kind, r: StoredEpisode, pick: ListSlot['pick']): void {
    const known = this.lists.get(name);
    if (!known) this.lists.set(name, { name, kind, pick });
    else if (known.kind !== kind)
      throw badInput(`cannot export column "${name}" as one Arrow column: it holds ${known.kind === 's' ? 'strings' : known.kind} in earlier records but ${kind === 's' ? 'strings' : kind} in record ${r.id}; export a narrower range`);
  }

  schema(metadata: Map<string, string>): Schema {
    const fields = [
      new Field('id', new Int64(), false), new Field('time', new Float64(), false), new Field('model', new Utf8(), false),
      new Field('episode', this.episodes === 'string' ? new Utf8() : new Int64(), true), new Field('step', new Int64(), true),
      new Field('action', new Utf8(), true), new Field('reward', new Float64(), true), new Field('context', new Utf8(), true),
      ...[...this.lists.values()].map((s) => listField(s.name, s.kind)),
      ...[...this.shaped].map((name) => listField(`shapes.${name}`, 'int32')),
    ];
    return new Schema(fields, metadata);
  }

  /** One RecordBatch of these records, in the schema's column order. */
  batch(schema: Schema, rows: StoredEpisode[]): RecordBatch {
    const children: Data[] = [
      fixed(new Int64(), BigInt64Array.from(rows, (r) => BigInt(r.id))),
      fixed(new Float64(), Float64Array.from(rows, (r) => r.time)),
      strings(rows.map((r) => r.model)),
      this.episodes === 'string' ? strings(rows.map((r) => (r.episode === undefined ? null : String(r.episode))))
        : optionalInts(rows.map((r) => r.episode as number | undefined)),
      optionalInts(rows.map((r) => r.step)),
      strings(rows.map((r) => (r.action === undefined ? null : JSON.stringify(r.action)))),
      optionalFloats(rows.map((r) => r.reward)),
      strings(rows.map((r) => (r.context === undefined ? null : JSON.stringify(r.context)))),
      ...[...this.lists.values()].map((s) => list(s.kind, rows.map(s.pick))),
      ...[...this.shaped].map((name) => list('int32', rows.map((r) => shapeOf(r.features?.[name] as Column | undefined)))),
    ];
    return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children }));
  }
}

const isTypedArray = (c: unknown): c is TypedArray => ArrayBuffer.isView(c);

function kindOf(c: Column): Kind {
  if (Array.isArray(c)) return 's';
  if (isTypedArray(c)) return dtypeOfArray(c);
  return (c as Tensor).dtype;
}

/** The dtype a bare array loaded as (replay gives each dtype's own class, docs/EPISODES.md). */
function dtypeOfArray(a: TypedArray): Dtype {
  const byClass: Record<string, Dtype> = {
    Float64Array: 'float64', Float32Array: 'float32', BigInt64Array: 'int64', Int32Array: 'int32', Int16Array: 'int16', Int8Array: 'int8',
    BigUint64Array: 'uint64', Uint32Array: 'uint32', Uint16Array: 'uint16', Uint8Array: 'uint8',
  };
  return byClass[a.constructor.name];
}

function listField(name: string, kind: Kind): Field {
  const item = new Field('item', kind === 's' ? new Utf8() : ARROW_TYPES[kind](), true);
  return new Field(name, new List(item), true, new Map([['tensorkeep.dtype', kind === 's' ? 'string' : kind]]));
}

function shapeOf(c: Column | undefined): Column | undefined {
  if (c === undefined) return undefined;
  return Int32Array.from(isTypedArray(c) ? [c.length] : (c as Tensor).shape);
}

/** The validity bitmap of `present`, or undefined when every row is present. */
function validity(present: boolean[]): { nullBitmap?: Uint8Array; nullCount: number } {
  const nullCount = present.filter((p) => !p).length;
  if (nullCount === 0) return { nullCount };
  const nullBitmap = new Uint8Array(Math.ceil(present.length / 8));
  present.forEach((p, i) => p && (nullBitmap[i >> 3] |= 1 << (i & 7)));
  return { nullBitmap, nullCount };
}

function fixed(type: DataType, data: ArrayBufferView, present?: boolean[]): Data {
  const length = (data as TypedArray).length;
  return makeData({ type, length, data, ...validity(present ?? new Array<boolean>(length).fill(true)) } as never);
}

function optionalInts(values: Array<number | undefined>): Data {
  return fixed(new Int64(), BigInt64Array.from(values, (v) => BigInt(v ?? 0)), values.map((v) => v !== undefined));
}

function optionalFloats(values: Array<number | undefined>): Data {
  return fixed(new Float64(), Float64Array.from(values, (v) => v ?? 0), values.map((v) => v !== undefined));
}

const encoder = new TextEncoder();

/** A Utf8 column (lone surrogates become U+FFFD: Arrow strings are UTF-8). */
function strings(values: Array<string | null>): Data {
  const bytes = values.map((v) => encoder.encode(v ?? ''));
  const valueOffsets = offsets(bytes.map((b) => b.length));
  const data = concatBytes(bytes, valueOffsets[bytes.length]);
  return makeData({ type: new Utf8(), length: values.length, valueOffsets, data, ...validity(values.map((v) => v !== null)) });
}

function offsets(lengths: number[]): Int32Array {
  const out = new Int32Array(lengths.length + 1);
  for (let i = 0; i < lengths.length; i++) {
    out[i + 1] = out[i] + lengths[i];
    if (out[i + 1] < out[i] + lengths[i]) throw badInput('an Arrow export batch exceeds 2^31 values in one column');
  }
  return out;
}

function concatBytes(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const bytesOf = (a: TypedArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A List column: each row's values (or null), their bytes copied as they are. */
function list(kind: Kind, cells: Array<Column | undefined>): Data {
  const present = cells.map((c) => c !== undefined);
  const arrays = cells.map((c) => (c === undefined ? (kind === 's' ? [] : null) : isTypedArray(c) || Array.isArray(c) ? c : (c as Tensor).data));
  const lengths = arrays.map((a) => a?.length ?? 0);
  const valueOffsets = offsets(lengths);
  const total = valueOffsets[cells.length];
  let child: Data;
  if (kind === 's') child = strings((arrays as string[][]).flat());
  else if (kind === 'bool') {
    const bits = new Uint8Array(Math.ceil(total / 8));
    let i = 0;
    for (const a of arrays) for (const v of (a ?? []) as Uint8Array) bits[i >> 3] |= (v ? 1 : 0) << (i++ & 7);
    child = makeData({ type: new Bool(), length: total, data: bits });
  } else {
    const type = ARROW_TYPES[kind]();
    // The typed array class Arrow keeps this type's values in (Uint16Array for float16).
    const ArrayType = (type as unknown as { ArrayType: { new (b: ArrayBuffer): TypedArray; BYTES_PER_ELEMENT: number } }).ArrayType;
    const bytes = concatBytes(arrays.map((a) => (a ? bytesOf(a as TypedArray) : new Uint8Array())), total * ArrayType.BYTES_PER_ELEMENT);
    child = fixed(type, new ArrayType(bytes.buffer as ArrayBuffer));
  }
  return makeData({ type: new List(new Field('item', child.type, true)), length: cells.length, valueOffsets, child, ...validity(present) });
}
