// The native layer against hostile files and input, as JavaScript sees it:
// special files and symbolic links where the store expects its own files,
// crafted checkpoints that claim more than they hold, bool bytes other than
// 0 and 1, saves the reader could not load back, and the store operations
// that go through the seam (makeDirs, moveToQuarantine) with their async
// forms. Every case runs under a timeout: a hang (an open blocked on a FIFO)
// fails instead of stalling the run.
import { execFileSync } from 'node:child_process';
import {
  existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  open, readCheckpoint, readCheckpointSync, writeCheckpoint, writeCheckpointSync, type CheckpointManager,
} from '../../src/index.js';
import { readFromSync, verifyFromSync, STORE } from '../../src/file/checkpoint-file.js';
import { native } from '../../src/native.js';
import { silentLogger } from '../fixtures/store.js';
import { craftCheckpoint, expectRejectsCode, expectThrowsCode, tempDir, weights } from '../helpers.js';

const root = tempDir();
const T = 10_000; // ms: every hostile case must settle well within this
const opened: CheckpointManager[] = [];

afterEach(async () => {
  native.clearFaultPlan();
  for (const store of opened.splice(0)) await store.close();
});

function fresh(): string {
  return mkdtempSync(join(root, 'h'));
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

/** The raw addon throws plain Errors with a `code` (src/ wraps them in CheckpointError). */
function expectNativeThrow(fn: () => unknown, code: string, message: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'did not throw').toBeInstanceOf(Error);
  expect((thrown as { code?: string }).code, String(thrown)).toBe(code);
  expect((thrown as Error).message).toContain(message);
}

async function expectNativeReject(p: Promise<unknown>, code: string, message: string): Promise<void> {
  await p.then(
    () => expect.fail('did not reject'),
    (err: unknown) => {
      expect((err as { code?: string }).code, String(err)).toBe(code);
      expect((err as Error).message).toContain(message);
    },
  );
}

/** The newest checkpoint file of a model directory. */
function newestFile(dir: string): string {
  return readdirSync(dir).filter((f) => f.endsWith('.tkpt')).sort().at(-1)!;
}

/**
 * A store whose model "m" holds two checkpoints (steps 1 and 2), closed;
 * returns the directory of "m" and the file of step 2.
 */
async function modelWithTwoSaves(dir: string): Promise<{ modelDir: string; second: string }> {
  const store = await openStore(dir);
  const m = store.model('m');
  await m.save({ w: weights(64, 1) }, { step: 1 });
  await m.save({ w: weights(64, 2) }, { step: 2 });
  await store.close();
  opened.splice(opened.indexOf(store), 1);
  const modelDir = join(dir, 'm');
  return { modelDir, second: newestFile(modelDir) };
}

async function openStore(dir: string): Promise<CheckpointManager> {
  const store = await open(dir, { logger: silentLogger, handleSignals: false });
  opened.push(store);
  return store;
}

describe('native.limits', () => {
  it('exports every limit the reader enforces, frozen', () => {
    expect(native.limits).toEqual({
      maxIndexBytes: 64 * 2 ** 20,
      minChunkBytes: 4096,
      maxChunkBytes: 256 * 2 ** 20,
      defaultChunkBytes: 4 * 2 ** 20,
      chunkAlignment: 64,
      maxNameBytes: 1024,
      maxDims: 32,
      maxTensorBytes: 2 ** 53,
      minLevel: 1,
      maxLevel: 19,
      maxJsonDepth: 64,
      maxZstdExpansion: 32768,
      maxJournalRecordBytes: 16 * 2 ** 20,
      maxEpisodePayloadBytes: 256 * 2 ** 20,
      maxEpisodeBlocks: 65536,
    });
    expect(Object.isFrozen(native.limits)).toBe(true);
  });
});

