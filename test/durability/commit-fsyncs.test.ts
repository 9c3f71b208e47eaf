// What a save's acknowledgement waits for, seen in the system-call seam's
// trace: the file's fsync and its directory's, as a plain atomic write; not
// the journal's, which follows on its own (within a second, and at close),
// and whose failure costs no acknowledged checkpoint.
// That a power cut before the journal's fsync loses no acknowledged
// checkpoint is test/durability/power-loss.test.ts's business.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { native, type NativeTraceEntry } from '../../src/native.js';
import { tempDir } from '../helpers.js';
import { collectingLogger, silentLogger, tensorsFor, until } from '../fixtures/store.js';
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

  it('close fsyncs the journal before the background fsync is due, and the next open lists the checkpoint from its record', async () => {
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

  it('a journal fsync that fails after the ack is logged, the catalog compacted, and the checkpoint stays listed and loadable', async () => {
    const dir = tempDir();
    const logger = collectingLogger();
    let store = await open(dir, { logger, handleSignals: false });
    const m = store.model('m');
    await m.report({ step: 1, tensors: tensorsFor(1), force: true }).durable;
    const catalogJson = join(dir, 'm', 'catalog.json');
    const listedIn = () => (JSON.parse(readFileSync(catalogJson, 'utf8')) as { records: Array<{ step: number }> }).records.map((r) => r.step);
    expect(existsSync(catalogJson) ? listedIn() : []).toEqual([]);
    // Armed after the ack: the next fsync is the journal's own, a second later.
    native.setFaultPlan('op=fsync,fail_at=1,errno=EIO');
    await until(() => logger.find('error', 'journal fsync failed').length > 0);
    native.clearFaultPlan();
    // The journal's pages may be lost: the compaction wrote the catalog from memory.
    expect(listedIn()).toEqual([1]);
    expect(m.list().map((c) => c.step)).toEqual([1]);
    expect((await m.report({ step: 2, tensors: tensorsFor(2), force: true }).durable)!.step).toBe(2);
    await store.close();
    store = await open(dir, { logger: silentLogger, handleSignals: false });
    const reopened = store.model('m');
    expect(reopened.list().map((c) => c.step)).toEqual([1, 2]);
    expect((await reopened.load(1)).step).toBe(1);
    await store.close();
  });
});
