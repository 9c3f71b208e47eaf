// Kill harness: `npm run stress:crash -- --kills N --seed S`.
//
// For each of N iterations: start the training child (crash-child.ts) on the
// same store, let it train 50-800 ms after it printed "ready", SIGKILL it;
// about one iteration in ten instead arms TENSORKEEP_FAULTS=crash_at=K
// (K in 20..400) so the child kills itself just before its K-th counted
// system call, inside a save, an eviction, a journal append or the recovery
// and compaction of its own open (the iteration before such a kill verifies a
// copy of the store, so the child opens an unrepaired directory). Then the
// store is reopened in this process and checked:
//   1. every acknowledged checkpoint (side log) still listed loads bit-exact
//      (content hash and step match); one no longer listed must have been
//      evicted: its seq appears in an `evict` record of the model's journal
//      (read before every reopen: the child never compacts except at its own
//      open, which only follows a verification that already read the
//      journal) or in an `evicted` event of the reopen. Any other absence is
//      a lost checkpoint.
//   2. resume() returns seq >= the newest acknowledged seq of the model.
//   3. no .tmp/ leftovers after open.
//   4. the model directory holds exactly the listed .tkpt files (plus LOCK,
//      journal, catalog.json, history, .tmp/, .quarantine/); every listed
//      file, acknowledged or not, loads verified, and its own index agrees
//      with the catalog (seq, step); nothing was quarantined.
//   5. the store reopens every time; the child never exits on its own.
//   6. best: the best listed loss is <= every acknowledged loss and every
//      bestLoss the child logged; the persisted tracker best is <= every
//      acknowledged loss and equals the best listed checkpoint's loss.
//   7. episodes: the child's episode stream "ticks" reopens repairing at most
//      a torn tail (or a segment or index file a roll left unfinished);
//      every acknowledged record of the run just killed replays bit-exact
//      (a time-range replay of that run), so do 20 random older ones (get by
//      id), the stream holds at least as many records as were acknowledged,
//      and nothing is damaged. The last iteration replays the whole stream
//      and checks every acknowledged record.
//   8. verifyStore (the fsck) finds no problem in the closed store after
//      each reopen; one reopen in four is preceded by verifyStore with
//      repair on the raw state the kill left, which must leave no problem
//      and quarantine nothing (it does only what recovery at open does).
// Exits non-zero on any failure; prints one totals line.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, truncateSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { inspectCheckpoint, open, verifyStore, type CheckpointManager, type PolicyOptions, type StoreReport } from '../../src/index.js';
import { readJournal } from '../../src/durability/journal.js';
import { contentHash, episodeHash } from './content-hash.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'max-mb': { type: 'string', default: '50' },
    'keep-going': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});
const kills = Number(values.kills);
const seed = Number(values.seed);
const maxMb = Number(values['max-mb']);
if (!Number.isSafeInteger(kills) || kills < 1 || !Number.isFinite(seed) || !(maxMb > 0))
  throw new Error('usage: crash.ts [--kills N] [--seed S] [--dir D] [--keep] [--max-mb M] [--keep-going] [--quiet]');