describe('the writer refuses what the reader would refuse', () => {
  it('a ~70 MB meta is E_BAD_INPUT before any file exists (it used to be written and then never load)', async () => {
    const dir = fresh();
    const meta = { blob: 'x'.repeat(70_000_000) };
    expectThrowsCode(() => writeCheckpointSync(join(dir, 'm.tkpt'), { w: weights(16) }, { meta }), 'E_BAD_INPUT', 'limit of 67108864');
    await expectRejectsCode(writeCheckpoint(join(dir, 'm.tkpt'), { w: weights(16) }, { meta }), 'E_BAD_INPUT', 'limit of 67108864');
    expect(readdirSync(dir)).toEqual([]);
  }, T * 3);

  it('a save through the store with a ~70 MB meta rejects, and the model keeps loading', async () => {
    const store = await openStore(fresh());
    const m = store.model('big-meta');
    await m.save({ w: weights(16, 1) }, { step: 1 });
    await expect(m.save({ w: weights(16, 2) }, { step: 2, meta: { blob: 'x'.repeat(70_000_000) } })).rejects.toMatchObject({
      code: 'E_BAD_INPUT',
    });
    const loaded = await m.load('latest');
    expect(loaded.info.step).toBe(1);
  }, T * 3);

  it('a bool tensor holding 2 is E_BAD_INPUT naming the tensor and the first bad element; 0/1 round-trips', async () => {
    const dir = fresh();
    const mask = new Uint8Array(10_000).map((_, i) => i % 2);
    mask[7001] = 2;
    mask[9000] = 255;
    const tensors = { mask: { dtype: 'bool' as const, shape: [10_000], data: mask } };
    expectThrowsCode(() => writeCheckpointSync(join(dir, 'b.tkpt'), tensors, {}, { chunkBytes: 4096 }), 'E_BAD_INPUT',
      'tensor "mask": bool element 7001 is 2; bool values must be 0 or 1');
    await expectRejectsCode(writeCheckpoint(join(dir, 'b.tkpt'), tensors, {}), 'E_BAD_INPUT', 'bool element 7001 is 2');
    expect(existsSync(join(dir, 'b.tkpt'))).toBe(false);
    expect(readdirSync(join(dir, '.tmp'))).toEqual([]);
    mask[7001] = 1;
    mask[9000] = 0;
    writeCheckpointSync(join(dir, 'b.tkpt'), tensors, {});
    expect(Array.from(readCheckpointSync(join(dir, 'b.tkpt')).tensors.mask.data as Uint8Array)).toEqual(Array.from(mask));
  }, T);

  it('a file whose bool tensor holds 2 under a valid checksum is E_CORRUPT when verified', async () => {
    const path = join(fresh(), 'b.tkpt');
    writeFileSync(path, craftCheckpoint([{ name: 'flags', dtype: 'bool', shape: [4], bytes: Uint8Array.of(0, 1, 2, 1) }]));
    expectThrowsCode(() => verifyFromSync(path, {}, STORE), 'E_CORRUPT', 'chunk 0 of "flags": bool element 2 is 2, not 0 or 1');
    await expectRejectsCode(readCheckpoint(path), 'E_CORRUPT', 'bool element 2 is 2');
  }, T);
});

