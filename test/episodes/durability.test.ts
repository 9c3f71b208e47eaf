// Group commit and failed commits, checked through the addon's fault seam:
// `durable` resolves only after the fsync that covers the record (one fsync
// for a whole batch), at most commitMs after the append or at flush/close;
// an injected EIO or ENOSPC rejects exactly the records of its commit, and
// the log keeps working.
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { native } from '../../src/native.js';
import { collect, freshStore, silent, tick } from '../fixtures/episodes.js';
import { expectRejectsCode, tempDir } from '../helpers.js';
import { onEvent } from '../fixtures/events.js';

const root = tempDir();
afterEach(() => native.clearFaultPlan());

const turn = () => new Promise((resolve) => setTimeout(resolve, 20));

function settledState(p: Promise<unknown>): { value: 'pending' | 'resolved' | 'rejected' } {
  const state = { value: 'pending' as 'pending' | 'resolved' | 'rejected' };
  p.then(() => (state.value = 'resolved'), () => (state.value = 'rejected'));
  return state;
}

describe('group commit', () => {
  it('acknowledges a batch with one fsync, and only after it', async () => {
    const store = await freshStore(root);
    const log = store.episodes('gc', { commitMs: 60_000 });
    native.setFaultPlan('op=fsync'); // counts fsyncs, fails none
    const fsyncsAtAck: number[] = [];
    const appended = Array.from({ length: 20 }, (_, i) => log.append(tick(i)));
    const states = appended.map((a) => settledState(a.durable));
    appended.forEach((a) => a.durable.then(() => fsyncsAtAck.push(native.faultCallCount())));
    await turn();
    expect(states.every((s) => s.value === 'pending')).toBe(true);
    expect(native.faultCallCount()).toBe(0);
    expect(log.stats().pending).toBe(20);
    await log.flush();
    expect(states.every((s) => s.value === 'resolved')).toBe(true);
    expect(native.faultCallCount()).toBe(1);
    expect(fsyncsAtAck).toEqual(new Array(20).fill(1));
    expect(log.stats()).toMatchObject({ commits: 1, acknowledged: 20, pending: 0 });
    await store.close();
  });

  it('commits by itself commitMs after an append, and at once past batchBytes', async () => {
    const store = await freshStore(root);
    const timed = store.episodes('timed', { commitMs: 10 });
    await timed.append(tick(1)).durable; // no flush: the timer commits
    expect(timed.stats().commits).toBe(1);
    const eager = store.episodes('eager', { commitMs: 60_000, batchBytes: 1 });
    await Promise.all([eager.append(tick(1)).durable, eager.append(tick(2)).durable]);
    expect(eager.stats().commits).toBe(2); // the second waited for the first, then went alone
    await store.close();
  });

  it('a burst that outruns the disk: chunks filled while a commit is written are encoded ahead and land in order, one fsync per commit', async () => {
    const store = await freshStore(root);
    const log = store.episodes('burst', { commitMs: 60_000, batchBytes: 1 }); // 4 KiB chunks: a few ticks each
    native.setFaultPlan('op=fsync'); // counts fsyncs, fails none
    const appended = Array.from({ length: 60 }, (_, i) => log.append(tick(i)));
    await Promise.all(appended.map((a) => a.durable));
    expect(log.stats()).toMatchObject({ commits: 2, acknowledged: 60, pending: 0 }); // the first record alone, then the rest
    expect(native.faultCallCount()).toBe(2);
    const back = await collect(log.replay());
    expect(back.map((r) => r.id)).toEqual(appended.map((a) => a.id));
    back.forEach((r, i) => expect(r).toEqual({ ...tick(i), id: appended[i].id }));
    await store.close();
  });

  it('close() acknowledges what is pending', async () => {
    const store = await freshStore(root);
    const log = store.episodes('closing', { commitMs: 60_000 });
    const { durable } = log.append(tick(1));
    const state = settledState(durable);
    await store.close();
    expect(state.value).toBe('resolved');
  });
});

describe('failed commits', () => {
  it.each([
    ['fsync', 'op=fsync,fail_at=1,errno=EIO', 'E_IO'],
    ['pwrite', 'op=pwrite,fail_at=1,errno=ENOSPC', 'E_NOSPACE'],
  ] as const)('a failed %s rejects its batch only; the log keeps working', async (_call, plan, code) => {
    const store = await freshStore(root);
    const errors: Array<{ stream?: string; code?: string }> = [];
    onEvent(store, 'error', (e) => errors.push(e));
    const log = store.episodes('faults', { commitMs: 60_000 });
    log.append(tick(1));
    await log.flush();
    native.setFaultPlan(plan);
    const failed = [log.append(tick(2)), log.append(tick(3))];
    await log.flush();
    for (const f of failed) await expectRejectsCode(f.durable, code);
    native.clearFaultPlan();
    expect(errors).toMatchObject([{ stream: 'faults', code }]);
    const after = log.append(tick(4));
    await log.flush();
    await after.durable;
    expect(log.stats()).toMatchObject({ appended: 4, acknowledged: 2, failed: 2, records: 2 });
    expect((await collect(log.replay())).map((r) => r.id)).toEqual([1, 4]);
    await expect(log.get(failed[0].id)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await store.close();
    const again = await open(store.dir, { logger: silent });
    const reopened = again.episodes('faults');
    expect(reopened.repairs).toEqual([]);
    expect((await collect(reopened.replay())).map((r) => r.id)).toEqual([1, 4]);
    await again.close();
  });

  it('a commit that cannot even be cut back continues in a new segment once the disk recovers', async () => {
    const store = await freshStore(root);
    const log = store.episodes('broken', { commitMs: 60_000 });
    log.append(tick(1));
    await log.flush();
    native.setFaultPlan('fail_at=1,sticky,errno=EIO'); // the write fails, and so does the ftruncate after it
    const lost = log.append(tick(2));
    await log.flush();
    await expectRejectsCode(lost.durable, 'E_IO');
    native.clearFaultPlan();
    const kept = log.append(tick(3));
    await log.flush();
    await kept.durable;
    expect(readdirSync(log.dir).filter((f) => f.endsWith('.tkeps'))).toEqual(['00000001.tkeps', '00000002.tkeps']);
    expect((await collect(log.replay())).map((r) => r.id)).toEqual([1, 3]);
    await store.close();
  });

  it('a failed segment roll rejects its batch; the next commit rolls', async () => {
    const store = await freshStore(root);
    const log = store.episodes('roll', { commitMs: 60_000, segmentBytes: 4096 });
    let step = 0;
    while (log.stats().bytesOnDisk < 4096) {
      log.append(tick(step++));
      await log.flush();
    }
    expect(log.stats().segments).toBe(1); // full: the next commit rolls
    native.setFaultPlan('op=rename,fail_at=1'); // the index file's atomic rename
    const failed = log.append(tick(step++));
    await log.flush();
    await expectRejectsCode(failed.durable, 'E_IO', 'rename');
    native.clearFaultPlan();
    const ok = log.append(tick(step));
    await log.flush();
    await ok.durable;
    expect(readdirSync(log.dir).filter((f) => /\.tk(eps|idx)$/.test(f)).sort()).toEqual(['00000001.tkeps', '00000001.tkidx', '00000002.tkeps']);
    const steps = Array.from({ length: step + 1 }, (_, i) => i).filter((i) => i !== step - 1);
    expect((await collect(log.replay())).map((r) => r.step)).toEqual(steps);
    await store.close();
  });
});
