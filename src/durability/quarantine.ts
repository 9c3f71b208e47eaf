// Files that failed verification are moved aside into <model>/.quarantine/,
// kept for inspection, never deleted by the store. The addon does the move
// through the seam, relative to the directories it opened (never following
// a link), and fsyncs both directories.
import { callNative, callNativeAsync } from '../errors.js';
import { native } from '../native.js';

/** Moves `<dir>/<file>` into `<dir>/.quarantine/` under a new name; returns where it went. At open. */
export function moveToQuarantineSync(dir: string, file: string): string {
  return callNative(() => native.moveToQuarantine(dir, file));
}

/** The same on a libuv thread: loads and repairs after open. */
export function moveToQuarantine(dir: string, file: string): Promise<string> {
  return callNativeAsync(() => native.moveToQuarantine(dir, file, true));
}
