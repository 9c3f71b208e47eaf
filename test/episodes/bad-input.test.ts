// Bad episode records and options: each a stable E_BAD_INPUT naming the
// field, thrown by append() itself, with nothing appended (no id used, no
// byte written) and the log working on.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EpisodeRecord } from '../../src/index.js';
import { collect, freshStore, tick } from '../fixtures/episodes.js';
import { expectRejectsCode, expectThrowsCode, tempDir } from '../helpers.js';

const root = tempDir();

const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;

const BAD: Array<[string, unknown, string | RegExp]> = [
  ['not an object', 42, 'Expected an episode record object'],
  ['unknown field', { ...tick(1), price: 3 }, 'Unknown field price'],
  ['missing time', { model: 'm' }, 'Expected a finite number for time'],
  ['NaN time', { time: NaN, model: 'm' }, 'Expected a finite number for time'],
  ['bad model name', { time: 1, model: '../etc' }, 'model name'],
  ['negative step', { time: 1, model: 'm', step: -5 }, 'Expected non-negative integer for step but received -5'],
  ['bad episode', { time: 1, model: 'm', episode: 1.5 }, 'for episode'],
  ['string reward', { time: 1, model: 'm', reward: '1' }, 'Expected a number for reward'],
  ['BigInt context', { time: 1, model: 'm', context: { n: 1n } }, 'context.n holds a value of type bigint'],
  ['cyclic context', { time: 1, model: 'm', context: cyclic }, 'context.self refers to itself'],
  ['function in action', { time: 1, model: 'm', action: { f: () => 1 } }, 'action.f holds a value of type function'],
  ['NaN in context', { time: 1, model: 'm', context: { x: [1, NaN] } }, 'context.x[1] is NaN'],
  ['Date in context', { time: 1, model: 'm', context: { at: new Date(0) } }, 'context.at is a Date, not a plain object'],
  ['undefined in an array', { time: 1, model: 'm', context: [1, undefined] }, 'context[1] holds a value of type undefined'],
  ['unequal column lengths', { time: 1, model: 'm', frame: { columns: { a: new Float64Array(3), b: new Float64Array(4) } } },
    'frame columns differ in length: "a" has 3 rows, "b" has 4'],
  ['index length', { time: 1, model: 'm', frame: { columns: { a: new Float64Array(3) }, index: new Int32Array(2) } }, 'frame.index has 2 entries'],
  ['unknown dtype', { time: 1, model: 'm', features: { x: { dtype: 'float8', shape: [1], data: new Uint8Array(1) } } }, 'Unknown dtype "float8"'],
  ['unknown column dtype', { time: 1, model: 'm', frame: { columns: { x: { dtype: 'complex64', shape: [1], data: new Float64Array(1) } } } }, 'frame column "x"'],
  ['mixed string column', { time: 1, model: 'm', frame: { columns: { s: ['a', 2] } } }, 'element 1 is 2 of type number'],
  ['2-D column', { time: 1, model: 'm', frame: { columns: { x: { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) } } } }, 'must be 1-D'],
  ['column of numbers', { time: 1, model: 'm', frame: { columns: { x: 5 } } }, 'frame column "x"'],
  ['frame without columns', { time: 1, model: 'm', frame: { index: new Int32Array(1) } }, 'frame.columns'],
  ['frame extra field', { time: 1, model: 'm', frame: { columns: {}, rows: 3 } }, 'Unknown field frame.rows'],
  ['shape and bytes disagree', { time: 1, model: 'm', features: { x: { dtype: 'float32', shape: [3], data: new Float32Array(2) } } }, 'needs 12 bytes'],
  ['features as array', { time: 1, model: 'm', features: [new Float32Array(1)] }, 'features'],
  ['DataView feature', { time: 1, model: 'm', features: { x: new DataView(new ArrayBuffer(4)) } }, 'Expected TypedArray'],
];

describe('bad episode records', () => {
  it.each(BAD)('%s: E_BAD_INPUT, nothing appended', async (_name, record, message) => {
    const store = await freshStore(root);
    const log = store.episodes('bad');
    log.append(tick(1));
    expectThrowsCode(() => log.append(record as EpisodeRecord), 'E_BAD_INPUT', message);
    const next = log.append(tick(2));
    expect(next.id).toBe(2); // the failed append used no id
    await log.flush();
    await next.durable;
    expect(log.stats()).toMatchObject({ appended: 2, acknowledged: 2, records: 2, failed: 0 });
    expect((await collect(log.replay())).map((r) => r.id)).toEqual([1, 2]);
    await store.close();
  });

  it('stream names cannot escape the store root nor collide with model directories', async () => {
    const store = await freshStore(root);
    for (const name of ['../x', '.episodes', '', 'a/b', '.hidden', 'x'.repeat(129), 'nul\0', 5])
      expectThrowsCode(() => store.episodes(name as string), 'E_BAD_INPUT', 'Expected a stream name');
    store.episodes('ticks');
    store.model('ticks'); // a model may share the stream's name: different directories
    expect(readdirSync(store.dir).sort()).toEqual(['.episodes', 'ticks']);
    expect(readdirSync(join(store.dir, '.episodes'))).toEqual(['ticks']);
    await store.close();
  });

  it('options are checked where they enter', async () => {
    const store = await freshStore(root);
    expectThrowsCode(() => store.episodes('o', { commitMs: -1 }), 'E_BAD_INPUT', 'commitMs');
    expectThrowsCode(() => store.episodes('o', { segmentBytes: 10 }), 'E_BAD_INPUT', 'segmentBytes');
    expectThrowsCode(() => store.episodes('o', { compression: { codec: 'lz4' as 'raw' } }), 'E_BAD_INPUT', 'compression.codec');
    expectThrowsCode(() => store.episodes('o', { keep: { maxBytes: 0 } }), 'E_BAD_INPUT', 'keep.maxBytes');
    expectThrowsCode(() => store.episodes('o', { flushMs: 3 } as object), 'E_BAD_INPUT', 'Unknown option options.flushMs');
    const log = store.episodes('o', { commitMs: 5 });
    expectThrowsCode(() => store.episodes('o', { commitMs: 6 }), 'E_BAD_INPUT', 'already open');
    expect(store.episodes('o')).toBe(log);
    expectThrowsCode(() => log.replay({ from: 'yesterday' } as object), 'E_BAD_INPUT', 'replay query.from');
    expectThrowsCode(() => log.replay({ model: '../m' }), 'E_BAD_INPUT', 'replay query.model');
    await expect(log.get(-1)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await store.close();
    // The store-wide default is checked by open(), before any stream opens.
    await expectRejectsCode(freshStore(root, { keep: { episodes: { maxAgeDays: -2 } } }), 'E_BAD_INPUT', 'keep.episodes.maxAgeDays');
  });
});
