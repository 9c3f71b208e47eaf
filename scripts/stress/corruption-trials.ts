// Corruption stress: random damage to the checkpoint files
// of a store that is open, then a load through the store's API. Each trial:
//   1. copies a pristine model "m" (six checkpoints, seq 1-6, of known
//      tensors, several 4 KiB chunks each: shuffle+zstd and raw) to a scratch root;
//   2. opens it, damages one file (two for a swap) behind the store's back
//      (damage.ts), half the time the one the load would return;
//   3. loads through one of resume(), load('latest'), loadSync('latest'),
//      load('best'), load('latest', {into}) or load(victim seq), and checks:
//      the checkpoint returned is the first undamaged candidate, with exactly
//      its own tensors and step; every damaged candidate before it was
//      reported by an `error` event (E_CORRUPT; E_NOT_FOUND for a deleted
//      file), dropped from list() and, unless deleted, moved to .quarantine/;
//   4. loads every damaged file still listed by seq: each must fail likewise;
//   5. closes, and runs verifyStore on the result: it must be clean (a
//      `best` finding only when the best checkpoint was the one damaged).
// Each damaged file is accounted for by what the trial saw: detected when it
// was refused, reported and set aside (checked above); harmless when it
// loaded and its tensors were checked bit-exact (a flip the decompressor
// never looks at). A damaged file that was neither, or both, is a failure,
// as is any other outcome or any exception the trial did not expect.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import seedrandom from 'seedrandom';
import {
  CheckpointError, open, verifyStore, type LoadedCheckpoint, type Logger, type ModelCheckpoints, type StoreOptions, type TensorDict,
} from '../../src/index.js';
import { contentHash } from './content-hash.js';
import { damage, DAMAGE_KINDS, readRanges, type Damage, type DamageKind } from './damage.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const MONITOR = { loss: 'min' } as const;
const STORE: StoreOptions = {
  monitor: MONITOR, always: true, improvement: { minRelative: 0 }, keep: { best: 10, periodic: 10 },
  compression: { chunkBytes: 4096 }, logger: quiet, handleSignals: false, workers: 1,
};
/** Losses of seq 1-6: best loss 1 at seq 4, newest seq 6. */
const LOSSES = [5, 3, 4, 1, 2, 1.5];
const SEQS = LOSSES.map((_, i) => i + 1);
const stepOf = (seq: number) => seq * 10;
const BEST_SEQ = 4;

type Api = 'resume' | 'load-latest' | 'load-best' | 'load-into' | 'load-seq';
const APIS: readonly Api[] = ['resume', 'load-latest', 'load-best', 'load-into', 'load-seq'];

/** ~33 KB per checkpoint: normal weights (shuffle+zstd), noise (stored raw), a few ints. */
function tensorsOf(seq: number): TensorDict {
  const random = seedrandom(`tensors-${seq}`);
  const w = new Float32Array(6000);
  for (let i = 0; i < w.length; i++) w[i] = 0.02 * Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
  const noise = Uint8Array.from({ length: 9000 }, () => Math.floor(random() * 256));
  return { w, noise, b: new Int32Array([seq, -seq, 7, 2 ** 31 - 1]) };
}

export interface CorruptionTotals {
  trials: number;
  byKind: Record<DamageKind, number>;
  /** Damaged files (a swap damages two). */
  damaged: number;
  /** Refused with E_CORRUPT / E_NOT_FOUND, reported and set aside (each checked). */
  detected: number;
  /** Loaded despite the damage and checked bit-exact: the damaged bytes decode to the same tensors. */
  harmless: number;
  /** Damaged files the trial neither saw refused nor loaded bit-exact: must stay 0. */
  unaccounted: number;
  /** Tensors returned that are not the checkpoint's own: must stay 0. */
  wrong: number;
  /** An exception no trial expects. */
  crashes: number;
  /** verifyStore findings after a trial. */
  fsckProblems: number;
  failures: number;
  /** The first failures, each with what reproduces it. */
  firstFailures: string[];
  seconds: number;
}

export interface CorruptionRun {
  count: number;
  seed: number;
  /** Scratch space (default: a fresh directory in /dev/shm or the OS temp dir, removed after a clean run). */
  workDir?: string;
  onProgress?: (done: number, totals: CorruptionTotals) => void;
}

/** The order in which an API tries the checkpoints. */
function candidates(api: Api, victim: number): number[] {
  if (api === 'load-seq') return [victim];
  if (api === 'load-best') return [...SEQS].sort((a, b) => LOSSES[a - 1] - LOSSES[b - 1] || b - a);
  return [...SEQS].reverse();
}

interface Trial {
  n: number;
  kind: DamageKind;
  api: Api;
  victims: number[];
}

class TrialFailure extends Error {}

