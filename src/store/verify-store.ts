// verifyStore: the store's fsck. Checks every model of a root against its
// files without changing anything; with `repair`, takes each model's lock and
// does what recovery at open does (durability/recovery.ts), and quarantines the listed
// files that fail verification as load() would.
import { existsSync, lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { STORE, verifyFrom } from '../file/checkpoint-file.js';
import { Catalog } from '../durability/catalog.js';
import { scanJournal } from '../durability/catalog-state.js';
import { CHECKPOINT_FILE, identityProblem, type CheckpointRecord } from '../durability/records.js';
import { badInput, callNative, CheckpointError } from '../errors.js';
import { History, scanHistory } from '../durability/history.js';
import { repairJournal } from '../durability/journal.js';
import { checkModelName, NAME } from '../validate/names.js';
import { native, type NativeLock } from '../native.js';
import { resolvePolicy } from '../validate/policy-options.js';
import type { Direction } from '../policy/decide.js';

export type ProblemKind =
  | 'catalog' | 'journal' | 'history' | 'missing' | 'corrupt' | 'mismatch' | 'unlisted' | 'unfinished-eviction' | 'tmp' | 'best'
  | 'quarantine';

export interface StoreProblem {
  kind: ProblemKind;
  message: string;
  file?: string;
  seq?: number;
}

export interface ModelReport {
  /** No problems (after the repairs, with `repair`). */
  ok: boolean;
  problems: StoreProblem[];
  /** What `repair` did; empty without it. */
  repairs: string[];
  /** Checkpoints listed (after the repairs). */
  checkpoints: number;
  /** Files kept in .quarantine/ for inspection (not a problem). */
  quarantined: number;
}

export interface StoreReport {
  ok: boolean;
  models: Record<string, ModelReport>;
}

export interface VerifyStoreOptions {
  /** Repair what recovery at open would; refuses with E_LOCKED while a writer holds a model. */
  repair?: boolean;
  /**
   * The store's `monitor` option. Repair folds adopted checkpoints into the
   * best values with it, and the first metric's best must be held by a
   * listed checkpoint (other metrics' best checkpoints may be evicted).
   */
  monitor?: Record<string, Direction>;
  /** Only these models (default: every model directory under the root). */
  models?: string[];
}

const STORE_FILES = ['journal', 'catalog.json', 'LOCK'];

/** Model directories of a root: valid model names holding a journal, a catalog or a lock. */
function modelsIn(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && STORE_FILES.some((f) => existsSync(join(root, e.name, f))))
    .map((e) => e.name)
    .filter((name) => NAME.test(name))
    .sort();
}

function checkOptions(options: unknown): { repair: boolean; monitor: Array<[string, Direction]>; models?: string[] } {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw badInput('Expected an object for verifyStore options');
  const { repair = false, monitor, models } = options as VerifyStoreOptions;
  if (typeof repair !== 'boolean') throw badInput(`Expected boolean for repair but received ${JSON.stringify(repair)}`);
  if (models !== undefined) {
    if (!Array.isArray(models)) throw badInput(`Expected an array of model names for models but received ${JSON.stringify(models)}`);
    for (const model of models) checkModelName(model);
  }
  // The store's own check of `monitor`, and its resolved form (primary first).
  return { repair, monitor: resolvePolicy({ monitor }).policy.monitor, models };
}

/**
 * Checks (and with `repair`, repairs) every model of the store at `root`:
 * each listed checkpoint present, verifying and holding its own seq; no
 * complete checkpoint file the catalog lacks; nothing left in .tmp/; the
 * journal and catalog.json intact; the primary best held by a listed checkpoint.
 */
export async function verifyStore(root: string, options: VerifyStoreOptions = {}): Promise<StoreReport> {
  if (typeof root !== 'string' || root.length === 0) throw badInput(`Expected a directory path but received ${JSON.stringify(root)}`);
  const { repair, monitor, models: only } = checkOptions(options);
  const dir = resolve(root);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CheckpointError('E_NOT_FOUND', `no store at ${dir}`);
  const names = only ?? modelsIn(dir);
  for (const name of names) if (!existsSync(join(dir, name))) throw new CheckpointError('E_NOT_FOUND', `no model "${name}" in the store at ${dir}`);
  const locks = repair ? lockAll(dir, names) : [];
  try {
    const models: StoreReport['models'] = {};
    for (const name of names) {
      const repairs = repair ? await repairModel(join(dir, name), name, monitor) : [];
      const { problems, checkpoints } = await checkModel(join(dir, name), name, monitor);
      const quarantine = quarantineOf(join(dir, name));
      if (quarantine.problem) problems.push(quarantine.problem);
      models[name] = { ok: problems.length === 0, problems, repairs, checkpoints, quarantined: quarantine.count };
    }
    return { ok: Object.values(models).every((m) => m.ok), models };
  } finally {
    for (const lock of locks) lock.release();
  }
}

