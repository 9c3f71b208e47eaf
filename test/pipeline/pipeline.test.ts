// The non-blocking save pipeline: persists on worker threads,
// commits in seq order whatever order the workers finish in, backpressure
// modes with a slowed-down disk (the seam's delay), bounded staging memory,
// borrowed arrays, deletes off the save path, dead workers, loads on
// workers, and a SIGTERM'd training process that leaves a final checkpoint.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { open, type CheckpointInfo, type CheckpointManager, type StoreOptions } from '../../src/index.js';
import { native } from '../../src/native.js';
import type { WorkerPool } from '../../src/pipeline/workers.js';
import { expectRejectsCode, expectThrowsCode, rng, sameBytes, tempDir } from '../helpers.js';
import { settle, silentLogger, tensorsFor, tkptFiles, until } from '../fixtures/store.js';
import { onEvent } from '../fixtures/events.js';

const root = tempDir();
const opened: CheckpointManager[] = [];
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TRAINER = fileURLToPath(new URL('../fixtures/trainer-loop.ts', import.meta.url));

afterEach(async () => {
  native.clearFaultPlan();
  for (const store of opened.splice(0)) await store.close();
});

async function fresh(options: StoreOptions = {}): Promise<{ store: CheckpointManager; dir: string }> {
  const dir = mkdtempSync(join(root, 's'));
  const store = await open(dir, { logger: silentLogger, handleSignals: false, ...options });
  opened.push(store);
  return { store, dir };
}

/** The store's worker pool (internal): tests kill a worker through it. */
function workersOf(store: CheckpointManager): WorkerPool {
  return (store as unknown as { workers: WorkerPool }).workers;
}

describe('saves off the calling thread', () => {
  it('commits 200 saves of 3 models in seq order while workers finish out of order', async () => {
    const { store } = await fresh({ always: true, workers: 3, keep: { best: 0, periodic: 1000 } });
    const committed = new Map<string, number[]>();
    onEvent(store, 'saved', ({ model, info }: { model: string; info: CheckpointInfo }) => {
      if (!committed.has(model)) committed.set(model, []);
      committed.get(model)!.push(info.seq!);
    });
    // Every write call sleeps a pseudo-random 0-3 ms: concurrent saves overtake each other.
    native.setFaultPlan('op=pwrite,delay_us=3000,jitter');
    const models = ['a', 'b', 'c'].map((name) => store.model(name));
    const tickets = [];
    const rand = rng(7);
    for (let i = 0; i < 200; i++) {
      const m = models[Math.floor(rand() * 3)];
      tickets.push(m.report({ step: i, tensors: tensorsFor(i, 1 + Math.floor(rand() * 4096)) }));
    }
    const infos = await Promise.all(tickets.map((t) => t.durable));
    expect(infos.every((info) => info !== null)).toBe(true);
    for (const m of models) {
      const seqs = committed.get(m.name)!;
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(m.list().map((c) => c.seq)).toEqual(seqs);
    }
  }, 60_000);

  it('runs evictions after the commit: a save is durable while the unlink is still pending', async () => {
    const { store, dir } = await fresh({ always: true, keep: { best: 0, periodic: 1 } });
    const m = store.model('m');
    const first = (await m.report({ step: 1, tensors: tensorsFor(1) }).durable)!;
    native.setFaultPlan('op=unlink,delay_us=1000000');
    const second = (await m.report({ step: 2, tensors: tensorsFor(2) }).durable)!;
    await new Promise((resolve) => setImmediate(resolve)); // the retention pass has journaled the eviction
    expect(m.list().map((c) => c.seq)).toEqual([second.seq]);
    expect(existsSync(first.path)).toBe(true); // unlink still sleeping on a worker
    await settle(store);
    expect(tkptFiles(join(dir, 'm'))).toEqual([second.path.split('/').pop()]);
  });
});

