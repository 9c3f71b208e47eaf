// Format benchmark: snapshot, durable write and verified read of one
// checkpoint's bytes, each against the machine's own limit measured in the
// same run on the same bytes. Run: npm run bench:format [-- --scale 0.05]
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { markdownTable } from 'markdown-table';
import { Bench } from 'tinybench';
import { readCheckpointSync, writeCheckpointSync, type Codec } from '../src/index.js';
import { native } from '../src/native.js';
import type { Tensor } from '../src/file/tensors.js';
import { pageAligned, readFully, syncDir, toBuffer, writeAllSync } from './lib/io.js';
import { describeMachine, loadAverage, printMachine } from './lib/machine.js';
import { roundToBf16, transformerAdam, type Workload } from './workloads.js';

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    dir: { type: 'string' },
    time: { type: 'string', default: '1000' },
  },
});
const scale = Number(args.scale);
const time = Number(args.time);
if (!(scale > 0 && scale <= 1)) throw new RangeError(`--scale must be in (0, 1], got ${args.scale}`);
if (!(time >= 0)) throw new RangeError(`--time must be a number of ms, got ${args.time}`);
/** Minimum measured iterations per task (beyond one warm-up), whatever --time says. */
const ITERATIONS = { snapshot: 10, write: 6, read: 8 };

const dir = mkdtempSync(join(args.dir ?? os.tmpdir(), 'tensorkeep-bench-'));
const GB = 1e9;

// ---- measuring and reporting ------------------------------------------------

interface Row {
  name: string;
  meanMs: number;
  rmePct: number;
  samples: number;
  gbps: number;
  /** Throughput relative to the phase's baseline (first row). */
  ratio: number;
  bytes?: number;
  /** Fraction of the raw bytes saved on disk. */
  saved?: number;
  goal: string;
  met: string;
}
interface Goal { label: string; ok: (row: Row, rows: Row[]) => boolean }
interface Case { name: string; fn: () => void; afterEach?: () => void; bytes?: () => number; goals?: Goal[] }
interface Phase { title: string; rows: Row[] }

/** Runs the cases of one phase on the same bytes; the first case is the baseline. */
async function compare(title: string, rawBytes: number, iterations: number, cases: Case[]): Promise<Phase> {
  console.log(`  ${title} …`);
  const bench = new Bench({ name: title, time, iterations, warmupIterations: 1, warmupTime: 0, throws: true });
  for (const c of cases) bench.add(c.name, c.fn, { async: false, afterEach: c.afterEach });
  await bench.run();
  const rows: Row[] = bench.tasks.map((task, i) => {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
    const bytes = cases[i].bytes?.();
    const { mean, rme, samplesCount } = result.latency;
    return {
      name: task.name, meanMs: mean, rmePct: rme, samples: samplesCount, gbps: rawBytes / GB / (mean / 1e3), ratio: 0,
      bytes, saved: bytes === undefined ? undefined : 1 - bytes / rawBytes, goal: '', met: '',
    };
  });
  for (const [i, row] of rows.entries()) {
    row.ratio = rows[0].meanMs / row.meanMs;
    const goals = cases[i].goals ?? [];
    row.goal = goals.map((g) => g.label).join(', ');
    row.met = goals.map((g) => (g.ok(row, rows) ? 'yes' : 'NO')).join(', ');
  }
  global.gc?.();
  return { title, rows };
}

function formatPhases(phases: Phase[]): string {
  const headers = ['task', 'mean ms', '± %', 'GB/s', 'on disk MB', 'fewer bytes', 'vs baseline', 'goal', 'met?'];
  const body = phases.flatMap(({ title, rows }) => [
    [`**${title}**`, '', '', '', '', '', '', '', ''],
    ...rows.map((r) => [
      r.name, r.meanMs.toFixed(1), r.rmePct.toFixed(1), r.gbps.toFixed(2),
      r.bytes === undefined ? '' : (r.bytes / 1e6).toFixed(1), r.saved === undefined ? '' : `${(r.saved * 100).toFixed(1)} %`,
      `${r.ratio.toFixed(2)}×`, r.goal, r.met,
    ]),
  ]);
  return markdownTable([headers, ...body], { align: ['l', ...headers.slice(1).map(() => 'r')] });
}

// ---- the phases ---------------------------------------------------------------

let fileNo = 0;
/** A case writing a fresh file per iteration; deleting it (and committing the delete) stays outside the timing. */
function writeCase(name: string, write: (path: string) => number, goals?: Goal[]): Case {
  let path = '', bytes = 0;
  return {
    name, goals, bytes: () => bytes,
    fn: () => { path = join(dir, `w${++fileNo}.tkpt`); bytes = write(path); },
    afterEach: () => { rmSync(path, { force: true }); syncDir(dir); },
  };
}

const faster = (x: number): Goal => ({ label: `≥ ${x.toFixed(1)}× baseline`, ok: (r) => r.ratio >= x });
const fewerBytes = (pct: number): Goal => ({ label: `≥ ${pct} % fewer bytes`, ok: (r) => (r.saved ?? 0) * 100 >= pct });
const atLeastGBps = (x: number): Goal => ({ label: `≥ ${x} GB/s`, ok: (r) => r.gbps >= x });
const fasterThan = (name: string): Goal => ({
  label: `> ${name}`, ok: (r, rows) => r.meanMs < rows.find((o) => o.name === name)!.meanMs,
});

function sameBytes(a: Buffer, tensors: Array<[string, Tensor]>, offsets: number[]): void {
  tensors.forEach(([name, t], i) => {
    if (!toBuffer(t.data).equals(a.subarray(offsets[i], offsets[i] + t.data.byteLength))) throw new Error(`bytes of ${name} differ`);
  });
}

