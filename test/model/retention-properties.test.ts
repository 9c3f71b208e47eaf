// Property tests of retention through the whole store: random
// sequences of reports (NaN losses included), pins, quotas and restarts.
// After every step:
//   - the newest durable checkpoint and the single best are listed;
//   - list() never shows a checkpoint an 'evicted' event announced;
//   - pinned checkpoints are never evicted;
//   - the kept bytes are within quotaBytes unless only protected ones remain;
//   - the directory holds exactly the files of list();
//   - after a reopen, list() equals the list before the close.
// The pure retention plan has its own properties in retention.test.ts.
import { mkdtempSync } from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { open, type CheckpointInfo, type CheckpointManager, type ModelCheckpoints, type StoreOptions } from '../../src/index.js';
import { tempDir } from '../helpers.js';
import { settle, silentLogger, tensorsFor, tkptFiles } from '../fixtures/store.js';
import { onEvent } from '../fixtures/events.js';

const root = tempDir();
// TK_PROPERTY_RUNS=400 for a longer hunt; 40 keeps the file at a few seconds.
const RUNS = Number(process.env.TK_PROPERTY_RUNS ?? 40);
const opened: CheckpointManager[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

type Report = { step: number; loss: number; force: boolean };
type Action =
  | { t: 'report'; r: Report }
  /** Reports in one synchronous run, as a training loop faster than the disk makes them. */
  | { t: 'burst'; rs: Report[] }
  | { t: 'pin'; pick: number }
  | { t: 'reopen'; quota: number | null };

// Losses from a small set (ties happen), sometimes NaN; steps advance by 0-12.
const reportArb = fc.record({
  step: fc.integer({ min: 0, max: 12 }),
  loss: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 12 }).map((n) => n / 4) }, { weight: 1, arbitrary: fc.constant(NaN) }),
  force: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});
// Quotas in units of about one checkpoint file.
const quotaArb = fc.constantFrom(null, 1.5, 2.5, 4, 8);

function actionArb(withBursts: boolean): fc.Arbitrary<Action> {
  const arbs: Array<fc.WeightedArbitrary<Action>> = [
    { weight: 10, arbitrary: reportArb.map((r) => ({ t: 'report' as const, r })) },
    { weight: 2, arbitrary: fc.nat(20).map((pick) => ({ t: 'pin' as const, pick })) },
    { weight: 2, arbitrary: quotaArb.map((quota) => ({ t: 'reopen' as const, quota })) },
  ];
  if (withBursts) arbs.push({ weight: 4, arbitrary: fc.array(reportArb, { minLength: 2, maxLength: 4 }).map((rs) => ({ t: 'burst' as const, rs })) });
  return fc.oneof(...arbs);
}

const EVERY_STEPS = 8;

// Quotas are in units of one checkpoint file of tensorsFor() (about 1.2 KB).
let unit = 0;
beforeAll(async () => {
  const store = await open(mkdtempSync(join(root, 'unit')), { always: true, logger: silentLogger });
  const info = await store.model('m').report({ step: 0, metrics: { loss: 1 }, tensors: tensorsFor(0) }).durable;
  unit = info!.bytes;
  await store.close();
});

const finite = (c: { metrics: Record<string, number> }) => Number.isFinite(c.metrics.loss);

class Run {
  store!: CheckpointManager;
  m!: ModelCheckpoints;
  readonly dir = mkdtempSync(join(root, 'p'));
  step = 0;
  /** Reports since the store was created. */
  reported = 0;
  quota: number | null;
  savedSinceOpen = false;
  readonly evicted = new Set<number>();
  readonly pinned = new Set<number>();
  /** Every checkpoint that became durable, by seq. */
  readonly durable = new Map<number, CheckpointInfo>();

  constructor(quota: number | null) {
    this.quota = quota;
  }

  options(): StoreOptions {
    return {
      monitor: { loss: 'min' }, every: { steps: EVERY_STEPS }, improvement: { minRelative: 0 }, keep: { best: 2, periodic: 1 },
      quotaBytes: this.quota === null ? null : Math.floor(this.quota * unit), logger: silentLogger,
    };
  }

  async open(): Promise<void> {
    this.store = await open(this.dir, this.options());
    opened.push(this.store);
    onEvent(this.store, 'evicted', (e: { seq: number }) => this.evicted.add(e.seq));
    this.m = this.store.model('m');
    this.savedSinceOpen = false;
  }

  async close(): Promise<void> {
    await this.store.close();
    opened.splice(opened.indexOf(this.store), 1);
  }

  report(r: Report): Promise<CheckpointInfo | null> | null {
    this.step += r.step;
    this.reported++;
    const ticket = this.m.report({ step: this.step, metrics: { loss: r.loss }, tensors: tensorsFor(this.step % 64), force: r.force });
    if (!ticket.saved) return null;
    return ticket.durable.then((info) => {
      this.durable.set(info!.seq!, info!);
      this.savedSinceOpen = true;
      return info;
    });
  }

