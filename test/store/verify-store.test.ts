// verifyStore (the store's fsck): each kind of damage recovery or load()
// would meet is reported with its kind and file, without changing a byte;
// with `repair` it is repaired as recovery at open and load() would, after
// which the store verifies clean and opens without repairs. A repair refuses
// with E_LOCKED while a writer holds the model.
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  open, verifyStore, writeCheckpointSync, type CheckpointInfo, type CheckpointManager, type ProblemKind, type StoreOptions, type StoreReport,
} from '../../src/index.js';
import { native } from '../../src/native.js';
import { expectRejectsCode, sameBytes, tempDir } from '../helpers.js';
import { flipByte, quarantined, settle, silentLogger, tensorsFor } from '../fixtures/store.js';
import { onEvent } from '../fixtures/events.js';

const root = tempDir();
const opened: CheckpointManager[] = [];
const MONITOR = { loss: 'min' } as const;
const OPTIONS: StoreOptions = {
  monitor: MONITOR, every: { steps: 10 }, improvement: { minRelative: 0 }, logger: silentLogger, handleSignals: false, workers: 1,
};

// Stores with the same worker count share one pool: one store open for the
// whole file spares every test the start of its worker thread.
let keeper: CheckpointManager;
beforeAll(async () => {
  keeper = await open(mkdtempSync(join(root, 'keeper')), OPTIONS);
});
afterAll(() => keeper.close());

afterEach(async () => {
  native.clearFaultPlan();
  for (const store of opened.splice(0)) await store.close();
});

async function openStore(dir: string, options: StoreOptions = {}): Promise<CheckpointManager> {
  const store = await open(dir, { ...OPTIONS, ...options });
  opened.push(store);
  return store;
}

/**
 * A closed store: model "m" with checkpoints at steps 0-30 (seq 1-4, losses
 * 4, 3, 2, 1: the newest is the best) and model "n" with two.
 */
async function populated(): Promise<{ dir: string; m: CheckpointInfo[] }> {
  const dir = mkdtempSync(join(root, 's'));
  const store = await openStore(dir);
  const m = store.model('m');
  for (let i = 0; i < 4; i++) await m.report({ step: i * 10, metrics: { loss: 4 - i }, tensors: tensorsFor(i) }).durable;
  const n = store.model('n');
  for (let i = 0; i < 2; i++) await n.report({ step: i * 10, metrics: { loss: 2 - i }, tensors: tensorsFor(10 + i) }).durable;
  await settle(store);
  const list = m.list();
  await store.close();
  return { dir, m: list };
}

/** Every file under dir with its bytes: a check must not change one. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function kinds(report: StoreReport, model = 'm'): Array<[ProblemKind, string | undefined]> {
  return report.models[model].problems.map((p) => [p.kind, p.file]);
}

/** Verify (unchanged files), repair, verify clean, and a reopen that repairs nothing. */
async function expectRepairable(dir: string): Promise<StoreReport> {
  const before = snapshot(dir);
  const found = await verifyStore(dir, { monitor: MONITOR });
  expect(snapshot(dir)).toEqual(before);
  expect(found.ok).toBe(false);
  const repaired = await verifyStore(dir, { repair: true, monitor: MONITOR });
  expect(repaired.models.m.repairs.length, JSON.stringify(repaired.models.m)).toBeGreaterThan(0);
  expect(repaired.ok, JSON.stringify(repaired.models.m.problems)).toBe(true);
  expect((await verifyStore(dir, { monitor: MONITOR })).ok).toBe(true);
  const store = await openStore(dir);
  const repairedAtOpen: unknown[] = [];
  onEvent(store, 'repaired', (e) => repairedAtOpen.push(e));
  const m = store.model('m');
  expect(repairedAtOpen).toEqual([]);
  for (const c of m.list()) expect((await m.load(c.seq!)).step).toBe(c.step);
  await store.close();
  return found;
}

