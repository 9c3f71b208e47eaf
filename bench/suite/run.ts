// Runs the suite: every workload (fp32, then bf16-rounded) against every
// contender, a set's contenders driven in rounds (rounds.ts), in waves where
// memory is short, on the same bytes in the same directory, then the save
// pipeline's own figures.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSafetensorsSync } from '../lib/safetensors.js';
import { roundToBf16, WORKLOADS, type Workload, type WorkloadName } from '../workloads.js';
import { runChild } from './ipc.js';
import { limitsOf } from './limits.js';
import type { PipelineFigures, PipelineJob } from './pipeline.js';
import type { SetResult, SuiteOptions, SuiteResult, Variant } from './results.js';
import { runRounds } from './rounds.js';

const PIPELINE = fileURLToPath(new URL('./pipeline.ts', import.meta.url));

const seconds = (since: number) => `${((performance.now() - since) / 1e3).toFixed(1)} s`;

interface SetFile { variant: Variant; file: string; name: string; tensors: number; rawBytes: number }

/**
 * Writes the variants of a workload as safetensors files: children read
 * them from the page cache in a fraction of the seconds that generating
 * 550 MB takes. The tensors are collectable once this returns.
 */
function writeSets(dir: string, name: WorkloadName, scale: number, variants: Variant[]): SetFile[] {
  const fp32 = WORKLOADS[name](scale);
  const made: Record<Variant, () => Workload> = { fp32: () => fp32, bf16: () => roundToBf16(fp32) };
  return variants.map((variant) => {
    const w = made[variant]();
    const file = join(dir, `${name}-${variant}.safetensors`);
    writeSafetensorsSync(file, w.tensors);
    return { variant, file, name: w.name, tensors: w.tensors.length, rawBytes: w.bytes };
  });
}

/** Runs every set and the pipeline figures in `dir`, which it leaves empty. */
export async function runSuite(dir: string, options: SuiteOptions): Promise<Pick<SuiteResult, 'sets' | 'pipeline'>> {
  const sets: SetResult[] = [];
  for (const workload of options.workloads) {
    const started = performance.now();
    const files = writeSets(dir, workload, options.scale, options.variants);
    console.log(`${workload}: generated in ${seconds(started)}`);
    for (const { file, ...set } of files) {
      console.log(`  ${set.name}: ${set.tensors} tensors, ${(set.rawBytes / 1e6).toFixed(1)} MB`);
      const { rows, ...measured } = await runRounds(dir, file, set.rawBytes, options);
      sets.push({ workload, ...set, rows, ...measured, limits: limitsOf(rows) });
      rmSync(file);
    }
  }
  console.log('save pipeline: skip cost, training overhead');
  const job: PipelineJob = { dir, time: options.time, steps: options.steps, rounds: options.rounds };
  const pipeline = await runChild<PipelineFigures>(PIPELINE, job);
  if ('error' in pipeline) console.log(`  FAILED ${pipeline.error}`);
  return { sets, pipeline };
}
