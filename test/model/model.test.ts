// The CheckpointManager through its public API: save decisions of
// report(), independent models, retention on disk, restarts, corrupt files,
// failed saves, presets, logging, stats and close(). Bad options and
// arguments are in the catalogue of store-bad-input.test.ts.
// The decision table itself is in policy.test.ts and the retention plan in
// retention.test.ts; here each rule is checked end to end, files included.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CheckpointError, open, type CheckpointInfo, type CheckpointManager, type LoadedCheckpoint, type ModelCheckpoints, type ReportInput,
  type StoreOptions, type TensorDict,
} from '../../src/index.js';
import { native } from '../../src/native.js';
import { expectRejectsCode, expectThrowsCode, sameBytes, tempDir } from '../helpers.js';
import {
  collectingLogger, flipByte, quarantined, settle, silentLogger, tensorsFor, tkptFiles,
} from '../fixtures/store.js';
import { record } from '../fixtures/events.js';

const root = tempDir();
const opened: CheckpointManager[] = [];

afterEach(async () => {
  native.clearFaultPlan();
  for (const store of opened.splice(0)) await store.close();
});

/** A store in a fresh directory (closed after the test). */
async function fresh(options: StoreOptions = {}): Promise<{ store: CheckpointManager; dir: string }> {
  const dir = mkdtempSync(join(root, 's'));
  const store = await reopen(dir, options);
  return { store, dir };
}

async function reopen(dir: string, options: StoreOptions = {}): Promise<CheckpointManager> {
  const store = await open(dir, { logger: silentLogger, ...options });
  opened.push(store);
  return store;
}

/** Rejects when `promise` has not settled within `ms` (instead of hanging until the test timeout). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}


const seqs = (list: CheckpointInfo[]) => list.map((c) => c.seq);

/**
 * Reports and, when the report saves, waits until its checkpoint is durable.
 * A save still waiting to start absorbs the next one (see 'saves faster than
 * the disk'), so the tests that want one checkpoint per save wait for each.
 */
async function put(m: ModelCheckpoints, input: ReportInput) {
  const ticket = m.report(input);
  const { saved, reasons, category } = ticket;
  return { saved, reasons, category, seq: ticket.seq, info: await ticket.durable };
}

function expectTensors(loaded: LoadedCheckpoint | null, want: TensorDict): void {
  expect(loaded).not.toBeNull();
  for (const [name, data] of Object.entries(want)) {
    expect(sameBytes(loaded!.tensors[name].data, data as ArrayBufferView), `tensor ${name}`).toBe(true);
  }
}

/** The directory holds exactly the files list() reports. */
function expectFilesMatchList(dir: string, model: { list(): CheckpointInfo[] }): void {
  expect(tkptFiles(dir)).toEqual(model.list().map((c) => basename(c.path)).sort());
}

const LOSS = { monitor: { loss: 'min' as const } };

