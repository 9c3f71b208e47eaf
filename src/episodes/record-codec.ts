// Records in their raw form (docs/FORMAT.md, "Record"): what append copies
// into the pending batch (record-batch.ts) and what a range read hands back,
// decoded here. Layout,
// 8-aligned: u64 id | f64 time | u32 head_len | u32 schema_len | u32
// block_count | u8 codec 0 | 3 × u8 0 | u32 data_len (the blocks' raw bytes)
// | u32 0 | block table (u8 element size | 3 × u8 0 | u32 raw_len) | the
// JSON head | the JSON schema | each block at the next 8-byte boundary. The
// addon encodes these into stored frames and decodes frames back into this
// form, so a decoded column is a view, never a copy.
import { CheckpointError } from '../errors.js';
import { DTYPES, isDtype, type Dtype, type TensorDict, type TypedArray } from '../file/tensors.js';
import type { ColumnHead, FeatureHead, RecordHead, RecordSchema } from '../validate/episode-record.js';
import type { Column, DataFrame, StoredEpisode } from './types.js';

export const HEADER = 40;
export const ENTRY = 8;
export const align8 = (n: number) => (n + 7) & ~7;
const utf8 = new TextDecoder('utf-8', { fatal: true });

// Fields are written and read through typed arrays in host byte order, which
// is the format's little-endian on every platform Node.js runs tensorkeep on.
if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new Error('tensorkeep episode logs need a little-endian host');

/** A decoded record whose head says something its blocks contradict: damage, reported like a failed checksum. */
function corrupt(message: string): CheckpointError {
  return new CheckpointError('E_CORRUPT', message);
}

// ---- decoding ----------------------------------------------------------------------

type Kind = 'a' | 't' | 's';
/** One block as the schema describes it, checked once per distinct schema. */
interface BlockPlan {
  name: string;
  /** How messages name it: frame column "x", frame index, feature "y". */
  label: string;
  kind: Kind;
  dtype: Dtype | null;
  shape: number[] | null;
  /** The shape's element count. */
  elements: number | null;
}
interface Plan {
  columns: BlockPlan[] | null;
  index: BlockPlan | null;
  features: BlockPlan[] | null;
  blocks: number;
}

function checkDtype(value: unknown, what: string): Dtype {
  if (!isDtype(value)) throw new CheckpointError('E_VERSION', `${what} has unknown dtype ${JSON.stringify(value)} (written by a newer tensorkeep?)`);
  return value;
}

function checkKind(value: unknown, what: string, strings: boolean): Kind {
  if (value === 'a' || value === 't' || (strings && value === 's')) return value;
  throw new CheckpointError('E_VERSION', `${what} has unknown kind ${JSON.stringify(value)}`);
}