export async function runCorruptionTrials(run: CorruptionRun): Promise<CorruptionTotals> {
  const started = performance.now();
  const random = seedrandom(`corruption-${run.seed}`);
  // On tmpfs when there is one: the trials test detection, not the disk's fsyncs.
  const workDir = run.workDir ?? mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tensorkeep-corruption-'));
  mkdirSync(workDir, { recursive: true });
  const totals: CorruptionTotals = {
    trials: 0, byKind: Object.fromEntries(DAMAGE_KINDS.map((k) => [k, 0])) as Record<DamageKind, number>,
    damaged: 0, detected: 0, harmless: 0, unaccounted: 0, wrong: 0, crashes: 0, fsckProblems: 0, failures: 0, firstFailures: [], seconds: 0,
  };
  const pristine = join(workDir, 'pristine');
  const hashes = new Map(SEQS.map((seq) => [seq, contentHash(tensorsOf(seq))]));
  const files = await writePristine(pristine);
  const ranges = new Map([...files].map(([seq, file]) => [file, readRanges(join(pristine, 'm', file))]));
  const rangesOf = (path: string) => ranges.get(basename(path))!;
  // One store open for the whole run keeps the worker thread alive between trials.
  const keeper = await open(join(workDir, 'keeper'), STORE);

  const fail = (trial: Trial, d: Damage | null, message: string) => {
    totals.failures++;
    if (totals.firstFailures.length < 10)
      totals.firstFailures.push(`trial ${trial.n} (seed ${run.seed}): ${trial.kind} of seq ${trial.victims.join('+')} (${d?.detail ?? 'not applied'}), ${trial.api}: ${message}`);
  };

  try {
    for (let n = 1; n <= run.count; n++) {
      const kind = DAMAGE_KINDS[Math.floor(random() * DAMAGE_KINDS.length)];
      const api = APIS[Math.floor(random() * APIS.length)];
      // Half the time the checkpoint the load would return first: the fallback path.
      const first = random() < 0.5 ? candidates(api === 'load-seq' ? 'load-latest' : api, 0)[0] : SEQS[Math.floor(random() * SEQS.length)];
      const victims = [first];
      if (kind === 'swap') victims.push(SEQS.filter((s) => s !== first)[Math.floor(random() * (SEQS.length - 1))]);
      const trial: Trial = { n, kind, api, victims };
      totals.trials++;
      totals.byKind[kind]++;
      totals.damaged += victims.length;
      const root = join(workDir, 'trial');
      rmSync(root, { recursive: true, force: true });
      cpSync(pristine, root, { recursive: true });
      const applied: { damage: Damage | null } = { damage: null };
      const apply = (paths: string[]) => (applied.damage = damage(kind, paths, rangesOf, random));
      try {
        await oneTrial(root, trial, apply, files, hashes, totals);
      } catch (err) {
        if (!(err instanceof TrialFailure)) totals.crashes++;
        fail(trial, applied.damage, err instanceof TrialFailure ? err.message : `unexpected ${(err as Error)?.stack ?? String(err)}`);
      }
      run.onProgress?.(n, totals);
    }
  } finally {
    await keeper.close();
    totals.seconds = (performance.now() - started) / 1000;
  }
  if (totals.failures === 0 && run.workDir === undefined) rmSync(workDir, { recursive: true, force: true });
  return totals;
}

async function writePristine(root: string): Promise<Map<number, string>> {
  const store = await open(root, STORE);
  const m = store.model('m');
  for (const seq of SEQS) await m.report({ step: stepOf(seq), metrics: { loss: LOSSES[seq - 1] }, tensors: tensorsOf(seq) }).durable;
  await store.flush();
  const files = new Map(m.list().map((c) => [c.seq!, basename(c.path)]));
  await store.close();
  if (files.size !== SEQS.length) throw new Error(`pristine store lists ${files.size} checkpoints, expected ${SEQS.length}`);
  return files;
}

