// One contender on one tensor set, in a process of its own (so its peak RSS
// is its own): set up once, then one timed round per request from rounds.ts.
import type { Tensor } from '../../src/file/tensors.js';
import { readSafetensorsSync } from '../lib/safetensors.js';
import { contender } from './contenders.js';
import { serve } from './ipc.js';
import { prepare } from './measure.js';

export interface Job {
  contender: string;
  /** The tensor set, as a safetensors file. */
  workload: string;
  /** An empty directory of the contender's own. */
  dir: string;
}

/** What the parent asks for: the timed work of one turn in a round, saves back to back for turnMs (at least one). */
export interface Query { round: number; turnMs: number }

await serve(async (job: Job) => {
  const c = contender(job.contender);
  const tensors = readSafetensorsSync(job.workload);
  // Load targets as a trainer has them: plain arrays, faulted in. Limits load
  // into buffers of their own: with every contender alive at once, memory counts.
  const into = c.kind === 'limit' ? [] : tensors.map(([name, t]): [string, Tensor] => [name, { ...t, data: new Float32Array(t.data.length).fill(1) }]);
  const measured = await prepare(c, { dir: job.dir, tensors, into });
  return { ready: measured.ready, server: { request: (q: Query) => measured.round(q.round, q.turnMs), end: () => measured.end() } };
});