describe('report()', () => {
  it('does not call the tensors function when it skips, and calls it once when it saves', async () => {
    const { store } = await fresh({ ...LOSS, every: { steps: null } });
    const m = store.model('m');
    let calls = 0;
    const tensors = () => {
      calls++;
      return tensorsFor(1);
    };
    expect(m.report({ step: 0, metrics: { loss: 1 }, tensors }).saved).toBe(true);
    expect(calls).toBe(1);
    const skip = m.report({ step: 1, metrics: { loss: 2 }, tensors });
    expect(skip).toMatchObject({ saved: false, reasons: [], category: null });
    expect(skip.seq).toBeUndefined();
    await expect(skip.durable).resolves.toBeNull();
    expect(calls).toBe(1);
  });

  it('returns {saved, reasons, category, seq, durable} and durable resolves to the CheckpointInfo', async () => {
    const { store, dir } = await fresh(LOSS);
    const m = store.model('m');
    const ticket = m.report({ step: 7, epoch: 2, metrics: { loss: 0.5, acc: 0.9 }, tensors: tensorsFor(1) });
    expect(ticket).toMatchObject({ saved: true, reasons: ['improved'], category: 'best', seq: 1 });
    const info = await ticket.durable;
    expect(info).toMatchObject({
      model: 'm', seq: 1, step: 7, epoch: 2, category: 'best', reasons: ['improved'], metrics: { loss: 0.5, acc: 0.9 },
    });
    expect(info!.bytes).toBe(statSync(info!.path).size);
    expect(info!.path).toBe(join(dir, 'm', '00000001-s7.tkpt'));
    expect(m.list()).toEqual([info]);
  });

  it("emits 'saved' and 'improved' for a best save and 'skipped' for a skip", async () => {
    const { store } = await fresh({ ...LOSS, every: { steps: null } });
    const saved = record(store, 'saved');
    const improved = record(store, 'improved');
    const skipped = record(store, 'skipped');
    const m = store.model('m');
    const info = await m.report({ step: 0, metrics: { loss: 1 }, tensors: tensorsFor(1) }).durable;
    m.report({ step: 1, metrics: { loss: 2 }, tensors: tensorsFor(1) });
    await m.save(tensorsFor(2), { step: 2, metrics: { loss: 3 } });
    expect(saved.map((e) => [e.model, e.info.seq])).toEqual([['m', 1], ['m', 2]]);
    expect(saved[0].info).toEqual(info);
    expect(improved).toEqual([{ model: 'm', info, improved: ['loss'] }]);
    expect(skipped).toEqual([{ model: 'm', step: 1 }]);
  });

  it('gives the reasons of the hybrid policy (improved OR every 100 steps): improved, steps, both', async () => {
    const { store } = await fresh({ ...LOSS, every: { steps: 100 }, improvement: { minRelative: 0 } });
    const m = store.model('m');
    const t = tensorsFor(1);
    const r = async (step: number, loss: number) => {
      const { saved, reasons, category } = await put(m, { step, metrics: { loss }, tensors: t });
      return { saved, reasons, category };
    };
    expect(await r(0, 1)).toEqual({ saved: true, reasons: ['improved'], category: 'best' });
    expect(await r(50, 0.5)).toEqual({ saved: true, reasons: ['improved'], category: 'best' });
    expect(await r(149, 0.7)).toEqual({ saved: false, reasons: [], category: null });
    expect(await r(150, 0.7)).toEqual({ saved: true, reasons: ['steps'], category: 'periodic' });
    expect(await r(250, 0.1)).toEqual({ saved: true, reasons: ['improved', 'steps'], category: 'best' });
    // Any save resets the step clock: 260 is 10 steps after the last save.
    expect(await r(260, 0.2)).toEqual({ saved: false, reasons: [], category: null });
    await settle(store);
    expect(m.list().map((c) => [c.step, c.category])).toEqual([[0, 'best'], [50, 'best'], [150, 'periodic'], [250, 'best']]);
  });

  it('saves every report with `always`', async () => {
    const { store } = await fresh({ always: true });
    const m = store.model('m');
    const tickets = [];
    for (const step of [0, 1, 2]) tickets.push(await put(m, { step, tensors: tensorsFor(step) }));
    expect(tickets.map((t) => [t.saved, t.reasons, t.category])).toEqual([
      [true, ['always'], 'periodic'], [true, ['always'], 'periodic'], [true, ['always'], 'periodic'],
    ]);
    expect(m.list().map((c) => c.step)).toEqual([0, 1, 2]);
  });

  it('saves a report with `force` whatever the policy says (category manual, reason forced)', async () => {
    const { store } = await fresh({ ...LOSS, every: { steps: null } });
    const m = store.model('m');
    await m.report({ step: 0, metrics: { loss: 1 }, tensors: tensorsFor(1) }).durable;
    const forced = m.report({ step: 1, metrics: { loss: 5 }, tensors: tensorsFor(2), force: true });
    expect(forced).toMatchObject({ saved: true, reasons: ['forced'], category: 'manual' });
    expect(await forced.durable).toMatchObject({ category: 'manual', reasons: ['forced'] });
    // A forced save of an improvement is a best one, with both reasons.
    const both = m.report({ step: 2, metrics: { loss: 0.1 }, tensors: tensorsFor(3), force: true });
    expect(both).toMatchObject({ reasons: ['improved', 'forced'], category: 'best' });
  });

  it('never counts non-finite metrics as an improvement, logs a warning, and records their periodic save as unhealthy', async () => {
    const logger = collectingLogger();
    const { store } = await fresh({ ...LOSS, every: { steps: 10 }, logger });
    const m = store.model('m');
    const healthy = tensorsFor(1);
    await m.report({ step: 0, metrics: { loss: 1 }, tensors: healthy }).durable;
    expect(m.report({ step: 1, metrics: { loss: NaN }, tensors: tensorsFor(2) }).saved).toBe(false);
    expect(m.report({ step: 2, metrics: { loss: -Infinity }, tensors: tensorsFor(2) }).saved).toBe(false);
    const diverged = m.report({ step: 10, metrics: { loss: NaN }, tensors: tensorsFor(3) });
    expect(diverged).toMatchObject({ saved: true, reasons: ['steps'], category: 'periodic' });
    const info = await diverged.durable;
    expect(Number.isNaN(info!.metrics.loss)).toBe(true);
    expect(logger.find('warn', 'non-finite')).toHaveLength(3);
    expect(logger.find('warn', 'non-finite')[0].bindings).toMatchObject({ model: 'm', step: 1, metrics: ['loss'] });
    expect(m.stats().best.loss.value).toBe(1);
    // The diverged save is the newest, but resume() prefers the healthy one.
    const resumed = await m.resume();
    expect(resumed!.info.seq).toBe(1);
    expectTensors(resumed, healthy);
  });

  it('applies the store-level improvement thresholds (minDelta, minRelative, mode)', async () => {
    const { store } = await fresh({
      ...LOSS, every: { steps: null }, improvement: { minDelta: 0.1, minRelative: 0 },
    });
    const m = store.model('m');
    const t = tensorsFor(1);
    const saved = (step: number, loss: number) => m.report({ step, metrics: { loss }, tensors: t }).saved;
    expect(saved(0, 1)).toBe(true);
    expect(saved(1, 0.95)).toBe(false); // beats 1 by 0.05 < minDelta
    expect(saved(2, 0.89)).toBe(true);

    const rel = store.model('rel', { ...LOSS, every: { steps: null }, improvement: { minDelta: 0, minRelative: 0.5 } });
    const relSaved = (step: number, loss: number) => rel.report({ step, metrics: { loss }, tensors: t }).saved;
    expect(relSaved(0, 8)).toBe(true);
    expect(relSaved(1, 4)).toBe(false); // exactly at the boundary: 4 < 8 - 4 is false
    expect(relSaved(2, 3.9)).toBe(true);

    const all = store.model('all', {
      monitor: { loss: 'min', acc: 'max' }, every: { steps: null }, improvement: { mode: 'all', minDelta: 0, minRelative: 0 },
    });
    const allSaved = (step: number, loss: number, acc: number) => all.report({ step, metrics: { loss, acc }, tensors: t }).saved;
    expect(allSaved(0, 1, 0.5)).toBe(true);
    expect(allSaved(1, 0.5, 0.5)).toBe(false); // loss improved, acc did not
    expect(allSaved(2, 0.4, 0.6)).toBe(true);
    await settle(store);
  });
});

describe('independent models', () => {
  it('keeps decisions, files and best values of two models apart', async () => {
    const { store, dir } = await fresh({ ...LOSS, improvement: { minRelative: 0 } });
    const a = store.model('a', { every: { steps: 10 } });
    const b = store.model('b', { every: { steps: null }, keep: { best: 1 } });
    const t = tensorsFor(1);
    expect((await put(a, { step: 0, metrics: { loss: 1 }, tensors: t })).saved).toBe(true);
    expect((await put(a, { step: 5, metrics: { loss: 0.2 }, tensors: t })).saved).toBe(true);
    // b has never seen a report: its first one is its best, however bad next to a's.
    expect((await put(b, { step: 0, metrics: { loss: 10 }, tensors: t })).reasons).toEqual(['improved']);
    expect((await put(b, { step: 5, metrics: { loss: 9 }, tensors: t })).reasons).toEqual(['improved']);
    // a's step clock fires at 15; b has no step clock.
    expect((await put(a, { step: 15, metrics: { loss: 0.3 }, tensors: t })).reasons).toEqual(['steps']);
    expect((await put(b, { step: 15, metrics: { loss: 9.5 }, tensors: t })).saved).toBe(false);
    await settle(store);

    expect(a.stats().best.loss).toMatchObject({ value: 0.2, step: 5 });
    expect(b.stats().best.loss).toMatchObject({ value: 9, step: 5 });
    expect(a.list().map((c) => c.step)).toEqual([0, 5, 15]);
    // b's keep.best 1 evicted b's first checkpoint, not a's.
    expect(b.list().map((c) => c.step)).toEqual([5]);
    expect(a.list().every((c) => c.model === 'a' && c.path.startsWith(join(dir, 'a')))).toBe(true);
    expectFilesMatchList(join(dir, 'a'), a);
    expectFilesMatchList(join(dir, 'b'), b);
    // Seqs are per model.
    expect(seqs(a.list())).toEqual([1, 2, 3]);
    expect(seqs(b.list())).toEqual([2]);
    expect(a.best()!.metrics.loss).toBe(0.2);
    expect(b.best()!.metrics.loss).toBe(9);
  });

  it("per-model options override the store's one setting at a time (nested options merge)", async () => {
    const { store } = await fresh({ keep: { best: 3, periodic: 7 }, every: { steps: 100, minutes: 10 } });
    const m = store.model('m', { keep: { periodic: 1 }, every: { steps: 50 } });
    expect(m.settings.retention).toMatchObject({ keepBest: 3, keepPeriodic: 1 });
    // The store's time-based safety net must not vanish because one model changed its step interval.
    expect(m.settings.policy.every).toEqual({ steps: 50, minutes: 10 });
  });

  it('refuses options on a second model() call for the same name, and returns the same object without', async () => {
    const { store } = await fresh();
    const m = store.model('m', { always: true });
    expect(store.model('m')).toBe(m);
    expectThrowsCode(() => store.model('m', { always: false }), 'E_BAD_INPUT', 'already open');
  });
});

