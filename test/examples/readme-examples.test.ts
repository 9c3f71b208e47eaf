// The README's examples run as written: each ```ts block is a whole program,
// run here in README order in one folder (the last one checks the store the
// others wrote), then the first one again, which must resume. 'tensorkeep'
// resolves to the sources; scripts/package/consumer-test.sh runs the same
// programs against the packed package.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { writeReadmeExamples } from '../../scripts/package/readme-examples.mjs';
import { tempDir } from '../helpers.js';

const repo = resolve(import.meta.dirname, '../..');
// Inside the repository, so that the examples' other imports (tfjs) resolve from its node_modules.
const sources = mkdtempSync(join(repo, 'build', 'readme-examples-'));
afterAll(() => rmSync(sources, { recursive: true, force: true }));
const cwd = tempDir();

const tsconfig = join(sources, 'tsconfig.json');
writeFileSync(tsconfig, JSON.stringify({
  compilerOptions: {
    paths: { tensorkeep: [join(repo, 'src/index.ts')], 'tensorkeep/tfjs': [join(repo, 'src/adapters/tfjs/index.ts')] },
  },
}));

// The examples run in a folder of their own, where `--import tsx` would not resolve.
const tsx = pathToFileURL(join(repo, 'node_modules/tsx/dist/loader.mjs')).href;

function run(file: string): string {
  return execFileSync(process.execPath, ['--import', tsx, join(sources, file)], {
    cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig },
  });
}

it('every example of the README runs as written, and the training loop resumes where it stopped', () => {
  const files = writeReadmeExamples(sources);
  expect(files).toHaveLength(4);
  const [loop, tfjs, episodes, lowLevel] = files;

  const first = run(loop);
  expect(first).toMatch(/^fresh start$/m);
  expect(first).toMatch(/^best loss \d[\d.e-]* at step \d+$/m);
  expect(run(tfjs)).toMatch(/^trained to step \d+; copies: 5 and 5 parameters$/m);
  expect(run(episodes)).toMatch(/^replayed 100 records$/m);
  const checked = run(lowLevel);
  expect(checked).toMatch(/^step 100, loss 0.42, \d+ bytes on disk$/m);
  expect(checked).toMatch(/^store intact$/m);
  // close() took a final save at step 1000, so the second run starts after it.
  expect(run(loop)).toMatch(/^resumed at step 1000$/m);
}, 180_000);
