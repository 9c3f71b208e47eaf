import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const dir = tempDir();

function runExample(seconds: number): string {
  return execFileSync(process.execPath, ['--import', 'tsx', 'examples/train.ts', '--dir', join(dir, 'ck'), '--seconds', String(seconds)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

it('npm start trains, checkpoints, and a second run resumes where the first stopped', () => {
  const first = runExample(1);
  expect(first).toMatch(/^fresh start/m);
  const stoppedAt = Number(/stopped at step (\d+)/.exec(first)![1]);
  expect(stoppedAt).toBeGreaterThan(0);
  const second = runExample(1);
  // The final save may have merged into a waiting improvement (then it is "best"): either way it is the newest.
  expect(second).toMatch(new RegExp(`^resumed (final|best) checkpoint #\\d+ at step ${stoppedAt} `, 'm'));
});
