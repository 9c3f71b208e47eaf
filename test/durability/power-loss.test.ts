// The power-loss model (issue "Crash, fault and bad-input harness", part 2):
// a child (test/fixtures/cycle.ts) runs one save+commit+evict cycle with the
// native seam tracing every system call, pwrite bytes included; the model
// (test/fixtures/power-cut.ts) replays the trace and, after every prefix of
// it, builds the tree a power cut would leave when only fsync'd file bytes
// and fsync'd directory entries persist. Each distinct tree is written to a
// directory, reopened here, and checked against the promise of
// docs/RELIABILITY.md (the same checks as test/durability/crash-points.test.ts).
//
// Scenarios: "fresh" is the first save of a new model (the model directory
// is created in the traced run); "clean" and "dirty" start from one committed
// checkpoint (seq 1) and save seq 2, whose commit makes retention evict seq 1;
// "dirty" adds a crash leftover in .tmp/, so the open also repairs and
// compacts. Two negative controls drop one directory fsync from a trace and
// show that the model then finds an acknowledged checkpoint lost.
import { spawnSync } from 'node:child_process';
import { constants, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { NativeTraceEntry } from '../../src/native.js';
import { tempDir } from '../helpers.js';
import { bloatJournal, contentHash, cycleTensors } from '../fixtures/cycle.js';
import { checkCycleState, type CycleExpectation } from '../fixtures/cycle-checks.js';
import { FsModel, readTree, treeKey, writeTree, type DataLoss, type Names, type Tree } from '../fixtures/power-cut.js';

const CYCLE = fileURLToPath(new URL('../fixtures/cycle.ts', import.meta.url));
const CWD = fileURLToPath(new URL('../..', import.meta.url));
const root = tempDir();
const LOSSES: DataLoss[] = ['truncate', 'stale'];

/** Runs one phase of the cycle child in `dir`; with `traceOut`, under a tracing plan. */
function runChild(dir: string, phase: 'prepare' | 'cycle', traceOut?: string): void {
  const args = ['--import', 'tsx', CYCLE, '--dir', dir, '--phase', phase, ...(traceOut ? ['--trace-out', traceOut] : [])];
  const r = spawnSync(process.execPath, args, {
    cwd: CWD, encoding: 'utf8', env: { ...process.env, TENSORKEEP_FAULTS: traceOut ? 'trace' : '' }, timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`cycle.ts --phase ${phase} failed (${r.status} ${r.signal}): ${r.stdout} ${r.stderr}`);
}

/** The trace cycle.ts wrote: the entries of native.takeFaultTrace(), pwrite bytes in base64. */
function readTrace(path: string): NativeTraceEntry[] {
  type Written = Omit<NativeTraceEntry, 'data'> & { data?: string };
  return (JSON.parse(readFileSync(path, 'utf8')) as Written[]).map(({ data, ...e }) =>
    (data === undefined ? e : { ...e, data: Buffer.from(data, 'base64') }));
}

// ---------------------------------------------------------------------------
// What the process was told, as of each prefix of the trace.

/**
 * From when the process may have told its caller about each record: a
 * `commit` as soon as its record is written (the number of calls up to that
 * pwrite: `durable` resolves after it, with the file already durable, and
 * without waiting for the journal's fsync); an `evict` once the fsync that
 * covers its record has returned (only then is its file unlinked).
 */
function durableRecords(trace: NativeTraceEntry[], journal: string): { commits: Map<number, number>; evictions: Map<number, number> } {
  const commits = new Map<number, number>();
  const evictions = new Map<number, number>();
  let pending: Array<{ t: string; seq: number }> = [];
  trace.forEach((e, i) => {
    if (e.path !== journal) return;
    if (e.op === 'pwrite') {
      // Each append is one pwrite of whole frames: u32 len | u64 xxh3 | JSON.
      for (let at = 0; at < e.data!.length; ) {
        const len = e.data!.readUInt32LE(at);
        const record = JSON.parse(e.data!.subarray(at + 12, at + 12 + len).toString('utf8'));
        if (record.t === 'commit') commits.set(record.record.seq, i + 1);
        else pending.push({ t: record.t, seq: record.seq });
        at += 12 + len;
      }
    } else if (e.op === 'fsync') {
      for (const r of pending) if (r.t === 'evict') evictions.set(r.seq, i + 1);
      pending = [];
    }
  });
  return { commits, evictions };
}

const STEP_OF_SEQ: Record<number, number> = { 1: 0, 2: 1 };
const hashOfSeq = (seq: number) => contentHash(cycleTensors(STEP_OF_SEQ[seq]) as Record<string, ArrayBufferView>);

// ---------------------------------------------------------------------------
// The power-cut states of one traced run.

interface PowerCut {
  /** The prefixes (calls completed) that leave this tree with this expectation. */
  ks: number[];
  loss: DataLoss;
  /** The directory entries: each directory's own last fsync, or (ordered metadata) those the process saw after call `names`. */
  names: 'synced' | number;
  tree: Tree;
  expected: CycleExpectation;
}

/**
 * Every distinct (tree, expectation) a power cut after 0..N calls of `trace`
 * leaves. File bytes: as of each file's last fsync (`LOSSES` say how the
 * rest comes back). Directory entries: as of each directory's own last fsync;
 * and, as an ext4-like journal that commits directory operations in order
 * would leave them, the entries after any prefix j of the calls that
 * includes the last directory fsync.
 */
function powerCuts(runDir: string, base: Tree, trace: NativeTraceEntry[], prior: number[]): PowerCut[] {
  const { commits, evictions } = durableRecords(trace, join(runDir, 'm', 'journal'));
  const model = new FsModel(runDir, base);
  const namesAfter: Names[] = [];
  let lastDirFsync = 0;
  const cuts = new Map<string, PowerCut>();
  for (let k = 0; k <= trace.length; k++) {
    if (k > 0) {
      model.apply(trace[k - 1]);
      if (trace[k - 1].op === 'fsync' && model.isDirectory(trace[k - 1].path)) lastDirFsync = k;
    }
    namesAfter.push(model.visibleNames());
    const expected: CycleExpectation = {
      acked: [...commits].filter(([, at]) => at <= k).map(([seq]) => ({ seq, hash: hashOfSeq(seq) })),
      kept: prior.filter((seq) => !(evictions.get(seq)! <= k)),
    };
    const add = (loss: DataLoss, names: 'synced' | number, tree: Tree) => {
      const key = cutKey(tree, expected);
      const cut = cuts.get(key);
      if (!cut) cuts.set(key, { ks: [k], loss, names, tree, expected });
      else if (cut.ks.at(-1) !== k) cut.ks.push(k);
    };
    for (const loss of LOSSES) {
      add(loss, 'synced', model.afterPowerCut(loss));
      for (let j = lastDirFsync; j <= k; j++) add(loss, j, model.afterPowerCut(loss, namesAfter[j]));
    }
  }
  return [...cuts.values()];
}

function cutKey(tree: Tree, expected: CycleExpectation): string {
  return `${treeKey(tree)} ${JSON.stringify(expected)}`;
}

function describeCut(trace: NativeTraceEntry[], runDir: string, cut: PowerCut): string {
  const callName = (k: number) => `${k} of ${trace.length} (${trace[k - 1].op} ${trace[k - 1].path.slice(runDir.length + 1)})`;
  const k = cut.ks[0];
  const names = cut.names === 'synced' ? '' : cut.names === k ? ', every entry' : `, entries as after call ${cut.names === 0 ? '0' : callName(cut.names)}`;
  return `power cut ${k === 0 ? 'before the first call' : `after call ${callName(k)}`}, ${cut.loss}${names}` +
    `${cut.ks.length > 1 ? ` (+${cut.ks.length - 1} prefixes alike)` : ''}`;
}

let stateDirs = 0;
/** Writes the tree to a new directory and checks the promise there; rejects with the first violation. */
function checkCut(cut: PowerCut, where: string): Promise<number[]> {
  const dir = join(root, `state-${++stateDirs}`);
  writeTree(dir, cut.tree);
  return checkCycleState(dir, cut.expected, where);
}

// ---------------------------------------------------------------------------
// The model on hand-written traces: what it keeps is what the docs say.

describe('the file-system model', () => {
  const R = '/r';
  const call = (op: NativeTraceEntry['op'], path: string, more: Partial<NativeTraceEntry> = {}): NativeTraceEntry =>
    ({ op, path: `${R}/${path}`, path2: '', offset: 0, length: 0, flags: 0, ...more });
  const write = (path: string, offset: number, text: string) => call('pwrite', path, { offset, length: text.length, data: Buffer.from(text) });
  const show = (tree: Tree) => Object.fromEntries([...tree].map(([p, d]) => [p, d === null ? 'dir' : d.toString('latin1')]));

  it('a rename over a file without the directory fsync gives the old inode and bytes back', () => {
    const model = new FsModel(R, new Map([['d', null], ['d/a', Buffer.from('old')]]));
    for (const e of [call('open', 'd/t', { flags: constants.O_CREAT }), write('d/t', 0, 'new'), call('fsync', 'd/t'), call('rename', 'd/t', { path2: `${R}/d/a` })])
      model.apply(e);
    expect(show(model.visible())).toEqual({ d: 'dir', 'd/a': 'new' });
    expect(show(model.afterPowerCut('truncate'))).toEqual({ d: 'dir', 'd/a': 'old' });
    expect(show(model.afterPowerCut('truncate', model.visibleNames()))).toEqual({ d: 'dir', 'd/a': 'new' });
    model.apply(call('fsync', 'd'));
    expect(show(model.afterPowerCut('truncate'))).toEqual({ d: 'dir', 'd/a': 'new' });
  });

  it('bytes written since the last fsync are lost, or keep their size as zeros (stale)', () => {
    const model = new FsModel(R, new Map([['f', Buffer.from('abcd')]]));
    model.apply(write('f', 1, 'X'));
    expect(show(model.afterPowerCut('truncate'))).toEqual({ f: 'abcd' });
    model.apply(write('f', 2, 'YZW'));
    expect(show(model.afterPowerCut('truncate'))).toEqual({ f: 'abcd' });
    expect(show(model.afterPowerCut('stale'))).toEqual({ f: 'abcd\0' });
    model.apply(call('fsync', 'f'));
    model.apply(call('ftruncate', 'f', { offset: 2 }));
    expect(show(model.afterPowerCut('truncate'))).toEqual({ f: 'aXYZW' });
    expect(show(model.afterPowerCut('stale'))).toEqual({ f: 'aX' });
  });

  it('a directory made outside the seam survives only once its parent is fsynced', () => {
    const model = new FsModel(R, new Map());
    model.apply(call('open', 'm/LOCK', { flags: constants.O_CREAT | constants.O_RDWR }));
    expect(show(model.visible())).toEqual({ m: 'dir', 'm/LOCK': '' });
    expect(show(model.afterPowerCut('truncate'))).toEqual({});
    model.apply(call('fsync', ''));
    expect(show(model.afterPowerCut('truncate'))).toEqual({ m: 'dir' });
  });
});

// ---------------------------------------------------------------------------
// Scenarios: a base tree (durable), one traced run from it.

interface Scenario {
  name: string;
  runDir: string;
  base: Tree;
  trace: NativeTraceEntry[];
  /** Checkpoints in the base. */
  prior: number[];
  cuts: PowerCut[];
}

function scenario(name: string, baseDir: string, phase: 'prepare' | 'cycle', prior: number[]): Scenario {
  const runDir = join(root, `${name}-run`);
  cpSync(baseDir, runDir, { recursive: true });
  const traceFile = join(root, `${name}.trace.json`);
  runChild(runDir, phase, traceFile);
  const trace = readTrace(traceFile);
  const base = readTree(baseDir);
  return { name, runDir, base, trace, prior, cuts: powerCuts(runDir, base, trace, prior) };
}

const freshBase = join(root, 'base-fresh');
mkdirSync(freshBase);
const cleanBase = join(root, 'base-clean');
runChild(cleanBase, 'prepare');
const dirtyBase = join(root, 'base-dirty');
cpSync(cleanBase, dirtyBase, { recursive: true });
// What a writer killed mid-save leaves behind (docs/ARCHITECTURE.md, "Where this differs from the starting design").
writeFileSync(join(dirtyBase, 'm', '.tmp', '00000002-s1.tkpt.4242.0.partial'), Buffer.alloc(3000, 7));

const compactingBase = join(root, 'base-compacting');
cpSync(cleanBase, compactingBase, { recursive: true });
bloatJournal(join(compactingBase, 'm'));

const scenarios = [
  scenario('fresh', freshBase, 'prepare', []),
  scenario('clean', cleanBase, 'cycle', [1]),
  scenario('dirty', dirtyBase, 'cycle', [1]),
  scenario('compacting', compactingBase, 'cycle', [1]),
];

const started = Date.now();
afterAll(() => {
  const prefixes = scenarios.reduce((n, s) => n + s.trace.length + 1, 0);
  const states = scenarios.reduce((n, s) => n + s.cuts.length, 0);
  console.log(
    `power-loss model: ${scenarios.map((s) => `${s.name} ${s.trace.length + 1} prefixes -> ${s.cuts.length} states`).join(', ')}; ` +
      `${prefixes} prefixes x ${LOSSES.length} data-loss modes, ${states} distinct states checked in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
});

for (const s of scenarios) {
  describe(`power cuts during one ${s.name === 'fresh' ? 'first save of a new model' : `save+commit+evict cycle (${s.name} open)`}, N=${s.trace.length}`, () => {
    it('the model replays the trace to the tree the real file system holds at the end', () => {
      const model = new FsModel(s.runDir, s.base);
      for (const e of s.trace) model.apply(e);
      const want = readTree(s.runDir);
      const got = model.visible();
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [path, data] of want) expect(got.get(path), path).toEqual(data);
    });

    const outcomes = new Map<PowerCut, string>();
    for (const cut of s.cuts) {
      const where = `${s.name}, ${describeCut(s.trace, s.runDir, cut)}`;
      it(`${describeCut(s.trace, s.runDir, cut)}: acknowledged checkpoints survive, the store reopens clean`, async () => {
        const seqs = await checkCut(cut, where);
        outcomes.set(cut, `${cut.expected.acked.length > 0 ? 'acked' : 'unacked'} [${seqs.join(',')}]`);
      });
    }

    // Guards the enumeration itself: the cuts must reach a durable but
    // unacknowledged checkpoint, its acknowledgement (before the journal's
    // fsync: a cut may take the commit record, and the open adopts the
    // file) and (with a prior checkpoint) the eviction of that one.
    it('the power cuts cover the whole cycle', () => {
      expect(outcomes.size, 'run the whole file: the per-state tests record the outcomes').toBe(s.cuts.length);
      const seen = new Set(outcomes.values());
      const want = s.prior.length === 0 ? ['unacked []', 'unacked [1]', 'acked [1]'] : ['unacked [1]', 'unacked [1,2]', 'acked [1,2]', 'acked [2]'];
      for (const outcome of want) expect([...seen]).toContain(outcome);
      const summary = new Map<string, number>();
      for (const o of outcomes.values()) summary.set(o, (summary.get(o) ?? 0) + 1);
      console.log(`${s.name}: ${[...summary].map(([o, n]) => `${o} ${n}`).join('; ')}`);
    });
  });
}

// ---------------------------------------------------------------------------
// Negative controls: the model has teeth.

/** The trace without the first fsync of `dir` after call `after` (1-based). */
function withoutDirFsync(trace: NativeTraceEntry[], after: number, dir: string): NativeTraceEntry[] {
  const i = trace.findIndex((e, j) => j >= after && e.op === 'fsync' && e.path === dir);
  expect(i, `no fsync of ${dir} after call ${after}`).not.toBe(-1);
  return trace.filter((_, j) => j !== i);
}

/** Checks every state the altered trace adds; returns the violations found. */
async function violations(s: Scenario, altered: NativeTraceEntry[]): Promise<string[]> {
  const real = new Set(s.cuts.map((c) => cutKey(c.tree, c.expected)));
  const found: string[] = [];
  for (const cut of powerCuts(s.runDir, s.base, altered, s.prior)) {
    if (real.has(cutKey(cut.tree, cut.expected))) continue;
    await checkCut(cut, `${s.name} without a directory fsync, ${describeCut(altered, s.runDir, cut)}`).catch((err: Error) =>
      found.push(err.message));
  }
  return found;
}

describe('negative controls: one directory fsync fewer, and the model finds an acknowledged checkpoint lost', () => {
  it('without the fsync of the model directory after the rename of seq 2, a power cut after its acknowledgement loses it', async () => {
    const s = scenarios[1];
    const rename = s.trace.findIndex((e) => e.op === 'rename' && e.path2.endsWith('.tkpt'));
    const found = await violations(s, withoutDirFsync(s.trace, rename + 1, join(s.runDir, 'm')));
    expect(found.length, 'the model found nothing').toBeGreaterThan(0);
    for (const message of found) expect(message).toMatch(/acked seq 2 is not listed/);
  });

  it('without the fsync of the store root after the model directory is created, a power cut loses the first checkpoint', async () => {
    const s = scenarios[0];
    const found = await violations(s, withoutDirFsync(s.trace, 0, s.runDir));
    expect(found.length, 'the model found nothing').toBeGreaterThan(0);
    for (const message of found) expect(message).toMatch(/acked seq 1 is not listed/);
  });
});
