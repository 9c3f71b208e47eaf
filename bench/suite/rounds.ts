// One tensor set, every contender alive at once in a process of its own,
// driven in rounds: round r asks each contender in turn (starting one further
// along each round) for one timed save and load, until each has its samples
// and the set's time budget is spent. A minute of slow disk then lands on
// every contender alike, and the report can pair them round by round.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { syncDir } from '../lib/io.js';
import type { Job, Query } from './child.js';
import { CONTENDERS, type Contender } from './contenders.js';
import { figuresOfSamples } from './figures.js';
import { Served } from './ipc.js';
import { SLOW_SAVE_MS, WARM_UP, type End, type Placed, type Ready, type RoundSample } from './measure.js';
import type { Row, SuiteOptions } from './results.js';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

interface Entrant {
  contender: Contender;
  child: Served<Ready, Query, RoundSample, End>;
  /** Its own directory, deleted with what it saved once the set is done. */
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

export async function runRounds(dir: string, file: string, options: SuiteOptions): Promise<{ rows: Row[]; rounds: number }> {
  // All start at once: their set-up (reading the tensors) needs no quiet disk; only their timed work does.
  const entrants: Entrant[] = CONTENDERS.map((contender) => {
    const job: Job = { contender: contender.id, workload: file, dir: mkdtempSync(join(dir, `${contender.id}-`)) };
    return { contender, child: new Served(CHILD, job), dir: job.dir, samples: [] };
  });
  for (const e of entrants) {
    const ready = await e.child.ready;
    if ('error' in ready) e.error = ready.error;
    else e.ready = ready.figures;
  }
  // Warm-ups one at a time, once all are set up: each one's time decides whether it is slow.
  for (const e of entrants.filter((e) => !e.error)) {
    const warm = await e.child.request({ round: WARM_UP });
    if ('error' in warm) e.error = warm.error;
    else e.slow = warm.figures.save.doneMs > SLOW_SAVE_MS;
  }
  const budgetMs = options.time * entrants.length;
  const started = performance.now();
  let rounds = 0;
  for (let asked = due(entrants, options, false); asked.length; rounds++) {
    // Rotated so that no contender always runs just after the same one (or first, on a rested disk).
    const order = asked.map((_, i) => asked[(i + rounds) % asked.length]);
    for (const [position, e] of order.entries()) {
      const outcome = await e.child.request({ round: rounds });
      if ('error' in outcome) e.error = outcome.error;
      else e.samples.push({ ...outcome.figures, position });
    }
    asked = due(entrants, options, performance.now() - started >= budgetMs);
  }
  console.log(`    ${rounds} rounds in ${seconds(performance.now() - started)}`);
  const rows: Row[] = [];
  for (const e of entrants) {
    const end = await e.child.end();
    const { start: _start, ...description } = e.contender;
    const error = e.error ?? ('error' in end ? end.error : undefined);
    if (error || 'error' in end) {
      rows.push({ ...description, error });
      console.log(`    ${e.contender.label}: FAILED ${error}`);
    } else {
      rows.push({ ...description, figures: figuresOfSamples(e.contender, e.samples, e.ready!, end.figures) });
    }
    rmSync(e.dir, { recursive: true, force: true });
  }
  syncDir(dir); // the deletes stay out of the next set's figures
  return { rows, rounds };
}
