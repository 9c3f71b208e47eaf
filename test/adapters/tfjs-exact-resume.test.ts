// Exact resume: N steps, checkpoint, process exits; a fresh process resumes
// and trains M steps. Its weights and optimizer state must equal, bit for bit,
// those of one uninterrupted N+M-step run (CPU backend, fixed seeds).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { sameBytes, tempDir } from '../helpers.js';

const TRAINER = fileURLToPath(new URL('../fixtures/tfjs-resume.ts', import.meta.url));
const dir = tempDir();
// N = 5: mid-epoch (40 of 64 samples seen), and an iteration count where
// pow(beta2, t) differs from Adam's running product in the last bit.
const N = 5;
const M = 6; // crosses the epoch boundary, so the restored RNG reshuffles

function train(store: string, steps: number, mode?: 'resume'): void {
  execFileSync(process.execPath, ['--import', 'tsx', TRAINER, store, String(steps), ...(mode ? [mode] : [])], { timeout: 60_000 });
}

async function latest(store: string) {
  const s = await open(store, { readOnly: true });
  const loaded = await s.model('trainer').load('latest');
  await s.close();
  return loaded;
}

it('a run resumed in a fresh process continues bit for bit like one that never stopped', async () => {
  const straight = join(dir, 'straight');
  const interrupted = join(dir, 'interrupted');
  train(straight, N + M);
  train(interrupted, N);
  train(interrupted, M, 'resume');

  const [a, b] = [await latest(straight), await latest(interrupted)];
  expect([b.step, b.epoch]).toEqual([N + M, 1]);
  expect([a.step, a.epoch]).toEqual([b.step, b.epoch]);
  expect(b.meta.state).toEqual(a.meta.state);
  const names = Object.keys(a.tensors);
  expect(Object.keys(b.tensors)).toEqual(names);
  // model weights (batch-norm statistics too), Adam's iteration count, m, v and beta powers
  expect(names).toEqual(expect.arrayContaining(['iter', 'optimizer/accBeta1', 'optimizer/accBeta2']));
  for (const name of names) expect(sameBytes(b.tensors[name].data, a.tensors[name].data), name).toBe(true);
});