describe('retention end to end', () => {
  it('when durable resolves, list(), best() and latest() already show the retention of that commit, and every listed checkpoint loads', async () => {
    const { store } = await fresh({ ...LOSS, always: true, improvement: { minRelative: 0 }, keep: { best: 3, periodic: 3 } });
    const m = store.model('m');
    for (let step = 0; step < 16; step++) {
      // Alternate improvements and non-improvements: both windows fill and overflow.
      const info = await m.report({ step, metrics: { loss: step % 2 ? 100 - step : 1 / (step + 1) }, tensors: tensorsFor(step) }).durable;
      const listed = m.list();
      // No more than the windows allow: 3 best + 3 periodic (the newest and the single best are among them).
      expect(listed.filter((c) => c.category === 'best').length, `after step ${step}`).toBeLessThanOrEqual(3);
      expect(listed.filter((c) => c.category === 'periodic').length, `after step ${step}`).toBeLessThanOrEqual(3);
      expect(m.latest()!.seq).toBe(info!.seq);
      expect(listed.map((c) => c.seq)).toContain(m.best()!.seq);
      // What list() shows is not on its way out: each loads, now, without E_NOT_FOUND.
      for (const c of listed) expect((await m.load(c.seq!)).info.seq).toBe(c.seq);
    }
  });

  it('keeps the top keep.best best and the newest keep.periodic periodic, deleting the rest from disk', async () => {
    const { store, dir } = await fresh({
      ...LOSS, every: { steps: 100 }, improvement: { minRelative: 0 }, keep: { best: 2, periodic: 2 },
    });
    const evicted = record(store, 'evicted');
    const m = store.model('m');
    for (const [i, loss] of [5, 4, 3, 2, 1].entries()) await put(m, { step: i, metrics: { loss }, tensors: tensorsFor(i) }); // seq 1..5, best
    for (const step of [200, 300, 400, 500]) await put(m, { step, metrics: { loss: 9 }, tensors: tensorsFor(step) }); // seq 6..9, periodic
    await settle(store);

    expect(m.list().map((c) => [c.seq, c.category])).toEqual([[4, 'best'], [5, 'best'], [8, 'periodic'], [9, 'periodic']]);
    expect(evicted.map((e): [number, string] => [e.seq, e.reason]).sort((x, y) => x[0] - y[0])).toEqual([
      [1, 'best-window'], [2, 'best-window'], [3, 'best-window'], [6, 'periodic-window'], [7, 'periodic-window'],
    ]);
    expect(evicted.every((e) => e.model === 'm' && e.bytes > 0)).toBe(true);
    expectFilesMatchList(join(dir, 'm'), m);
    for (const e of evicted) {
      expect(e.file).toMatch(new RegExp(`^${String(e.seq).padStart(8, '0')}-s\\d+\\.tkpt$`));
      expect(readdirSync(join(dir, 'm'))).not.toContain(e.file);
    }
  });

  it('stays under quotaBytes, evicting periodic first, and never evicts the single best or the newest', async () => {
    const logger = collectingLogger();
    const { store, dir } = await fresh({
      ...LOSS, every: { steps: 10 }, improvement: { minRelative: 0 }, keep: { best: 10, periodic: 10 }, logger,
    });
    const evicted = record(store, 'evicted');
    const m = store.model('m');
    const first = (await m.report({ step: 0, metrics: { loss: 1 }, tensors: tensorsFor(1) }).durable)!;
    await store.close();

    // Room for about three checkpoints.
    const quotaBytes = Math.floor(first.bytes * 3.5);
    const store2 = await reopen(dir, { ...LOSS, every: { steps: 10 }, keep: { best: 10, periodic: 10 }, quotaBytes, logger });
    const evicted2 = record(store2, 'evicted');
    const m2 = store2.model('m');
    for (let i = 1; i <= 8; i++) {
      const info = (await m2.report({ step: i * 10, metrics: { loss: 2 + i }, tensors: tensorsFor(i) }).durable)!;
      await settle(store2);
      const list = m2.list();
      expect(list.reduce((s, c) => s + c.bytes, 0)).toBeLessThanOrEqual(quotaBytes);
      expect(seqs(list)).toContain(1); // the single best
      expect(list.at(-1)!.seq).toBe(info.seq); // the newest
      expectFilesMatchList(join(dir, 'm'), m2);
    }
    expect(evicted).toEqual([]);
    expect(evicted2.length).toBeGreaterThan(0);
    expect(evicted2.every((e) => e.reason === 'quota')).toBe(true);
    // Periodic went oldest first.
    const order = evicted2.map((e) => e.seq);
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(order.some((s) => seqs(m2.list()).includes(s))).toBe(false);
    await store2.close();

    // A quota below two files: only the protected pair remains, and a warning says so.
    const store3 = await reopen(dir, { ...LOSS, every: { steps: 10 }, quotaBytes: 1, logger });
    const m3 = store3.model('m');
    const newest = (await m3.report({ step: 1000, metrics: { loss: 50 }, tensors: tensorsFor(9) }).durable)!;
    await settle(store3);
    expect(seqs(m3.list())).toEqual([1, newest.seq]);
    expectFilesMatchList(join(dir, 'm'), m3);
    expect(logger.find('warn', 'over quota')).not.toHaveLength(0);
  });

  it('keeps pinned checkpoints whatever the windows say', async () => {
    const { store, dir } = await fresh({ always: true, keep: { periodic: 1 } });
    const m = store.model('m');
    await m.report({ step: 0, tensors: tensorsFor(0) }).durable;
    m.pin(1);
    for (let step = 1; step <= 3; step++) await m.report({ step, tensors: tensorsFor(step) }).durable;
    await settle(store);
    expect(seqs(m.list())).toEqual([1, 4]);
    expectFilesMatchList(join(dir, 'm'), m);
    expectThrowsCode(() => m.pin(2), 'E_NOT_FOUND');
  });

  it('pin(seq, false) gives a checkpoint back to the windows, and both survive a reopen', async () => {
    const options = { always: true, keep: { periodic: 1 } };
    const { store, dir } = await fresh(options);
    const m = store.model('m');
    await m.report({ step: 0, tensors: tensorsFor(0) }).durable;
    m.pin(1);
    await store.close();
    // Still pinned after a reopen: kept while two newer saves go by.
    const again = await reopen(dir, options);
    const evicted = record(again, 'evicted');
    const m2 = again.model('m');
    for (let step = 1; step <= 2; step++) await m2.report({ step, tensors: tensorsFor(step) }).durable;
    await settle(again);
    expect(seqs(m2.list())).toEqual([1, 3]);
    expect(evicted.map((e) => e.seq)).toEqual([2]);
    // Unpinned: retention lets it go at once.
    m2.pin(1, false);
    expect(seqs(m2.list())).toEqual([3]);
    await again.close();
    expect(evicted.map((e) => [e.seq, e.reason])).toEqual([[2, 'periodic-window'], [1, 'periodic-window']]);
    const m3 = (await reopen(dir, options)).model('m');
    expect(seqs(m3.list())).toEqual([3]);
    expectFilesMatchList(join(dir, 'm'), m3);
  });
});