function planOf(json: string): Plan {
  let raw: RecordSchema;
  try {
    raw = json === '' ? {} : JSON.parse(json);
  } catch (err) {
    throw corrupt(`schema is not JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object') throw corrupt('schema is not an object');
  const named = (list: unknown, what: string, strings: boolean, shaped: boolean): BlockPlan[] => {
    if (!Array.isArray(list)) throw corrupt(`schema ${what} is not a list`);
    return list.map((e: unknown) => {
      const [name, kind, dtype, shape] = Array.isArray(e) ? e : [];
      if (typeof name !== 'string') throw corrupt(`schema ${what} entry is malformed`);
      const k = checkKind(kind, `${what} "${name}"`, strings);
      if (shaped && !(Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0))) throw corrupt(`schema ${what} "${name}" has a malformed shape`);
      const label = `${what} "${name}"`;
      return {
        name, label, kind: k, dtype: k === 's' ? null : checkDtype(dtype, label), shape: shaped ? shape : null,
        elements: shaped ? (shape as number[]).reduce((a: number, b: number) => a * b, 1) : null,
      };
    });
  };
  const columns = raw.columns === undefined ? null : named(raw.columns, 'frame column', true, false);
  let index: BlockPlan | null = null;
  if (raw.index !== undefined) {
    if (!Array.isArray(raw.index)) throw corrupt('schema index is malformed');
    const kind = checkKind(raw.index[0], 'frame index', false);
    index = { name: 'index', label: 'frame index', kind, dtype: checkDtype(raw.index[1], 'frame index'), shape: null, elements: null };
  }
  const features = raw.features === undefined ? null : named(raw.features as FeatureHead[] | ColumnHead[], 'feature', false, true);
  return { columns, index, features, blocks: (columns?.length ?? 0) + (index ? 1 : 0) + (features?.length ?? 0) };
}

/** Parsed schemas by their JSON: a stream repeats a few. */
const plans = new Map<string, Plan>();
const MAX_PLANS = 64;

function planFor(json: string): Plan {
  let plan = plans.get(json);
  if (!plan) {
    plan = planOf(json);
    if (plans.size >= MAX_PLANS) plans.clear();
    plans.set(json, plan);
  }
  return plan;
}

const REWARD_NAMES: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };

function parseStrings(id: number, what: string, bytes: Uint8Array): string[] {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (err) {
    throw corrupt(`record ${id}: ${what} is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) throw corrupt(`record ${id}: ${what} is not a string array`);
  return value;
}

/** Where decoding one record has got to. */
interface Cursor {
  buffer: ArrayBuffer;
  words: Uint32Array;
  /** The record's start, in words and bytes. */
  w: number;
  start: number;
  /** The next block's bytes start at the 8-byte boundary at or after this. */
  at: number;
  block: number;
  id: number;
}

function blockCorrupt(c: Cursor, p: BlockPlan, problem: string): CheckpointError {
  return corrupt(`record ${c.id}: ${p.label} ${problem}`);
}

/** The next block, as the plan entry says: a TypedArray view, a tensor, or strings. */
function takeBlock(c: Cursor, p: BlockPlan, rows: number | null): Column {
  const len = c.words[c.w + HEADER / 4 + 2 * c.block + 1];
  c.block++;
  const offset = align8(c.at - c.start) + c.start;
  c.at = offset + len;
  if (p.kind === 's') {
    const strings = parseStrings(c.id, p.label, new Uint8Array(c.buffer, offset, len));
    if (strings.length !== rows) throw blockCorrupt(c, p, `has ${strings.length} rows, the frame ${rows}`);
    return strings;
  }
  const info = DTYPES[p.dtype!];
  if (len % info.size !== 0) throw blockCorrupt(c, p, `holds ${len} bytes, not a whole number of ${p.dtype}`);
  const data: TypedArray = new info.array(c.buffer, offset, len / info.size);
  if (rows !== null && data.length !== rows) throw blockCorrupt(c, p, `has ${data.length} rows, the frame ${rows}`);
  if (p.elements !== null && p.elements !== data.length) throw blockCorrupt(c, p, `has shape [${p.shape!.join(', ')}] but ${data.length} elements`);
  return p.kind === 'a' ? data : { dtype: p.dtype!, shape: p.shape ?? [data.length], data };
}

/** Decoded records back to back (a range read), and the plans of their schemas by the read's schema number. */
export class DecodedRecords {
  readonly words: Uint32Array;
  readonly doubles: Float64Array;
  private readonly plans: Plan[] = [];

  constructor(readonly buffer: ArrayBuffer) {
    this.words = new Uint32Array(buffer);
    this.doubles = new Float64Array(buffer);
  }

  /** The plan of schema number `n`, parsed from the record's bytes the first time. */
  plan(n: number, offset: number, len: number): Plan {
    return (this.plans[n] ??= planFor(len ? utf8.decode(new Uint8Array(this.buffer, offset, len)) : ''));
  }
}

/**
 * Decodes the raw-form record at `start` (8-aligned) whose schema has number
 * `schema` in the read; its arrays are views of the read's buffer.
 */
export function decodeRecord(read: DecodedRecords, start: number, schema: number): StoredEpisode {
  const { buffer, words, doubles } = read;
  const w = start / 4;
  const id = words[w] + words[w + 1] * 0x1_0000_0000;
  if (!Number.isSafeInteger(id)) throw corrupt(`record id ${id} is not a safe integer`);
  const time = doubles[start / 8 + 1];
  const headLen = words[w + 4];
  const schemaLen = words[w + 5];
  const count = words[w + 6];
  let at = start + HEADER + count * ENTRY;
  let head: RecordHead;
  let plan: Plan;
  try {
    head = JSON.parse(utf8.decode(new Uint8Array(buffer, at, headLen)));
    plan = read.plan(schema, at + headLen, schemaLen);
  } catch (err) {
    if (err instanceof CheckpointError) throw new CheckpointError(err.code, `record ${id}: ${err.message}`);
    throw corrupt(`record ${id}: head is not UTF-8 JSON (${(err as Error).message})`);
  }
  at += headLen + schemaLen;
  if (head === null || typeof head !== 'object' || typeof head.model !== 'string') throw corrupt(`record ${id}: head has no model`);
  if (plan.blocks !== count) throw corrupt(`record ${id} holds ${count} blocks, its schema names ${plan.blocks}`);
  const out: StoredEpisode = { id, time, model: head.model };
  if (head.episode !== undefined) out.episode = head.episode;
  if (head.step !== undefined) out.step = head.step;
  if (head.action !== undefined) out.action = head.action as StoredEpisode['action'];
  if (head.reward !== undefined) out.reward = typeof head.reward === 'string' ? REWARD_NAMES[head.reward] : head.reward;
  if (head.context !== undefined) out.context = head.context as StoredEpisode['context'];
  // Module-level functions and a plain cursor rather than closures: this runs
  // for every block of every record, and a transpiler may wrap each closure.
  const c: Cursor = { buffer, words, w, start, at, block: 0, id };
  if (plan.columns) {
    const rows = head.rows;
    if (!Number.isSafeInteger(rows)) throw corrupt(`record ${id}: a frame without rows`);
    const columns: Record<string, Column> = {};
    for (const p of plan.columns) columns[p.name] = takeBlock(c, p, rows!);
    const frame: DataFrame = { columns };
    if (plan.index) frame.index = takeBlock(c, plan.index, rows!) as DataFrame['index'];
    out.frame = frame;
  }
  if (plan.features) {
    const features: TensorDict = {};
    for (const p of plan.features) features[p.name] = takeBlock(c, p, null) as TensorDict[string];
    out.features = features;
  }
  if (c.block !== count) throw corrupt(`record ${id} holds ${count} blocks, its schema places ${c.block}`);
  return out;
}
