// Open/close check: `npm run stress:open-close -- --processes N` opens and
// closes a store in N fresh processes, a few at a time, while busy loops
// keep every core loaded. A worker pool started and stopped this quickly
// once aborted the process from Node's require(esm) path; every process
// must exit 0 with nothing fatal on stderr. The processes run the built
// package (dist/, rebuilt first), whose workers load dist/pipeline/worker-entry.cjs.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { processes: { type: 'string', default: '200' }, seed: { type: 'string' }, quiet: { type: 'boolean', default: false } } });
const processes = Number(values.processes);
if (!Number.isSafeInteger(processes) || processes < 1) throw new Error('usage: open-close.ts --processes N');
const child = fileURLToPath(new URL('./open-close-child.mjs', import.meta.url));
execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: 'inherit' });
const root = mkdtempSync(join(tmpdir(), 'tensorkeep-open-close-'));

// The load: one busy loop per core, for as long as the check runs.
const load = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));

function once(i: number): Promise<string | null> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [child, join(root, `s${i}`), String(i)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('close', (code, signal) => {
      if (code === 0 && !/FATAL|Abort/i.test(stderr)) resolve(null);
      else resolve(`process ${i}: exit ${code} signal ${signal}: ${stderr.trim().split('\n').slice(0, 3).join(' / ')}`);
    });
  });
}

const started = performance.now();
const failures: string[] = [];
let next = 0;
// Four processes at once, each with a store of its own.
await Promise.all(Array.from({ length: 4 }, async () => {
  while (next < processes) {
    const problem = await once(next++);
    if (problem) failures.push(problem);
  }
}));
for (const p of load) p.kill();
rmSync(root, { recursive: true, force: true });
for (const f of failures.slice(0, 10)) console.log(f);
console.log(`open-close check: processes ${processes} aborts ${failures.length} in ${((performance.now() - started) / 1000).toFixed(1)} s under ${load.length} busy loops`);
process.exit(failures.length ? 1 : 0);