describe('list(), best(), latest(), history()', () => {
  it('keeps a metric named __proto__ as a metric: in the checkpoint, its load and the history', async () => {
    const { store } = await fresh({ always: true });
    const m = store.model('m');
    const metrics = JSON.parse('{"__proto__": 0.5, "loss": 1}') as Record<string, number>;
    const info = (await m.report({ step: 1, metrics, tensors: tensorsFor(1) }).durable)!;
    for (const got of [info.metrics, (await m.load(info.seq!)).metrics, m.history().at(-1)!.metrics]) {
      expect(Object.keys(got)).toEqual(['__proto__', 'loss']);
      expect(Object.getOwnPropertyDescriptor(got, '__proto__')?.value).toBe(0.5);
    }
  });

  it('answer from memory with the kept checkpoints', async () => {
    const { store } = await fresh({ ...LOSS, every: { steps: 10 }, improvement: { minRelative: 0 } });
    const m = store.model('m');
    expect(m.list()).toEqual([]);
    expect(m.best()).toBeNull();
    expect(m.latest()).toBeNull();
    const first = m.report({ step: 0, metrics: { loss: 3 }, tensors: tensorsFor(1) });
    // Nothing is reported before it is durable.
    expect(m.list()).toEqual([]);
    expect(m.latest()).toBeNull();
    await first.durable;
    await put(m, { step: 1, metrics: { loss: 2 }, tensors: tensorsFor(2) });
    await put(m, { step: 11, metrics: { loss: 4 }, tensors: tensorsFor(3) });
    await settle(store);
    expect(m.list().map((c) => c.step)).toEqual([0, 1, 11]);
    expect(m.best()).toMatchObject({ seq: 2, step: 1, metrics: { loss: 2 } });
    expect(m.latest()).toMatchObject({ seq: 3, step: 11, category: 'periodic' });
  });

  it('history() returns every report, saved or not, across a close and reopen', async () => {
    const { store, dir } = await fresh({ ...LOSS, every: { steps: null } });
    const m = store.model('m');
    m.report({ step: 0, epoch: 0, metrics: { loss: 2 }, tensors: tensorsFor(1) });
    m.report({ step: 1, epoch: 0, metrics: { loss: 3 }, tensors: tensorsFor(1) });
    m.report({ step: 2, epoch: 1, metrics: { loss: NaN }, tensors: tensorsFor(1) });
    expect(m.history().map((h) => h.step)).toEqual([0, 1, 2]);
    await store.close();

    const again = (await reopen(dir, { ...LOSS, every: { steps: null } })).model('m');
    again.report({ step: 3, epoch: 1, metrics: { loss: 1 }, tensors: tensorsFor(1) });
    const history = again.history();
    expect(history.map((h) => [h.step, h.epoch, h.saved, h.reasons])).toEqual([
      [0, 0, true, ['improved']], [1, 0, false, []], [2, 1, false, []], [3, 1, true, ['improved']],
    ]);
    expect(history[0].metrics).toEqual({ loss: 2 });
    expect(Number.isNaN(history[2].metrics.loss)).toBe(true);
    expect(history.every((h) => typeof h.time === 'number' && h.time > 0)).toBe(true);
  });

  it('history and checkpoints keep the values reported, even when the caller reuses and changes its metrics object', async () => {
    const { store, dir } = await fresh({ ...LOSS, every: { steps: null } });
    const m = store.model('m');
    const metrics = { loss: 5 };
    for (let step = 0; step < 3; step++) {
      metrics.loss = 5 - step;
      await m.report({ step, metrics, tensors: tensorsFor(step) }).durable;
    }
    metrics.loss = -1;
    expect(m.history().map((h) => h.metrics.loss)).toEqual([5, 4, 3]);
    await store.flush();
    expect(m.list().map((c) => c.metrics.loss)).toEqual([5, 4, 3]);
    await store.close();
    const again = (await reopen(dir, { readOnly: true })).model('m');
    expect(again.history().map((h) => h.metrics.loss)).toEqual([5, 4, 3]);
  });

  it('history reaches the disk at every commit, and a second after a report without one', async () => {
    const { store, dir } = await fresh({ ...LOSS, every: { steps: null } });
    const m = store.model('m');
    // A read-only opener reads the history file only: it sees what has been written.
    const onDisk = async () => (await reopen(dir, { readOnly: true })).model('m').history().map((h) => h.step);
    const inFile = () => native.journalScan(join(dir, 'm', 'history')).records.map((r) => (JSON.parse(r.toString('utf8')) as { step: number }).step);
    await m.report({ step: 0, metrics: { loss: 1 }, tensors: tensorsFor(0) }).durable;
    expect(await onDisk()).toEqual([0]);
    // The flush is a timer of the store's: the clock is the test's, not the machine's.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      m.report({ step: 1, metrics: { loss: 2 } });
      vi.advanceTimersByTime(999);
      expect(inFile()).toEqual([0]);
      vi.advanceTimersByTime(1);
      expect(inFile()).toEqual([0, 1]);
    } finally {
      vi.useRealTimers();
    }
    expect(await onDisk()).toEqual([0, 1]);
  });
});