describe('backpressure, with a disk slower than the saves', () => {
  // Each fsync sleeps 200 ms: saves arrive far faster than they become durable.
  const slowDisk = () => native.setFaultPlan('op=fsync,delay_us=200000');

  it("'coalesce' (default): a waiting save takes the newer one's state and both tickets resolve to it", async () => {
    const { store } = await fresh({ always: true, workers: 1 });
    const m = store.model('m');
    slowDisk();
    const running = m.report({ step: 1, tensors: tensorsFor(1) });
    const waiting = m.report({ step: 2, tensors: tensorsFor(2) });
    const newer = m.report({ step: 3, tensors: tensorsFor(3) });
    expect(newer.seq).toBe(waiting.seq);
    const [a, b, c] = await Promise.all([running.durable, waiting.durable, newer.durable]);
    expect(a!.step).toBe(1);
    expect(b).toEqual(c);
    expect(c!.step).toBe(3);
    expect(m.stats().coalesced).toBe(1);
    const loaded = await m.load(c!.seq!);
    expect(sameBytes(loaded.tensors.w.data, tensorsFor(3).w as Float32Array)).toBe(true);
  });

  it("'skip': a save that would wait behind a waiting one is skipped and counted, nothing changes state", async () => {
    const { store } = await fresh({ always: true, workers: 1, backpressure: 'skip' });
    const m = store.model('m');
    const skipped: unknown[] = [];
    onEvent(store, 'skipped', (e) => skipped.push(e));
    slowDisk();
    const running = m.report({ step: 1, tensors: tensorsFor(1) });
    const waiting = m.report({ step: 2, tensors: tensorsFor(2) });
    const dropped = m.report({ step: 3, tensors: tensorsFor(3) });
    expect(dropped).toMatchObject({ saved: false, dropped: true, category: null });
    expect(await dropped.durable).toBeNull();
    expect(skipped).toEqual([{ model: 'm', step: 3, reason: 'backpressure' }]);
    await Promise.all([running.durable, waiting.durable]);
    expect(m.list().map((c) => c.step)).toEqual([1, 2]);
    expect(m.stats().dropped).toBe(1);
    // The dropped report reset no clock: the next report saves.
    native.clearFaultPlan();
    expect(m.report({ step: 4, tensors: tensorsFor(4) }).saved).toBe(true);
  });

  it("'skip' never records the best value of a dropped improvement", async () => {
    const { store } = await fresh({ monitor: { loss: 'min' }, improvement: { minRelative: 0 }, every: { steps: null }, workers: 1, backpressure: 'skip' });
    const m = store.model('m');
    slowDisk();
    m.report({ step: 1, metrics: { loss: 3 }, tensors: tensorsFor(1) });
    m.report({ step: 2, metrics: { loss: 2 }, tensors: tensorsFor(2) });
    expect(m.report({ step: 3, metrics: { loss: 1 }, tensors: tensorsFor(3) }).dropped).toBe(true);
    expect(m.stats().best.loss.value).toBe(2);
    await store.flush();
    native.clearFaultPlan();
    // The same loss again is still an improvement: no checkpoint holds 1 yet.
    expect(m.report({ step: 4, metrics: { loss: 1 }, tensors: tensorsFor(4) }).category).toBe('best');
  });

  it("'block': save() waits for room instead of merging; report() still coalesces", async () => {
    const { store } = await fresh({ always: true, workers: 1, backpressure: 'block' });
    const m = store.model('m');
    slowDisk();
    m.report({ step: 1, tensors: tensorsFor(1) });
    const waiting = m.report({ step: 2, tensors: tensorsFor(2) });
    expect(m.report({ step: 3, tensors: tensorsFor(3) }).seq).toBe(waiting.seq); // coalesced
    const blocked = m.save(tensorsFor(4), { step: 4 });
    expect(m.stats().queueDepth).toBe(2); // the blocked save is not queued yet
    const info = await blocked;
    expect(info.seq).toBe(waiting.seq! + 1);
    expect(m.list().map((c) => c.step)).toEqual([1, 3, 4]);
    expect(m.stats()).toMatchObject({ coalesced: 1, dropped: 0 });
  });

  it('never stages more than staging.maxBytes; a save that cannot fit at all is bad input', async () => {
    const { store } = await fresh({ always: true, workers: 1, staging: { maxBytes: 3 << 20 }, backpressure: 'skip' });
    const m = store.model('m');
    const other = store.model('other');
    const oneMiB = () => ({ w: new Float32Array(200_000) }); // 800 kB: one 1 MiB slab
    slowDisk();
    expect(m.report({ step: 1, tensors: oneMiB }).saved).toBe(true); // running
    expect(other.report({ step: 1, tensors: oneMiB }).saved).toBe(true); // running (Piscina queues it)
    expect(m.report({ step: 2, tensors: oneMiB }).saved).toBe(true); // waiting: 3 MiB staged
    expect(other.report({ step: 2, tensors: oneMiB })).toMatchObject({ saved: false, dropped: true }); // no room
    const pool = (store as unknown as { staging: { stats(): { allocatedBytes: number } } }).staging;
    expect(pool.stats().allocatedBytes).toBeLessThanOrEqual(3 << 20);
    expectThrowsCode(() => m.report({ step: 3, force: true, tensors: { w: new Float32Array(1_000_000) } }), 'E_BAD_INPUT', /does not fit staging.maxBytes/);
    await store.flush();
    expect(pool.stats().allocatedBytes).toBeLessThanOrEqual(3 << 20);
  });
});

