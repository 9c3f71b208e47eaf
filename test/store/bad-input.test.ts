// The bad-input catalogue of the store API: every row is
// one malformed call to open(), model(), report(), save(), load(),
// resume(), pin() or attach() — bad tensors, metrics, options,
// model names, steps going backwards, calls after close(), pipeline options —
// with the exact error code and message it must get. After each row the
// store it hit still saves and loads bit-exact, and its directory holds
// exactly the listed files (nothing partial). The file API's catalogue
// (writeCheckpoint, readCheckpoint, ...) is test/file/bad-input.test.ts.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError, open, type CheckpointManager, type ErrorCode, type ModelCheckpoints, type StoreOptions,
} from '../../src/index.js';
import { expectCheckpointError, sameBytes, tempDir } from '../helpers.js';
import { silentLogger, tensorsFor, tkptFiles } from '../fixtures/store.js';

const root = tempDir();
const BASE: StoreOptions = { logger: silentLogger, handleSignals: false, workers: 1, always: true };
const opened: CheckpointManager[] = [];

// Stores with the same worker count share one pool: a store kept open for
// the whole file spares every row the start of a worker thread.
let keeper: CheckpointManager;
beforeAll(async () => {
  keeper = await open(mkdtempSync(join(root, 'keeper')), BASE);
});
afterAll(() => keeper.close());
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

async function openStore(dir: string, options: StoreOptions = {}): Promise<CheckpointManager> {
  const store = await open(dir, { ...BASE, ...options });
  opened.push(store);
  return store;
}

interface Ctx {
  /** The row's store, and its model "m" holding one checkpoint (seq 1, step 10). */
  dir: string;
  store: CheckpointManager;
  m: ModelCheckpoints;
  /** Another store on another directory, its model "m" with one checkpoint, closed. */
  closed(): Promise<{ store: CheckpointManager; m: ModelCheckpoints }>;
  /** A second store on the row's directory. */
  second(options?: StoreOptions): Promise<CheckpointManager>;
}

interface Row {
  name: string;
  call: (ctx: Ctx) => unknown;
  code: ErrorCode;
  message: string | RegExp;
  /** Options of the row's store. */
  options?: StoreOptions;
}

const F = new Float32Array([1, 2, 3]);
const noop = () => {};
const NAME_RULE = '/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/';
const tooLarge = { w: new Float32Array(1 << 20) };
/** 70 levels of {a: ...}: deeper than the reader's JSON nesting limit. */
const deepMeta = JSON.parse(`${'{"a":'.repeat(70)}1${'}'.repeat(70)}`) as Record<string, unknown>;

/** open() of a fresh directory under the row's: it must refuse before creating it. */
const openRow = (name: string, options: unknown, message: string | RegExp): Row => ({
  name: `open(): ${name}`,
  call: async ({ dir }) => {
    const target = join(dir, 'never');
    try {
      await open(target, options as StoreOptions);
    } finally {
      expect(existsSync(target)).toBe(false);
    }
  },
  code: 'E_BAD_INPUT',
  message,
});

const modelRow = (name: unknown, shown = JSON.stringify(name)): Row => ({
  name: `model(${shown.length > 40 ? `${shown.slice(0, 20)}…(${String(name).length} chars)` : shown})`,
  call: ({ store, dir }) => {
    try {
      return store.model(name as string);
    } finally {
      expect(readdirSync(dir).sort()).toEqual(['m']); // no directory for the refused name
    }
  },
  code: 'E_BAD_INPUT',
  message: `Expected a model name matching ${NAME_RULE} but received ${JSON.stringify(name)}`,
});