describe('restart', () => {
  const options = { ...LOSS, every: { steps: 100 }, improvement: { minRelative: 0 } };

  it('keeps best values, counters and the step clock; a worse metric after reopen does not save', async () => {
    const { store, dir } = await fresh(options);
    const m = store.model('m');
    await put(m, { step: 0, metrics: { loss: 1 }, tensors: tensorsFor(1) });
    await put(m, { step: 10, metrics: { loss: 2 }, tensors: tensorsFor(1) });
    await put(m, { step: 50, metrics: { loss: 0.5 }, tensors: tensorsFor(2) });
    await store.close();

    const m2 = (await reopen(dir, options)).model('m');
    expect(m2.stats()).toMatchObject({ saves: 2, skips: 1, failures: 0, best: { loss: { value: 0.5, step: 50 } } });
    expect(m2.report({ step: 60, metrics: { loss: 0.7 }, tensors: tensorsFor(3) }).saved).toBe(false);
    // every.steps counts from the persisted last saved step (50), not from the reopen.
    expect(m2.report({ step: 149, metrics: { loss: 0.7 }, tensors: tensorsFor(3) }).saved).toBe(false);
    expect(m2.report({ step: 150, metrics: { loss: 0.7 }, tensors: tensorsFor(3) }).reasons).toEqual(['steps']);
    expect(m2.report({ step: 151, metrics: { loss: 0.49 }, tensors: tensorsFor(3) }).reasons).toEqual(['improved']);
    // Steps still may not go backwards after a restart.
    expectThrowsCode(() => m2.report({ step: 100, metrics: { loss: 1 } }), 'E_BAD_INPUT', 'backwards');
  });

  it('resume() returns the newest durable checkpoint bit-exact, and null for a fresh model', async () => {
    const { store, dir } = await fresh(options);
    const m = store.model('m');
    expect(await m.resume()).toBeNull();
    const newest = tensorsFor(42, 3000);
    await put(m, { step: 0, metrics: { loss: 1 }, tensors: tensorsFor(1) });
    await put(m, { step: 100, metrics: { loss: 2 }, tensors: newest, meta: { lr: 0.1 } });
    await store.close();

    const m2 = (await reopen(dir, options)).model('m');
    const resumed = await m2.resume();
    expect(resumed).toMatchObject({ step: 100, metrics: { loss: 2 }, meta: { lr: 0.1 }, info: { seq: 2, category: 'periodic' } });
    expectTensors(resumed, newest);
    expect(await m2.load(1)).toMatchObject({ step: 0 });
    expect(await (await reopen(dir, options)).model('other').resume()).toBeNull();
  });

  it('after resume(), training may repeat the steps after the resumed checkpoint', async () => {
    const { store, dir } = await fresh(options);
    const m = store.model('m');
    await put(m, { step: 0, metrics: { loss: 1 }, tensors: tensorsFor(1) });
    await put(m, { step: 100, metrics: { loss: 2 }, tensors: tensorsFor(2) });
    m.report({ step: 150, metrics: { loss: 2 } }); // progress that no checkpoint holds
    await store.close();

    const m2 = (await reopen(dir, options)).model('m');
    expectThrowsCode(() => m2.report({ step: 120, metrics: { loss: 2 } }), 'E_BAD_INPUT', 'backwards');
    expect((await m2.resume())!.step).toBe(100);
    expect(m2.report({ step: 120, metrics: { loss: 2 } }).saved).toBe(false);
  });
});

describe('a corrupt checkpoint', () => {
  async function threeSaves() {
    const { store, dir } = await fresh({ always: true });
    const errors = record(store, 'error');
    const m = store.model('m');
    const t = [tensorsFor(1), tensorsFor(2), tensorsFor(3)];
    const infos: CheckpointInfo[] = [];
    for (let i = 0; i < 3; i++) infos.push((await m.report({ step: i, tensors: t[i] }).durable)!);
    await settle(store);
    const modelDir = join(dir, 'm');
    return { store, m, t, infos, errors, modelDir };
  }

  it('resume() falls back to the previous one, emits error naming the file and quarantines it', async () => {
    const { m, t, infos, errors, modelDir } = await threeSaves();
    const bad = basename(infos[2].path);
    flipByte(infos[2].path, 64 + 10);
    const resumed = await m.resume();
    expect(resumed!.info.seq).toBe(2);
    expectTensors(resumed, t[1]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CheckpointError);
    expect(errors[0]).toMatchObject({ code: 'E_CORRUPT', model: 'm', seq: 3, file: bad });
    expect(tkptFiles(modelDir)).not.toContain(bad);
    expect(quarantined(modelDir).some((f) => f.startsWith(bad))).toBe(true);
    expect(seqs(m.list())).toEqual([1, 2]);
  });

  it("load('latest') falls back likewise; load(seq) of the corrupt one rejects E_CORRUPT", async () => {
    const { m, t, infos, errors, modelDir } = await threeSaves();
    flipByte(infos[2].path, 64 + 10);
    flipByte(infos[0].path, 64 + 10);
    const latest = await m.load('latest');
    expect(latest.info.seq).toBe(2);
    expectTensors(latest, t[1]);
    expect(errors.map((e) => e.file)).toEqual([basename(infos[2].path)]);
    await expectRejectsCode(m.load(1), 'E_CORRUPT');
    expect(errors.map((e) => e.file)).toEqual([basename(infos[2].path), basename(infos[0].path)]);
    expect(quarantined(modelDir)).toHaveLength(2);
    expect(seqs(m.list())).toEqual([2]);
    await expectRejectsCode(m.load(1), 'E_NOT_FOUND');
  });

  it('a file deleted behind the store is E_NOT_FOUND for load(seq) and skipped by resume()', async () => {
    const { m, t, infos } = await threeSaves();
    rmSync(infos[2].path);
    expectTensors(await m.resume(), t[1]);
    rmSync(infos[1].path);
    await expectRejectsCode(m.load(2), 'E_NOT_FOUND');
    expect(seqs(m.list())).toEqual([1]);
  });
});