describe('borrowed arrays', () => {
  it("'borrow' writes the caller's arrays in place", async () => {
    const { store } = await fresh({ always: true, snapshot: 'borrow' });
    const m = store.model('m');
    const w = new Float32Array(100_000).fill(1.5);
    const info = (await m.report({ step: 1, tensors: { w } }).durable)!;
    expect(sameBytes((await m.load(info.seq!)).tensors.w.data, w)).toBe(true);
  });

  it('checkBorrowed catches arrays changed before durable: the save fails and leaves no file', async () => {
    const { store, dir } = await fresh({ always: true, snapshot: 'borrow', checkBorrowed: true, workers: 1 });
    const m = store.model('m');
    const errors: Error[] = [];
    onEvent(store, 'error', (e) => errors.push(e));
    const w = new Float32Array(10_000).fill(1);
    native.setFaultPlan('op=fsync,delay_us=100000');
    const ticket = m.report({ step: 1, tensors: { w } });
    w[0] = 2; // the promise broken while the write is under way
    await expectRejectsCode(ticket.durable, 'E_BAD_INPUT', /changed before it was durable/);
    expect(errors).toHaveLength(1);
    expect(tkptFiles(join(dir, 'm'))).toEqual([]);
    native.clearFaultPlan();
    expect(await m.report({ step: 2, tensors: { w } }).durable).not.toBeNull();
  });

  it('a per-call snapshot overrides the store and is checked', async () => {
    const { store } = await fresh({ always: true });
    const m = store.model('m');
    const w = new Float32Array(1000).fill(3);
    expect(await m.report({ step: 1, tensors: { w }, snapshot: 'borrow' }).durable).not.toBeNull();
    expectThrowsCode(() => m.report({ step: 2, tensors: { w }, snapshot: 'steal' as never }), 'E_BAD_INPUT', /'copy' or 'borrow' for snapshot/);
  });
});