describe('verifyStore on a healthy store', () => {
  it('reports every model ok, with its checkpoint count, and changes nothing', async () => {
    const { dir } = await populated();
    const before = snapshot(dir);
    const report = await verifyStore(dir, { monitor: MONITOR });
    expect(report).toEqual({
      ok: true,
      models: {
        m: { ok: true, problems: [], repairs: [], checkpoints: 4, quarantined: 0 },
        n: { ok: true, problems: [], repairs: [], checkpoints: 2, quarantined: 0 },
      },
    });
    expect(snapshot(dir)).toEqual(before);
    // Repair of a healthy store repairs nothing.
    expect((await verifyStore(dir, { repair: true, monitor: MONITOR })).models.m.repairs).toEqual([]);
  });

  it('checks a store while its writer runs, without taking the lock', async () => {
    const { dir } = await populated();
    const store = await openStore(dir);
    const m = store.model('m');
    expect((await verifyStore(dir, { monitor: MONITOR })).ok).toBe(true);
    // The writer was not disturbed.
    expect((await m.report({ step: 40, metrics: { loss: 0.5 }, tensors: tensorsFor(4) }).durable)!.seq).toBe(5);
  });

  it('an empty root has no models; a missing one is E_NOT_FOUND; bad arguments are E_BAD_INPUT', async () => {
    expect(await verifyStore(mkdtempSync(join(root, 'empty')))).toEqual({ ok: true, models: {} });
    await expectRejectsCode(verifyStore(join(root, 'nope')), 'E_NOT_FOUND', 'no store at');
    await expectRejectsCode(verifyStore(''), 'E_BAD_INPUT', 'Expected a directory path');
    const { dir } = await populated();
    await expectRejectsCode(verifyStore(dir, { repair: 'yes' as never }), 'E_BAD_INPUT', 'Expected boolean for repair but received "yes"');
    await expectRejectsCode(verifyStore(dir, { monitor: { loss: 'down' } as never }), 'E_BAD_INPUT', 'monitor.loss');
    await expectRejectsCode(verifyStore(dir, { models: ['../x'] }), 'E_BAD_INPUT', 'model name');
    await expectRejectsCode(verifyStore(dir, { models: ['absent'] }), 'E_NOT_FOUND', 'no model "absent"');
  });
});

describe('verifyStore finds, and repair mends', () => {
  it('a listed file with a flipped bit: corrupt, quarantined by repair', async () => {
    const { dir, m } = await populated();
    flipByte(m[1].path, 100);
    const found = await expectRepairable(dir);
    expect(kinds(found)).toEqual([['corrupt', '00000002-s10.tkpt']]);
    expect(found.models.m.problems[0].seq).toBe(2);
    expect(found.models.n.ok).toBe(true);
    expect(quarantined(join(dir, 'm')).some((f) => f.startsWith('00000002-s10.tkpt'))).toBe(true);
  });

  it('a truncated file: corrupt', async () => {
    const { dir, m } = await populated();
    truncateSync(m[0].path, 100);
    expect(kinds(await expectRepairable(dir))).toEqual([['corrupt', '00000001-s0.tkpt']]);
  });

  it("two files' contents swapped: each verifies, but holds the other checkpoint", async () => {
    const { dir, m } = await populated();
    const a = readFileSync(m[0].path);
    copyFileSync(m[1].path, m[0].path);
    writeFileSync(m[1].path, a);
    const found = await expectRepairable(dir);
    expect(kinds(found)).toEqual([['mismatch', '00000001-s0.tkpt'], ['mismatch', '00000002-s10.tkpt']]);
    expect(found.models.m.problems[0].message).toContain('holds checkpoint 2 (step 10)');
  });

  it('a file deleted behind the catalog: missing, dropped by repair', async () => {
    const { dir, m } = await populated();
    rmSync(m[2].path);
    expect(kinds(await expectRepairable(dir))).toEqual([['missing', '00000003-s20.tkpt']]);
  });

  it('a complete file the catalog lacks: unlisted, adopted by repair', async () => {
    const { dir } = await populated();
    writeCheckpointSync(join(dir, 'm', '00000009-s90.tkpt'), tensorsFor(9), { model: 'm', seq: 9, step: 90, metrics: { loss: 0.5 }, category: 'periodic' });
    expect(kinds(await expectRepairable(dir))).toEqual([['unlisted', '00000009-s90.tkpt']]);
    const store = await openStore(dir);
    // Adopted with its metrics folded into the best values, as recovery at open does.
    expect(store.model('m').stats().best.loss).toMatchObject({ value: 0.5, step: 90 });
  });

  it('a leftover in .tmp/: tmp, removed by repair', async () => {
    const { dir } = await populated();
    mkdirSync(join(dir, 'm', '.tmp'), { recursive: true });
    writeFileSync(join(dir, 'm', '.tmp', '00000005-s40.tkpt.77.1.partial'), Buffer.alloc(100));
    expect(kinds(await expectRepairable(dir))).toEqual([['tmp', '.tmp/00000005-s40.tkpt.77.1.partial']]);
    expect(readdirSync(join(dir, 'm', '.tmp'))).toEqual([]);
  });

  it('a journaled eviction whose unlink failed: unfinished-eviction, finished by repair', async () => {
    const dir = mkdtempSync(join(root, 's'));
    const store = await openStore(dir, { keep: { best: 1, periodic: 0 } });
    const m = store.model('m');
    await m.report({ step: 0, metrics: { loss: 2 }, tensors: tensorsFor(0) }).durable;
    await settle(store);
    native.setFaultPlan('op=unlink,fail_at=1,errno=EIO');
    await m.report({ step: 1, metrics: { loss: 1 }, tensors: tensorsFor(1) }).durable;
    await settle(store);
    native.clearFaultPlan();
    await store.close();
    expect(kinds(await expectRepairable(dir))).toEqual([['unfinished-eviction', '00000001-s0.tkpt']]);
    expect(existsSync(join(dir, 'm', '00000001-s0.tkpt'))).toBe(false);
  });

  it('a torn journal tail, and a torn history tail', async () => {
    const { dir } = await populated();
    for (const file of ['journal', 'history']) {
      const path = join(dir, 'm', file);
      truncateSync(path, statSync(path).size - 3);
    }
    const found = await expectRepairable(dir);
    // The torn record was the close's state record: every checkpoint is still listed.
    expect(kinds(found)).toEqual([['journal', undefined], ['history', undefined]]);
    expect(found.models.m.checkpoints).toBe(4);
  });

  it('an unreadable catalog.json: catalog, rewritten by repair from the journal and the files', async () => {
    const { dir } = await populated();
    // A repair at open compacts the journal into catalog.json.
    writeFileSync(join(dir, 'm', '.tmp', 'leftover'), 'x');
    await verifyStore(dir, { repair: true, monitor: MONITOR });
    writeFileSync(join(dir, 'm', 'catalog.json'), '{"version": 1, "records": [');
    const found = await expectRepairable(dir);
    expect(kinds(found).map(([k]) => k)).toContain('catalog');
    expect(JSON.parse(readFileSync(join(dir, 'm', 'catalog.json'), 'utf8')).records).toHaveLength(4);
  });
});