/** Every model's lock, or none: a repair never starts on part of a store a writer holds. */
function lockAll(dir: string, names: string[]): NativeLock[] {
  const locks: NativeLock[] = [];
  try {
    for (const name of names) locks.push(callNative(() => native.lockFile(join(dir, name, 'LOCK'))));
    return locks;
  } catch (err) {
    for (const lock of locks) lock.release();
    throw err;
  }
}

/**
 * Recovery at open (the writer's own Catalog.open, and the history's torn
 * tail cut), then what load() does to a listed file that fails verification
 * or is another checkpoint; the close persists the state.
 */
async function repairModel(dir: string, name: string, monitor: Array<[string, Direction]>): Promise<string[]> {
  const history = History.pathIn(dir);
  const cut = repairJournal(history, scanHistory(history));
  const catalog = Catalog.open(dir, name, false, monitor);
  const repairs = [...catalog.repairs];
  if (cut > 0) repairs.push(`history: cut ${cut} damaged bytes`);
  try {
    for (const record of [...catalog.list()]) {
      const problem = await fileProblem(catalog, name, record);
      if (problem?.kind === 'missing') {
        await catalog.forget(record, problem.message);
        repairs.push(`${problem.message}; dropped from the catalog`);
      } else if (problem) {
        repairs.push(`quarantined ${record.file} -> ${await catalog.quarantine(record, problem.message)}: ${problem.message}`);
      }
    }
  } finally {
    await catalog.close();
  }
  return repairs;
}

/** Verifies one listed file: present, every chunk intact, and the checkpoint the record says. */
async function fileProblem(catalog: Catalog, name: string, record: CheckpointRecord): Promise<StoreProblem | null> {
  const at = { file: record.file, seq: record.seq };
  try {
    const index = await verifyFrom(catalog.path(record), {}, STORE);
    const mismatch = identityProblem(name, record, index.info);
    return mismatch ? { kind: 'mismatch', message: mismatch, ...at } : null;
  } catch (err) {
    const e = err as CheckpointError;
    if (e.code === 'E_NOT_FOUND') return { kind: 'missing', message: `checkpoint ${record.seq} is listed but ${record.file} is missing`, ...at };
    if (e.code === 'E_CORRUPT' || e.code === 'E_VERSION') return { kind: 'corrupt', message: `${record.file}: ${e.message}`, ...at };
    throw err;
  }
}

async function checkModel(dir: string, name: string, monitor: Array<[string, Direction]>): Promise<{ problems: StoreProblem[]; checkpoints: number }> {
  const problems: StoreProblem[] = [];
  const catalog = Catalog.open(dir, name, true, monitor);
  for (const message of catalog.repairs) problems.push({ kind: 'catalog', message });
  const scans = [['journal', scanJournal(join(dir, 'journal'))], ['history', scanHistory(History.pathIn(dir))]] as const;
  for (const [kind, scan] of scans) {
    if (scan.problem)
      problems.push({ kind, message: `${kind}: ${scan.fileBytes - scan.validBytes} damaged bytes at byte ${scan.validBytes} (${scan.problem})` });
  }

  const listed = catalog.list();
  for (const record of listed) {
    const problem = await fileProblem(catalog, name, record);
    if (problem) problems.push(problem);
  }
  const listedFiles = new Set(listed.map((r) => r.file));
  const evicting = new Set(catalog.pendingEvictions());
  for (const file of readdirSync(dir).filter((f) => CHECKPOINT_FILE.test(f) && !listedFiles.has(f)).sort()) {
    if (evicting.has(file)) problems.push({ kind: 'unfinished-eviction', message: `${file}: its eviction is journaled but the file is still there`, file });
    else problems.push({ kind: 'unlisted', message: `${file}: a checkpoint file the catalog does not list`, file });
  }
  const tmp = join(dir, '.tmp');
  for (const file of existsSync(tmp) ? readdirSync(tmp).sort() : [])
    problems.push({ kind: 'tmp', message: `.tmp/${file}: an unfinished write`, file: `.tmp/${file}` });

  const primary = monitor[0]?.[0];
  const best = primary === undefined ? undefined : catalog.persisted().tracker.best[primary];
  if (best && !listed.some((r) => r.metrics[primary!] === best.value))
    problems.push({ kind: 'best', message: `best ${primary} ${best.value} (step ${best.step}) is held by no listed checkpoint` });
  return { problems, checkpoints: listed.length };
}

/** How many files .quarantine/ keeps; anything but a directory there (a link is not followed) is a problem. */
function quarantineOf(dir: string): { count: number; problem?: StoreProblem } {
  const q = join(dir, '.quarantine');
  const st = lstatSync(q, { throwIfNoEntry: false });
  if (!st) return { count: 0 };
  if (st.isDirectory()) return { count: readdirSync(q).length };
  return { count: 0, problem: { kind: 'quarantine', message: `${q} is ${kindOf(st)}, not a directory: nothing can be quarantined`, file: '.quarantine' } };
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'a regular file';
}