const MODELS = ['a', 'b'];
/** The one policy of the child and of every reopen here (close() runs retention with it). */
const POLICY: PolicyOptions = {
  monitor: { loss: 'min' },
  // Any lower loss is an improvement: keeps the best-value checks exact.
  improvement: { minDelta: 0, minRelative: 0 },
  every: { steps: 20 },
  keep: { best: 3, periodic: 2 },
  // About one max-size file: quota evictions happen all the time.
  quotaBytes: Math.round(maxMb * 1024 * 1024 * 1.5),
};
const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function rng(s: number): () => number {
  let a = (s * 0x9e3779b9) | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(seed);
const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

let workDir: string;
if (values.dir) {
  workDir = resolve(values.dir);
  if (existsSync(workDir) && readdirSync(workDir).length > 0) throw new Error(`--dir ${workDir} is not empty`);
  mkdirSync(workDir, { recursive: true });
} else workDir = mkdtempSync(join(tmpdir(), 'tk-crash-'));
const storeDir = join(workDir, 'store');
const sideLogPath = join(workDir, 'acked.jsonl');
const scratchDir = join(workDir, 'verify-copy');
closeSync(openSync(sideLogPath, 'a'));

interface Acked { model: string; seq: number; step: number; hash: string; loss: number; bestLoss: number | null }
interface AckedEpisode { stream: string; id: number; time: number; hash: string }
const totals = {
  kills: 0, crashPlans: 0, selfCrashes: 0, crashPlansUnreached: 0, ackedChecks: 0, bitExact: 0, evictedAcked: 0, unackedLoaded: 0, reopens: 0, failures: 0,
  episodeChecks: 0, episodeBitExact: 0, fsckChecks: 0, fsckRepairs: 0,
};
/** Repairs a kill may leave in an episode stream: a torn tail, a roll cut short. */
const KILL_REPAIRS = /cut a torn tail|removed segment \d+: no records|unfinished index file/;
const failures: string[] = [];
/** Seqs with a journaled eviction, by model; accumulated over the whole run. */
const evicted = new Map<string, Set<number>>(MODELS.map((m) => [m, new Set()]));

function fail(iteration: number, message: string): void {
  totals.failures++;
  const line = `FAIL seed=${seed} iteration=${iteration}: ${message}`;
  failures.push(line);
  console.error(line);
}

/** Cuts a torn last line (the child died inside writeSync: never fsync'd, never acknowledged) and parses the rest. */
function readSideLog(): { acked: Acked[]; episodes: AckedEpisode[] } {
  const text = readFileSync(sideLogPath, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) truncateSync(sideLogPath, end);
  const lines = text.slice(0, end).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Acked | AckedEpisode);
  return {
    acked: lines.filter((l): l is Acked => 'model' in l),
    episodes: lines.filter((l): l is AckedEpisode => 'stream' in l),
  };
}

/** Check 7: the episode stream of the child, in the reopened store. */
async function verifyEpisodes(iteration: number, store: CheckpointManager, acked: AckedEpisode[], everything: boolean): Promise<void> {
  let log;
  try {
    log = store.episodes('ticks');
  } catch (err) {
    fail(iteration, `episode stream does not reopen: ${(err as Error).stack}`);
    return;
  }
  for (const repair of log.repairs) if (!KILL_REPAIRS.test(repair)) fail(iteration, `episodes: unexpected repair: ${repair}`);
  const byId = new Map<number, AckedEpisode>();
  for (const e of acked) {
    const prev = byId.get(e.id);
    if (prev && prev.hash !== e.hash) fail(iteration, `episodes: id ${e.id} acknowledged twice with different contents`);
    byId.set(e.id, e);
  }
  const compare = (e: AckedEpisode, hash: string | undefined) => {
    totals.episodeChecks++;
    if (hash === undefined) fail(iteration, `episodes: acknowledged record ${e.id} (time ${e.time}) is missing`);
    else if (hash !== e.hash) fail(iteration, `episodes: record ${e.id} (time ${e.time}) replays with different content`);
    else totals.episodeBitExact++;
  };
  try {
    const query = everything ? {} : { from: iteration * 1e6, to: iteration * 1e6 + 999_999 };
    const replayed = new Map<number, string>();
    for await (const r of log.replay(query)) replayed.set(r.id, episodeHash(r));
    const inRange = [...byId.values()].filter((e) => everything || Math.floor(e.time / 1e6) === iteration);
    for (const e of inRange) compare(e, replayed.get(e.id));
    const older = [...byId.values()].filter((e) => !inRange.includes(e));
    for (let k = 0; k < 20 && older.length > 0; k++) {
      const e = older[Math.floor(random() * older.length)];
      let hash: string | undefined;
      try {
        hash = episodeHash(await log.get(e.id));
      } catch {
        hash = undefined; // reported as missing
      }
      compare(e, hash);
    }
    const stats = log.stats();
    if (stats.records < byId.size) fail(iteration, `episodes: the stream holds ${stats.records} records, ${byId.size} were acknowledged`);
    if (stats.damaged > 0) fail(iteration, `episodes: ${stats.damaged} damaged stretches`);
  } catch (err) {
    fail(iteration, `episodes: replay failed: ${(err as Error).stack}`);
  }
}

function scanEvictions(dir: string): void {
  for (const model of MODELS) {
    const journal = join(dir, model, 'journal');
    if (!existsSync(journal)) continue;
    for (const r of readJournal(journal).records as Array<{ t: string; seq?: number }>)
      if (r.t === 'evict' && typeof r.seq === 'number') evicted.get(model)!.add(r.seq);
  }
}

