// `npm run bench`: tensorkeep against the baselines users would pick and
// against the machine's limits, in one run (docs/PERFORMANCE.md).
//   npm run bench [-- --scale 0.01 --time 500 --iterations 3 --workloads cnn-12m,dqn-100k --variants fp32 --dir /mnt/x --out file.json]
//                 [-- --memory-budget MB --max-live N]  (what a wave of contender processes may hold; default 70 % of the available memory)
//   npm run bench -- --compare A.json B.json
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { codeVersion, describeMachine, loadAverage, printMachine } from './lib/machine.js';
import { compare } from './suite/compare.js';
import { report } from './suite/report.js';
import { VARIANTS, type SuiteOptions, type SuiteResult, type Variant } from './suite/results.js';
import { runSuite } from './suite/run.js';
import { WORKLOADS, type WorkloadName } from './workloads.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    compare: { type: 'boolean', default: false },
    scale: { type: 'string', default: '1' },
    time: { type: 'string', default: '500' },
    iterations: { type: 'string', default: '3' },
    turn: { type: 'string', default: '100' },
    workloads: { type: 'string', default: Object.keys(WORKLOADS).join(',') },
    variants: { type: 'string', default: VARIANTS.join(',') },
    dir: { type: 'string' },
    out: { type: 'string' },
    'memory-budget': { type: 'string' },
    'max-live': { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

if (args.compare) {
  if (positionals.length !== 2) fail('usage: npm run bench -- --compare A.json B.json');
  const [a, b] = positionals.map((file) => JSON.parse(readFileSync(file, 'utf8')) as SuiteResult);
  console.log(compare(a, b));
  process.exit(0);
}
if (positionals.length) fail(`unexpected argument ${positionals[0]} (only --compare takes files)`);

const scale = Number(args.scale);
const options: SuiteOptions = {
  scale,
  time: Number(args.time),
  iterations: Number(args.iterations),
  turn: Number(args.turn),
  workloads: args.workloads.split(',') as WorkloadName[],
  variants: args.variants.split(',') as Variant[],
  // The MLP's training shrinks with the workloads (1000 steps at scale 1: ten periodic saves).
  steps: Math.max(20, Math.round(1000 * scale)),
  rounds: 3,
  ...(args['memory-budget'] !== undefined && { memoryBudgetMB: Number(args['memory-budget']) }),
  ...(args['max-live'] !== undefined && { maxLive: Number(args['max-live']) }),
};
if (!(scale > 0 && scale <= 1)) fail(`Expected --scale in (0, 1] but received ${args.scale}`);
if (!(options.time >= 0)) fail(`Expected a number of ms for --time but received ${args.time}`);
if (!(Number.isInteger(options.iterations) && options.iterations >= 1)) fail(`Expected a positive integer for --iterations but received ${args.iterations}`);
if (!(options.turn >= 0)) fail(`Expected a number of ms for --turn but received ${args.turn}`);
if (options.memoryBudgetMB !== undefined && !(options.memoryBudgetMB >= 0)) fail(`Expected a number of MB for --memory-budget but received ${args['memory-budget']}`);
if (options.maxLive !== undefined && !(Number.isInteger(options.maxLive) && options.maxLive >= 1)) fail(`Expected a positive integer for --max-live but received ${args['max-live']}`);
for (const w of options.workloads) if (!Object.hasOwn(WORKLOADS, w)) fail(`Expected --workloads from ${Object.keys(WORKLOADS).join(', ')} but received ${w}`);
for (const v of options.variants) if (!VARIANTS.includes(v)) fail(`Expected --variants from ${VARIANTS.join(', ')} but received ${v}`);

const started = new Date();
const t0 = performance.now();
const dir = mkdtempSync(join(args.dir ?? os.tmpdir(), 'tensorkeep-bench-'));
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const machine = describeMachine(dir);
console.log(`tensorkeep benchmark suite — ${started.toISOString()}`);
printMachine(machine, dir);
console.log(`command: ${command}\n`);

let measured: Pick<SuiteResult, 'sets' | 'pipeline'>;
try {
  measured = await runSuite(dir, options);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const result: SuiteResult = {
  date: started.toISOString(), command, code: codeVersion(), options,
  machine: { ...machine, loadAverageAtEnd: loadAverage() }, durationS: (performance.now() - t0) / 1e3, ...measured,
};
console.log(`\n${report(result)}\n`);
console.log(`load average at end: ${result.machine.loadAverageAtEnd.join(' ')}; ${result.durationS.toFixed(0)} s in all`);
const out = args.out ?? join(dirname(fileURLToPath(import.meta.url)), 'results', `${result.date.slice(0, 10)}${scale === 1 ? '' : `-scale${scale}`}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`results: ${out}`);