describe('failed saves', () => {
  it('reject only their durable, emit error, and the next report works', async () => {
    const logger = collectingLogger();
    const { store, dir } = await fresh({ always: true, logger });
    const errors = record(store, 'error');
    const m = store.model('m');
    await m.report({ step: 0, tensors: tensorsFor(0) }).durable;

    native.setFaultPlan('op=rename,fail_at=1,sticky,errno=EIO');
    const failed = m.report({ step: 1, tensors: tensorsFor(1) });
    expect(failed.saved).toBe(true);
    const err = await expectRejectsCode(failed.durable, 'E_IO');
    expect(errors).toEqual([err]);
    expect(errors[0]).toMatchObject({ model: 'm', seq: failed.seq });
    expect(logger.find('error', 'save failed')[0].bindings).toMatchObject({ model: 'm', seq: failed.seq, step: 1 });
    native.clearFaultPlan();

    const next = m.report({ step: 2, tensors: tensorsFor(2) });
    expect(await next.durable).toMatchObject({ step: 2 });
    await settle(store);
    expect(m.list().map((c) => c.step)).toEqual([0, 2]);
    expectFilesMatchList(join(dir, 'm'), m);
    expect(readdirSync(join(dir, 'm', '.tmp'))).toEqual([]);
    expect(m.stats()).toMatchObject({ saves: 2, failures: 1 });
  });

  it('emit exactly one alert after alertAfter consecutive failures, re-armed by a successful save', async () => {
    const { store } = await fresh({ always: true });
    record(store, 'error');
    const alerts = record(store, 'alert');
    const m = store.model('m');
    let step = 0;
    const failBurst = async (n: number) => {
      native.setFaultPlan('op=rename,fail_at=1,sticky,errno=EIO');
      for (let i = 0; i < n; i++) await expectRejectsCode(m.report({ step: step++, tensors: tensorsFor(step) }).durable, 'E_IO');
      native.clearFaultPlan();
    };
    await failBurst(2);
    expect(alerts).toHaveLength(0);
    await failBurst(4); // 6 consecutive failures
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ model: 'm', failures: 3 });
    await m.report({ step: step++, tensors: tensorsFor(0) }).durable;
    await failBurst(2);
    expect(alerts).toHaveLength(1);
    await failBurst(1);
    expect(alerts).toHaveLength(2);
  });

  it('honours a custom alertAfter', async () => {
    const { store } = await fresh({ always: true, alertAfter: 1 });
    record(store, 'error');
    const alerts = record(store, 'alert');
    const m = store.model('m');
    native.setFaultPlan('op=rename,fail_at=1,sticky,errno=EIO');
    await expectRejectsCode(m.report({ step: 0, tensors: tensorsFor(0) }).durable, 'E_IO');
    expect(alerts).toHaveLength(1);
  });

  it('a durable that nobody awaits causes no unhandled rejection (and no error listener is needed)', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const { store } = await fresh({ always: true });
      const m = store.model('m');
      native.setFaultPlan('op=rename,fail_at=1,sticky,errno=EIO');
      m.report({ step: 0, tensors: tensorsFor(0) });
      await store.flush();
      m.report({ step: 1, tensors: tensorsFor(1) });
      await store.flush();
      native.clearFaultPlan();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(m.stats().failures).toBe(2);
    } finally {
      process.off('unhandledRejection', unhandled);
    }
    expect(unhandled).not.toHaveBeenCalled();
  });
});

describe('a full disk (E_NOSPACE)', () => {
  const options = { ...LOSS, every: { steps: 10 }, improvement: { minRelative: 0 }, keep: { periodic: 10 } };

  it('evicts periodic checkpoints and retries the save once', async () => {
    const logger = collectingLogger();
    const { store, dir } = await fresh({ ...options, logger });
    const evicted = record(store, 'evicted');
    const m = store.model('m');
    await put(m, { step: 0, metrics: { loss: 1 }, tensors: tensorsFor(0) });
    for (const step of [10, 20, 30]) await put(m, { step, metrics: { loss: 5 }, tensors: tensorsFor(step) });
    await settle(store);
    expect(seqs(m.list())).toEqual([1, 2, 3, 4]);

    native.setFaultPlan('op=pwrite,fail_at=1,errno=ENOSPC');
    const ticket = m.report({ step: 40, metrics: { loss: 5 }, tensors: tensorsFor(40) });
    expect(await ticket.durable).toMatchObject({ seq: 5, step: 40 });
    await settle(store);
    // The oldest periodic made room; the best (seq 1) stays.
    expect(evicted.map((e) => e.seq)).toEqual([2]);
    expect(evicted[0].reason).toMatch(/disk full/);
    expect(seqs(m.list())).toEqual([1, 3, 4, 5]);
    expectFilesMatchList(join(dir, 'm'), m);
    expect(logger.find('warn', 'disk full')).toHaveLength(1);
  });

  it('rejects E_NOSPACE when nothing can be evicted', async () => {
    const { store, dir } = await fresh(options);
    record(store, 'error');
    const evicted = record(store, 'evicted');
    const m = store.model('m');
    await m.report({ step: 0, metrics: { loss: 1 }, tensors: tensorsFor(0) }).durable;
    native.setFaultPlan('op=pwrite,fail_at=1,errno=ENOSPC');
    await expectRejectsCode(m.report({ step: 10, metrics: { loss: 5 }, tensors: tensorsFor(1) }).durable, 'E_NOSPACE');
    expect(evicted).toEqual([]);
    expect(seqs(m.list())).toEqual([1]);
    expectFilesMatchList(join(dir, 'm'), m);
  });
});

describe('degradation', () => {
  it("fires 'degraded' after `patience` worse reports and hands the best checkpoint to onRevert", async () => {
    let reverted!: (value: [string, LoadedCheckpoint]) => void;
    const revertedTo = new Promise<[string, LoadedCheckpoint]>((resolve) => (reverted = resolve));
    const { store } = await fresh({
      ...LOSS, every: { steps: null }, improvement: { minRelative: 0 },
      degradation: { minRelative: 0.1, patience: 3, revert: true, onRevert: (model, best) => reverted([model, best]) },
    });
    const degraded = record(store, 'degraded');
    const m = store.model('m');
    const bestTensors = tensorsFor(2);
    await put(m, { step: 0, metrics: { loss: 1 }, tensors: tensorsFor(1) });
    await put(m, { step: 1, metrics: { loss: 0.5 }, tensors: bestTensors });
    m.report({ step: 2, metrics: { loss: 0.6 } });
    m.report({ step: 3, metrics: { loss: 0.54 } }); // within 10 %: resets the streak
    m.report({ step: 4, metrics: { loss: 0.6 } });
    m.report({ step: 5, metrics: { loss: 0.6 } });
    expect(degraded).toHaveLength(0);
    m.report({ step: 6, metrics: { loss: 0.6 } });
    expect(degraded).toEqual([{ model: 'm', step: 6, metric: 'loss', value: 0.6, best: 0.5 }]);
    const [model, best] = await within(revertedTo, 2000, 'onRevert');
    expect(model).toBe('m');
    expect(best.info.seq).toBe(2);
    expectTensors(best, bestTensors);
    m.report({ step: 7, metrics: { loss: 0.6 } });
    expect(degraded).toHaveLength(1);
  });
});