/** Check 8: every problem verifyStore reports (after its repairs, with `repair`) is a failure; so is a quarantine. */
async function fsck(iteration: number, dir: string, repair: boolean): Promise<void> {
  let report: StoreReport;
  try {
    report = await verifyStore(dir, { repair, monitor: POLICY.monitor, models: MODELS.filter((m) => existsSync(join(dir, m))) });
  } catch (err) {
    fail(iteration, `verifyStore${repair ? ' with repair' : ''} threw: ${(err as Error).stack}`);
    return;
  }
  totals.fsckChecks++;
  for (const [name, model] of Object.entries(report.models)) {
    for (const p of model.problems) fail(iteration, `verifyStore${repair ? ' after repair' : ''}: ${name}: ${p.kind}: ${p.message}`);
    for (const r of model.repairs) {
      totals.fsckRepairs++;
      if (r.startsWith('quarantined')) fail(iteration, `verifyStore repair quarantined a file: ${name}: ${r}`);
    }
  }
}

interface RunResult { selfCrash: boolean; planUnreached: boolean; problem: string | null; ready: string | null }

/** Runs the child until it is killed (by us after a random delay, or by its own crash_at plan). */
function runChild(iteration: number, crashAt: number | null): Promise<RunResult> {
  const env = { ...process.env };
  delete env.TENSORKEEP_FAULTS;
  if (crashAt !== null) env.TENSORKEEP_FAULTS = `crash_at=${crashAt}`;
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, '--dir', storeDir, '--log', sideLogPath,
    '--seed', String(seed), '--run', String(iteration), '--max-mb', String(maxMb), '--policy', JSON.stringify(POLICY)],
  { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const delay = between(50, 800);
  let out = '';
  let err = '';
  let killedByUs = false;
  let ready: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  const killNow = () => {
    if (child.exitCode === null && child.signalCode === null) {
      killedByUs = true;
      child.kill('SIGKILL');
    }
  };
  // A child that never gets ready (or a crash plan that is never reached) is killed anyway.
  const watchdog = setTimeout(killNow, 30_000);
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (ready === null && out.includes('\n')) {
      ready = out.split('\n')[0];
      // Under a crash plan the child usually dies by itself; give it 3 s of training.
      timer = setTimeout(killNow, crashAt === null ? delay : 3000);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  return new Promise((resolveRun) => {
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      if (timer) clearTimeout(timer);
      let problem: string | null = null;
      if (signal !== 'SIGKILL') problem = `child exited by itself (code ${code}, signal ${signal}); stderr: ${err.trim()}`;
      else if (!killedByUs && crashAt === null) problem = `child was SIGKILLed by someone else; stderr: ${err.trim()}`;
      else if (ready === null && killedByUs) problem = `child never became ready in 30 s; stderr: ${err.trim()}`;
      else if (/save failed|store error|child:/.test(err)) problem = `child reported: ${err.trim().slice(-1000)}`;
      resolveRun({ selfCrash: signal === 'SIGKILL' && !killedByUs, planUnreached: crashAt !== null && killedByUs, problem, ready });
    });
  });
}

