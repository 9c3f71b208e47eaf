// Which of a set's contenders are alive together (a wave): as many as the
// machine's memory holds, each child holding the tensors and more. Children
// start in batches that fit by a guess; once set up, each one reserves its
// measured RSS instead. The contenders the report compares most come first,
// so that they share a wave and their per-round ratios stay paired.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import { DEFAULT_TK, type Contender } from './contenders.js';
import type { SuiteOptions } from './results.js';

const MB = 1e6;

/** In the first wave together: the default tensorkeep, the durable baseline, the durable-write ways, tensorkeep raw, the copy limits. */
const FIRST = [DEFAULT_TK, 'safetensors-style', 'raw-bytes', 'raw-bytes-8mib', 'raw-bytes-rename', 'tk-raw', 'memcpy-1-native', 'memcpy-2'];
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

/**
 * What a save and a load add to a child's RSS past its set-up, as measured
 * (peak − base RSS, bench/results/2026-11-23.json and scale 0.05 runs): a
 * tensorkeep copy snapshot its staging (1.1 × raw) and its workers' buffers;
 * tfjs-style a concatenated copy and a read buffer (3 × raw); a limit or
 * safetensors-style next to nothing; naive JSON grows until V8's heap limit
 * stops it (the children run with the parent's defaults).
 */
function growth(c: Contender, rawBytes: number): number {
  if (c.id === 'naive-json') return v8.getHeapStatistics().heap_size_limit;
  const perRaw = c.id === 'tfjs-style' ? 3 : c.kind === 'tensorkeep' ? 1.2 : 0.1;
  return perRaw * rawBytes + 100 * MB;
}

/** Before set-up: Node itself, the tensors and the load targets (a limit's own buffer instead), and the growth. */
const guess = (c: Contender, rawBytes: number) => 150 * MB + 2 * rawBytes + growth(c, rawBytes);
/** After set-up: its RSS then, and the growth. */
const reserve = (c: Contender, baseRssBytes: number, rawBytes: number) => baseRssBytes + growth(c, rawBytes);

/** A started child, and its RSS once set up (null: its set-up failed and it is gone). */
export interface Started<E> { entrant: E; contender: Contender; baseRssBytes: number | null }

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
    let planned = reserved;
    const fits = (c: Contender) => wave.length + batch.length === 0 || planned + guess(c, rawBytes) <= limits.budgetBytes;
    while (queue.length && wave.length + batch.length < limits.maxLive && fits(queue[0])) {
      planned += guess(queue[0], rawBytes);
      batch.push(queue.shift()!);
    }
    if (!batch.length) return wave;
    for (const { entrant, contender, baseRssBytes } of await Promise.all(batch.map(start))) {
      wave.push(entrant);
      if (baseRssBytes !== null) reserved += reserve(contender, baseRssBytes, rawBytes);
    }
  }
}
