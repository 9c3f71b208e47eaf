// Checks an episode record where it enters (append) and turns it into what
// the codec writes: a JSON head and a list of byte blocks. Every problem is an
// E_BAD_INPUT naming the field, thrown before anything is copied or appended.
import { badInput, CheckpointError } from '../errors.js';
import { DTYPES, impliedDtype, type Dtype, type TensorDict, type TensorLike, type TypedArray } from '../file/tensors.js';
import { normalizeTensors } from './tensors.js';
import { describe } from './checks.js';
import { checkJson } from './json.js';
import { LIMITS } from './limits.js';
import { checkModelName } from './names.js';
import type { Column, DataFrame, EpisodeRecord, ReplayQuery } from '../episodes/types.js';

/** One block of a record: its bytes (any view) and the element size shuffle+zstd plans by. */
export interface BlockSource {
  data: ArrayBufferView;
  elem: number;
}

/** kind: "a" a bare TypedArray, "t" a {dtype, shape, data} tensor, "s" strings (UTF-8 JSON array). */
export type ColumnHead = [name: string, kind: 'a' | 't', dtype: Dtype] | [name: string, kind: 's'];
export type FeatureHead = [name: string, kind: 'a' | 't', dtype: Dtype, shape: number[]];

/** The record's own JSON head; see docs/FORMAT.md, "Record". */
export interface RecordHead {
  model: string;
  episode?: number | string;
  step?: number;
  action?: unknown;
  reward?: number | string;
  context?: unknown;
  /** Rows of the frame; present exactly when the record has a frame. */
  rows?: number;
}

/** What the blocks are: consecutive records usually share it, so a reader parses it once. */
export interface RecordSchema {
  columns?: ColumnHead[];
  index?: ['a' | 't', Dtype];
  features?: FeatureHead[];
}

export interface NormalizedRecord {
  time: number;
  model: string;
  head: string;
  /** JSON of the RecordSchema; empty when the record has neither frame nor features. */
  schema: string;
  /** The data blocks, in schema order: frame columns, frame index, features. */
  blocks: BlockSource[];
}

const FIELDS = ['time', 'model', 'episode', 'step', 'action', 'reward', 'context', 'frame', 'features'];

/** Reward as JSON: the numbers JSON cannot write (NaN, ±Infinity, -0) as their names. */
export function encodeReward(reward: number): number | string {
  return Number.isFinite(reward) && !Object.is(reward, -0) ? reward : Object.is(reward, -0) ? '-0' : String(reward);
}

export function checkEpisodeId(value: unknown, what: string): asserts value is number | string | undefined {
  if (value === undefined) return;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return;
  if (typeof value === 'string' && value.length > 0 && value.length <= LIMITS.episodeIdChars && value.isWellFormed()) return;
  throw badInput(`Expected a non-negative integer or a non-empty string of at most ${LIMITS.episodeIdChars} characters for ${what} but received ${describe(value)}`);
}

/** Validates a replay query (also the body of an EpisodeRef). */
export function checkQuery(query: unknown, what = 'replay query'): ReplayQuery {
  if (query === undefined) return {};
  if (query === null || typeof query !== 'object' || Array.isArray(query)) throw badInput(`Expected an object for ${what} but received ${describe(query)}`);
  const q = query as Record<string, unknown>;
  for (const bound of ['from', 'to'])
    if (q[bound] !== undefined && (typeof q[bound] !== 'number' || Number.isNaN(q[bound])))
      throw badInput(`Expected a number for ${what}.${bound} but received ${describe(q[bound])}`);
  if (q.model !== undefined) checkModelName(q.model, `${what}.model`);
  checkEpisodeId(q.episode, `${what}.episode`);
  return q as ReplayQuery;
}

/** Adds the column's block and returns its schema entry; `rows` gets its length. */
function columnBlock(name: string, column: Column, blocks: BlockSource[], rows: { n: number }): ColumnHead {
  // The common case, a bare non-empty TypedArray, needs no more checks (an empty one may be detached).
  const implied = impliedDtype(column);
  if (implied && (column as TypedArray).byteLength > 0) {
    blocks.push({ data: column as TypedArray, elem: DTYPES[implied].size });
    rows.n = (column as TypedArray).length;
    return [name, 'a', implied];
  }
  if (Array.isArray(column)) {
    for (let i = 0; i < column.length; i++)
      if (typeof column[i] !== 'string') throw badInput(`frame column "${name}": expected strings but element ${i} is ${describe(column[i])}`);
    blocks.push({ data: Buffer.from(JSON.stringify(column), 'utf8'), elem: 1 });
    rows.n = column.length;
    return [name, 's'];
  }
  const { dtype, shape, data } = tensorOf(`frame column "${name}"`, name, column);
  if (shape.length !== 1) throw badInput(`frame column "${name}" must be 1-D but has shape [${shape.join(', ')}]`);
  blocks.push({ data, elem: DTYPES[dtype].size });
  rows.n = shape[0];
  return [name, ArrayBuffer.isView(column) ? 'a' : 't', dtype];
}

/** The validated tensor behind a column, index or feature; messages name `what`. */
function tensorOf(what: string, name: string, value: unknown) {
  if (value === null || typeof value !== 'object')
    throw badInput(`${what}: expected a TypedArray, {dtype, shape, data} or strings but received ${describe(value)}`);
  try {
    return normalizeTensors([[name, value as TensorLike]])[0];
  } catch (err) {
    if (err instanceof CheckpointError) throw badInput(`${what}: ${err.message}`);
    throw err;
  }
}

