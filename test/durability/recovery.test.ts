// Recovery at open (docs/ARCHITECTURE.md, "Recovery at open"): each kind of damage a crash or an outside
// hand can leave in a model directory, repaired at the next open into a
// consistent catalog (the directory holds exactly the listed files, each
// loads bit-exact, .tmp/ is empty), with a 'repaired' event and a logged
// warning saying what was done. Opening once more finds nothing to repair.
import {
  existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  open, writeCheckpointSync, type CheckpointInfo, type CheckpointManager, type ModelCheckpoints, type StoreOptions,
} from '../../src/index.js';
import { native } from '../../src/native.js';
import { sameBytes, tempDir } from '../helpers.js';
import { collectingLogger, quarantined, settle, silentLogger, tensorsFor, tkptFiles, type CollectingLogger } from '../fixtures/store.js';
import { onEvent, type Payload } from '../fixtures/events.js';

const root = tempDir();
const opened: CheckpointManager[] = [];
const OPTIONS: StoreOptions = { monitor: { loss: 'min' }, every: { steps: 10 }, improvement: { minRelative: 0 } };

afterEach(async () => {
  native.clearFaultPlan();
  for (const store of opened.splice(0)) await store.close();
});

interface Opened {
  store: CheckpointManager;
  m: ModelCheckpoints;
  logger: CollectingLogger;
  repaired: Array<Payload<'repaired'>>;
}

async function openModel(dir: string, options: StoreOptions = {}): Promise<Opened> {
  const logger = collectingLogger();
  const store = await open(dir, { ...OPTIONS, logger, ...options });
  opened.push(store);
  const repaired: Opened['repaired'] = [];
  onEvent(store, 'repaired', (e) => repaired.push(e));
  return { store, m: store.model('m'), logger, repaired };
}

/**
 * A store whose model "m" holds checkpoints at steps 0, 10, 20 and 30 (seq
 * 1-4, losses 4, 3, 2, 1: all kept), closed. Returns what list() said.
 */
async function populated(): Promise<{ dir: string; modelDir: string; before: CheckpointInfo[] }> {
  const dir = mkdtempSync(join(root, 's'));
  const { store, m } = await openModel(dir, { logger: silentLogger });
  for (let i = 0; i < 4; i++) await m.report({ step: i * 10, metrics: { loss: 4 - i }, tensors: tensorsFor(i) }).durable;
  await settle(store);
  const before = m.list();
  await store.close();
  return { dir, modelDir: join(dir, 'm'), before };
}

/** The repairs reported by the event, and the same ones in the log. */
function expectRepaired(o: Opened, pattern: RegExp): void {
  expect(o.repaired).toHaveLength(1);
  expect(o.repaired[0].model).toBe('m');
  expect(o.repaired[0].repairs.some((r) => pattern.test(r)), o.repaired[0].repairs.join('\n')).toBe(true);
  const warned = o.logger.find('warn', /recovery/).filter((l) => pattern.test(l.message));
  expect(warned.length, o.logger.lines.map((l) => l.message).join('\n')).toBeGreaterThan(0);
  expect(warned[0].bindings).toMatchObject({ model: 'm' });
}

/**
 * The directory holds exactly the listed files, every one loads with every
 * tensor it was saved with (`tensorsAt` its step: the saves of this file use
 * the tensors of seed step / 10 unless a test says otherwise), .tmp is empty.
 */
async function expectConsistent(o: Opened, modelDir: string, tensorsAt = (step: number) => tensorsFor(step / 10)): Promise<void> {
  const list = o.m.list();
  expect(list.length).toBeGreaterThan(0);
  expect(tkptFiles(modelDir)).toEqual(list.map((c) => basename(c.path)).sort());
  for (const c of list) {
    const loaded = await o.m.load(c.seq!);
    expect(loaded.step).toBe(c.step);
    const want = tensorsAt(c.step) as Record<string, ArrayBufferView>;
    expect(Object.keys(loaded.tensors).sort(), `seq ${c.seq}`).toEqual(Object.keys(want).sort());
    for (const [name, data] of Object.entries(want)) expect(sameBytes(loaded.tensors[name].data, data), `seq ${c.seq} ${name}`).toBe(true);
  }
  const tmp = join(modelDir, '.tmp');
  if (existsSync(tmp)) expect(readdirSync(tmp)).toEqual([]);
}