describe('crafted files that claim more than they hold', () => {
  /** n zstd chunks of rawLen bytes each, every one stored in `stored` bytes. */
  function claims(n: number, rawLen: number, stored = 64): Buffer {
    const chunks = Array.from({ length: n }, () => ({ stored: new Uint8Array(stored), rawLen, codec: 'zstd', xxh3: '0000000000000000' }));
    return craftCheckpoint([{ name: 'w/embed', dtype: 'uint8', shape: [n * rawLen], chunks }]);
  }

  it('4 KB claiming 64 zstd chunks of 256 MiB: E_CORRUPT naming chunk and lengths, not a RangeError', async () => {
    const file = claims(64, 256 * 2 ** 20);
    expect(file.length).toBeLessThan(16_384);
    const path = join(fresh(), 'x.tkpt');
    writeFileSync(path, file);
    const message = 'chunk 0 of "w/embed": raw length 268435456 cannot come from 64 stored bytes';
    await expectRejectsCode(readCheckpoint(path), 'E_CORRUPT', message);
    expectThrowsCode(() => readCheckpointSync(path), 'E_CORRUPT', message);
  }, T);

  it('a 1 TiB claim is E_CORRUPT too, not "cannot allocate"', async () => {
    const path = join(fresh(), 'x.tkpt');
    writeFileSync(path, claims(4096, 256 * 2 ** 20));
    await expectRejectsCode(readCheckpoint(path), 'E_CORRUPT', 'cannot come from 64 stored bytes');
  }, T);

  it('a listed checkpoint replaced by such a file: resume() falls back to the one before', async () => {
    const dir = fresh();
    const { modelDir, second } = await modelWithTwoSaves(dir);
    writeFileSync(join(modelDir, second), claims(64, 256 * 2 ** 20));
    const store = await openStore(dir);
    const resumed = await store.model('m').resume();
    expect(resumed?.info.step).toBe(1);
    expect(readdirSync(join(modelDir, '.quarantine'))).toHaveLength(1);
  }, T);

  it('with `into`, the crafted file is E_CORRUPT too (not the caller\'s E_BAD_INPUT): load falls back into the arrays', async () => {
    const dir = fresh();
    const { modelDir, second } = await modelWithTwoSaves(dir);
    writeFileSync(join(modelDir, second), claims(4096, 256 * 2 ** 20));
    const store = await openStore(dir);
    const into = { w: new Float32Array(64) };
    const loaded = await store.model('m').load('latest', { into });
    expect(loaded.info.step).toBe(1);
    expect(loaded.tensors.w.data).toBe(into.w);
    expect(into.w).toEqual(weights(64, 1));
  }, T);
});