/** Reopens `dir` (the store, or a copy of it) and checks everything in the header. */
async function verify(iteration: number, dir: string, isCopy: boolean, everything = false): Promise<void> {
  const { acked, episodes } = readSideLog();
  let store;
  try {
    store = await open(dir, { ...POLICY, logger: { debug() {}, info() {}, warn() {}, error() {} } });
  } catch (err) {
    fail(iteration, `store does not reopen: ${(err as Error).stack}`);
    return;
  }
  const errors: string[] = [];
  store.on('error', (err: Error) => errors.push(err.message));
  // Evictions of a copy stay in the copy: the real store evicts (and journals) them itself later.
  if (!isCopy) store.on('evicted', (e: { model: string; seq: number }) => evicted.get(e.model)!.add(e.seq));
  try {
    for (const name of MODELS) {
      let m;
      try {
        m = store.model(name);
      } catch (err) {
        fail(iteration, `model ${name} does not reopen: ${(err as Error).stack}`);
        continue;
      }
      totals.reopens++;
      const modelDir = join(dir, name);
      const mine = acked.filter((a) => a.model === name);
      // 3. .tmp/ emptied by the open
      const tmp = join(modelDir, '.tmp');
      if (existsSync(tmp) && readdirSync(tmp).length > 0) fail(iteration, `${name}: .tmp/ not empty after open: ${readdirSync(tmp).join(', ')}`);
      // 4. the directory holds exactly what the catalog lists
      const list = m.list();
      const listed = new Map(list.map((c) => [c.seq!, c]));
      const files = new Set(list.map((c) => c.path.slice(modelDir.length + 1)));
      for (const f of readdirSync(modelDir)) {
        if (['LOCK', 'journal', 'catalog.json', 'history', '.tmp', '.quarantine'].includes(f)) continue;
        if (!files.has(f)) fail(iteration, `${name}: ${f} is in the directory but not in the catalog`);
      }
      for (const f of files) if (!existsSync(join(modelDir, f))) fail(iteration, `${name}: listed file ${f} is missing`);
      const q = join(modelDir, '.quarantine');
      if (existsSync(q) && readdirSync(q).length > 0) fail(iteration, `${name}: quarantined files: ${readdirSync(q).join(', ')}`);
      // 1. acknowledged checkpoints: bit-exact, or evicted
      const bySeq = new Map<number, Acked>();
      for (const a of mine) {
        const prev = bySeq.get(a.seq);
        if (prev && (prev.hash !== a.hash || prev.step !== a.step)) fail(iteration, `${name}: seq ${a.seq} acknowledged twice with different contents`);
        bySeq.set(a.seq, a);
      }
      for (const a of bySeq.values()) {
        totals.ackedChecks++;
        if (!listed.has(a.seq)) {
          if (evicted.get(name)!.has(a.seq)) totals.evictedAcked++;
          else fail(iteration, `${name}: acknowledged seq ${a.seq} (step ${a.step}) is gone and was never evicted`);
          continue;
        }
        try {
          const loaded = await m.load(a.seq);
          if (loaded.step !== a.step) fail(iteration, `${name}: seq ${a.seq} has step ${loaded.step}, acknowledged ${a.step}`);
          else if (contentHash(loaded.tensors) !== a.hash) fail(iteration, `${name}: seq ${a.seq} loads with different content`);
          else totals.bitExact++;
        } catch (err) {
          fail(iteration, `${name}: acknowledged seq ${a.seq} does not load: ${(err as Error).message}`);
        }
      }
      // Unacknowledged but listed: must be complete (loads verified) and describe itself as listed.
      for (const c of list) {
        try {
          const index = await inspectCheckpoint(c.path);
          if (index.info.seq !== c.seq || index.info.step !== c.step) fail(iteration, `${name}: ${c.path} says seq ${index.info.seq} step ${index.info.step}, catalog seq ${c.seq} step ${c.step}`);
          if (!bySeq.has(c.seq!)) {
            await m.load(c.seq!);
            totals.unackedLoaded++;
          }
        } catch (err) {
          fail(iteration, `${name}: listed seq ${c.seq} unreadable: ${(err as Error).message}`);
        }
      }
      // 6. best values. The single best is never evicted, so the best listed
      // loss never rises above an acknowledged loss or a best the child saw
      // listed. The persisted tracker includes every acknowledged commit's own
      // improvement (improvement thresholds are 0 here, so any lower loss
      // is one), so it never rises above an acknowledged loss either.
      if (mine.length) {
        const ackedFloor = Math.min(...mine.map((a) => a.loss));
        const listedFloor = Math.min(ackedFloor, ...mine.map((a) => a.bestLoss ?? Infinity));
        const bestListed = m.best()?.metrics.loss;
        if (bestListed === undefined || !(bestListed <= listedFloor)) fail(iteration, `${name}: best listed loss ${bestListed} > acknowledged best ${listedFloor}`);
        const tracked = m.stats().best.loss?.value;
        if (tracked === undefined || !(tracked <= ackedFloor)) fail(iteration, `${name}: persisted best ${tracked} > acknowledged best loss ${ackedFloor}`);
        // The persisted best is the best listed checkpoint's: a commit carries
        // the tracker of its own report, a failed best save gives its values
        // back, and checkpoints adopted at open are folded in before the open compacts.
        else if (tracked !== bestListed) fail(iteration, `${name}: persisted best ${tracked} is not the best listed checkpoint's ${bestListed}`);
      }
      // 2. resume: the newest acknowledged or newer
      const newestAcked = Math.max(0, ...mine.map((a) => a.seq));
      try {
        const resumed = await m.resume();
        if (newestAcked > 0 && (!resumed || resumed.info.seq! < newestAcked))
          fail(iteration, `${name}: resume() gave seq ${resumed?.info.seq ?? null}, newest acknowledged is ${newestAcked}`);
      } catch (err) {
        fail(iteration, `${name}: resume() threw: ${(err as Error).message}`);
      }
    }
    await verifyEpisodes(iteration, store, episodes, everything);
  } finally {
    try {
      await store.close();
    } catch (err) {
      fail(iteration, `close failed: ${(err as Error).message}`);
    }
  }
  if (errors.length) fail(iteration, `store errors during verification: ${errors.join(' | ')}`);
}