/** Runs one trial; throws TrialFailure for a broken promise, anything else for a crash. */
async function oneTrial(
  root: string, trial: Trial, apply: (paths: string[]) => Damage, files: Map<number, string>, hashes: Map<number, string>,
  totals: CorruptionTotals,
): Promise<void> {
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new TrialFailure(message);
  };
  const store = await open(root, STORE);
  const errors: Array<{ code: string; seq: number }> = [];
  store.on('error', (e) => errors.push({ code: (e as CheckpointError).code, seq: e.seq! }));
  const modelDir = join(root, 'm');
  // What the trial checked of each damaged file: refused and set aside, or loaded bit-exact.
  const setAside = new Set<number>();
  const loadedExact = new Set<number>();
  const refusal = trial.kind === 'delete' ? 'E_NOT_FOUND' : 'E_CORRUPT';

  /** A damaged seq that was refused: reported once with the right code, gone from list(), quarantined unless deleted. */
  const expectSetAside = (m: ModelCheckpoints, seq: number) => {
    const reported = errors.filter((e) => e.seq === seq);
    check(reported.length === 1 && reported[0].code === refusal, `seq ${seq}: error events ${JSON.stringify(reported)}, expected one ${refusal}`);
    check(!m.list().some((c) => c.seq === seq), `seq ${seq} still listed after it was refused`);
    const q = join(modelDir, '.quarantine');
    const kept = existsSync(q) && readdirSync(q).some((f) => f.startsWith(files.get(seq)!));
    check(kept === (trial.kind !== 'delete'), `seq ${seq}: ${kept ? 'quarantined' : 'not quarantined'} after ${trial.kind}`);
    setAside.add(seq);
  };
  /** The tensors came from the checkpoint `seq`, bit for bit. */
  const expectOwn = (loaded: { step: number; tensors: LoadedCheckpoint['tensors'] }, seq: number) => {
    const own = contentHash(loaded.tensors) === hashes.get(seq) && loaded.step === stepOf(seq);
    if (!own) totals.wrong++;
    check(own, `seq ${seq} returned tensors or a step (${loaded.step}) that are not its own`);
  };
  /** A damaged seq loaded anyway: harmless only if bit-exact. */
  const loadedAnyway = (loaded: LoadedCheckpoint, seq: number) => {
    expectOwn(loaded, seq);
    check(trial.kind === 'bitflip' || trial.kind === 'zero-page', `${trial.kind} of seq ${seq} went unnoticed`);
    loadedExact.add(seq);
  };

  try {
    // Opened before the damage: the load, not the recovery at open, must notice it.
    const m = store.model('m');
    apply(trial.victims.map((seq) => join(modelDir, files.get(seq)!)));
    const order = candidates(trial.api, trial.victims[0]);
    if (trial.api === 'load-seq') {
      let loaded: LoadedCheckpoint | null = null;
      try {
        loaded = await m.load(trial.victims[0]);
      } catch (err) {
        check(err instanceof CheckpointError && err.code === refusal, `load(${trial.victims[0]}) failed with ${String(err)}, expected ${refusal}`);
      }
      if (loaded) loadedAnyway(loaded, trial.victims[0]);
      else expectSetAside(m, trial.victims[0]);
    } else {
      const into = trial.api === 'load-into' ? { w: new Float32Array(6000), noise: new Uint8Array(9000), b: new Int32Array(4) } : undefined;
      const loaded = trial.api === 'resume' ? await m.resume()
        : await m.load(trial.api === 'load-best' ? 'best' : 'latest', into ? { into } : {});
      check(loaded !== null, 'nothing loaded');
      const seq = loaded!.info.seq!;
      const expected = order.find((s) => !trial.victims.includes(s))!;
      if (seq !== expected) {
        check(trial.victims.includes(seq), `returned seq ${seq}, expected ${expected}`);
        loadedAnyway(loaded!, seq);
      } else {
        expectOwn(into ? { step: loaded!.step, tensors: loaded!.tensors } : loaded!, seq);
        if (into) expectOwn({ step: loaded!.step, tensors: into as unknown as LoadedCheckpoint['tensors'] }, seq);
      }
      for (const before of order.slice(0, order.indexOf(seq))) expectSetAside(m, before);
    }
    // Every damaged file still listed is refused by a load of its own seq.
    for (const seq of trial.victims) {
      if (!m.list().some((c) => c.seq === seq)) continue;
      let loaded: LoadedCheckpoint | null = null;
      try {
        loaded = await m.load(seq);
      } catch (err) {
        check(err instanceof CheckpointError && err.code === refusal, `load(${seq}) failed with ${String(err)}, expected ${refusal}`);
      }
      if (loaded) loadedAnyway(loaded, seq);
      else expectSetAside(m, seq);
    }
  } finally {
    await store.close();
  }
  // Every victim was refused and set aside, or loaded bit-exact: counted by what was checked, never by difference.
  for (const seq of trial.victims) {
    if (setAside.has(seq) && !loadedExact.has(seq)) totals.detected++;
    else if (loadedExact.has(seq) && !setAside.has(seq)) totals.harmless++;
    else totals.unaccounted++;
  }
  const unaccounted = trial.victims.filter((seq) => setAside.has(seq) === loadedExact.has(seq));
  check(unaccounted.length === 0, `damaged seq ${unaccounted.join('+')}: ${unaccounted.map((s) => (setAside.has(s) ? 'both refused and loaded' : 'neither refused nor loaded')).join(', ')}`);
  const refused = new Set(errors.map((e) => e.seq));

  const report = await verifyStore(root, { monitor: MONITOR });
  // Losing the best checkpoint leaves a best value no listed checkpoint holds: fsck says so.
  const problems = report.models.m.problems.filter((p) => !(p.kind === 'best' && refused.has(BEST_SEQ)));
  totals.fsckProblems += problems.length;
  check(problems.length === 0, `verifyStore after the trial: ${problems.map((p) => `${p.kind}: ${p.message}`).join('; ')}`);
}
