// The persisted best value of a metric is always one that a listed
// checkpoint holds: otherwise, after a restart, an equally good model could
// never be saved as best again (found by the kill harness).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { open, verifyStore, writeCheckpoint, type CheckpointManager } from '../../src/index.js';
import { native } from '../../src/native.js';
import { tempDir } from '../helpers.js';

const OPTIONS = { monitor: { loss: 'min' as const }, improvement: { minRelative: 0 }, every: { steps: null } };
const tensors = { w: new Float32Array([1, 2, 3]) };
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OPEN_AND_DIE = fileURLToPath(new URL('../fixtures/open-and-die.ts', import.meta.url));

afterEach(() => native.clearFaultPlan());

/**
 * A store whose model m has checkpoint 1 (loss 0.5) journaled and checkpoint
 * 2 (loss 0.2, best) written but never journaled: what a kill between the
 * rename and the journal append leaves. `more` runs before the close.
 */
async function withUnjournaledBest(dir: string, more: (m: ReturnType<CheckpointManager['model']>) => void = () => {}): Promise<void> {
  const store = await open(dir, OPTIONS);
  const m = store.model('m');
  await m.report({ step: 1, metrics: { loss: 0.5 }, tensors }).durable;
  more(m);
  await store.close();
  await writeCheckpoint(join(dir, 'm', '00000002-s2.tkpt'), tensors, {
    model: 'm', seq: 2, step: 2, metrics: { loss: 0.2 }, category: 'best', reasons: ['improved'],
  });
}

describe('best values', () => {
  const root = tempDir();

  it('a best save that fails gives its best value back', async () => {
    const dir = join(root, 'failed');
    const store = await open(dir, OPTIONS);
    const m = store.model('m');
    await m.report({ step: 1, metrics: { loss: 0.5 }, tensors }).durable;
    native.setFaultPlan('op=rename,fail_at=1,errno=EIO');
    await expect(m.report({ step: 2, metrics: { loss: 0.3 }, tensors }).durable).rejects.toMatchObject({ code: 'E_IO' });
    native.clearFaultPlan();
    expect(m.stats().best.loss).toMatchObject({ value: 0.5, step: 1 });
    // The state the failed save held is reached again: it is still an improvement.
    const again = m.report({ step: 3, metrics: { loss: 0.3 }, tensors });
    expect(again.category).toBe('best');
    await again.durable;
    await store.close();
  });

  it('a commit persists the best of its own report, not of a later one still queued', async () => {
    const dir = join(root, 'queued');
    // One worker: the saves run one after the other, so the second rename is the second save's.
    const store = await open(dir, { ...OPTIONS, workers: 1 });
    const m = store.model('m');
    // Armed before either save starts (armed after the first, it could miss a second already running).
    native.setFaultPlan('op=rename,fail_at=2,errno=EIO');
    const first = m.report({ step: 1, metrics: { loss: 0.5 }, tensors }); // starts at once
    // Queued behind the first; its commit is made to fail, like a kill before it.
    const second = m.report({ step: 2, metrics: { loss: 0.3 }, tensors });
    expect((await first.durable)!.step).toBe(1);
    await expect(second.durable).rejects.toMatchObject({ code: 'E_IO' });
    native.clearFaultPlan();
    await store.close();
    const reopened = await open(dir, OPTIONS);
    expect(reopened.model('m').stats().best.loss).toMatchObject({ value: 0.5, step: 1 });
    await reopened.close();
  });

  it('a checkpoint adopted at open sets the best value it holds', async () => {
    const dir = join(root, 'adopted');
    await withUnjournaledBest(dir);
    const reopened = await open(dir, OPTIONS);
    const m = reopened.model('m');
    expect(m.list().map((i) => i.seq)).toEqual([1, 2]);
    expect(m.stats().best.loss).toMatchObject({ value: 0.2, step: 2 });
    expect(m.report({ step: 3, metrics: { loss: 0.3 }, tensors }).saved).toBe(false);
    await reopened.close();
  });

  it('the adopted best survives a kill right after the open that adopted it', async () => {
    const dir = join(root, 'adopted-killed');
    await withUnjournaledBest(dir);
    // The open adopts the file and compacts; the kill leaves no later commit
    // or state record to carry the best (found by the kill harness).
    const child = spawnSync(process.execPath, ['--import', 'tsx', OPEN_AND_DIE, dir], { cwd: ROOT });
    expect(child.signal).toBe('SIGKILL');
    const reopened = await open(dir, OPTIONS);
    const m = reopened.model('m');
    expect(m.list().map((i) => i.seq)).toEqual([1, 2]);
    expect(m.stats().best.loss).toMatchObject({ value: 0.2, step: 2 });
    await reopened.close();
  });

  it('a kill between the compaction\'s catalog.json and its journal truncation replays nothing stale', async () => {
    const dir = join(root, 'compaction-killed');
    await withUnjournaledBest(dir, (m) => m.report({ step: 5, metrics: { loss: 0.9 }, tensors }));
    // The open adopts the file and compacts: catalog.json gets the new best,
    // then the journal is emptied. Putting the old journal back gives the
    // directory a kill between the two leaves (found by the kill harness:
    // the old journal's state record took the adopted best back).
    const journal = join(dir, 'm', 'journal');
    const stale = readFileSync(journal);
    const adopting = await open(dir, OPTIONS);
    expect(adopting.model('m').stats().best.loss).toMatchObject({ value: 0.2, step: 2 });
    await adopting.close();
    writeFileSync(journal, stale);

    const reopened = await open(dir, OPTIONS);
    const m = reopened.model('m');
    expect(m.list().map((i) => i.seq)).toEqual([1, 2]);
    expect(m.stats().best.loss).toMatchObject({ value: 0.2, step: 2 });
    expect(m.report({ step: 6, metrics: { loss: 0.3 }, tensors }).saved).toBe(false);
    await reopened.close();
    expect((await verifyStore(dir, OPTIONS)).ok).toBe(true);
  });

  it('a compaction whose journal cannot be restarted fails, and the next open has everything', async () => {
    const dir = join(root, 'compaction-failed');
    await withUnjournaledBest(dir);
    // The third pwrite of the model's open is the generation record of the
    // journal its compaction restarts (the message names the journal).
    const reopened = await open(dir, OPTIONS);
    native.setFaultPlan('op=pwrite,fail_at=3,errno=EIO');
    expect(() => reopened.model('m')).toThrow(expect.objectContaining({ code: 'E_IO', message: expect.stringMatching(/pwrite .*m\/journal/) }));
    native.clearFaultPlan();
    await reopened.close();
    const again = await open(dir, OPTIONS);
    const m = again.model('m');
    expect(m.list().map((i) => i.seq)).toEqual([1, 2]);
    expect(m.stats().best.loss).toMatchObject({ value: 0.2, step: 2 });
    await m.report({ step: 3, metrics: { loss: 0.1 }, tensors }).durable;
    await again.close();
    const last = await open(dir, OPTIONS);
    expect(last.model('m').list().map((i) => i.seq)).toEqual([1, 2, 3]);
    await last.close();
  });
});