describe('degradation while the best save is in flight', () => {
  it('still hands the best checkpoint to onRevert', async () => {
    let reverted!: (best: LoadedCheckpoint) => void;
    const revertedTo = new Promise<LoadedCheckpoint>((resolve) => (reverted = resolve));
    const { store } = await fresh({
      ...LOSS, every: { steps: null },
      degradation: { minRelative: 0.1, patience: 2, revert: true, onRevert: (_model, best) => reverted(best) },
    });
    const degraded = record(store, 'degraded');
    const m = store.model('m');
    const bestTensors = tensorsFor(5);
    // One synchronous burst, as a fast training loop reports: the best save
    // has not reached the disk when the streak runs out.
    m.report({ step: 0, metrics: { loss: 1 }, tensors: bestTensors });
    m.report({ step: 1, metrics: { loss: 2 } });
    m.report({ step: 2, metrics: { loss: 2 } });
    expect(degraded).toHaveLength(1);
    const best = await within(revertedTo, 2000, 'onRevert');
    expectTensors(best, bestTensors);
  });
});

describe('saves faster than the disk', () => {
  it('a save waiting behind the running one absorbs the newer one: both tickets resolve to one checkpoint with the newest tensors', async () => {
    const { store } = await fresh({ always: true });
    const m = store.model('m');
    const running = m.report({ step: 0, tensors: tensorsFor(0) });
    const waiting = m.report({ step: 1, tensors: tensorsFor(1) });
    const newer = m.report({ step: 2, tensors: tensorsFor(2) });
    expect(waiting.seq).not.toBe(running.seq);
    expect(newer.seq).toBe(waiting.seq);
    const [, infoW, infoN] = await Promise.all([running.durable, waiting.durable, newer.durable]);
    expect(infoW).toEqual(infoN);
    expect(infoN).toMatchObject({ step: 2 });
    expect(m.list().map((c) => c.step)).toEqual([0, 2]);
    expectTensors(await m.load('latest'), tensorsFor(2));
  });

  it('never loses the best checkpoint: a worse periodic save does not replace a waiting best one', async () => {
    const { store } = await fresh({ ...LOSS, every: { steps: 10 }, improvement: { minRelative: 0 } });
    const m = store.model('m');
    m.report({ step: 0, metrics: { loss: 2 }, tensors: tensorsFor(0) }); // running
    const bestTensors = tensorsFor(1);
    m.report({ step: 5, metrics: { loss: 1 }, tensors: bestTensors }); // improved, waiting
    m.report({ step: 15, metrics: { loss: 3 }, tensors: tensorsFor(2) }); // steps, and worse
    await settle(store);
    // The tracker now holds loss 1 as the best: a checkpoint must hold it too,
    // or no later report (worse than 1) will ever save those weights again.
    expect(m.stats().best.loss).toMatchObject({ value: 1, step: 5 });
    expect(m.best()).toMatchObject({ step: 5, metrics: { loss: 1 } });
    expectTensors(await m.load('best'), bestTensors);
    // And no checkpoint is labelled an improvement that it is not.
    for (const c of m.list().filter((c) => c.category === 'best')) expect(c.metrics.loss).toBeLessThanOrEqual(2);
  });
});

describe('saves faster than the disk: the step clock', () => {
  it('a periodic save that never reached the disk does not reset the step clock', async () => {
    const { store } = await fresh({ ...LOSS, every: { steps: 10 }, improvement: { minRelative: 0 } });
    const m = store.model('m');
    m.report({ step: 0, metrics: { loss: 5 }, tensors: tensorsFor(0) }); // running
    m.report({ step: 1, metrics: { loss: 4 }, tensors: tensorsFor(1) }); // improved, waiting
    m.report({ step: 11, metrics: { loss: 6 }, tensors: tensorsFor(11) }); // steps: behind a waiting best
    await settle(store);
    m.report({ step: 12, metrics: { loss: 6 }, tensors: tensorsFor(12) });
    await settle(store);
    // every.steps 10 promises that no more than 10 steps of progress are lost.
    expect(12 - m.latest()!.step).toBeLessThan(10);
  });
});

describe('presets', () => {
  it.each([
    ['conservative', 20, 50, 0.001],
    ['balanced', 10, 100, 0.005],
    ['aggressive', 5, 200, 0.01],
  ] as const)('%s: keep.best %i, every.steps %i, minRelative %f', async (preset, keepBest, everySteps, minRelative) => {
    const { store } = await fresh({ preset });
    const m = store.model('m');
    expect(m.settings.retention.keepBest).toBe(keepBest);
    expect(m.settings.policy.every.steps).toBe(everySteps);
    expect(m.settings.policy.improvement.minRelative).toBe(minRelative);
    // The step clock, end to end.
    expect(m.report({ step: 0, tensors: tensorsFor(0) }).saved).toBe(false);
    expect(m.report({ step: everySteps - 1, tensors: tensorsFor(0) }).saved).toBe(false);
    expect(m.report({ step: everySteps, tensors: tensorsFor(0) }).reasons).toEqual(['steps']);
  });

  it('balanced is the default, explicit options override a preset, and a model may pick its own preset', async () => {
    const { store } = await fresh({ preset: 'conservative', keep: { best: 3 } });
    expect(store.model('a').settings.retention.keepBest).toBe(3);
    expect(store.model('a').settings.policy.every.steps).toBe(50);
    expect(store.model('b', { preset: 'aggressive' }).settings.policy.every.steps).toBe(200);
    const { store: plain } = await fresh();
    expect(plain.model('m').settings.policy.every.steps).toBe(100);
    expect(plain.model('m').settings.retention.keepBest).toBe(10);
  });

  it('a preset threshold decides end to end (aggressive: 1 % relative improvement)', async () => {
    const { store } = await fresh({ preset: 'aggressive', ...LOSS });
    const m = store.model('m');
    expect(m.report({ step: 0, metrics: { loss: 1 }, tensors: tensorsFor(0) }).saved).toBe(true);
    expect(m.report({ step: 1, metrics: { loss: 0.995 }, tensors: tensorsFor(0) }).saved).toBe(false);
    expect(m.report({ step: 2, metrics: { loss: 0.98 }, tensors: tensorsFor(0) }).saved).toBe(true);
  });
});

