// One contender on one tensor set, in a process of its own (so its peak RSS
// is its own). run.ts passes the job and gets the figures back (ipc.ts).
import type { Tensor } from '../../src/file/tensors.js';
import { readSafetensorsSync } from '../lib/safetensors.js';
import { contender } from './contenders.js';
import { answer } from './ipc.js';
import { measure, type MeasureOptions } from './measure.js';

export interface Job extends MeasureOptions {
  contender: string;
  /** The tensor set, as a safetensors file. */
  workload: string;
  /** An empty directory of the contender's own. */
  dir: string;
}

await answer(async (job: Job) => {
  const tensors = readSafetensorsSync(job.workload);
  // Load targets as a trainer has them: plain arrays, faulted in.
  const into = tensors.map(([name, t]): [string, Tensor] => [name, { ...t, data: new Float32Array(t.data.length).fill(1) }]);
  return measure(contender(job.contender), { dir: job.dir, tensors, into }, job);
});
