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
// and compacts (catalog.json written atomically, journal truncated).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { open, verifyStore } from '../src/index.js';
import { sameBytes, tempDir } from './helpers.js';
import { CYCLE_OPTIONS, contentHash, cycleTensors } from './fixtures/cycle.js';
import { collectingLogger, silentLogger } from './fixtures/store.js';

const CYCLE = fileURLToPath(new URL('./fixtures/cycle.ts', import.meta.url));
const CWD = fileURLToPath(new URL('..', import.meta.url));
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
// What a writer killed mid-save leaves behind (docs/DEVIATIONS.md item 3).
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

const scenarios = [scenario('clean', base), scenario('dirty', dirtyBase)];

const started = Date.now();
afterAll(() => {
  const total = scenarios.reduce((n, s) => n + s.calls, 0);
  console.log(`crash points: ${scenarios.map((s) => `${s.name} N=${s.calls}`).join(', ')}; ${total} crashes checked in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

// ---------------------------------------------------------------------------
// The invariants after a crash (or after the fault-free run).

const STEP_OF_SEQ: Record<number, number> = { 1: 0, 2: 1 };

/** What the first reopen listed; the outcome of one crash point. */
async function checkAfterCrash(dir: string, child: ChildResult, where: string): Promise<number[]> {
  const modelDir = join(dir, 'm');
  // The store opens, and repairs what the crash left.
  const store = await open(dir, { ...CYCLE_OPTIONS, logger: silentLogger });
  let seqs: number[];
  try {
    const m = store.model('m');
    const list = m.list();
    seqs = list.map((c) => c.seq!);
    expect(seqs.every((s) => s in STEP_OF_SEQ), `${where}: unexpected seqs ${seqs}`).toBe(true);

    // Everything listed loads bit-exact, with the tensors of its step.
    const hashes = new Map<number, string>();
    for (const c of list) {
      expect(c.step, `${where}: step of seq ${c.seq}`).toBe(STEP_OF_SEQ[c.seq!]);
      const loaded = await m.load(c.seq!);
      const want = cycleTensors(c.step);
      expect(Object.keys(loaded.tensors).sort(), `${where}: tensors of seq ${c.seq}`).toEqual(Object.keys(want).sort());
      for (const [name, t] of Object.entries(want))
        expect(sameBytes(loaded.tensors[name].data, t as ArrayBufferView), `${where}: seq ${c.seq} tensor ${name} not bit-exact`).toBe(true);
      hashes.set(c.seq!, contentHash(loaded.tensors));
    }

    // An acknowledged checkpoint survives the crash (nothing in the cycle may evict it).
    if (child.acked) {
      expect(child.acked.seq, where).toBe(2);
      expect(seqs, `${where}: acked seq 2 is not listed`).toContain(2);
      expect(hashes.get(2), `${where}: acked seq 2 loads other bytes`).toBe(child.acked.hash);
    }
    // The prior checkpoint may go only by eviction, which follows the acknowledgement.
    if (!seqs.includes(1)) expect(child.acked, `${where}: seq 1 is gone but seq 2 was never acknowledged (list: ${seqs})`).not.toBeNull();
    expect(seqs.length, `${where}: nothing listed`).toBeGreaterThan(0);

    // The directory holds exactly what is listed: no leftovers, no unlisted files.
    expect(readdirSync(modelDir).filter((f) => f.endsWith('.tkpt')).sort(), `${where}: .tkpt files vs list()`).toEqual(
      list.map((c) => c.path.split('/').at(-1)!).sort(),
    );
    const tmp = join(modelDir, '.tmp');
    expect(existsSync(tmp) ? readdirSync(tmp) : [], `${where}: .tmp/ leftovers`).toEqual([]);
    const quarantine = join(modelDir, '.quarantine');
    expect(existsSync(quarantine) ? readdirSync(quarantine) : [], `${where}: a crash produced a corrupt file`).toEqual([]);

    // resume() returns the newest listed checkpoint, bit-exact.
    const resumed = await m.resume();
    expect(resumed, `${where}: resume() returned null`).not.toBeNull();
    expect(resumed!.info.seq, `${where}: resume() is not the newest`).toBe(Math.max(...seqs));
    expect(contentHash(resumed!.tensors), `${where}: resume() bytes`).toBe(hashes.get(resumed!.info.seq!));
  } finally {
    await store.close();
  }

  // close() runs a retention pass (it may evict seq 1 now that seq 2 is
  // durable), never of the newest.
  const kept = readdirSync(modelDir).filter((f) => f.endsWith('.tkpt')).map((f) => Number(f.split('-')[0])).sort((a, b) => a - b);
  expect(kept.filter((q) => !seqs.includes(q)), `${where}: files after the reopened store closed`).toEqual([]);
  expect(kept, `${where}: close() evicted the newest`).toContain(Math.max(...seqs));
  // The store as fsck sees it: every file verifies and is the checkpoint its record says, the best is held.
  const fsck = await verifyStore(dir, { monitor: CYCLE_OPTIONS.monitor });
  expect(fsck.models.m.problems, `${where}: verifyStore after the reopen`).toEqual([]);

  // Recovery is complete the first time: a second open finds nothing to repair
  // and the same checkpoints; the next save takes a fresh seq and is durable.
  const logger = collectingLogger();
  const again = await open(dir, { ...CYCLE_OPTIONS, logger });
  try {
    const m = again.model('m');
    expect(logger.find('warn', 'recovery:').map((l) => l.message), `${where}: second open repaired again`).toEqual([]);
    expect(m.list().map((c) => c.seq), `${where}: second open lists other checkpoints`).toEqual(kept);
    const info = await m.report({ step: 2, metrics: { loss: 0.25 }, tensors: cycleTensors(2) }).durable;
    expect(info!.seq, `${where}: the next save reuses a seq`).toBeGreaterThan(Math.max(...seqs));
    const loaded = await m.load(info!.seq!);
    expect(contentHash(loaded.tensors), `${where}: the next save`).toBe(contentHash(cycleTensors(2) as Record<string, ArrayBufferView>));
  } finally {
    await again.close();
  }
  return seqs;
}

// ---------------------------------------------------------------------------

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
    it('the crash points cover the whole cycle: before the commit, between commit and ack, after the ack, after the eviction', () => {
      const seen = new Set(outcomes.values());
      expect(outcomes.size, 'run the whole file: the per-k tests record the outcomes').toBe(s.calls);
      for (const outcome of ['unacked [1]', 'unacked [1,2]', 'acked [1,2]', 'acked [2]']) expect([...seen]).toContain(outcome);
      const summary = new Map<string, number[]>();
      for (const [k, o] of [...outcomes].sort((a, b) => a[0] - b[0])) summary.set(o, [...(summary.get(o) ?? []), k]);
      console.log(`${s.name}: ${[...summary].map(([o, ks]) => `${o} at k=${ks[0]}..${ks.at(-1)} (${ks.length})`).join('; ')}`);
    });
  });
}
