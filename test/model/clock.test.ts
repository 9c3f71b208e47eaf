// Time-based saves against the wall clock: every.minutes counts real time
// (the monotonic clock) within a process, so the wall clock jumping either
// way neither fires nor stops saves; a last save dated in the future at open
// (the clock set back, a store moved between machines) counts from then.
// vi.setSystemTime moves only the wall clock; vi.advanceTimersByTime is
// time passing (both clocks). Only Date and performance are faked: the
// store's timers and workers run as usual.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { open, type CheckpointManager, type ModelCheckpoints, type ReportInput, type StoreOptions } from '../../src/index.js';
import { tempDir } from '../helpers.js';
import { collectingLogger, silentLogger, tensorsFor } from '../fixtures/store.js';

const root = tempDir();
const opened: CheckpointManager[] = [];
const MINUTE = 60_000;
const YEAR = 365 * 86_400_000;
const t0 = Date.parse('2026-01-01T00:00:00Z');
const options: StoreOptions = { every: { steps: null, minutes: 5 } };

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  vi.useRealTimers();
});

async function openAt(dir: string, logger = silentLogger): Promise<CheckpointManager> {
  const store = await open(dir, { logger, ...options });
  opened.push(store);
  return store;
}

/** A model whose time-based clock has started (it starts at the first report). */
function started(store: CheckpointManager): ModelCheckpoints {
  const m = store.model('m');
  expect(m.report({ step: 0, tensors: tensorsFor(0) }).saved).toBe(false);
  return m;
}

async function put(m: ModelCheckpoints, input: ReportInput) {
  const ticket = m.report(input);
  return { saved: ticket.saved, reasons: ticket.reasons, info: await ticket.durable };
}

const minutes = (n: number) => vi.advanceTimersByTime(n * MINUTE);
const wallClockTo = (time: number) => vi.setSystemTime(time);

function fakeClocks(): string {
  vi.useFakeTimers({ toFake: ['Date', 'performance'] });
  wallClockTo(t0);
  return mkdtempSync(join(root, 's'));
}

describe('every.minutes', () => {
  it('saves once the minutes have passed since the last save, by the time persisted across a reopen', async () => {
    const dir = fakeClocks();
    const store = await openAt(dir);
    const m = store.model('m');
    expect(m.report({ step: 0, tensors: tensorsFor(0) }).saved).toBe(false); // the clock starts at the open
    minutes(4.99);
    expect(m.report({ step: 1, tensors: tensorsFor(1) }).saved).toBe(false);
    minutes(0.01);
    const second = await put(m, { step: 2, tensors: tensorsFor(2) });
    expect(second).toMatchObject({ saved: true, reasons: ['minutes'] });
    expect(second.info).toMatchObject({ step: 2, reasons: ['minutes'], category: 'periodic' });
    await store.close();

    // The last save's time is persisted: the reopened store counts from minute 5.
    minutes(4.99);
    const m2 = (await openAt(dir)).model('m');
    expect(m2.report({ step: 3, tensors: tensorsFor(3) }).saved).toBe(false);
    minutes(0.01);
    expect(await put(m2, { step: 4, tensors: tensorsFor(4) })).toMatchObject({ saved: true, reasons: ['minutes'] });
    expect(m2.list().map((c) => [c.step, c.reasons])).toEqual([[2, ['minutes']], [4, ['minutes']]]);
  });

  it('a wall clock jumping a year forward fires no save; time that really passes does', async () => {
    const m = started(await openAt(fakeClocks()));
    wallClockTo(t0 + YEAR);
    expect(m.report({ step: 1, tensors: tensorsFor(1) }).saved).toBe(false);
    minutes(5);
    expect(await put(m, { step: 2, tensors: tensorsFor(2) })).toMatchObject({ saved: true, reasons: ['minutes'] });
    expect(m.report({ step: 3, tensors: tensorsFor(3) }).saved).toBe(false);
  });

  it('a wall clock set back a year after a save does not stop the next one', async () => {
    const m = started(await openAt(fakeClocks()));
    minutes(5);
    expect(await put(m, { step: 1, tensors: tensorsFor(1) })).toMatchObject({ saved: true, reasons: ['minutes'] });
    wallClockTo(Date.now() - YEAR);
    minutes(4.99);
    expect(m.report({ step: 2, tensors: tensorsFor(2) }).saved).toBe(false);
    minutes(0.01);
    expect(await put(m, { step: 3, tensors: tensorsFor(3) })).toMatchObject({ saved: true, reasons: ['minutes'] });
  });

  it('a last save dated a year ahead at open counts from the open, with a warning; the stats show no negative age', async () => {
    const dir = fakeClocks();
    wallClockTo(t0 + YEAR); // the run that saved had its clock a year ahead
    const store = await openAt(dir);
    const m = started(store);
    minutes(5);
    expect(await put(m, { step: 1, tensors: tensorsFor(1) })).toMatchObject({ saved: true, reasons: ['minutes'] });
    await store.close();

    wallClockTo(t0); // the next run's clock is right
    const logger = collectingLogger();
    const m2 = (await openAt(dir, logger)).model('m');
    const [warning] = logger.find('warn', 'dated in the future');
    expect(warning.bindings).toMatchObject({ model: 'm' });
    expect(warning.bindings.aheadMs).toBeGreaterThan(YEAR);
    expect(m2.stats().lastSaveAgeMs).toBe(0);
    minutes(4.99);
    expect(m2.report({ step: 2, tensors: tensorsFor(2) }).saved).toBe(false);
    minutes(0.01);
    expect(await put(m2, { step: 3, tensors: tensorsFor(3) })).toMatchObject({ saved: true, reasons: ['minutes'] });
    expect(m2.stats().lastSaveAgeMs).toBe(0);
  });

  it('a read-only view leaves the persisted time alone and logs nothing', async () => {
    const dir = fakeClocks();
    wallClockTo(t0 + YEAR);
    const m = started(await openAt(dir));
    minutes(5);
    await put(m, { step: 1, tensors: tensorsFor(1) });
    wallClockTo(t0);
    const logger = collectingLogger();
    const reader = await open(dir, { logger, readOnly: true });
    opened.push(reader);
    expect(reader.model('m').stats().lastSaveAgeMs).toBe(0);
    expect(logger.find('warn', 'dated in the future')).toEqual([]);
  });
});
