// Files that failed verification are moved aside into <model>/.quarantine/,
// kept for inspection, never deleted by the store.
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { callNative } from '../errors.js';
import { native } from '../native.js';

export const QUARANTINE_DIR = '.quarantine';

/** Moves `<dir>/<file>` into `<dir>/.quarantine/` under a new name; returns where it went. */
export function moveToQuarantine(dir: string, file: string): string {
  const qdir = join(dir, QUARANTINE_DIR);
  callNative(() => native.ensureDir(qdir));
  const target = join(qdir, `${file}.${Date.now()}`);
  renameSync(join(dir, file), target);
  callNative(() => native.fsyncDir(dir));
  return target;
}