describe('logging', () => {
  it('logs every save and eviction with what happened, and a summary of each model at open', async () => {
    const logger = collectingLogger();
    const options = { ...LOSS, every: { steps: 10 }, improvement: { minRelative: 0 }, keep: { periodic: 1 }, logger };
    const { store, dir } = await fresh(options);
    const m = store.model('m');
    await put(m, { step: 0, metrics: { loss: 1 }, tensors: tensorsFor(0) });
    await put(m, { step: 10, metrics: { loss: 2 }, tensors: tensorsFor(1) });
    await put(m, { step: 20, metrics: { loss: 2 }, tensors: tensorsFor(2) });
    await settle(store);

    const saves = logger.find('info', 'saved');
    expect(saves).toHaveLength(3);
    expect(saves[1].bindings).toMatchObject({ model: 'm', seq: 2, step: 10, reasons: ['steps'], metrics: { loss: 2 } });
    for (const line of saves) {
      expect(line.bindings.bytes).toBeGreaterThan(0);
      expect(line.bindings.durationMs).toBeGreaterThanOrEqual(0);
    }
    const evictions = logger.find('info', 'evicted');
    expect(evictions).toHaveLength(1);
    expect(evictions[0].bindings).toMatchObject({ model: 'm', seq: 2, file: '00000002-s10.tkpt', reason: 'periodic-window' });
    expect(evictions[0].bindings.bytes).toBeGreaterThan(0);
    await store.close();

    const logger2 = collectingLogger();
    const store2 = await reopen(dir, { ...options, logger: logger2 });
    store2.model('m');
    store2.model('fresh');
    const summaries = logger2.find('info', 'opened');
    expect(summaries.map((l) => l.bindings.model)).toEqual(['m', 'fresh']);
    expect(summaries[0].bindings).toMatchObject({ model: 'm', checkpoints: 2, latest: 3, best: { loss: { value: 1, step: 0 } } });
    expect(typeof (summaries[0].bindings.best as any).loss.at).toBe('string');
    expect(summaries[1].bindings).toMatchObject({ checkpoints: 0, best: {} });
  });
});

describe('stats()', () => {
  it('reports counts by category, bytes vs quota, best values, last save age and counters', async () => {
    const quotaBytes = 1e6;
    const { store, dir } = await fresh({ ...LOSS, every: { steps: 10 }, keep: { periodic: 1 }, quotaBytes });
    record(store, 'error');
    const m = store.model('m');
    expect(store.stats()).toEqual({ m: expect.objectContaining({ saves: 0, lastSaveAgeMs: null, bytesOnDisk: 0 }) });
    await put(m, { step: 0, metrics: { loss: 1 }, tensors: tensorsFor(0) });
    await put(m, { step: 5, metrics: { loss: 3 }, tensors: tensorsFor(0) }); // skip
    await put(m, { step: 10, metrics: { loss: 3 }, tensors: tensorsFor(1) }); // periodic
    await put(m, { step: 20, metrics: { loss: 3 }, tensors: tensorsFor(2) }); // periodic, evicts the previous one
    await m.save(tensorsFor(3), { step: 21, metrics: { loss: 3 } }); // manual, resets the step clock
    native.setFaultPlan('op=rename,fail_at=1,errno=EIO');
    await expectRejectsCode(m.report({ step: 31, metrics: { loss: 3 }, tensors: tensorsFor(4) }).durable, 'E_IO');
    native.clearFaultPlan();
    await settle(store);

    const stats = store.stats().m;
    expect(stats.checkpoints).toEqual({ best: 1, periodic: 1, final: 0, manual: 1 });
    const onDisk = tkptFiles(join(dir, 'm')).reduce((s, f) => s + statSync(join(dir, 'm', f)).size, 0);
    expect(stats.bytesOnDisk).toBe(onDisk);
    expect(stats.quotaBytes).toBe(quotaBytes);
    expect(stats.best.loss).toMatchObject({ value: 1, step: 0 });
    expect(stats.lastSaveAgeMs).toBeGreaterThanOrEqual(0);
    expect(stats.lastSaveAgeMs).toBeLessThan(10_000);
    expect(stats).toMatchObject({ saves: 4, skips: 1, failures: 1, queueDepth: 0 });
  });
});

describe('close()', () => {
  it("writes a 'final' checkpoint from attach() that the next resume() returns; close is idempotent", async () => {
    const { store, dir } = await fresh({ ...LOSS, every: { steps: null } });
    const m = store.model('m');
    const last = tensorsFor(9, 2000);
    await put(m, { step: 0, metrics: { loss: 1 }, tensors: tensorsFor(0) });
    m.report({ step: 25, metrics: { loss: 2 } }); // skipped, but the step is the model's progress
    m.attach(() => last);
    await store.close();
    await store.close();
    expect(tkptFiles(join(dir, 'm'))).toEqual(['00000001-s0.tkpt', '00000002-s25.tkpt']);

    const m2 = (await reopen(dir)).model('m');
    const resumed = await m2.resume();
    expect(resumed).toMatchObject({ step: 25, info: { seq: 2, category: 'final', reasons: ['final'] } });
    expectTensors(resumed, last);
  });

  it('the final save carries the meta that attach() provides, as of close()', async () => {
    const { store, dir } = await fresh({ every: { steps: null } });
    const m = store.model('m');
    let cursor = 0;
    expectThrowsCode(() => m.attach(() => tensorsFor(1), { cursor } as never), 'E_BAD_INPUT', 'meta');
    m.attach(() => tensorsFor(1), () => ({ cursor }));
    m.report({ step: 3 });
    cursor = 42;
    await store.close();
    const resumed = await (await reopen(dir)).model('m').resume();
    expect(resumed).toMatchObject({ step: 3, meta: { cursor: 42 }, info: { category: 'final' } });
  });

  it('waits for saves in flight and releases the lock for the next opener', async () => {
    const { store, dir } = await fresh({ always: true });
    const m = store.model('m');
    await put(m, { step: 0, tensors: tensorsFor(0) });
    const inFlight = m.report({ step: 1, tensors: tensorsFor(1) });
    await store.close();
    expect(await inFlight.durable).toMatchObject({ seq: 2, step: 1 });
    const again = (await reopen(dir)).model('m');
    expect(seqs(again.list())).toEqual([1, 2]);
  });
});
