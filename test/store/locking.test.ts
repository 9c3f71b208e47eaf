// Two processes on one store: one writer per model directory,
// a second writer gets E_LOCKED naming the holder's pid (also when two
// start at once: only one ever writes); readers list and load while the
// writer saves and evicts, never seeing a partial file; two models of one
// root are written by two processes at once. The other processes are
// test/fixtures/writer.ts, run with tsx.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointError, open, readCheckpoint, verifyStore, type CheckpointManager } from '../../src/index.js';
import { readJournal } from '../../src/durability/journal.js';
import { expectThrowsCode, sameBytes, tempDir } from '../helpers.js';
import { silentLogger, tensorsFor, tkptFiles } from '../fixtures/store.js';

const root = tempDir();
const WRITER = fileURLToPath(new URL('../fixtures/writer.ts', import.meta.url));
const children: ChildProcessWithoutNullStreams[] = [];
const opened: CheckpointManager[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Writer {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the child's pid once it holds the lock. */
  ready: Promise<number>;
  /** The exit code and everything the child printed. */
  exited: Promise<{ code: number | null; out: string; err: string }>;
  /** Resolves once a looping writer has made `n` saves durable (the one before "ready" included). */
  saves(n: number): Promise<void>;
  /** Closes the child's stdin (it then closes its store) and resolves with its last line. */
  stop(): Promise<string>;
}

function spawnWriter(dir: string, mode: 'hold' | 'loop', model = 'm'): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, mode, model], { cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, out, err })));
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer not ready after 15 s; stderr: ${err}`)), 15_000);
    const check = () => {
      const m = /ready (\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', check);
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`writer exited with ${code} before it was ready; stdout: ${out}; stderr: ${err}`));
    });
  });
  ready.catch(() => undefined);
  const saves = (n: number) => new Promise<void>((resolve, reject) => {
    const check = () => {
      if (new RegExp(`^durable ${n}$`, 'm').test(out)) resolve();
    };
    child.stdout.on('data', check);
    check();
    exited.then(() => reject(new Error(`writer exited before save ${n}; stdout: ${out}; stderr: ${err}`)));
  });
  return {
    child,
    ready,
    exited,
    saves,
    async stop() {
      child.stdin.end();
      const { code } = await exited;
      expect(code, err).toBe(0);
      return out.trim().split('\n').at(-1)!;
    },
  };
}

async function openStore(dir: string, readOnly = false): Promise<CheckpointManager> {
  const store = await open(dir, { readOnly, logger: silentLogger });
  opened.push(store);
  return store;
}

describe('two processes', () => {
  it("a second writer gets E_LOCKED naming the holder's pid, and takes the lock once the holder is gone", async () => {
    const dir = mkdtempSync(join(root, 's'));
    const writer = spawnWriter(dir, 'hold');
    const pid = await writer.ready;
    expect(pid).toBe(writer.child.pid);

    const store = await openStore(dir);
    const err = expectThrowsCode(() => store.model('m'), 'E_LOCKED');
    expect(err.message).toContain(String(pid));
    // The lock is per model: another model of the same store is free.
    expect(store.model('other').list()).toEqual([]);

    expect(await writer.stop()).toBe('saved 1');
    const m = store.model('m');
    expect(m.list().map((c) => c.step)).toEqual([0]);
    expect((await m.report({ step: 1, tensors: tensorsFor(1), force: true }).durable)!.seq).toBe(2);
  });

  it('a read-only opener lists and loads while the writer saves', async () => {
    const dir = mkdtempSync(join(root, 's'));
    const writer = spawnWriter(dir, 'loop');
    await writer.ready;

    const reader = await openStore(dir, true);
    expect(reader.readOnly).toBe(true);
    const m = reader.model('m');
    let loads = 0;
    const seen = new Set<number>();
    // Poll until the reader has followed the writer through several saves (and evictions).
    const deadline = Date.now() + 10_000;
    for (let poll = 0; poll < 8 || (seen.size <= 5 && Date.now() < deadline); poll++) {
      const list = m.list();
      expect(list.length).toBeGreaterThan(0);
      for (const c of list) {
        seen.add(c.seq!);
        try {
          const loaded = await m.load(c.seq!);
          expect(loaded.step).toBe(c.step);
          expect(sameBytes(loaded.tensors.w.data, tensorsFor(c.step).w as Float32Array)).toBe(true);
          loads++;
        } catch (e) {
          // Evicted by the writer between list() and load().
          expect(e).toBeInstanceOf(CheckpointError);
          expect((e as CheckpointError).code, (e as Error).message).toBe('E_NOT_FOUND');
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    // The reader follows the writer: it saw more checkpoints than one list holds.
    expect(loads).toBeGreaterThan(0);
    expect(seen.size).toBeGreaterThan(5);
    // A reader writes nothing and takes no lock.
    expectThrowsCode(() => m.report({ step: 1_000_000, tensors: tensorsFor(1), force: true }), 'E_BAD_INPUT', 'read-only');
    // A second read-only opener in the same moment sees the same store.
    const other = (await openStore(dir, true)).model('m');
    expect(other.list().length).toBeGreaterThan(0);

    const last = await writer.stop();
    expect(last).toMatch(/^saved \d+$/);
    const total = Number(last.split(' ')[1]);
    expect(total).toBeGreaterThan(5);

    // After the writer is gone: the reader sees its final state, and a writer can take over.
    const final = m.list();
    const writerStore = await openStore(dir);
    const w = writerStore.model('m');
    expect(w.list()).toEqual(final);
    expect(readdirSync(join(dir, 'm')).filter((f) => f.endsWith('.tkpt')).sort()).toEqual(final.map((c) => c.path.split('/').at(-1)).sort());
    expect(existsSync(join(dir, 'm', 'LOCK'))).toBe(true);
  });

  it('a read-only open of a missing store creates nothing', async () => {
    const dir = join(root, 'missing');
    const reader = await openStore(dir, true);
    expect(await reader.model('m').resume()).toBeNull();
    expect(reader.model('m').list()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it('two writer processes started at once on one model: one writes, the other gets E_LOCKED and writes nothing', async () => {
    const dir = mkdtempSync(join(root, 's'));
    const writers = [spawnWriter(dir, 'loop'), spawnWriter(dir, 'loop')];
    const outcomes = await Promise.allSettled(writers.map((w) => w.ready));
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const winner = writers[outcomes.findIndex((o) => o.status === 'fulfilled')];
    const loser = writers[outcomes.findIndex((o) => o.status === 'rejected')];
    const pid = await winner.ready;
    const lost = await loser.exited;
    expect(lost.code, lost.err).toBe(3);
    expect(lost.out).toMatch(new RegExp(`^locked .*${pid}`));
    await winner.saves(3); // the winner goes on saving while the loser is gone
    expect(await winner.stop()).toMatch(/^saved \d+$/);
    await expectWrittenBy(dir, 'm', pid);
  });

  it("a reader reading every checkpoint file it finds while the writer saves and evicts: never a partial file, only E_NOT_FOUND for evicted ones", async () => {
    const dir = mkdtempSync(join(root, 's'));
    const writer = spawnWriter(dir, 'loop');
    const pid = await writer.ready;
    const modelDir = join(dir, 'm');
    const reader = (await openStore(dir, true)).model('m');
    let loads = 0;
    let vanished = 0;
    const steps = new Set<number>();
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline || steps.size <= 10) {
      // Straight from the directory: a file under a final name is complete, or gone.
      for (const file of tkptFiles(modelDir)) {
        try {
          const loaded = await readCheckpoint(join(modelDir, file));
          expect(file).toMatch(new RegExp(`-s${loaded.step}\\.tkpt$`));
          expect(loaded.meta).toEqual({ pid });
          expect(sameBytes(loaded.tensors.w.data, tensorsFor(loaded.step).w as Float32Array)).toBe(true);
          steps.add(loaded.step);
          loads++;
        } catch (e) {
          expect((e as CheckpointError).code, (e as Error).message).toBe('E_NOT_FOUND');
          vanished++;
        }
      }
      // Through the catalog: the newest is always there (a fall-back when it was just superseded and evicted).
      try {
        const latest = await reader.load('latest');
        expect(sameBytes(latest.tensors.w.data, tensorsFor(latest.step).w as Float32Array)).toBe(true);
      } catch (e) {
        expect((e as CheckpointError).code, (e as Error).message).toBe('E_NOT_FOUND');
        vanished++;
      }
    }
    expect(await writer.stop()).toMatch(/^saved \d+$/);
    console.log(`reader: ${loads} files loaded, ${vanished} evicted under it, ${steps.size} steps seen`);
    expect(loads).toBeGreaterThan(10);
    await expectWrittenBy(dir, 'm', pid);
  });

  it('two processes write two models of one root at once; each model holds exactly its own writer\'s checkpoints', async () => {
    const dir = mkdtempSync(join(root, 's'));
    const a = spawnWriter(dir, 'loop', 'a');
    const b = spawnWriter(dir, 'loop', 'b');
    const [pidA, pidB] = await Promise.all([a.ready, b.ready]);
    await Promise.all([a.saves(4), b.saves(4)]);
    const [lastA, lastB] = await Promise.all([a.stop(), b.stop()]);
    for (const last of [lastA, lastB]) expect(Number(last.split(' ')[1])).toBeGreaterThan(3);
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
    await expectWrittenBy(dir, 'a', pidA);
    await expectWrittenBy(dir, 'b', pidB);
  });
});

/**
 * Nothing interleaved: every listed checkpoint loads bit-exact and was saved
 * by `pid`, the model's journal commits each seq once in increasing order,
 * and verifyStore finds the model clean.
 */
async function expectWrittenBy(dir: string, model: string, pid: number): Promise<void> {
  const m = (await openStore(dir, true)).model(model);
  const list = m.list();
  expect(list.length).toBeGreaterThan(0);
  for (const c of list) {
    const loaded = await m.load(c.seq!);
    expect(loaded.meta).toEqual({ pid });
    expect(sameBytes(loaded.tensors.w.data, tensorsFor(c.step).w as Float32Array)).toBe(true);
  }
  const commits = readJournal(join(dir, model, 'journal')).records
    .filter((r) => (r as { t: string }).t === 'commit')
    .map((r) => (r as { record: { seq: number } }).record.seq);
  expect(commits).toEqual([...commits].sort((x, y) => x - y));
  expect(new Set(commits).size).toBe(commits.length);
  const report = await verifyStore(dir, { models: [model] });
  expect(report.models[model], JSON.stringify(report.models[model].problems)).toMatchObject({ ok: true, checkpoints: list.length });
  expect(tkptFiles(join(dir, model))).toEqual(list.map((c) => basename(c.path)).sort());
}
