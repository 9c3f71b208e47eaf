// One tensor set, its contenders alive together in a process each (all of
// them, or as many as memory holds: waves.ts), driven in rounds: round r asks
// each contender in turn (starting one further along each round) for a turn
// of timed saves and loads (measure.ts), until each has its samples and the
// wave's time budget is spent. A minute of slow disk then lands on every contender of the wave
// alike, and the report can pair them round by round. Then the next wave.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { syncDir } from '../lib/io.js';
import type { Job, Query } from './child.js';
import { CONTENDERS, type Contender } from './contenders.js';
import { figuresOfSamples } from './figures.js';
import { Served } from './ipc.js';
import { SLOW_SAVE_MS, WARM_UP, type End, type Placed, type Ready, type RoundSample } from './measure.js';
import type { Row, SuiteOptions, Wave } from './results.js';
import { byPriority, memoryLimits, startWave, type Started } from './waves.js';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

interface Entrant {
  contender: Contender;
  child: Served<Ready, Query, RoundSample[], End>;
  /** Its own directory, deleted with what it saved once its wave is done. */
  dir: string;
  ready?: Ready;
  /** Its warm-up save took seconds: it is measured once, as the suite always has. */
  slow?: boolean;
  samples: Placed[];
  error?: string;
}

const seconds = (ms: number) => `${(ms / 1e3).toFixed(1)} s`;

const quota = (e: Entrant, options: SuiteOptions) => (e.slow ? 1 : options.iterations);

/** The contenders still measured in a round: the budget spent, only those short of samples. */
function due(entrants: Entrant[], options: SuiteOptions, budgetSpent: boolean): Entrant[] {
  return entrants.filter((e) => !e.error && (e.samples.length < quota(e, options) || (!budgetSpent && !e.slow)));
}

/** Forks the contender's child and waits for its set-up. */
async function setUp(dir: string, file: string, contender: Contender): Promise<Started<Entrant>> {
  const job: Job = { contender: contender.id, workload: file, dir: mkdtempSync(join(dir, `${contender.id}-`)) };
  const e: Entrant = { contender, child: new Served(CHILD, job), dir: job.dir, samples: [] };
  const ready = await e.child.ready;
  if ('error' in ready) e.error = ready.error;
  else e.ready = ready.figures;
  return { entrant: e, contender, baseRssBytes: e.ready?.baseRssBytes ?? null };
}

/** Drives a wave's rounds, numbered on from `firstRound`; returns how many ran. */
async function driveRounds(entrants: Entrant[], options: SuiteOptions, firstRound: number): Promise<number> {
  // Warm-ups one at a time, once all are set up: each one's time decides whether it is slow.
  for (const e of entrants.filter((e) => !e.error)) {
    const warm = await e.child.request({ round: WARM_UP, turnMs: 0 });
    if ('error' in warm) e.error = warm.error;
    else e.slow = warm.figures[0].save.doneMs > SLOW_SAVE_MS;
  }
  const budgetMs = options.time * entrants.length;
  const started = performance.now();
  let rounds = 0;
  for (let asked = due(entrants, options, false); asked.length; rounds++) {
    // Rotated so that no contender always runs just after the same one (or first, on a rested disk).
    const order = asked.map((_, i) => asked[(i + rounds) % asked.length]);
    for (const [position, e] of order.entries()) {
      const outcome = await e.child.request({ round: firstRound + rounds, turnMs: options.turn });
      if ('error' in outcome) e.error = outcome.error;
      else e.samples.push(...outcome.figures.map((sample) => ({ ...sample, position })));
    }
    asked = due(entrants, options, performance.now() - started >= budgetMs);
  }
  console.log(`      ${rounds} rounds in ${seconds(performance.now() - started)}`);
  return rounds;
}

/** Ends a wave's children: a row each, and their directories deleted. */
async function endWave(entrants: Entrant[], wave: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const e of entrants) {
    const end = await e.child.end();
    const { start: _start, ...description } = e.contender;
    const error = e.error ?? ('error' in end ? end.error : undefined);
    if (error || 'error' in end) {
      rows.push({ ...description, wave, error });
      console.log(`    ${e.contender.label}: FAILED ${error}`);
    } else {
      rows.push({ ...description, wave, figures: figuresOfSamples(e.contender, e.samples, e.ready!, end.figures) });
    }
    rmSync(e.dir, { recursive: true, force: true });
  }
  return rows;
}

export interface SetRounds { rows: Row[]; rounds: number; waves: Wave[]; memoryBudgetBytes: number }

export async function runRounds(dir: string, file: string, rawBytes: number, options: SuiteOptions): Promise<SetRounds> {
  const limits = memoryLimits(options);
  const queue = byPriority(CONTENDERS);
  const rows = new Map<string, Row>();
  const waves: Wave[] = [];
  for (let firstRound = 0; queue.length;) {
    // Set-up needs no quiet disk (it reads the tensors); only the timed work does.
    const entrants = await startWave(queue, rawBytes, limits, (c) => setUp(dir, file, c));
    const ids = entrants.map((e) => e.contender.id);
    console.log(`    wave ${waves.length + 1}${queue.length ? '' : waves.length ? ' (last)' : ' (all)'}: ${ids.join(', ')}`);
    const rounds = await driveRounds(entrants, options, firstRound);
    waves.push({ ids, firstRound, rounds });
    for (const row of await endWave(entrants, waves.length)) rows.set(row.id, row);
    syncDir(dir); // the deletes stay out of the next wave's figures
    firstRound += rounds;
  }
  const rounds = waves.reduce((sum, w) => sum + w.rounds, 0);
  return { rows: CONTENDERS.map((c) => rows.get(c.id)!), rounds, waves, memoryBudgetBytes: limits.budgetBytes };
}
