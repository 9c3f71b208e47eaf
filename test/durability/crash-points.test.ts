// Crash-point enumeration (issue "Crash, fault and bad-input harness", part 2):
// a child process (test/fixtures/cycle.ts) runs one save + commit + evict
// cycle under TENSORKEEP_FAULTS=crash_at=k, which SIGKILLs it just before its
// k-th system call through the native seam; this runs every k from 1 to the
// number of calls the cycle makes (store open and close included), then
// reopens the store here and checks the promise of docs/RELIABILITY.md.
//
// Prior state: one committed checkpoint (seq 1, step 0, loss 1) written by an
// earlier child without faults. The cycle saves seq 2 (step 1, loss 0.5, an
// improvement), and keep.best 1 makes retention evict seq 1 after it.
// Scenario "dirty" adds a crash leftover in .tmp/, so the open also repairs
// and compacts (catalog.json written atomically, journal truncated);
// "compacting" starts with a journal just under the compaction size, so the
// commit sets off a compaction off the event loop while the cycle goes on.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { bloatJournal, contentHash, cycleTensors } from '../fixtures/cycle.js';
import { checkCycleState } from '../fixtures/cycle-checks.js';

const CYCLE = fileURLToPath(new URL('../fixtures/cycle.ts', import.meta.url));
const CWD = fileURLToPath(new URL('../..', import.meta.url));
const NEVER = 'crash_at=999999999'; // arms the seam's counter, never fires
const root = tempDir();

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  acked: { seq: number; hash: string } | null;
  calls: number | null;
}

function parse(code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): ChildResult {
  const a = /^acked (\d+) (\S+)$/m.exec(stdout);
  const c = /^calls (\d+)$/m.exec(stdout);
  return { code, signal, stdout, stderr, acked: a ? { seq: Number(a[1]), hash: a[2] } : null, calls: c ? Number(c[1]) : null };
}

function args(dir: string, phase: string): string[] {
  return ['--import', 'tsx', CYCLE, '--dir', dir, '--phase', phase];
}

function runSync(dir: string, phase: string, faults: string): ChildResult {
  const r = spawnSync(process.execPath, args(dir, phase), {
    cwd: CWD, encoding: 'utf8', env: { ...process.env, TENSORKEEP_FAULTS: faults }, timeout: 60_000,
  });
  return parse(r.status, r.signal, r.stdout, r.stderr);
}

function run(dir: string, phase: string, faults: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args(dir, phase), { cwd: CWD, env: { ...process.env, TENSORKEEP_FAULTS: faults } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(parse(code, signal, stdout, stderr));
    });
  });
}

// Runs the child runs `concurrency` at a time, in order of request.
function limiter(concurrency: number) {
  const queue: Array<() => void> = [];
  let active = 0;
  const next = () => {
    if (active >= concurrency || queue.length === 0) return;
    active++;
    queue.shift()!();
  };
  return <T>(task: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => task().then(resolve, reject).finally(() => { active--; next(); }));
      next();
    });
}
const limit = limiter(Math.max(2, Math.min(4, availableParallelism())));

// ---------------------------------------------------------------------------
// The prior state, and the number of counted calls of one cycle.

const base = join(root, 'base');
const prepared = runSync(base, 'prepare', '');
if (prepared.code !== 0 || prepared.acked?.seq !== 1) throw new Error(`prepare failed (${prepared.code} ${prepared.signal}): ${prepared.stderr}`);

const dirtyBase = join(root, 'base-dirty');
cpSync(base, dirtyBase, { recursive: true });
mkdirSync(join(dirtyBase, 'm', '.tmp'), { recursive: true });
// What a writer killed mid-save leaves behind (docs/ARCHITECTURE.md, "Where this differs from the starting design").
writeFileSync(join(dirtyBase, 'm', '.tmp', '00000002-s1.tkpt.4242.0.partial'), Buffer.alloc(3000, 7));

interface Scenario {
  name: string;
  base: string;
  /** Counted calls of the fault-free cycle. */
  calls: number;
  clean: ChildResult;
}

function scenario(name: string, from: string): Scenario {
  const dir = join(root, `${name}-count`);
  cpSync(from, dir, { recursive: true });
  const clean = runSync(dir, 'cycle', NEVER);
  if (clean.code !== 0 || clean.calls === null || clean.acked?.seq !== 2)
    throw new Error(`the fault-free ${name} cycle failed (${clean.code} ${clean.signal}): ${clean.stdout} ${clean.stderr}`);
  return { name, base: from, calls: clean.calls, clean };
}