const started = performance.now();
let crashNext = false;
for (let i = 1; i <= kills; i++) {
  const crashAt = crashNext ? between(20, 400) : null;
  const result = await runChild(i, crashAt);
  totals.kills++;
  if (crashAt !== null) totals.crashPlans++;
  if (result.selfCrash) totals.selfCrashes++;
  if (result.planUnreached) totals.crashPlansUnreached++;
  if (result.problem) fail(i, result.problem);
  // The journal before anything reopens it (a reopen with repairs compacts it).
  scanEvictions(storeDir);
  // One iteration in ten kills with a crash plan; the one before verifies a
  // copy so that the planned child meets the raw state a SIGKILL left.
  // A run of ten kills or more arms at least one (the last kill, if none came before).
  crashNext = i < kills && (random() < 0.1 || (kills >= 10 && i === kills - 1 && totals.crashPlans === 0));
  const dir = crashNext ? scratchDir : storeDir;
  if (crashNext) {
    rmSync(scratchDir, { recursive: true, force: true });
    cpSync(storeDir, scratchDir, { recursive: true });
  }
  if (random() < 0.25) await fsck(i, dir, true);
  await verify(i, dir, crashNext, i === kills);
  await fsck(i, dir, false);
  if (!values.quiet && (i % 10 === 0 || totals.failures > 0 || i === kills))
    console.log(`[${i}/${kills}] ${((performance.now() - started) / 1000).toFixed(1)} s  acked checked ${totals.ackedChecks}  bit-exact ${totals.bitExact}  self-crashes ${totals.selfCrashes}  failures ${totals.failures}  (${result.ready ?? 'not ready'}${crashAt !== null ? `, crash_at=${crashAt}` : ''})`);
  if (totals.failures > 0 && !values['keep-going']) {
    console.error(`stopping at iteration ${i}; store kept at ${workDir}`);
    break;
  }
}

// The crashes planned inside saves, evictions and opens are ~10 % of the
// coverage: if fault plans stopped being honoured they would turn into
// ordinary kills and nothing else would notice. Most plans must fire.
if (totals.crashPlans > 0 && totals.selfCrashes * 2 < totals.crashPlans)
  fail(totals.kills, `only ${totals.selfCrashes} of ${totals.crashPlans} crash plans killed the child: fault plans are not honoured`);

const seconds = ((performance.now() - started) / 1000).toFixed(1);
const sideLog = readSideLog();
const distinctAcked = new Set(sideLog.acked.map((a) => `${a.model}:${a.seq}`)).size;
const distinctEpisodes = new Set(sideLog.episodes.map((e) => e.id)).size;
console.log(
  `kill harness: seed ${seed}, max ${maxMb} MiB: kills ${totals.kills} (crash plans ${totals.crashPlans}, self-crashes at crash_at ${totals.selfCrashes}, plans not reached ${totals.crashPlansUnreached}), ` +
  `acknowledged checkpoints ${distinctAcked} (checked ${totals.ackedChecks} times over all reopens: bit-exact loads ${totals.bitExact}, evicted ${totals.evictedAcked}), ` +
  `unacknowledged complete ${totals.unackedLoaded}, reopens ${totals.reopens}, ` +
  `acknowledged episode records ${distinctEpisodes} (checked ${totals.episodeChecks} times: bit-exact ${totals.episodeBitExact}), ` +
  `verifyStore runs ${totals.fsckChecks} (repairs made ${totals.fsckRepairs}), failures ${totals.failures} (${seconds} s)`,
);
if (totals.failures === 0 && !values.keep) rmSync(workDir, { recursive: true, force: true });
else console.log(`store kept at ${workDir}`);
process.exit(totals.failures > 0 ? 1 : 0);