describe('special files and symbolic links in place of store files', () => {
  it('a FIFO in place of a checkpoint is E_CORRUPT at once, sync and async', async () => {
    const path = join(fresh(), 'f.tkpt');
    mkfifo(path);
    expectThrowsCode(() => readCheckpointSync(path), 'E_CORRUPT', `${path} is a FIFO, not a regular file`);
    await expectRejectsCode(readCheckpoint(path), 'E_CORRUPT', 'is a FIFO, not a regular file');
  }, T);

  it('a FIFO in place of a listed checkpoint: load() settles, falls back, and the FIFO goes to .quarantine', async () => {
    const dir = fresh();
    const { modelDir, second } = await modelWithTwoSaves(dir);
    unlinkSync(join(modelDir, second));
    mkfifo(join(modelDir, second));
    const store = await openStore(dir);
    const loaded = await store.model('m').load('latest');
    expect(loaded.info.step).toBe(1);
    const [moved] = readdirSync(join(modelDir, '.quarantine'));
    expect(lstatSync(join(modelDir, '.quarantine', moved)).isFIFO()).toBe(true);
  }, T);

  it('a symbolic link in place of a store checkpoint is E_CORRUPT; a path the caller chose may be one', async () => {
    const dir = fresh();
    writeCheckpointSync(join(dir, 'real.tkpt'), { w: weights(16) }, {});
    symlinkSync(join(dir, 'real.tkpt'), join(dir, 'link.tkpt'));
    expectThrowsCode(() => readFromSync(join(dir, 'link.tkpt'), {}, STORE), 'E_CORRUPT', 'link.tkpt is a symbolic link, not a regular file');
    // readCheckpoint of the user's own `latest.tkpt`-style link reads what it points to.
    expect(readCheckpointSync(join(dir, 'link.tkpt')).tensors.w.data.length).toBe(16);
    mkfifo(join(dir, 'fifo'));
    symlinkSync(join(dir, 'fifo'), join(dir, 'to-fifo.tkpt'));
    expectNativeThrow(() => native.openReader(join(dir, 'to-fifo.tkpt'), false, { followLinks: true }), 'E_CORRUPT', 'is a FIFO');
  }, T);

  it('LOCK a symbolic link to a file: E_IO, and the file keeps its bytes (a dangling link creates nothing)', async () => {
    const dir = fresh();
    const outside = fresh();
    writeFileSync(join(outside, 'victim'), 'precious');
    mkdirSync(join(dir, 'm'));
    symlinkSync(join(outside, 'victim'), join(dir, 'm', 'LOCK'));
    const store = await openStore(dir);
    expectThrowsCode(() => store.model('m'), 'E_IO', `${join(dir, 'm', 'LOCK')} is a symbolic link, not a regular file`);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('precious');
    mkdirSync(join(dir, 'n'));
    symlinkSync(join(outside, 'created'), join(dir, 'n', 'LOCK'));
    expectThrowsCode(() => store.model('n'), 'E_IO', 'is a symbolic link');
    expect(existsSync(join(outside, 'created'))).toBe(false);
  }, T);

  it('LOCK a FIFO: E_IO at once, not an open that never returns', async () => {
    const dir = fresh();
    mkdirSync(join(dir, 'm'));
    mkfifo(join(dir, 'm', 'LOCK'));
    const store = await openStore(dir);
    expectThrowsCode(() => store.model('m'), 'E_IO', 'is a FIFO, not a regular file');
  }, T);

  it('.tmp a symbolic link to another directory: opening the model deletes nothing there (E_IO)', async () => {
    const dir = fresh();
    const outside = fresh();
    for (const f of ['a', 'b', 'c']) writeFileSync(join(outside, f), f);
    mkdirSync(join(dir, 'm'));
    symlinkSync(outside, join(dir, 'm', '.tmp'));
    const store = await openStore(dir);
    expectThrowsCode(() => store.model('m'), 'E_IO', `${join(dir, 'm', '.tmp')} is a symbolic link, not a directory`);
    expect(readdirSync(outside).sort()).toEqual(['a', 'b', 'c']);
  }, T);

  it('journal a FIFO: opening the model is E_IO at once', async () => {
    const dir = fresh();
    let store = await openStore(dir);
    await store.model('m').save({ w: weights(16) }, { step: 1 });
    await store.close();
    opened.length = 0;
    unlinkSync(join(dir, 'm', 'journal'));
    mkfifo(join(dir, 'm', 'journal'));
    store = await openStore(dir);
    expectThrowsCode(() => store.model('m'), 'E_IO', 'journal is a FIFO, not a regular file');
  }, T);
});