describe('the best value', () => {
  it('is held by no listed checkpoint once the best file is lost; repair cannot bring it back and says so', async () => {
    const { dir, m } = await populated();
    flipByte(m[3].path, 100); // seq 4 holds the best loss, 1
    const repaired = await verifyStore(dir, { repair: true, monitor: MONITOR });
    expect(repaired.models.m.repairs.some((r) => r.startsWith('quarantined 00000004-s30.tkpt'))).toBe(true);
    expect(kinds(repaired)).toEqual([['best', undefined]]);
    expect(repaired.models.m.problems[0].message).toBe('best loss 1 (step 30) is held by no listed checkpoint');
    // Without `monitor` the primary metric is unknown and bests are not checked.
    expect((await verifyStore(dir)).ok).toBe(true);
  });
});

describe('repair and the writer lock', () => {
  it('refuses with E_LOCKED while a writer holds any model, and changes nothing', async () => {
    const { dir, m } = await populated();
    flipByte(m[1].path, 100);
    const store = await openStore(dir);
    store.model('n');
    const before = snapshot(dir);
    await expectRejectsCode(verifyStore(dir, { repair: true, monitor: MONITOR }), 'E_LOCKED', String(process.pid));
    expect(snapshot(dir)).toEqual(before);
    // The models the writer does not hold can be repaired on their own.
    const report = await verifyStore(dir, { repair: true, monitor: MONITOR, models: ['m'] });
    expect(Object.keys(report.models)).toEqual(['m']);
    expect(report.ok).toBe(true);
    // The lock is released after the repair: a writer opens the model.
    const loaded = await store.model('m').load('latest');
    expect(sameBytes(loaded.tensors.w.data, tensorsFor(3).w as Float32Array)).toBe(true);
  });

  it('after a crash: repairs the leftovers of a killed writer', async () => {
    const { dir } = await populated();
    // What a writer killed between its rename and its journal append leaves: a complete file, unlisted.
    const modelDir = join(dir, 'm');
    writeCheckpointSync(join(modelDir, '00000005-s40.tkpt'), tensorsFor(5), { model: 'm', seq: 5, step: 40, metrics: { loss: 3 } });
    mkdirSync(join(modelDir, '.tmp'), { recursive: true });
    writeFileSync(join(modelDir, '.tmp', 'y.partial'), 'half');
    const found = await expectRepairable(dir);
    expect(kinds(found)).toEqual([['unlisted', '00000005-s40.tkpt'], ['tmp', '.tmp/y.partial']]);
  });
});
