// Which of a set's contenders are alive together (a wave): as many as the
// machine's memory holds, each child holding the tensors and more. Children
// start in batches that fit by a guess; once set up, each one reserves its
// measured RSS instead. The contenders the report compares most come first,
// so that they share a wave and their per-round ratios stay paired.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { DEFAULT_TK, type Contender } from './contenders.js';
import type { SuiteOptions } from './results.js';

const MB = 1e6;

/** In the first wave together: the default tensorkeep, the durable baseline, the durable-write ways, tensorkeep raw. */
const FIRST = [DEFAULT_TK, 'safetensors-style', 'raw-bytes', 'raw-bytes-8mib', 'raw-bytes-rename', 'tk-raw'];
/** Naive JSON grows towards its heap limit on large sets: with as few others as possible. */
const LAST = ['naive-json'];

/** The contenders in the order they are started: FIRST, then the suite's order, then LAST. */
export function byPriority(contenders: readonly Contender[]): Contender[] {
  const rank = (c: Contender) => (FIRST.includes(c.id) ? FIRST.indexOf(c.id) - FIRST.length : LAST.includes(c.id) ? 1 : 0);
  return [...contenders].sort((a, b) => rank(a) - rank(b));
}

export interface MemoryLimits {
  /** What the wave's children may hold together. */
  budgetBytes: number;
  /** Children alive at once, at most. */
  maxLive: number;
}

/** Memory the machine can give without swapping: MemAvailable (free and reclaimable), within a cgroup's limit. */
function availableBytes(): number {
  let available = os.freemem();
  try {
    const kB = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    if (kB) available = Math.min(available, Number(kB) * 1024);
  } catch {
    // Not Linux: os.freemem() it is.
  }
  return Math.min(available, process.availableMemory?.() ?? Infinity);
}

/** Taken at the start of each set: 70 % of what is available then, unless the options say otherwise. */
export function memoryLimits(options: SuiteOptions): MemoryLimits {
  return {
    budgetBytes: options.memoryBudgetMB !== undefined ? options.memoryBudgetMB * MB : 0.7 * availableBytes(),
    maxLive: options.maxLive ?? Infinity,
  };
}

/** Before set-up: tensors, load targets, a save's staging or encoded copy, a load's read buffer, and Node itself. */
const guess = (rawBytes: number) => 3.5 * rawBytes + 150 * MB;
/** After set-up: its RSS then, plus what a save and a load may add (tfjs-style: a concatenated copy and a read buffer). */
const reserve = (baseRssBytes: number, rawBytes: number) => baseRssBytes + 2 * rawBytes;

/** A started child, and its RSS once set up (null: its set-up failed and it is gone). */
export interface Started<E> { entrant: E; baseRssBytes: number | null }

/**
 * Starts the next wave, taking its contenders from the front of `queue`:
 * a batch that fits the budget by the guess starts at once; after its set-up
 * the measured reservations decide the next batch. A wave has at least one
 * child, whatever its guess: a set larger than the budget still runs.
 */
export async function startWave<E>(
  queue: Contender[], rawBytes: number, limits: MemoryLimits, start: (c: Contender) => Promise<Started<E>>,
): Promise<E[]> {
  const wave: E[] = [];
  let reserved = 0;
  for (;;) {
    const batch: Contender[] = [];
    const fits = () => wave.length + batch.length === 0 || reserved + (batch.length + 1) * guess(rawBytes) <= limits.budgetBytes;
    while (queue.length && wave.length + batch.length < limits.maxLive && fits()) batch.push(queue.shift()!);
    if (!batch.length) return wave;
    for (const { entrant, baseRssBytes } of await Promise.all(batch.map(start))) {
      wave.push(entrant);
      if (baseRssBytes !== null) reserved += reserve(baseRssBytes, rawBytes);
    }
  }
}