/** Nice value of each thread of this process (Linux: /proc/self/task/<tid>/stat, field 19). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('worker priority', () => {
  it.skipIf(!existsSync('/proc/self/task'))('the workers run at workerNice; the training thread keeps its priority', async () => {
    const own = () => { const stat = readFileSync('/proc/thread-self/stat', 'utf8'); return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); };
    const before = own();
    const { store } = await fresh({ always: true, workers: 2, workerNice: 7 });
    const m = store.model('m');
    await Promise.all([1, 2, 3, 4].map((step) => m.report({ step, tensors: tensorsFor(step) }).durable));
    // Each worker sets its priority as it loads its module, whether or not a save has reached it yet.
    await until(() => threadNiceValues().filter((n) => n === 7).length >= 2);
    expect(own()).toBe(before);
  });
});

describe('failures on the workers', () => {
  it('a save whose worker fails rejects its ticket, emits error, and the next save succeeds', async () => {
    const { store } = await fresh({ always: true });
    const m = store.model('m');
    const errors: Array<Error & { code?: string }> = [];
    onEvent(store, 'error', (e) => errors.push(e));
    native.setFaultPlan('op=rename,fail_at=1,errno=EIO');
    await expectRejectsCode(m.report({ step: 1, tensors: tensorsFor(1) }).durable, 'E_IO');
    expect(errors.map((e) => e.code)).toEqual(['E_IO']);
    native.clearFaultPlan();
    expect((await m.report({ step: 2, tensors: tensorsFor(2) }).durable)!.step).toBe(2);
  });

  it('a worker that dies mid-save fails that save only and is replaced', async () => {
    const { store } = await fresh({ always: true, workers: 1 });
    const m = store.model('m');
    await m.report({ step: 0, tensors: tensorsFor(0) }).durable; // the worker is up
    native.setFaultPlan('op=fsync,delay_us=300000');
    const ticket = m.report({ step: 1, tensors: tensorsFor(1) });
    // The worker is inside the save once it has made its first fsync (which sleeps 0.3 s).
    await until(() => native.faultCallCount() >= 1);
    await workersOf(store).threads[0].terminate();
    await expectRejectsCode(ticket.durable, 'E_IO', /worker thread failed/);
    native.clearFaultPlan();
    expect((await m.report({ step: 2, tensors: tensorsFor(2) }).durable)!.step).toBe(2);
    expect(m.stats().failures).toBe(1);
  });
});

describe('loads', () => {
  it('load() on a worker, load() into arrays, and load(\'best\') return the same bytes', async () => {
    const { store } = await fresh({ always: true });
    const m = store.model('m');
    const tensors = tensorsFor(5, 50_000);
    const info = (await m.report({ step: 1, tensors }).durable)!;
    const fromWorker = await m.load('latest');
    const into = { w: new Float32Array(50_000), b: new Int32Array(3) };
    const intoLoaded = await m.load(info.seq!, { into });
    const best = await m.load('best');
    for (const loaded of [fromWorker, intoLoaded, best]) {
      expect(loaded.info.seq).toBe(info.seq);
      expect(sameBytes(loaded.tensors.w.data, tensors.w as Float32Array)).toBe(true);
      expect(sameBytes(loaded.tensors.b.data, tensors.b as Int32Array)).toBe(true);
    }
    expect(intoLoaded.tensors.w.data).toBe(into.w);
    await expectRejectsCode(m.load(99), 'E_NOT_FOUND');
    await expectRejectsCode(m.load('latest', { verify: 'yes' as never }), 'E_BAD_INPUT');
  });
});

describe('shutdown', () => {
  it('reports after close() began are skipped, not thrown: a loop still running keeps going', async () => {
    const { store } = await fresh({ always: true });
    const m = store.model('m');
    m.attach(() => tensorsFor(9));
    m.report({ step: 1, tensors: tensorsFor(1) });
    const closing = store.close();
    expect(m.report({ step: 2, tensors: tensorsFor(2) }).saved).toBe(false);
    await closing;
    expectThrowsCode(() => m.report({ step: 3, tensors: tensorsFor(3) }), 'E_CLOSED');
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s to a training process writes a final checkpoint, then the process ends by the signal', async (sig) => {
    const dir = mkdtempSync(join(root, sig.toLowerCase()));
    const child = spawn(process.execPath, ['--import', 'tsx', TRAINER, dir], { cwd: ROOT });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const steps = () => [...out.matchAll(/^step (\d+)$/gm)].map((match) => Number(match[1]));
    const exited = new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    // Ready (a checkpoint durable), then a few more steps, as the child prints them.
    await Promise.race([
      until(() => out.includes('ready') && steps().length >= 20),
      exited.then(() => Promise.reject(new Error(`child exited early: ${stderr}`))),
    ]);
    const stepAtSignal = Math.max(...steps());
    child.kill(sig);
    const [code, signal] = await exited;
    expect({ code, signal, stderr }).toEqual({ code: null, signal: sig, stderr: '' });
    // The loop runs on while close() saves: the final checkpoint holds the
    // state of the moment the signal was handled.
    const lastStep = Math.max(...steps());
    const store = await open(dir, { logger: silentLogger, handleSignals: false });
    opened.push(store);
    const resumed = (await store.model('m').resume())!;
    expect(resumed.info.category).toBe('final');
    expect(resumed.step).toBeGreaterThanOrEqual(stepAtSignal);
    expect(resumed.step).toBeLessThanOrEqual(lastStep);
    expect((resumed.tensors.w.data as Float32Array).every((v) => v === resumed.step)).toBe(true);
  }, 30_000);
});

describe('stats', () => {
  it('counts stall and persist latencies and queue depth', async () => {
    const { store } = await fresh({ always: true });
    const m = store.model('m');
    for (let step = 0; step < 5; step++) await m.report({ step, tensors: tensorsFor(step) }).durable;
    const stats = m.stats();
    expect(stats.stallMs.count).toBe(5);
    expect(stats.persistMs.count).toBe(5);
    expect(stats.persistMs.max).toBeGreaterThanOrEqual(stats.persistMs.p50);
    expect(stats.queueDepth).toBe(0);
  });
});