  async apply(a: Action): Promise<void> {
    switch (a.t) {
      case 'report':
        await this.report(a.r);
        break;
      case 'burst':
        await Promise.all(a.rs.map((r) => this.report(r)));
        break;
      case 'pin': {
        const list = this.m.list();
        if (list.length === 0) return;
        const seq = list[a.pick % list.length].seq!;
        this.m.pin(seq);
        this.pinned.add(seq);
        break;
      }
      case 'reopen': {
        // close() may still evict (it runs the retention of the last save):
        // what the closed model lists is what the reopened one must list.
        await this.close();
        const before = this.m.list();
        const bestBefore = this.m.stats().best;
        this.quota = a.quota;
        await this.open();
        expect(this.m.list(), 'list() after reopen').toEqual(before);
        expect(this.m.stats().best, 'best values after reopen').toEqual(bestBefore);
        break;
      }
    }
    await settle(this.store);
  }

  check(): void {
    const list = this.m.list();
    const seqs = list.map((c) => c.seq!);
    const ctx = `list ${JSON.stringify(list.map((c) => [c.seq, c.category, c.metrics.loss, c.bytes]))}`;

    // Nothing evicted is listed, and every listed checkpoint was durable at some point.
    for (const s of seqs) {
      expect(this.evicted.has(s), `evicted seq ${s} listed; ${ctx}`).toBe(false);
      expect(this.durable.has(s), `seq ${s} never became durable; ${ctx}`).toBe(true);
    }
    // The directory holds exactly the listed files.
    expect(tkptFiles(join(this.dir, 'm')), ctx).toEqual(list.map((c) => basename(c.path)).sort());
    if (this.durable.size === 0) return;

    // The newest durable checkpoint is kept.
    const newest = Math.max(...this.durable.keys());
    expect(seqs, `newest ${newest} evicted; ${ctx}`).toContain(newest);
    // The single best is kept: no listed loss is worse than the best loss ever saved durably.
    const bestEver = Math.min(...[...this.durable.values()].filter(finite).map((c) => c.metrics.loss));
    if (Number.isFinite(bestEver)) {
      expect(Math.min(...list.filter(finite).map((c) => c.metrics.loss)), `best loss ${bestEver} evicted; ${ctx}`).toBe(bestEver);
    }
    // every.steps bounds the progress that is not on disk once the disk has caught up.
    if (list.length > 0 && this.reported > 0) {
      const newestStep = Math.max(...list.map((c) => c.step));
      expect(this.step - newestStep, `step ${this.step}, newest checkpoint at step ${newestStep}; ${ctx}`).toBeLessThan(EVERY_STEPS);
    }
    // Pinned checkpoints stay.
    for (const p of this.pinned) expect(seqs, `pinned ${p} evicted; ${ctx}`).toContain(p);
    // Within quota, unless only protected checkpoints remain (retention runs after each save).
    const quotaBytes = this.options().quotaBytes;
    if (quotaBytes != null && this.savedSinceOpen) {
      const used = list.reduce((sum, c) => sum + c.bytes, 0);
      const best = this.m.best()?.seq;
      const isProtected = (c: CheckpointInfo) => c.seq === newest || c.seq === best || this.pinned.has(c.seq!);
      if (used > quotaBytes) expect(list.every(isProtected), `over quota ${used} > ${quotaBytes} with unprotected; ${ctx}`).toBe(true);
    }
  }

  /** The best value the model persists is held by a listed checkpoint with that loss. */
  checkBestHeld(): void {
    const best = this.m.stats().best.loss;
    if (!best) return;
    const held = this.m.list().filter((c) => c.metrics.loss === best.value);
    expect(held.length, `tracker best ${best.value} (step ${best.step}) held by no checkpoint; list ${JSON.stringify(
      this.m.list().map((c) => [c.seq, c.step, c.category, c.metrics.loss]))}`).toBeGreaterThan(0);
    expect(this.m.best()!.metrics.loss).toBe(best.value);
  }
}

async function runActions(quota: number | null, actions: Action[], checkBest: boolean): Promise<void> {
  const run = new Run(quota);
  await run.open();
  try {
    for (const a of actions) {
      await run.apply(a);
      run.check();
      if (checkBest) run.checkBestHeld();
    }
  } finally {
    await run.close();
  }
}

describe('retention through the store, over random histories', () => {
  it('keeps the newest, the single best and pinned ones; respects the quota; evicted means gone; survives reopens', async () => {
    await fc.assert(
      fc.asyncProperty(quotaArb, fc.array(actionArb(false), { minLength: 6, maxLength: 24 }), async (quota, actions) => {
        await runActions(quota, actions, true);
      }),
      { numRuns: RUNS },
    );
  });

  it('the same, with saves coming faster than the disk (bursts of reports, a waiting save absorbing newer ones)', async () => {
    await fc.assert(
      fc.asyncProperty(quotaArb, fc.array(actionArb(true), { minLength: 6, maxLength: 20 }), async (quota, actions) => {
        await runActions(quota, actions, false);
      }),
      { numRuns: RUNS },
    );
  });

  it('with bursts too, the best value the model persists is held by a listed checkpoint', async () => {
    await fc.assert(
      fc.asyncProperty(quotaArb, fc.array(actionArb(true), { minLength: 6, maxLength: 20 }), async (quota, actions) => {
        await runActions(quota, actions, true);
      }),
      { numRuns: RUNS },
    );
  });
});
