// Directories the store creates: each new level fsynced in its parent, so a
// power cut cannot take away a store or a model whose saves were
// acknowledged (found by the power-loss model). Every call goes through the
// addon's seam, where crash points and the power-loss model see it.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { callNative } from '../errors.js';
import { native } from '../native.js';

/** Creates `dir` and its missing parents durably. */
export function makeDirs(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirs(parent);
  callNative(() => native.ensureDir(dir));
  callNative(() => native.fsyncDir(parent));
}