const ROWS: Row[] = [
  // open(): policy options
  openRow('options that are not an object', null, 'Expected object for options but received null'),
  openRow('an unknown option', { kep: { best: 1 } }, /^Unknown option options\.kep; expected one of preset, monitor, /),
  openRow('keep.best negative', { keep: { best: -1 } }, 'Expected integer >= 0 for keep.best but received -1 of type number'),
  openRow('keep.best fractional', { keep: { best: 1.5 } }, 'Expected integer >= 0 for keep.best but received 1.5 of type number'),
  openRow('keep.periodic a string', { keep: { periodic: '3' } }, 'Expected integer >= 0 for keep.periodic but received "3" of type string'),
  openRow('an unknown keep key', { keep: { bset: 1 } }, 'Unknown option keep.bset; expected one of best, periodic'),
  openRow('every.steps 0', { every: { steps: 0 } }, 'Expected integer >= 1 for every.steps but received 0 of type number'),
  openRow('every.minutes negative', { every: { minutes: -1 } }, 'Expected number >= 0 for every.minutes but received -1 of type number'),
  openRow('an unknown every key', { every: { step: 10 } }, 'Unknown option every.step; expected one of steps, minutes'),
  openRow('monitor direction "down"', { monitor: { loss: 'down' } }, 'Expected one of min, max for monitor.loss but received "down" of type string'),
  openRow('monitor a string', { monitor: 'loss' }, 'Expected object for monitor but received "loss" of type string'),
  openRow('improvement.mode "some"', { improvement: { mode: 'some' } }, 'Expected one of any, all, primary for improvement.mode but received "some" of type string'),
  openRow('improvement.minDelta negative', { improvement: { minDelta: -0.1 } }, 'Expected number >= 0 for improvement.minDelta but received -0.1 of type number'),
  openRow('improvement.minRelative NaN', { improvement: { minRelative: NaN } }, 'Expected number >= 0 for improvement.minRelative but received NaN of type number'),
  openRow('compression.codec "lz4"', { compression: { codec: 'lz4' } }, 'Expected one of raw, zstd, shuffle+zstd for compression.codec but received "lz4" of type string'),
  openRow('compression.level 30', { compression: { level: 30 } }, 'Expected integer in [1, 19] for compression.level but received 30 of type number'),
  openRow('compression.chunkBytes not a multiple of 64', { compression: { chunkBytes: 4100 } }, 'Expected a multiple of 64 for compression.chunkBytes but received 4100'),
  openRow('quotaBytes 0', { quotaBytes: 0 }, 'Expected number >= 1 for quotaBytes but received 0 of type number'),
  openRow('alertAfter 0', { alertAfter: 0 }, 'Expected integer >= 1 for alertAfter but received 0 of type number'),
  openRow('always 1', { always: 1 }, 'Expected boolean for always but received 1 of type number'),
  openRow('preset "fast"', { preset: 'fast' }, 'Expected one of conservative, balanced, aggressive for preset but received "fast" of type string'),
  openRow('degradation.patience 0', { degradation: { patience: 0 } }, 'Expected integer >= 1 for degradation.patience but received 0 of type number'),
  openRow('degradation.onRevert a string', { degradation: { onRevert: 'x' } }, 'Expected function for degradation.onRevert but received "x" of type string'),
  openRow('degradation.revert "yes"', { degradation: { revert: 'yes' } }, 'Expected boolean for degradation.revert but received "yes" of type string'),
  openRow('a logger without info', { logger: { debug: noop, warn: noop, error: noop } }, 'Expected function for logger.info but received undefined of type undefined'),
  openRow('a logger that is a function', { logger: console.log }, 'Expected object for logger but received function'),
  openRow('readOnly "yes"', { readOnly: 'yes' }, 'Expected boolean for readOnly but received "yes" of type string'),
  // open(): pipeline options
  openRow('workers 0', { workers: 0 }, 'Expected integer in [1, 64] for workers but received 0 of type number'),
  openRow('workers 65', { workers: 65 }, 'Expected integer in [1, 64] for workers but received 65 of type number'),
  openRow('workers 1.5', { workers: 1.5 }, 'Expected integer in [1, 64] for workers but received 1.5 of type number'),
  openRow('workerNice -1', { workerNice: -1 }, 'Expected integer in [0, 19] for workerNice but received -1 of type number'),
  openRow('workerNice 20', { workerNice: 20 }, 'Expected integer in [0, 19] for workerNice but received 20 of type number'),
  openRow('workerNice "low"', { workerNice: 'low' as never }, 'Expected integer in [0, 19] for workerNice but received "low" of type string'),
  openRow('staging.maxBytes -1', { staging: { maxBytes: -1 } }, 'Expected integer >= 1 for staging.maxBytes but received -1 of type number'),
  openRow('staging.maxBytes 1.5', { staging: { maxBytes: 1.5 } }, 'Expected integer >= 1 for staging.maxBytes but received 1.5 of type number'),
  openRow('an unknown staging key', { staging: { size: 1 } }, 'Unknown option staging.size; expected one of maxBytes'),
  openRow('staging a string', { staging: 'big' }, 'Expected object for staging but received "big" of type string'),
  openRow('backpressure "drop"', { backpressure: 'drop' }, 'Expected one of coalesce, skip, block for backpressure but received "drop" of type string'),
  openRow('snapshot "none"', { snapshot: 'none' }, 'Expected one of copy, borrow for snapshot but received "none" of type string'),
  openRow('checkBorrowed "yes"', { checkBorrowed: 'yes' }, 'Expected boolean for checkBorrowed but received "yes" of type string'),
  openRow('handleSignals 1', { handleSignals: 1 }, 'Expected boolean for handleSignals but received 1 of type number'),
  { name: 'open(""): an empty directory path', call: () => open(''), code: 'E_BAD_INPUT', message: 'Expected a directory path but received ""' },

  // model(): names that could escape the root or are not names
  modelRow('../x'),
  modelRow('a/b'),
  modelRow(''),
  modelRow('x'.repeat(300)),
  modelRow('a'.repeat(129)),
  modelRow('a\0b'),
  modelRow('.hidden'),
  modelRow('-dash'),
  modelRow('sp ace'),
  modelRow('a\\b'),
  modelRow(5),
  { name: 'model(): a per-model override out of range', call: ({ store }) => store.model('n', { keep: { best: -1 } }), code: 'E_BAD_INPUT', message: 'Expected integer >= 0 for keep.best but received -1 of type number' },
  { name: 'model(): a store-only option per model', call: ({ store }) => store.model('n', { logger: silentLogger } as never), code: 'E_BAD_INPUT', message: /^Unknown option options\.logger; expected one of preset, / },
  { name: 'model(): options on a second call for an open model', call: ({ store }) => store.model('m', { always: false }), code: 'E_BAD_INPUT', message: 'model "m" is already open; pass its options on the first model() call' },
  { name: 'model(): a model another store of this process writes', call: async ({ second }) => (await second()).model('m'), code: 'E_LOCKED', message: new RegExp(`m/LOCK is held by pid ${process.pid}$`) },

  // report()
  { name: 'report(null)', call: ({ m }) => m.report(null as never), code: 'E_BAD_INPUT', message: 'Expected an object for report()' },
  { name: 'report(): step -1', call: ({ m }) => m.report({ step: -1 }), code: 'E_BAD_INPUT', message: 'Expected non-negative integer for step but received -1' },
  { name: 'report(): step 1.5', call: ({ m }) => m.report({ step: 11.5 }), code: 'E_BAD_INPUT', message: 'Expected non-negative integer for step but received 11.5' },
  { name: 'report(): step NaN', call: ({ m }) => m.report({ step: NaN }), code: 'E_BAD_INPUT', message: 'Expected non-negative integer for step but received NaN' },
  { name: 'report(): step as a string', call: ({ m }) => m.report({ step: '11' as never }), code: 'E_BAD_INPUT', message: 'Expected non-negative integer for step but received 11' },
  { name: 'report(): step 2^53', call: ({ m }) => m.report({ step: 2 ** 53 }), code: 'E_BAD_INPUT', message: 'Expected non-negative integer for step but received 9007199254740992' },
  { name: 'report(): the step goes backwards', call: ({ m }) => m.report({ step: 9, tensors: tensorsFor(9) }), code: 'E_BAD_INPUT', message: 'step 9 goes backwards: model "m" last reported step 10' },
  { name: 'report(): epoch -1', call: ({ m }) => m.report({ step: 11, epoch: -1 }), code: 'E_BAD_INPUT', message: 'Expected non-negative integer for epoch but received -1' },
  { name: 'report(): a metric that is a string', call: ({ m }) => m.report({ step: 11, metrics: { loss: '1' as never } }), code: 'E_BAD_INPUT', message: 'Expected number for metric "loss" but received string' },
  { name: 'report(): metrics that are an array', call: ({ m }) => m.report({ step: 11, metrics: [1] as never }), code: 'E_BAD_INPUT', message: 'Expected an object of numbers for metrics' },
  { name: 'report(): metrics null', call: ({ m }) => m.report({ step: 11, metrics: null as never }), code: 'E_BAD_INPUT', message: 'Expected an object of numbers for metrics' },
  { name: 'report(): force "yes"', call: ({ m }) => m.report({ step: 11, force: 'yes' as never }), code: 'E_BAD_INPUT', message: 'Expected boolean for force but received yes' },
  { name: 'report(): a saving report without tensors', call: ({ m }) => m.report({ step: 11 }), code: 'E_BAD_INPUT', message: 'model "m": the report at step 11 saves (always) but has no tensors' },
  { name: 'report(): a tensor of an unknown dtype', call: ({ m }) => m.report({ step: 11, tensors: { t: { dtype: 'float128', shape: [3], data: F } as never } }), code: 'E_BAD_INPUT', message: 'Unknown dtype "float128" for tensor "t"' },
  { name: 'report(): a shape that does not match the data', call: ({ m }) => m.report({ step: 11, tensors: { t: { dtype: 'float32', shape: [2, 2], data: F } } }), code: 'E_BAD_INPUT', message: /shape \[2, 2\] of float32 needs 16 bytes but its data has 12/ },
  { name: 'report(): a tensors function returning a number', call: ({ m }) => m.report({ step: 11, tensors: () => 5 as never }), code: 'E_BAD_INPUT', message: /^Expected an object of named tensors/ },
  { name: 'report(): a tensor that is a plain array', call: ({ m }) => m.report({ step: 11, tensors: { t: [1, 2, 3] as never } }), code: 'E_BAD_INPUT', message: 'Expected TypedArray or {dtype, shape, data} for tensor "t"' },
  { name: 'report(): meta holding a BigInt', call: ({ m }) => m.report({ step: 11, tensors: { F }, meta: { n: 1n } }), code: 'E_BAD_INPUT', message: 'meta.n holds a value of type bigint, which is not JSON' },
  { name: 'report(): meta holding a function', call: ({ m }) => m.report({ step: 11, tensors: { F }, meta: { f: () => 1 } as never }), code: 'E_BAD_INPUT', message: 'meta.f holds a value of type function, which is not JSON' },
  { name: 'report(): meta with a toJSON method', call: ({ m }) => m.report({ step: 11, tensors: { F }, meta: { x: { toJSON: () => 1 } } as never }), code: 'E_BAD_INPUT', message: 'meta.x.toJSON holds a value of type function, which is not JSON' },
  { name: 'report(): meta holding a Date', call: ({ m }) => m.report({ step: 11, tensors: { F }, meta: { at: new Date(0) } as never }), code: 'E_BAD_INPUT', message: 'meta.at is a Date, not a plain object' },
  { name: 'report(): meta holding a lone surrogate', call: ({ m }) => m.report({ step: 11, tensors: { F }, meta: { s: 'a\ud800' } }), code: 'E_BAD_INPUT', message: 'meta.s holds a string with a lone UTF-16 surrogate, which UTF-8 cannot hold' },
  { name: 'report(): meta nested deeper than the reader allows', call: ({ m }) => m.report({ step: 11, tensors: { F }, meta: deepMeta }), code: 'E_BAD_INPUT', message: /^meta(\.a)+ is nested more than 63 levels deep$/ },
  { name: 'report(): meta of ~70 MB (an index the reader would refuse)', call: ({ m }) => m.report({ step: 11, tensors: { F }, meta: { blob: 'x'.repeat(70_000_000) } }), code: 'E_BAD_INPUT', message: 'head JSON of 70000196 bytes (meta, metrics, ...) exceeds the index limit of 67108864 bytes that every reader enforces' },
  { name: 'report(): a metric name with a lone surrogate', call: ({ m }) => m.report({ step: 11, metrics: { 'a\ud800': 1 } }), code: 'E_BAD_INPUT', message: 'Metric name "a\ud800" contains a lone UTF-16 surrogate, which UTF-8 cannot hold' },
  { name: 'report(): a bool tensor holding 2', call: ({ m }) => m.report({ step: 11, tensors: { b: { dtype: 'bool', shape: [3], data: new Uint8Array([0, 1, 2]) } } }), code: 'E_BAD_INPUT', message: 'tensor "b": bool element 2 is 2; bool values must be 0 or 1' },
  { name: 'report(): meta that is an array', call: ({ m }) => m.report({ step: 11, tensors: { F }, meta: [1] as never }), code: 'E_BAD_INPUT', message: 'Expected a plain object for meta' },
  { name: 'report(): snapshot "steal"', call: ({ m }) => m.report({ step: 11, tensors: { F }, snapshot: 'steal' as never }), code: 'E_BAD_INPUT', message: 'Expected \'copy\' or \'borrow\' for snapshot but received "steal"' },
  { name: 'report(): tensors larger than staging.maxBytes', options: { staging: { maxBytes: 1 << 20 } }, call: ({ m }) => m.report({ step: 11, tensors: tooLarge }), code: 'E_BAD_INPUT', message: 'model "m": a checkpoint of 4194304 bytes does not fit staging.maxBytes 1048576' },
  { name: 'report(): on a read-only store', call: async ({ second }) => (await second({ readOnly: true })).model('m').report({ step: 11, tensors: { F } }), code: 'E_BAD_INPUT', message: 'model "m" is open read-only' },

  // save()
  { name: 'save(): an unknown category', call: ({ m }) => m.save({ F }, { step: 11, category: 'weird' as never }), code: 'E_BAD_INPUT', message: 'Expected one of best, periodic, final, manual for category but received "weird"' },
  { name: 'save(): the step goes backwards', call: ({ m }) => m.save({ F }, { step: 3 }), code: 'E_BAD_INPUT', message: 'step 3 goes backwards: model "m" last reported step 10' },
  { name: 'save(): tensors null', call: ({ m }) => m.save(null as never, { step: 11 }), code: 'E_BAD_INPUT', message: /^Expected an object of named tensors/ },
  { name: 'save(): no options', call: ({ m }) => m.save({ F }, undefined as never), code: 'E_BAD_INPUT', message: 'Expected non-negative integer for step but received undefined' },
  { name: 'save(): a duplicate tensor name', call: ({ m }) => m.save([['a', F], ['a', F]] as never, { step: 11 }), code: 'E_BAD_INPUT', message: 'Tensor name "a" appears twice' },

  // load(), resume(), pin(), attach()
  { name: 'load("newest")', call: ({ m }) => m.load('newest' as never), code: 'E_BAD_INPUT', message: 'Expected \'best\', \'latest\' or a seq number for load() but received "newest"' },
  { name: 'load(1.5)', call: ({ m }) => m.load(1.5), code: 'E_BAD_INPUT', message: 'Expected \'best\', \'latest\' or a seq number for load() but received 1.5' },
  { name: 'load() of a seq that does not exist', call: ({ m }) => m.load(99), code: 'E_NOT_FOUND', message: 'model "m" has no checkpoint 99' },
  { name: 'load(): verify "yes"', call: ({ m }) => m.load('latest', { verify: 'yes' as never }), code: 'E_BAD_INPUT', message: 'Expected boolean for verify but received yes' },
  { name: 'load(): into of the wrong size', call: ({ m }) => m.load('latest', { into: { w: new Float32Array(5) } }), code: 'E_BAD_INPUT', message: 'into["w"] is float32 with 20 bytes; the checkpoint holds float32 [256] of 1024 bytes' },
  { name: 'load(): into naming a tensor the checkpoint lacks', call: ({ m }) => m.load('latest', { into: { nope: new Float32Array(1) } }), code: 'E_BAD_INPUT', message: 'into names tensors the checkpoint lacks: nope' },
  { name: 'load(): read options null', call: ({ m }) => m.load('latest', null as never), code: 'E_BAD_INPUT', message: 'Expected an object for read options' },
  { name: 'resume(): read options null', call: ({ m }) => m.resume(null as never), code: 'E_BAD_INPUT', message: 'Expected an object for read options' },
  { name: 'load({})', call: ({ m }) => m.load({} as never), code: 'E_BAD_INPUT', message: 'Expected \'best\', \'latest\' or a seq number for load() but received {}' },
  { name: 'load(): threads 0', call: ({ m }) => m.load('latest', { threads: 0 }), code: 'E_BAD_INPUT', message: 'Expected integer in [1, 64] for threads but received 0' },
  { name: 'resume(): into of another dtype size', call: ({ m }) => m.resume({ into: { w: new Float64Array(128) } }), code: 'E_BAD_INPUT', message: 'into["w"] is float64 with 1024 bytes; the checkpoint holds float32 [256] of 1024 bytes' },
  { name: 'pin() of a seq that does not exist', call: ({ m }) => m.pin(99), code: 'E_NOT_FOUND', message: 'model "m" has no checkpoint 99' },
  { name: 'attach(5)', call: ({ m }) => m.attach(5 as never), code: 'E_BAD_INPUT', message: 'Expected a function returning the tensors for attach()' },
  { name: 'attach(): meta that is not a function', call: ({ m }) => m.attach(() => ({ F }), { cursor: 1 } as never), code: 'E_BAD_INPUT', message: 'Expected a function returning the meta for attach()' },

  // after close()
  { name: 'model() after close()', call: async ({ closed }) => (await closed()).store.model('m'), code: 'E_CLOSED', message: /^the store at .* is closed$/ },
  { name: 'model() of another name after close()', call: async ({ closed }) => (await closed()).store.model('other'), code: 'E_CLOSED', message: /^the store at .* is closed$/ },
  { name: 'report() after close()', call: async ({ closed }) => (await closed()).m.report({ step: 20, tensors: { F } }), code: 'E_CLOSED', message: 'model "m" is closed' },
  { name: 'save() after close()', call: async ({ closed }) => (await closed()).m.save({ F }, { step: 20 }), code: 'E_CLOSED', message: 'model "m" is closed' },
  { name: 'load() after close()', call: async ({ closed }) => (await closed()).m.load('latest'), code: 'E_CLOSED', message: 'model "m" is closed' },
  { name: 'resume() after close()', call: async ({ closed }) => (await closed()).m.resume(), code: 'E_CLOSED', message: 'model "m" is closed' },
  { name: 'pin() after close()', call: async ({ closed }) => (await closed()).m.pin(1), code: 'E_CLOSED', message: 'model "m" is closed' },
];

