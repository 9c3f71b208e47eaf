// npm start (examples/realtime): four models train, checkpoint, and a second
// run resumes every one of them where the first stopped.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const MODELS = ['dqn', 'cnn', 'cob-rl', 'extrema'];
const dir = join(tempDir(), 'checkpoints');

function npmStart(seconds: number): string {
  // Throws unless the exit code is 0.
  return execFileSync('npm', ['start', '--silent', '--', '--seconds', String(seconds), '--dir', dir], { encoding: 'utf8', timeout: 90_000 });
}

/** The step each model reached, from the summary table ("│ dqn │ '0 -> 183' │ ..."). */
function finalSteps(output: string): Record<string, number> {
  return Object.fromEntries(MODELS.map((m) => [m, Number(new RegExp(`│ ${m} +│ '\\d+ -> (\\d+)'`).exec(output)![1])]));
}

it('npm start trains four models with checkpoints, and a second run resumes all four', () => {
  const first = npmStart(5);
  for (const m of MODELS) expect(first).toMatch(new RegExp(`^${m} +fresh start$`, 'm'));
  const reached = finalSteps(first);
  for (const m of MODELS) {
    expect(reached[m]).toBeGreaterThan(0);
    expect(readdirSync(join(dir, m)).filter((f) => f.endsWith('.tkpt')).length).toBeGreaterThan(0);
  }

  const second = npmStart(5);
  // The newest checkpoint of each model is the final one of the first run, at the step it stopped.
  for (const m of MODELS) expect(second).toMatch(new RegExp(`^${m} +resumed checkpoint #\\d+ \\(\\w+\\) at step ${reached[m]}; best: \\w+ `, 'm'));
  expect(second).toMatch(/^market +resumed at tick \d+/m);
  for (const [m, step] of Object.entries(finalSteps(second))) expect(step).toBeGreaterThan(reached[m]);
});
