// One contender on one tensor set, in a process of its own (so its peak RSS
// is its own), timed at the parent's request for one turn of a round: saves
// (each with a load) back to back for --turn ms, or one when a save takes
// longer. The parent interleaves the contenders (rounds.ts).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { toBuffer } from '../lib/io.js';
import type { Contender, Session, Setting } from './contenders.js';

/** One timed save: the stall on the calling thread, the time until done, and the loop's delays in between. */
export interface SaveSample {
  round: number;
  stallMs: number;
  /** Until done (durable, for a durable contender). */
  doneMs: number;
  /** Null when the save is synchronous (the loop is blocked for all of it). */
  loop: { p99Ms: number; maxMs: number } | null;
}

export interface LoadSample { round: number; ms: number }

/** One save of a turn, then a load where the contender has one. */
export interface RoundSample { save: SaveSample; load: LoadSample | null }

/** A round's sample and the contender's place in that round's order (set by the parent). */
export type Placed = RoundSample & { position: number };

export interface Ready {
  /** RSS with the tensors, the load targets and the contender set up, before its first save. */
  baseRssBytes: number;
}

export interface End {
  diskBytes: number | null;
  /** Peak RSS of the process over every save and load. */
  peakRssBytes: number;
}

/** Sampling interval of the event-loop monitor; every sample is at least this long. */
const LOOP_RESOLUTION_MS = 1;
const loopMs = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);

/** A warm-up save slower than this is measured once more only (naive JSON of the largest sets): the suite has a time budget. */
export const SLOW_SAVE_MS = 10_000;



/** The round of the warm-up, which the parent asks for first and leaves out of the figures. */
export const WARM_UP = -1;

function sameBytes(setting: Setting): void {
  for (const [i, [name, t]] of setting.into.entries()) {
    if (!toBuffer(t.data).equals(toBuffer(setting.tensors[i][1].data))) throw new Error(`load gave different bytes for ${name}`);
  }
}

async function timedSave(session: Session, step: number, round: number, monitor: IntervalHistogram): Promise<SaveSample> {
  monitor.enable();
  try {
    return await timed(session, step, round, monitor);
  } finally {
    monitor.disable();
  }
}

async function timed(session: Session, step: number, round: number, monitor: IntervalHistogram): Promise<SaveSample> {
  const t0 = performance.now();
  const pending = session.save(step);
  const stallMs = performance.now() - t0;
  if (!pending) return { round, stallMs, doneMs: stallMs, loop: null };
  // Reset after the call: the monitor's next sample would otherwise count the stall again.
  monitor.reset();
  const doneMs = await pending.then(() => performance.now() - t0);
  await sleep(2 * LOOP_RESOLUTION_MS); // a block at the very end (the commit) shows on the monitor's next tick
  const loop = monitor.count ? { p99Ms: loopMs(monitor.percentile(99)), maxMs: loopMs(monitor.max) } : { p99Ms: 0, maxMs: 0 };
  return { round, stallMs, doneMs, loop };
}

async function timedLoad(session: Session, round: number): Promise<LoadSample> {
  const t0 = performance.now();
  await session.load!();
  return { round, ms: performance.now() - t0 };
}

/** Sets the contender up; the parent then asks for the warm-up (pages faulted, code compiled), then each round. */
export async function prepare(contender: Contender, setting: Setting) {
  const session = await contender.start(setting);
  global.gc?.();
  const ready: Ready = { baseRssBytes: process.memoryUsage.rss() };
  const monitor = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  let step = 0;
  return {
    ready,
    /**
     * A turn saves again until `turnMs` have passed. A single save after the
     * other contenders' turns runs on cold caches and a parked worker thread
     * (up to 1 ms more for a 414 KB save here); back to back, as a trainer
     * that saves often runs them, the later ones do not.
     */
    async round(round: number, turnMs: number): Promise<RoundSample[]> {
      const samples: RoundSample[] = [];
      const started = performance.now();
      do {
        const save = await timedSave(session, ++step, round, monitor);
        session.afterSave?.();
        // A slow contender skips the warm-up load: a few ms of first-load effects are lost in seconds.
        const load = session.load && !(round === WARM_UP && save.doneMs > SLOW_SAVE_MS);
        samples.push({ save, load: load ? await timedLoad(session, round) : null });
        await session.prune?.();
      } while (round !== WARM_UP && performance.now() - started < turnMs);
      return samples;
    },
    async end(): Promise<End> {
      // Limits load into buffers of their own; the others must have loaded the bytes they saved.
      if (session.load && contender.kind !== 'limit') sameBytes(setting);
      const end: End = { diskBytes: session.bytesOnDisk?.() ?? null, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
      await session.close();
      return end;
    },
  };
}
