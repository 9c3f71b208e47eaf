// What a save's acknowledgement waits for, seen in the system-call seam's
// trace: the file's fsync and its directory's, as a plain atomic write; not
// the journal's, which follows on its own (within a second, and at close).
// That a power cut before the journal's fsync loses no acknowledged
// checkpoint is test/durability/power-loss.test.ts's business.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { native, type NativeTraceEntry } from '../../src/native.js';
import { tempDir } from '../helpers.js';
import { silentLogger, tensorsFor, until } from '../fixtures/store.js';
import { record } from '../fixtures/events.js';

afterEach(() => native.clearFaultPlan());

const fsyncs = (trace: NativeTraceEntry[]) => trace.filter((e) => e.op === 'fsync').map((e) => e.path);

describe('the fsyncs of a commit', () => {
  it('a save is acknowledged after two fsyncs, its file and its directory; the journal is fsynced after, by itself', async () => {
    const dir = tempDir();
    // Traced from the start: a descriptor's path is known from its open.
    native.setFaultPlan('trace');
    const store = await open(dir, { logger: silentLogger, handleSignals: false });
    const m = store.model('m');
    const journal = join(dir, 'm', 'journal');
    native.takeFaultTrace();
    const info = await m.report({ step: 1, tensors: tensorsFor(1), force: true }).durable;
    const acked = native.takeFaultTrace();
    expect(fsyncs(acked)).toEqual([expect.stringMatching(/\.partial$/), join(dir, 'm')]);
    expect(acked.some((e) => e.op === 'pwrite' && e.path === journal), 'the commit record is written before the ack').toBe(true);
    expect(m.list().map((c) => c.seq)).toEqual([info!.seq]);

    // Nothing else asks for it: the journal's own fsync comes anyway.
    const later: NativeTraceEntry[] = [];
    await until(() => (later.push(...native.takeFaultTrace()), fsyncs(later).includes(journal)));
    await store.close();
  });

  it('close fsyncs a journal whose fsync is still waiting, and the next open lists the checkpoint from its record', async () => {
    const dir = tempDir();
    native.setFaultPlan('trace');
    let store = await open(dir, { logger: silentLogger, handleSignals: false });
    await store.model('m').report({ step: 1, tensors: tensorsFor(1), force: true }).durable;
    native.takeFaultTrace();
    await store.close();
    expect(fsyncs(native.takeFaultTrace())).toContain(join(dir, 'm', 'journal'));
    native.clearFaultPlan();
    store = await open(dir, { logger: silentLogger, handleSignals: false });
    const repaired = record(store, 'repaired');
    expect(store.model('m').list().map((c) => c.step)).toEqual([1]);
    expect(repaired, 'listed from its journal record, not adopted').toEqual([]);
    await store.close();
  });
});
