// Recovery at open (docs/ARCHITECTURE.md, "Recovery"): what the directory
// of a model really holds wins over what its catalog says. Unfinished
// writes are removed, journaled evictions finished, missing files dropped,
// and complete checkpoint files the journal lacks adopted, since files
// describe themselves.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { callNative, CheckpointError } from '../errors.js';
import { inspectFromSync, STORE } from '../file/checkpoint-file.js';
import { native } from '../native.js';
import { foldCheckpoint, type PolicyConfig } from '../policy/decide.js';
import type { CatalogState } from './catalog-state.js';
import { moveToQuarantineSync } from './quarantine.js';
import { CHECKPOINT_FILE, recordFromInfo } from './records.js';

/** Repairs `dir` and `state` to agree; returns what it did, one line each. */
export function recoverModel(dir: string, model: string, state: CatalogState, monitor: PolicyConfig['monitor']): string[] {
  const repairs: string[] = [];
  const removed = callNative(() => native.clearTmpDir(dir));
  if (removed > 0) repairs.push(`.tmp: removed ${removed} unfinished file(s)`);

  const present = new Set(readdirSync(dir).filter((f) => CHECKPOINT_FILE.test(f)));
  for (const file of state.pendingDeletes) {
    if (present.has(file)) {
      callNative(() => native.removeFile(join(dir, file)));
      present.delete(file);
      repairs.push(`finished the eviction of ${file}`);
    }
  }
  state.pendingDeletes.clear();

  for (const record of [...state.list()]) {
    if (!present.delete(record.file)) {
      state.remove(record.seq);
      repairs.push(`checkpoint ${record.seq} (${record.file}) is missing from the directory; dropped from the catalog`);
    }
  }
  for (const file of [...present].sort()) repairs.push(adopt(dir, model, state, monitor, file));
  return repairs;
}

/** A complete checkpoint file the journal lacks (a crash between its rename and its journal record). */
function adopt(dir: string, model: string, state: CatalogState, monitor: PolicyConfig['monitor'], file: string): string {
  try {
    const { info } = inspectFromSync(join(dir, file), STORE);
    if (info.model !== null && info.model !== model) throw new CheckpointError('E_CORRUPT', `it is a checkpoint of model ${JSON.stringify(info.model)}`);
    const seq = info.seq ?? Number(CHECKPOINT_FILE.exec(file)![1]);
    if (state.records.has(seq)) throw new CheckpointError('E_CORRUPT', `its seq ${seq} is already taken by ${state.records.get(seq)!.file}`);
    const record = recordFromInfo({ ...info, seq }, file);
    state.put(record);
    // Before the compaction at open persists the tracker: the file holds
    // values the tracker never saw.
    state.tracker = foldCheckpoint(monitor, state.tracker, record);
    return `adopted ${file} (seq ${seq}, step ${info.step}), complete but missing from the journal`;
  } catch (err) {
    return `quarantined ${file} -> ${moveToQuarantineSync(dir, file)}: ${(err as Error).message}`;
  }
}
