// The figures of one contender on one tensor set, measured with tinybench in
// a process of its own (so its peak RSS is its own).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bench } from 'tinybench';
import { toBuffer } from '../lib/io.js';
import type { Contender, Session, Setting } from './contenders.js';

export interface Figures {
  /** Mean time the save call blocked the calling thread. */
  stallMs: number;
  /** Mean time from the call until the save was done (durable, for a durable contender). */
  durableMs: number | null;
  durableRmePct: number | null;
  saves: number;
  /**
   * Event-loop delay between the call's return and the save's end: the mean
   * over saves of each one's p99, and the max over all; null when the save
   * is synchronous (the loop is blocked for all of it, see stallMs).
   */
  loopP99Ms: number | null;
  loopMaxMs: number | null;
  diskBytes: number | null;
  loadMs: number | null;
  loadRmePct: number | null;
  loads: number;
  /** RSS with the tensors, the load targets and the contender set up, before its first save. */
  baseRssBytes: number;
  /** Peak RSS of the process over every save and load. */
  peakRssBytes: number;
}

export interface MeasureOptions {
  /** Minimum measured time per task, ms. */
  time: number;
  /** Minimum measured iterations per task (after one warm-up). */
  iterations: number;
}

/** Sampling interval of the event-loop monitor; every sample is at least this long. */
const LOOP_RESOLUTION_MS = 1;
const loopMs = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);

function sameBytes(setting: Setting): void {
  for (const [i, [name, t]] of setting.into.entries()) {
    if (!toBuffer(t.data).equals(toBuffer(setting.tensors[i][1].data))) throw new Error(`load gave different bytes for ${name}`);
  }
}

interface TimedSave { stallMs: number; doneMs: number; loop: { p99Ms: number; maxMs: number } | null }

/** One save as the trainer sees it: the stall, the time until done, and the loop's delays in between. */
async function timedSave(session: Session, step: number, monitor: IntervalHistogram): Promise<TimedSave> {
  const t0 = performance.now();
  const pending = session.save(step);
  const stallMs = performance.now() - t0;
  if (!pending) return { stallMs, doneMs: stallMs, loop: null };
  // Reset after the call: the monitor's next sample would otherwise count the stall again.
  monitor.reset();
  const doneMs = await pending.then(() => performance.now() - t0);
  await sleep(2 * LOOP_RESOLUTION_MS); // a block at the very end (the commit) shows on the monitor's next tick
  const loop = monitor.count ? { p99Ms: loopMs(monitor.percentile(99)), maxMs: loopMs(monitor.max) } : { p99Ms: 0, maxMs: 0 };
  return { stallMs, doneMs, loop };
}

/** A warm-up save slower than this is measured once more only: the 10-minute budget is for the whole suite. */
const SLOW_SAVE_MS = 2000;

export async function measure(contender: Contender, setting: Setting, options: MeasureOptions): Promise<Figures> {
  const session = await contender.start(setting);
  global.gc?.();
  const baseRssBytes = process.memoryUsage.rss();
  const monitor = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  let step = 0;
  // The warm-up, outside the figures: pages faulted, code compiled. A slow
  // contender skips the load's: a few ms of first-load effects are lost in seconds.
  const warm = await timedSave(session, ++step, monitor);
  session.afterSave?.();
  const slow = warm.doneMs > SLOW_SAVE_MS;
  if (!slow) await session.load?.();
  const bench = new Bench({ time: slow ? 0 : options.time, iterations: slow ? 1 : options.iterations, warmup: false, throws: true });
  // Running sums, not arrays: a memcpy of 40 KB runs a million times in the time budget.
  const sums = { stallMs: 0, saves: 0, loopP99Ms: 0, loops: 0, loopMaxMs: 0 };
  bench.add('save', async () => {
    const timed = await timedSave(session, ++step, monitor);
    sums.stallMs += timed.stallMs;
    sums.saves++;
    if (timed.loop) {
      sums.loopP99Ms += timed.loop.p99Ms;
      sums.loops++;
      sums.loopMaxMs = Math.max(sums.loopMaxMs, timed.loop.maxMs);
    }
    return { overriddenDuration: timed.doneMs };
  }, {
    beforeAll: () => void monitor.enable(),
    afterAll: () => void monitor.disable(),
    afterEach: () => session.afterSave?.(),
  });
  if (session.load) bench.add('load', () => session.load!());
  await bench.run();

  const [save, load] = bench.tasks.map((task) => {
    if (task.result.state !== 'completed') throw new Error(`${task.name}: ${task.result.state}`);
    return task.result.latency;
  });
  if (load && contender.kind !== 'limit') sameBytes(setting);
  const figures: Figures = {
    stallMs: sums.stallMs / sums.saves,
    durableMs: contender.writes ? save.mean : null,
    durableRmePct: contender.writes ? save.rme : null,
    saves: save.samplesCount,
    loopP99Ms: sums.loops ? sums.loopP99Ms / sums.loops : null,
    loopMaxMs: sums.loops ? sums.loopMaxMs : null,
    diskBytes: session.bytesOnDisk?.() ?? null,
    loadMs: load?.mean ?? null,
    loadRmePct: load?.rme ?? null,
    loads: load?.samplesCount ?? 0,
    baseRssBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  await session.close();
  return figures;
}
