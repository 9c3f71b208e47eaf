// Two processes on one store (DESIGN.md §5): one writer per model directory,
// a second writer gets E_LOCKED naming the holder's pid; read-only openers
// list and load while the writer saves. The other process is
// test/fixtures/writer.ts, run with tsx.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointError, open, type CheckpointManager } from '../src/index.js';
import { expectThrowsCode, sameBytes, tempDir } from './helpers.js';
import { silentLogger, tensorsFor } from './fixtures/store.js';

const root = tempDir();
const WRITER = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
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
  /** Closes the child's stdin (it then closes its store) and resolves with its last line. */
  stop(): Promise<string>;
}

function spawnWriter(dir: string, mode: 'hold' | 'loop'): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, mode], { cwd: fileURLToPath(new URL('..', import.meta.url)) });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
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
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`writer exited with ${code} before it was ready; stderr: ${err}`));
    });
  });
  ready.catch(() => undefined);
  return {
    child,
    ready,
    async stop() {
      child.stdin.end();
      const code = await exited;
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
});