/** Opening again after a repair finds nothing left to repair and the same list. */
async function expectCleanReopen(dir: string, o: Opened): Promise<void> {
  const list = o.m.list();
  await o.store.close();
  const again = await openModel(dir);
  expect(again.repaired).toEqual([]);
  expect(again.logger.find('warn', /recovery/)).toEqual([]);
  expect(again.m.list()).toEqual(list);
}

const view = (list: CheckpointInfo[]) => list.map((c) => [c.seq, c.step, c.category, c.metrics, c.bytes, basename(c.path)]);

describe('recovery at open', () => {
  it('cuts a torn last journal record', async () => {
    const { dir, modelDir, before } = await populated();
    const journal = join(modelDir, 'journal');
    truncateSync(journal, statSync(journal).size - 5);
    const o = await openModel(dir);
    expectRepaired(o, /journal: cut \d+ bytes/);
    expect(o.m.list()).toEqual(before);
    expect(o.m.stats().best.loss.value).toBe(1);
    await expectConsistent(o, modelDir);
    await expectCleanReopen(dir, o);
  });

  it('cuts a torn commit record and adopts the checkpoint file it described', async () => {
    const { dir, modelDir, before } = await populated();
    const journal = join(modelDir, 'journal');
    // Tear the last commit record (the one of seq 4) in the middle: a crash during its append.
    const scan = native.journalScan(journal);
    const commits = scan.offsets.filter((_, i) => JSON.parse(scan.records[i].toString('utf8')).t === 'commit');
    truncateSync(journal, commits.at(-1)! + 12);
    const o = await openModel(dir);
    expectRepaired(o, /journal: cut/);
    expectRepaired(o, /adopted 00000004-s30\.tkpt/);
    expect(view(o.m.list())).toEqual(view(before));
    await expectConsistent(o, modelDir);
    // The next save does not reuse the adopted seq.
    const next = await o.m.report({ step: 40, metrics: { loss: 0.5 }, tensors: tensorsFor(9) }).durable;
    expect(next!.seq).toBe(5);
    await expectCleanReopen(dir, o);
  });

  it('empties .tmp/ of unfinished writes', async () => {
    const { dir, modelDir, before } = await populated();
    mkdirSync(join(modelDir, '.tmp'), { recursive: true });
    writeFileSync(join(modelDir, '.tmp', '00000005-s40.tkpt.4242.1'), Buffer.alloc(1000, 7));
    const o = await openModel(dir);
    expectRepaired(o, /\.tmp: removed 1 unfinished file/);
    expect(readdirSync(join(modelDir, '.tmp'))).toEqual([]);
    expect(o.m.list()).toEqual(before);
    await expectConsistent(o, modelDir);
    await expectCleanReopen(dir, o);
  });

  it('finishes an eviction whose unlink did not happen', async () => {
    const dir = mkdtempSync(join(root, 's'));
    const modelDir = join(dir, 'm');
    const first = await openModel(dir, { keep: { best: 1, periodic: 0 } });
    const evicted: Array<{ seq: number; file: string }> = [];
    onEvent(first.store, 'evicted', (e) => evicted.push(e));
    await first.m.report({ step: 0, metrics: { loss: 2 }, tensors: tensorsFor(0) }).durable;
    await settle(first.store);
    // The eviction of seq 1 is journaled, but its unlink fails.
    native.setFaultPlan('op=unlink,fail_at=1,errno=EIO');
    await first.m.report({ step: 1, metrics: { loss: 1 }, tensors: tensorsFor(1) }).durable;
    await settle(first.store);
    native.clearFaultPlan();
    expect(evicted.map((e) => e.seq)).toEqual([1]);
    expect(first.logger.find('warn', 'unlink failed')).toHaveLength(1);
    expect(first.m.list().map((c) => c.seq)).toEqual([2]);
    expect(tkptFiles(modelDir)).toContain(evicted[0].file); // still there
    await first.store.close();

    const o = await openModel(dir, { keep: { best: 1, periodic: 0 } });
    expectRepaired(o, new RegExp(`finished the eviction of ${evicted[0].file.replace('.', '\\.')}`));
    expect(tkptFiles(modelDir)).toEqual(['00000002-s1.tkpt']);
    expect(o.m.list().map((c) => c.seq)).toEqual([2]);
    await expectConsistent(o, modelDir, (step) => tensorsFor(step)); // steps 0 and 1 here
    await expectCleanReopen(dir, o);
  });

  it('adopts a complete checkpoint file the journal lacks, from its own index', async () => {
    const { dir, modelDir, before } = await populated();
    const orphan = tensorsFor(99);
    writeCheckpointSync(join(modelDir, '00000099-s990.tkpt'), orphan, {
      model: 'm', seq: 99, step: 990, epoch: 3, category: 'periodic', reasons: ['steps'], metrics: { loss: 0.3 },
    });
    const o = await openModel(dir);
    expectRepaired(o, /adopted 00000099-s990\.tkpt/);
    expect(o.m.list().map((c) => c.seq)).toEqual([...before.map((c) => c.seq), 99]);
    expect(o.m.latest()).toMatchObject({ seq: 99, step: 990, epoch: 3, category: 'periodic', metrics: { loss: 0.3 } });
    const loaded = await o.m.load(99);
    expect(sameBytes(loaded.tensors.w.data, orphan.w as Float32Array)).toBe(true);
    expect((await o.m.resume())!.info.seq).toBe(99);
    // The next save numbers after the adopted file.
    const next = await o.m.report({ step: 1000, metrics: { loss: 0.1 }, tensors: tensorsFor(5) }).durable;
    expect(next!.seq).toBe(100);
    await expectCleanReopen(dir, o);
  });

  it('quarantines an orphan checkpoint file that is corrupt', async () => {
    const { dir, modelDir, before } = await populated();
    const bad = join(modelDir, '00000077-s770.tkpt');
    writeCheckpointSync(bad, tensorsFor(77), { model: 'm', seq: 77, step: 770 });
    truncateSync(bad, Math.floor(statSync(bad).size / 2));
    const o = await openModel(dir);
    expectRepaired(o, /quarantined 00000077-s770\.tkpt/);
    expect(existsSync(bad)).toBe(false);
    expect(quarantined(modelDir).some((f) => f.startsWith('00000077-s770.tkpt'))).toBe(true);
    expect(o.m.list()).toEqual(before);
    await expectConsistent(o, modelDir);
    await expectCleanReopen(dir, o);
  });

  it('drops a listed checkpoint whose file is missing', async () => {
    const { dir, modelDir, before } = await populated();
    rmSync(before[1].path);
    const o = await openModel(dir);
    expectRepaired(o, /checkpoint 2 \(00000002-s10\.tkpt\) is missing/);
    expect(o.m.list()).toEqual(before.filter((c) => c.seq !== 2));
    await expectConsistent(o, modelDir);
    await expectCleanReopen(dir, o);
  });

  it('rebuilds a damaged catalog.json from the journal and the files', async () => {
    const { dir, modelDir } = await populated();
    // A repair compacts the journal into catalog.json; then more saves go to the journal.
    mkdirSync(join(modelDir, '.tmp'), { recursive: true });
    writeFileSync(join(modelDir, '.tmp', 'leftover'), 'x');
    const compacted = await openModel(dir, { logger: silentLogger });
    expect(existsSync(join(modelDir, 'catalog.json'))).toBe(true);
    await compacted.m.report({ step: 40, metrics: { loss: 0.5 }, tensors: tensorsFor(4) }).durable;
    await compacted.m.report({ step: 50, metrics: { loss: 0.7 }, tensors: tensorsFor(5) }).durable;
    await settle(compacted.store);
    const before = compacted.m.list();
    await compacted.store.close();

    writeFileSync(join(modelDir, 'catalog.json'), '{"version": 1, "records": [garbage');
    const o = await openModel(dir);
    expectRepaired(o, /catalog\.json unreadable/);
    expect(view(o.m.list())).toEqual(view(before));
    expect(o.m.stats().best.loss).toMatchObject({ value: 0.5, step: 40 });
    expect(o.m.best()).toMatchObject({ seq: 5 });
    // The persisted best still decides: a worse loss is no improvement.
    expect(o.m.report({ step: 51, metrics: { loss: 0.6 }, tensors: tensorsFor(6) }).saved).toBe(false);
    await expectConsistent(o, modelDir);
    // A valid catalog.json was written again.
    expect(() => JSON.parse(readFileSync(join(modelDir, 'catalog.json'), 'utf8'))).not.toThrow();
    await expectCleanReopen(dir, o);
  });
});