function frameBlocks(frame: unknown, blocks: BlockSource[], schema: RecordSchema): number {
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) throw badInput(`Expected an object {columns, index?} for frame but received ${describe(frame)}`);
  for (const key of Object.keys(frame)) if (key !== 'columns' && key !== 'index') throw badInput(`Unknown field frame.${key}; expected columns, index`);
  const { columns, index } = frame as DataFrame;
  if (columns === null || typeof columns !== 'object' || Array.isArray(columns) || ArrayBuffer.isView(columns))
    throw badInput(`Expected an object of columns for frame.columns but received ${describe(columns)}`);
  const heads: ColumnHead[] = [];
  let rows: number | null = null;
  let first = '';
  const length = { n: 0 };
  for (const name of Object.keys(columns)) {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only long names need counting.
    if ((name.length * 3 > LIMITS.columnNameBytes && Buffer.byteLength(name, 'utf8') > LIMITS.columnNameBytes) || !name.isWellFormed())
      throw badInput(`frame column name "${name.slice(0, 40)}" must be well-formed and at most ${LIMITS.columnNameBytes} bytes`);
    heads.push(columnBlock(name, (columns as Record<string, Column>)[name], blocks, length));
    if (rows === null) [rows, first] = [length.n, name];
    else if (length.n !== rows) throw badInput(`frame columns differ in length: "${first}" has ${rows} rows, "${name}" has ${length.n}`);
  }
  schema.columns = heads;
  if (index === undefined) return rows ?? 0;
  if (Array.isArray(index)) throw badInput('frame.index must be a TypedArray or {dtype, shape, data}, not strings');
  const { dtype, shape, data } = tensorOf('frame.index', 'index', index);
  if (shape.length !== 1) throw badInput(`frame.index must be 1-D but has shape [${shape.join(', ')}]`);
  if (rows !== null && shape[0] !== rows) throw badInput(`frame.index has ${shape[0]} entries but the columns have ${rows} rows`);
  schema.index = [ArrayBuffer.isView(index) ? 'a' : 't', dtype];
  blocks.push({ data, elem: DTYPES[dtype].size });
  return shape[0];
}

function featureBlocks(features: unknown, blocks: BlockSource[]): FeatureHead[] {
  if (features === null || typeof features !== 'object' || Array.isArray(features) || ArrayBuffer.isView(features) || features instanceof Map)
    throw badInput(`Expected an object of named tensors for features but received ${describe(features)}`);
  const specs = normalizeTensors(features as TensorDict);
  return specs.map((t) => {
    blocks.push({ data: t.data, elem: DTYPES[t.dtype].size });
    return [t.name, ArrayBuffer.isView((features as TensorDict)[t.name]) ? 'a' : 't', t.dtype, t.shape];
  });
}

export function normalizeRecord(input: unknown): NormalizedRecord {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw badInput(`Expected an episode record object but received ${describe(input)}`);
  const r = input as EpisodeRecord & Record<string, unknown>;
  for (const key of Object.keys(r)) if (!FIELDS.includes(key)) throw badInput(`Unknown field ${key} in an episode record; expected one of ${FIELDS.join(', ')}`);
  if (typeof r.time !== 'number' || !Number.isFinite(r.time)) throw badInput(`Expected a finite number for time but received ${describe(r.time)}`);
  checkModelName(r.model, 'model');
  const head: RecordHead = { model: r.model };
  checkEpisodeId(r.episode, 'episode');
  if (r.episode !== undefined) head.episode = r.episode;
  if (r.step !== undefined) {
    if (typeof r.step !== 'number' || !Number.isSafeInteger(r.step) || r.step < 0) throw badInput(`Expected non-negative integer for step but received ${describe(r.step)}`);
    head.step = r.step;
  }
  if (r.action !== undefined) {
    checkJson(r.action, 'action');
    head.action = r.action;
  }
  if (r.reward !== undefined) {
    if (typeof r.reward !== 'number') throw badInput(`Expected a number for reward but received ${describe(r.reward)}`);
    head.reward = encodeReward(r.reward);
  }
  if (r.context !== undefined) {
    checkJson(r.context, 'context');
    head.context = r.context;
  }
  const blocks: BlockSource[] = [];
  const schema: RecordSchema = {};
  if (r.frame !== undefined) head.rows = frameBlocks(r.frame, blocks, schema);
  if (r.features !== undefined) schema.features = featureBlocks(r.features, blocks);
  const hasSchema = r.frame !== undefined || r.features !== undefined;
  return { time: r.time, model: r.model, head: JSON.stringify(head), schema: hasSchema ? schemaJson(schema) : '', blocks };
}

/** The last schema written and its JSON: consecutive records of a stream usually share it. */
let lastSchema: { schema: RecordSchema; json: string } | null = null;

const sameList = (a: unknown[] | undefined, b: unknown[] | undefined): boolean => {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x !== y && !(Array.isArray(x) && Array.isArray(y) && sameList(x, y))) return false;
  }
  return true;
};

function schemaJson(schema: RecordSchema): string {
  const last = lastSchema?.schema;
  if (last && sameList(last.columns, schema.columns) && sameList(last.index, schema.index) && sameList(last.features, schema.features))
    return lastSchema!.json;
  const json = JSON.stringify(schema);
  lastSchema = { schema, json };
  return json;
}