/** The store a row hit still saves and loads bit-exact, and lists exactly the files in its directory. */
async function expectHealthy(ctx: Ctx): Promise<void> {
  const tensors = tensorsFor(77);
  const info = await ctx.m.save(tensors, { step: 1000, metrics: { loss: 0.5 } });
  const loaded = await ctx.m.load('latest');
  expect(loaded.info.seq).toBe(info.seq);
  expect(sameBytes(loaded.tensors.w.data, tensors.w as Float32Array)).toBe(true);
  const modelDir = join(ctx.dir, 'm');
  expect(tkptFiles(modelDir)).toEqual(ctx.m.list().map((c) => basename(c.path)).sort());
  expect(existsSync(join(modelDir, '.tmp')) ? readdirSync(join(modelDir, '.tmp')) : []).toEqual([]);
}

async function context(options: StoreOptions = {}): Promise<Ctx> {
  const dir = mkdtempSync(join(root, 'row'));
  const store = await openStore(dir, options);
  const m = store.model('m');
  await m.report({ step: 10, metrics: { loss: 1 }, tensors: tensorsFor(10) }).durable;
  return {
    dir, store, m,
    async closed() {
      const other = await openStore(mkdtempSync(join(root, 'closed')));
      const om = other.model('m');
      await om.report({ step: 10, tensors: tensorsFor(10) }).durable;
      await other.close();
      return { store: other, m: om };
    },
    second: (more = {}) => openStore(dir, more),
  };
}