async function runSet(w: Workload, staging: Buffer, into: Array<[string, Tensor]>, bytesGoal: number): Promise<Phase[]> {
  console.log(`\n${w.name}: ${w.tensors.length} tensors, ${(w.bytes / 1e6).toFixed(1)} MB`);
  const sources = w.tensors.map(([, t]) => t.data);
  const views = sources.map(toBuffer);
  const offsets: number[] = [];
  sources.reduce((off, s) => (offsets.push(off), off + s.byteLength), 0);
  const raw = staging.subarray(0, w.bytes);

  const snapshot = await compare('a. snapshot into a reused staging buffer', w.bytes, ITERATIONS.snapshot, [
    { name: 'memcpy: Buffer.copy, 1 thread (machine limit)', fn: () => views.forEach((v, i) => v.copy(raw, offsets[i])) },
    { name: 'native.snapshot, 1 thread', fn: () => native.snapshot(sources, raw, offsets, 1), goals: [faster(1)] },
    {
      name: 'native.snapshot, 2 threads', fn: () => native.snapshot(sources, raw, offsets, 2),
      goals: [faster(1), fasterThan('native.snapshot, 1 thread')],
    },
  ]);
  sameBytes(raw, w.tensors, offsets); // `raw` now holds the checkpoint's bytes, concatenated

  const checkpoint = (codec: Codec) => (path: string) => writeCheckpointSync(path, w.tensors, { step: 1 }, { codec, level: 1 }).info.bytes;
  const write = await compare('b. durable write (fsync, rename, fsync dir)', w.bytes, ITERATIONS.write, [
    writeCase('write + fsync of the raw bytes (machine limit)', (path) => writeAllSync(path, [raw])),
    writeCase('writeCheckpointSync raw', checkpoint('raw')),
    writeCase('writeCheckpointSync zstd -1 (reference)', checkpoint('zstd')),
    writeCase('writeCheckpointSync shuffle+zstd -1', checkpoint('shuffle+zstd'), [faster(1), fewerBytes(bytesGoal)]),
  ]);

  const files = { bytes: join(dir, 'raw.bin'), raw: join(dir, 'raw.tkpt'), shuffle: join(dir, 'shuffle.tkpt') };
  writeFileSync(files.bytes, raw);
  checkpoint('raw')(files.raw);
  checkpoint('shuffle+zstd')(files.shuffle);
  const dest = into.map(([, t]) => toBuffer(t.data));
  const readInto = (path: string) => () => void readCheckpointSync(path, { into, verify: true });
  for (const path of [files.raw, files.shuffle]) { // warm the page cache, and check the bytes once
    dest.forEach((d) => d.fill(0));
    readInto(path)();
    dest.forEach((d, i) => { if (!d.equals(views[i])) throw new Error(`${path}: ${w.tensors[i][0]} read back different bytes`); });
  }
  readFileSync(files.bytes);
  const read = await compare('c. verified read into existing arrays (page cache)', w.bytes, ITERATIONS.read, [
    {
      name: 'readSync, 1 thread, into a reused Buffer (machine limit)',
      fn: () => {
        const fd = openSync(files.bytes, 'r');
        try { readFully(fd, raw, 0); } finally { closeSync(fd); }
      },
    },
    { name: 'fs.readFileSync, fresh Buffer (reference)', fn: () => void readFileSync(files.bytes) },
    { name: 'readCheckpointSync raw, verify', fn: readInto(files.raw), goals: [atLeastGBps(3)] },
    { name: 'readCheckpointSync shuffle+zstd, verify', fn: readInto(files.shuffle), goals: [atLeastGBps(3)] },
  ]);
  Object.values(files).forEach((f) => rmSync(f));
  syncDir(dir);
  return [snapshot, write, read];
}

// ---- main -----------------------------------------------------------------------

const started = new Date();
const command = `npm run bench:format${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const machine = describeMachine(dir);
console.log(`tensorkeep format benchmark — ${started.toISOString()}`);
printMachine(machine, dir);
console.log(`command: ${command} (--time ${time} ms per task; at least ${JSON.stringify(ITERATIONS)} iterations + 1 warm-up)`);

const results: Array<{ workload: string; tensors: number; rawBytes: number; phases: Phase[] }> = [];
try {
  const t0 = performance.now();
  let w = transformerAdam(scale);
  console.log(`generated ${w.name} in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  const staging = pageAligned(w.bytes);
  // Read targets as a trainer has them: plain arrays, faulted in.
  const into = w.tensors.map(([name, t]): [string, Tensor] => [name, { ...t, data: new Float32Array(t.data.length).fill(1) }]);
  for (const bytesGoal of [15, 60]) {
    if (bytesGoal === 60) w = roundToBf16(w); // the fp32 set is collectable from here
    global.gc?.();
    const phases = await runSet(w, staging, into, bytesGoal);
    console.log(`\n### ${w.name} — ${w.tensors.length} tensors, ${(w.bytes / 1e6).toFixed(1)} MB raw\n`);
    console.log(formatPhases(phases));
    results.push({ workload: w.name, tensors: w.tensors.length, rawBytes: w.bytes, phases });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const loadAverageAtEnd = loadAverage();
console.log(`\nload average at end: ${loadAverageAtEnd.join(' ')} (1, 5, 15 min; ${machine.cores} cores)`);
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const out = join(resultsDir, `format-${started.toISOString().slice(0, 10)}${scale === 1 ? '' : `-scale${scale}`}.json`);
writeFileSync(out, `${JSON.stringify({
  date: started.toISOString(), command, options: { scale, time, iterations: ITERATIONS },
  machine: { ...machine, loadAverageAtEnd }, results,
}, null, 2)}\n`);
console.log(`results: ${out}`);
