// Episode-log benchmark (issue "Complete training episodes"): records of a
// 64-row × 32-column float64 frame plus a 256-float feature vector (17.4 KB
// raw), each task beside the machine's limit on the same bytes and beside
// the obvious alternative, JSON lines with fs.appendFile and an fsync every
// 100 ms, all in the same run. Run: npm run bench:episodes [-- --records 2000 --time 1000]
import { appendFile, open as openFile } from 'node:fs/promises';
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { open, type EpisodeRecord } from '../src/index.js';
import { markdownTable } from 'markdown-table';
import { describeMachine, printMachine } from './lib/machine.js';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1000' },
    time: { type: 'string', default: '1000' },
    dir: { type: 'string' },
  },
});
const N = Number(args.records);
const time = Number(args.time);
if (!(Number.isSafeInteger(N) && N > 0) || !(time >= 0)) throw new RangeError('usage: episodes.bench.ts [--records N] [--time ms] [--dir D]');
const dir = mkdtempSync(join(args.dir ?? os.tmpdir(), 'tensorkeep-episodes-bench-'));
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

// ---- the records -----------------------------------------------------------------

const ROWS = 64;
const COLUMNS = 32;
/** Market-like columns: random walks quoted to 1/100 (prices), or ±1 % noise around them (indicators). */
function makeRecord(k: number, seed: { v: number }): EpisodeRecord {
  const rand = () => ((seed.v = (seed.v * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const columns: Record<string, Float64Array> = {};
  for (let c = 0; c < COLUMNS; c++) {
    const col = new Float64Array(ROWS);
    let x = 100 + c + rand();
    for (let r = 0; r < ROWS; r++) col[r] = c % 2 ? Math.round((x += rand() - 0.5) * 100) / 100 : x * (1 + (rand() - 0.5) / 50);
    columns[`c${c}`] = col;
  }
  const obs = Float32Array.from({ length: 256 }, () => rand() * 2 - 1);
  return { time: 1.8e12 + k * 1000, model: 'trader', episode: Math.floor(k / 100), step: k, action: 'hold', reward: rand() - 0.5, frame: { columns }, features: { obs } };
}
const seed = { v: 42 };
const records = Array.from({ length: N }, (_, k) => makeRecord(k, seed));
const RAW = ROWS * COLUMNS * 8 + 256 * 4; // numeric bytes of one record
/** The records' numeric bytes, concatenated: what the machine-limit tasks write and read. */
const raw = Buffer.alloc(N * RAW);
records.forEach((r, k) => {
  let at = k * RAW;
  for (const col of Object.values(r.frame!.columns) as Float64Array[]) at += Buffer.from(col.buffer).copy(raw, at);
  Buffer.from((r.features!.obs as Float32Array).buffer).copy(raw, at);
});
const jsonLine = (r: EpisodeRecord) => `${JSON.stringify(r, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v))}\n`;

// ---- measuring --------------------------------------------------------------------

interface Row { task: string; meanMs: number; rme: number; unit: number; ratio: string; goal: string; met: string }
/** One phase: tasks on the same N records; ratios against the first (the machine's limit). */
async function phase(title: string, tasks: Array<{ name: string; fn: () => unknown; after?: () => void | Promise<void>; per: 'record' | 'second'; goal?: [string, (v: number) => boolean] }>): Promise<Row[]> {
  console.log(`  ${title} …`);
  const bench = new Bench({ time, iterations: 5, warmupIterations: 1, warmupTime: 0, throws: true });
  for (const t of tasks) bench.add(t.name, t.fn, { afterEach: t.after });
  await bench.run();
  const latency = (i: number) => {
    const result = bench.tasks[i].result;
    if (result.state !== 'completed') throw new Error(`${bench.tasks[i].name}: ${result.state}`);
    return result.latency;
  };
  const base = latency(0).mean;
  return bench.tasks.map((task, i) => {
    const { mean, rme } = latency(i);
    const t = tasks[i];
    const unit = t.per === 'record' ? (mean * 1000) / N : N / (mean / 1000);
    return {
      task: `${title}: ${task.name}`, meanMs: mean, rme, unit, ratio: `${(base / mean).toFixed(2)}×`,
      goal: t.goal?.[0] ?? '', met: t.goal ? (t.goal[1](unit) ? 'yes' : 'NO') : '',
    };
  });
}

let fileNo = 0;
const writeAll = (path: string, data: Buffer) => {
  const fd = openSync(path, 'w');
  for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
  fsyncSync(fd);
  closeSync(fd);
};

/** JSON lines appended one fs.appendFile each, fsync'd every 100 ms and at the end (the records count as acknowledged then). */
async function jsonLines(path: string): Promise<void> {
  let synced = performance.now();
  const sync = async () => {
    const fh = await openFile(path, 'r+');
    await fh.sync();
    await fh.close();
    synced = performance.now();
  };
  for (const r of records) {
    await appendFile(path, jsonLine(r));
    if (performance.now() - synced >= 100) await sync();
  }
  await sync();
}

// ---- main --------------------------------------------------------------------------

console.log(`tensorkeep episode-log benchmark — ${new Date().toISOString()}`);
printMachine(describeMachine(dir), dir);
console.log(`records: ${N} per iteration, ${ROWS} × ${COLUMNS} float64 frame + 256 float32 features = ${RAW} numeric bytes each; --time ${time} ms per task`);

const store = await open(join(dir, 'store'), { logger: quiet });
const log = store.episodes('bench');
try {
  const appendRows = await phase('append', [
    { name: 'copy the numeric bytes into a reused buffer (machine limit)', per: 'record', fn: () => records.forEach((_, k) => raw.copy(raw, 0, k * RAW, k * RAW + RAW)) },
    { name: 'EpisodeLog.append() on the calling thread', per: 'record', fn: () => records.forEach((r) => log.append(r)), after: () => log.flush(), goal: ['≤ 25 µs per record', (us) => us <= 25] },
    { name: 'JSON.stringify of the record (reference)', per: 'record', fn: () => records.forEach(jsonLine) },
  ]);
  const durableRows = await phase('acknowledged appends', [
    { name: 'write + fsync of the numeric bytes (machine limit)', per: 'second', fn: () => writeAll(join(dir, `raw${++fileNo}`), raw), after: () => rmSync(join(dir, `raw${fileNo}`)) },
    { name: 'EpisodeLog.append() × N, then every durable', per: 'second', fn: async () => { records.forEach((r) => log.append(r)); await log.flush(); }, goal: ['≥ 40 000 records/s', (rate) => rate >= 40_000] },
    { name: 'JSON lines: fs.appendFile + fsync every 100 ms', per: 'second', fn: () => jsonLines(join(dir, `lines${++fileNo}.jsonl`)), after: () => rmSync(join(dir, `lines${fileNo}.jsonl`)) },
  ]);
  // Replay from the page cache: the N records in a stream of their own, the same bytes as one file, the same records as JSON lines.
  const replayLog = store.episodes('replay');
  records.forEach((r) => replayLog.append(r));
  await replayLog.flush();
  const linesPath = join(dir, 'replay.jsonl');
  await jsonLines(linesPath);
  const rawPath = join(dir, 'replay.bin');
  writeAll(rawPath, raw);
  const countReplay = async () => {
    let n = 0;
    for await (const r of replayLog.replay()) n += r.frame ? 1 : 0;
    if (n !== N) throw new Error(`replayed ${n} of ${N}`);
  };
  await countReplay(); // warm
  const readBuffer = Buffer.alloc(raw.length);
  const replayRows = await phase('replay from the page cache', [
    { name: 'readSync of the numeric bytes into a reused buffer (machine limit)', per: 'second', fn: () => { const fd = openSync(rawPath, 'r'); for (let o = 0; o < raw.length;) o += readSync(fd, readBuffer, o, raw.length - o, o); closeSync(fd); } },
    { name: 'EpisodeLog.replay({from}), every record decoded', per: 'second', fn: countReplay, goal: ['≥ 2 GB/s', (rate) => (rate * RAW) / 1e9 >= 2] },
    { name: 'JSON lines: readFileSync + JSON.parse + Float64Array.from', per: 'second', fn: () => readFileSync(linesPath, 'utf8').split('\n').filter(Boolean).forEach((l) => { const r = JSON.parse(l); for (const c of Object.values(r.frame.columns)) Float64Array.from(c as number[]); }) },
  ]);
  const body = [...appendRows, ...durableRows, ...replayRows].map((r) => {
    const perRecord = r.task.startsWith('append');
    const value = perRecord ? `${r.unit.toFixed(2)} µs/record` : `${Math.round(r.unit).toLocaleString('en')} rec/s = ${((r.unit * RAW) / 1e6).toFixed(0)} MB/s`;
    return [r.task, r.meanMs.toFixed(1), r.rme.toFixed(1), value, r.ratio, r.goal, r.met];
  });
  const headers = ['task (N records per iteration)', 'mean ms', '± %', 'rate', 'vs limit', 'goal', 'met?'];
  console.log(`\n${markdownTable([headers, ...body], { align: ['l', ...headers.slice(1).map(() => 'r')] })}`);
  const onDisk = replayLog.stats().bytesOnDisk;
  console.log(`\nbytes on disk for the ${N} records: episode log ${(onDisk / 1e6).toFixed(2)} MB = ${(onDisk / (N * RAW)).toFixed(3)}× their numeric bytes;` +
    ` JSON lines ${(statSync(linesPath).size / 1e6).toFixed(2)} MB = ${(statSync(linesPath).size / (N * RAW)).toFixed(3)}×`);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