describe('the store API refuses bad input with a stable code and a message naming the problem', () => {
  it('holds at least 40 rows', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(40);
    expect(new Set(ROWS.map((r) => r.name)).size).toBe(ROWS.length);
  });

  it.each(ROWS)('$name', async ({ call, code, message, options }) => {
    const ctx = await context(options);
    let err: unknown;
    try {
      await call(ctx);
    } catch (e) {
      err = e;
    }
    expect(err, 'the call succeeded').toBeInstanceOf(CheckpointError);
    expectCheckpointError(err, code, message);
    await expectHealthy(ctx);
  });
});

describe('inputs at the limits are accepted', () => {
  it('model names up to 128 characters of [A-Za-z0-9._-]', async () => {
    const store = await openStore(mkdtempSync(join(root, 'names')));
    for (const name of ['a'.repeat(128), 'dqn-v2.1_final', '0', 'A.b-c_9'])
      expect(store.model(name).name).toBe(name);
  });

  it('a refused model() opens nothing: the name is still free', async () => {
    const store = await openStore(mkdtempSync(join(root, 'free')));
    expect(() => store.model('m', { keep: { best: -1 } })).toThrow(CheckpointError);
    expect(store.model('m', { keep: { best: 1 } }).settings.retention.keepBest).toBe(1);
  });

  it('a Buffer as a uint8 tensor, a zero-size tensor of a huge shape, meta at the depth limit: saved and loaded as given', async () => {
    const { m } = await context();
    const buffer = Buffer.from([1, 2, 3, 250]);
    const empty = { dtype: 'float32' as const, shape: [0, 2 ** 40], data: new Float32Array(0) };
    const meta = JSON.parse(`${'{"a":'.repeat(62)}1${'}'.repeat(62)}`) as Record<string, unknown>;
    const info = await m.report({ step: 11, tensors: { buffer, empty }, meta }).durable;
    const loaded = await m.load(info!.seq!);
    expect(loaded.tensors.buffer).toMatchObject({ dtype: 'uint8', shape: [4] });
    expect([...loaded.tensors.buffer.data]).toEqual([1, 2, 3, 250]);
    expect(loaded.tensors.empty).toMatchObject({ dtype: 'float32', shape: [0, 2 ** 40] });
    expect(loaded.tensors.empty.data.length).toBe(0);
    expect(loaded.meta).toEqual(meta);
  });

  it('the same step again, step 0 and the largest safe integer', async () => {
    const { m } = await context();
    expect(m.report({ step: 10, tensors: tensorsFor(1) }).saved).toBe(true);
    const last = await m.report({ step: Number.MAX_SAFE_INTEGER, tensors: tensorsFor(2) }).durable;
    expect(last!.step).toBe(Number.MAX_SAFE_INTEGER);
    const fresh = (await openStore(mkdtempSync(join(root, 'zero')))).model('m');
    expect((await fresh.report({ step: 0, tensors: tensorsFor(0) }).durable)!.step).toBe(0);
  });
});