describe('store operations through the seam, sync and async', () => {
  it('makeDirs creates every missing level (durably) and returns them; async too', async () => {
    const dir = fresh();
    native.setFaultPlan('trace');
    expect(native.makeDirs(join(dir, 'a/b'))).toEqual([join(dir, 'a'), join(dir, 'a/b')]);
    const trace = native.takeFaultTrace();
    native.clearFaultPlan();
    expect(trace.filter((e) => e.op === 'mkdir').map((e) => e.path)).toEqual([join(dir, 'a'), join(dir, 'a/b')]);
    expect(trace.filter((e) => e.op === 'fsync').map((e) => e.path)).toEqual([dir, join(dir, 'a')]);
    expect(await native.makeDirs(join(dir, 'a/b/c'), true)).toEqual([join(dir, 'a/b/c')]);
    expect(native.makeDirs(join(dir, 'a/b/c'))).toEqual([]);
  }, T);

  it('makeDirs through /proc, /sys or a regular file is a clear error naming the path, never a hang', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'file'), '');
    expectNativeThrow(() => native.makeDirs('/proc/self/tk-x/y'), 'E_IO', 'cannot make /proc/self/tk-x/y');
    await expectNativeReject(native.makeDirs('/proc/self/tk-x/y', true), 'E_IO', '/proc/self/tk-x');
    expectNativeThrow(() => native.makeDirs(join(dir, 'file/x')), 'E_BAD_INPUT', `${join(dir, 'file')} is a regular file, not a directory`);
    if (existsSync('/sys/kernel')) expectNativeThrow(() => native.makeDirs('/sys/kernel/tk-x'), 'E_IO', '/sys/kernel/tk-x');
  }, T);

  it('moveToQuarantine renames into .quarantine under a unique name; a fault on op=rename leaves the file in place', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'a.tkpt'), 'a');
    native.setFaultPlan('op=rename,fail_at=1,errno=EIO');
    expectNativeThrow(() => native.moveToQuarantine(dir, 'a.tkpt'), 'E_IO', `rename ${join(dir, 'a.tkpt')}`);
    native.clearFaultPlan();
    expect(readFileSync(join(dir, 'a.tkpt'), 'utf8')).toBe('a');
    native.setFaultPlan('trace');
    const first = native.moveToQuarantine(dir, 'a.tkpt');
    const trace = native.takeFaultTrace();
    native.clearFaultPlan();
    expect(trace.find((e) => e.op === 'rename')).toMatchObject({ path: join(dir, 'a.tkpt'), path2: first });
    writeFileSync(join(dir, 'a.tkpt'), 'again');
    const second = await native.moveToQuarantine(dir, 'a.tkpt', true);
    expect(second).not.toBe(first);
    expect(readFileSync(first, 'utf8')).toBe('a');
    expect(readFileSync(second, 'utf8')).toBe('again');
    await expectNativeReject(native.moveToQuarantine(dir, 'gone.tkpt', true), 'E_NOT_FOUND', 'gone.tkpt');
    expectNativeThrow(() => native.moveToQuarantine(dir, '../x'), 'E_BAD_INPUT', 'is not the name of an entry');
  }, T);

  it('readStoreFile reads a regular file; a FIFO or link in place of catalog.json is E_IO at once, not a blocked read', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'catalog.json'), '{"version":1}');
    expect(native.readStoreFile(join(dir, 'catalog.json')).toString()).toBe('{"version":1}');
    expect((await native.readStoreFile(join(dir, 'catalog.json'), true)).toString()).toBe('{"version":1}');
    mkfifo(join(dir, 'fifo.json'));
    expectNativeThrow(() => native.readStoreFile(join(dir, 'fifo.json')), 'E_IO', 'fifo.json is a FIFO, not a regular file');
    await expectNativeReject(native.readStoreFile(join(dir, 'fifo.json'), true), 'E_IO', 'is a FIFO');
    symlinkSync(join(dir, 'catalog.json'), join(dir, 'link.json'));
    expectNativeThrow(() => native.readStoreFile(join(dir, 'link.json')), 'E_IO', 'is a symbolic link, not a regular file');
    expectNativeThrow(() => native.readStoreFile(join(dir, 'none.json')), 'E_NOT_FOUND', 'none.json');
  }, T);

  it('the async forms of writeFileAtomic, truncateFile, removeFile and clearTmpDir run off the event loop', async () => {
    const dir = fresh();
    const path = join(dir, 'catalog.json');
    // The async form reads its pieces in place, end to end (a catalog serialized a slice at a time).
    await native.writeFileAtomic(path, [Buffer.from('{"v"'), Buffer.from(':1}')], true);
    expect(readFileSync(path, 'utf8')).toBe('{"v":1}');
    await native.truncateFile(path, 2, true);
    expect(readFileSync(path, 'utf8')).toBe('{"');
    await expectNativeReject(native.truncateFile(path, 5, true), 'E_BAD_INPUT', 'has only 2');
    await native.removeFile(path, true);
    expect(existsSync(path)).toBe(false);
    writeFileSync(join(dir, '.tmp', 'left.partial'), '');
    expect(await native.clearTmpDir(dir, true)).toBe(1);
    expect(native.clearTmpDir(dir)).toBe(0);
    symlinkSync(fresh(), join(dir, 'q'));
    mkdirSync(join(dir, 'q2'));
    symlinkSync(dir, join(dir, 'q2', '.tmp'));
    await expectNativeReject(native.clearTmpDir(join(dir, 'q2'), true), 'E_IO', 'is a symbolic link, not a directory');
  }, T);
});