// A journal just under the compaction size: the commit takes it over, and the catalog compacts online.
const compactingBase = join(root, 'base-compacting');
cpSync(base, compactingBase, { recursive: true });
bloatJournal(join(compactingBase, 'm'));

const scenarios = [scenario('clean', base), scenario('dirty', dirtyBase), scenario('compacting', compactingBase)];

const started = Date.now();
afterAll(() => {
  const total = scenarios.reduce((n, s) => n + s.calls, 0);
  console.log(`crash points: ${scenarios.map((s) => `${s.name} N=${s.calls}`).join(', ')}; ${total} crashes checked in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

// ---------------------------------------------------------------------------

/**
 * The promise after a crash: what the child acknowledged survives; seq 1
 * goes only once seq 2 is durable, which is before its acknowledgement
 * (list() shows the retention of a commit when `durable` resolves).
 */
function checkAfterCrash(dir: string, child: ChildResult, where: string): Promise<number[]> {
  if (child.acked) expect(child.acked.seq, where).toBe(2);
  return checkCycleState(dir, { acked: child.acked ? [child.acked] : [], kept: [], replaced: [{ seq: 1, by: 2 }] }, where);
}

for (const s of scenarios) {
  describe(`crash points of one save+commit+evict cycle (${s.name} open, N=${s.calls})`, () => {
    it('the fault-free cycle acknowledges seq 2 and evicts seq 1', async () => {
      expect(s.clean.acked?.hash).toBe(contentHash(cycleTensors(1) as Record<string, ArrayBufferView>));
      const dir = join(root, `${s.name}-count`);
      expect(readdirSync(join(dir, 'm')).filter((f) => f.endsWith('.tkpt'))).toEqual(['00000002-s1.tkpt']);
      await checkAfterCrash(dir, s.clean, `${s.name}, no crash`);
    });

    const ks = Array.from({ length: s.calls }, (_, i) => i + 1);
    // Started now, `limit` at a time; each test awaits its own run.
    const runs = new Map<number, Promise<{ dir: string; child: ChildResult }>>();
    const runFor = (k: number) => {
      if (!runs.has(k))
        runs.set(k, limit(async () => {
          const dir = join(root, `${s.name}-k${k}`);
          cpSync(s.base, dir, { recursive: true });
          return { dir, child: await run(dir, 'cycle', `crash_at=${k}`) };
        }));
      return runs.get(k)!;
    };

    it.each(ks)(`SIGKILL before counted call %i of ${s.calls}: acknowledged checkpoints survive, the store reopens clean`, async (k) => {
      // Queue this k and the next few, so child runs overlap with the checks.
      for (let j = k; j <= Math.min(s.calls, k + 3); j++) runFor(j);
      const { dir, child } = await runFor(k);
      const where = `${s.name}, crash_at=${k} of ${s.calls}`;
      expect(child.signal, `${where}: the child was not killed (exit ${child.code}, stdout ${JSON.stringify(child.stdout)}, stderr ${child.stderr})`).toBe('SIGKILL');
      expect(child.calls, `${where}: the child finished its cycle`).toBeNull();
      const seqs = await checkAfterCrash(dir, child, where);
      outcomes.set(k, `${child.acked ? 'acked' : 'unacked'} [${seqs.join(',')}]`);
    });

    // Guards the enumeration itself: the crash points must reach past the
    // acknowledgement and into the eviction, or the suite proves little.
    const outcomes = new Map<number, string>();
    it('the crash points cover the whole cycle: before the commit, between commit and ack, after the ack and its eviction', () => {
      const seen = new Set(outcomes.values());
      expect(outcomes.size, 'run the whole file: the per-k tests record the outcomes').toBe(s.calls);
      const summary = new Map<string, number[]>();
      for (const [k, o] of [...outcomes].sort((a, b) => a[0] - b[0])) summary.set(o, [...(summary.get(o) ?? []), k]);
      console.log(`${s.name}: ${[...summary].map(([o, ks]) => `${o} at k=${ks[0]}..${ks.at(-1)} (${ks.length})`).join('; ')}`);
      // Retention runs at the commit, before the acknowledgement: once acknowledged, seq 1's eviction is journaled.
      for (const outcome of ['unacked [1]', 'unacked [1,2]', 'acked [2]']) expect([...seen]).toContain(outcome);
    });
  });
}
