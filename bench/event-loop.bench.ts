// The training thread's event loop while the store does disk work after
// open (docs/PERFORMANCE.md, "Event loop at 100 000 checkpoints"): a commit that compacts a catalog
// of 100 000 checkpoints, and episode rolls whose retention drops
// segments, beside an idle loop of the same length (the machine's own
// jitter), interleaved in rounds. Goal: worst delay under 20 ms.
//   npm run bench:event-loop [-- --records 100000 --rounds 5 --dir D]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { markdownTable } from 'markdown-table';
import { Bench } from 'tinybench';
import { open } from '../src/index.js';
import { writeBigCatalog } from '../test/fixtures/big-catalog.js';
import { describeMachine, printMachine } from './lib/machine.js';

const { values: args } = parseArgs({
  options: { records: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '5' }, dir: { type: 'string' } },
});
const RECORDS = Number(args.records);
const ROUNDS = Number(args.rounds);
if (!(Number.isSafeInteger(RECORDS) && RECORDS > 0 && Number.isSafeInteger(ROUNDS) && ROUNDS > 0))
  throw new RangeError('usage: event-loop.bench.ts [--records N] [--rounds N] [--dir D]');
const root = mkdtempSync(join(args.dir ?? os.tmpdir(), 'tensorkeep-loop-bench-'));
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const GOAL_MS = 20;

/** The worst event-loop delay while `work` runs, in ms. */
async function worstDelay(work: () => Promise<unknown>): Promise<{ worstMs: number; ms: number }> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const started = performance.now();
  delay.enable();
  await work();
  delay.disable();
  return { worstMs: delay.max / 1e6, ms: performance.now() - started };
}

let round = 0;
const seen: Record<string, number[]> = { idle: [], compaction: [], roll: [] };
let lastMs = 1000;

/** A commit that takes the journal past 1 MiB: the catalog of RECORDS checkpoints compacts, and flush() waits for it. */
async function compaction(): Promise<void> {
  const dir = join(root, `c${round}`);
  writeBigCatalog(dir, 'm', RECORDS);
  const store = await open(dir, { logger: quiet, handleSignals: false });
  const m = store.model('m');
  const { worstMs, ms } = await worstDelay(() => m.save({ w: new Float32Array(16) }, { step: 1 }).then(() => store.flush()));
  seen.compaction.push(worstMs);
  lastMs = ms;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

/** 256 records of 16 KiB into 64 KiB segments kept to four: a roll every few appends, and each drops a segment. */
async function roll(): Promise<void> {
  const dir = join(root, `e${round}`);
  const segmentBytes = 64 * 1024;
  const noise = (i: number) => ({ time: i, model: 'm', step: i, features: { obs: Float32Array.from({ length: 4096 }, Math.random) } });
  const store = await open(dir, { logger: quiet, handleSignals: false });
  const log = store.episodes('ticks', { commitMs: 0, segmentBytes, keep: { maxBytes: 4 * segmentBytes } });
  const { worstMs } = await worstDelay(async () => {
    for (let i = 0; i < 256; i++) {
      log.append(noise(i));
      if (i % 4 === 3) await log.flush();
    }
  });
  if (log.stats().dropped.segments === 0) throw new Error('no segment was dropped');
  seen.roll.push(worstMs);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

/** An idle loop as long as the last compaction: the machine's own jitter. */
async function idle(): Promise<void> {
  const { worstMs } = await worstDelay(() => new Promise((resolve) => setTimeout(resolve, lastMs)));
  seen.idle.push(worstMs);
}

printMachine(describeMachine(root), root);
console.log(`\n${RECORDS} catalog records, ${ROUNDS} rounds of compaction, episode roll and an idle loop, interleaved\n`);
for (round = 0; round < ROUNDS; round++) {
  // One iteration of each task per round: the disk's swings fall on all three alike.
  const bench = new Bench({ iterations: 1, time: 0, warmupIterations: 0, warmupTime: 0, throws: true });
  bench.add('compaction', compaction).add('roll', roll).add('idle', idle);
  await bench.run();
}
rmSync(root, { recursive: true, force: true });

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
const spread = (xs: number[]) => `${median(xs).toFixed(1)} (${sorted(xs)[0].toFixed(1)}–${sorted(xs).at(-1)!.toFixed(1)})`;
const idleMedian = median(seen.idle);
console.log(markdownTable([
  ['while', 'worst loop delay, ms: median (min–max)', 'vs an idle loop', 'goal', 'met'],
  [`a commit compacts ${RECORDS} records`, spread(seen.compaction), `${(median(seen.compaction) / idleMedian).toFixed(1)}×`, `< ${GOAL_MS} ms`, median(seen.compaction) < GOAL_MS ? 'yes' : 'NO'],
  ['episode rolls drop segments', spread(seen.roll), `${(median(seen.roll) / idleMedian).toFixed(1)}×`, `< ${GOAL_MS} ms`, median(seen.roll) < GOAL_MS ? 'yes' : 'NO'],
  ['nothing (idle loop)', spread(seen.idle), '1.0×', '', ''],
]));
