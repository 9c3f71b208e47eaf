// Make each system call of a checkpoint write fail in turn (through the
// addon's fault seam) and check the commit protocol (docs/ARCHITECTURE.md, "A save"): the
// write reports the failure with the right code, and leaves either nothing
// (failure before the rename) or the complete file (failure after it, while
// making the rename durable — the write still throws, so the caller never
// acknowledges that file). Never a partial file at the final path, never a
// leftover in .tmp/.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  readCheckpoint, readCheckpointSync, writeCheckpoint, writeCheckpointSync, type ErrorCode, type TensorDict,
} from '../../src/index.js';
import { native } from '../../src/native.js';
import { expectCheckpointError, expectRejectsCode, expectThrowsCode, sameBytes, tempDir, thrownBy, weights } from '../helpers.js';

const root = tempDir();
const CHUNK_BYTES = 16384;
const W = weights(10_000, 21); // 40 000 bytes: 3 chunks
const B = new Int32Array(100).map((_, i) => i * i - 50); // 1 chunk
const TENSORS: TensorDict = { w: W, b: B };
const OPTIONS = { chunkBytes: CHUNK_BYTES, codec: 'shuffle+zstd' as const };
const CHUNKS = 4;

afterEach(() => native.clearFaultPlan());

/** A fresh, empty directory: the first write into it also creates .tmp/. */
function freshDir(): string {
  return mkdtempSync(join(root, 'd'));
}

function write(path: string): void {
  writeCheckpointSync(path, TENSORS, { step: 1 }, OPTIONS);
}

function expectIntact(path: string): void {
  const loaded = readCheckpointSync(path);
  expect(sameBytes(loaded.tensors.w.data, W)).toBe(true);
  expect(sameBytes(loaded.tensors.b.data, B)).toBe(true);
}

function tmpEntries(dir: string): string[] {
  const tmp = join(dir, '.tmp');
  return existsSync(tmp) ? readdirSync(tmp) : [];
}

/**
 * The system calls of one write into a fresh directory, in order
 * (docs/FORMAT.md). The write opens its directory and .tmp/ (O_NOFOLLOW)
 * first and works relative to them, so a .tmp/ that is a symbolic link never
 * sends the file elsewhere.
 */
const PWRITES = 1 + CHUNKS + 1 + 1; // header, chunks, index, footer
const SEQUENCE: Array<{ op: string; what: string }> = [
  { op: 'open', what: 'the directory' },
  { op: 'mkdir', what: '.tmp/' },
  { op: 'open', what: '.tmp/' },
  { op: 'open', what: 'the .partial file' },
  ...Array.from({ length: PWRITES }, (_, i) => ({
    op: 'pwrite',
    what: i === 0 ? 'header' : i <= CHUNKS ? `chunk ${i - 1}` : i === CHUNKS + 1 ? 'index' : 'footer',
  })),
  { op: 'fsync', what: 'the .partial file' },
  { op: 'close', what: 'the .partial file' },
  { op: 'rename', what: '.partial -> final' },
  { op: 'fsync', what: 'the directory' },
  { op: 'close', what: '.tmp/' },
  { op: 'close', what: 'the directory' },
];
const RENAME_AT = SEQUENCE.findIndex((s) => s.op === 'rename') + 1; // 1-based, as fail_at counts
const DIR_FSYNC_AT = RENAME_AT + 1; // the last call whose failure fails the write

describe('counting the system calls of one write', () => {
  it('a plan without a fault counts every call and fails none', () => {
    const dir = freshDir();
    native.setFaultPlan('');
    write(join(dir, 'c.tkpt'));
    expect(native.faultCallCount()).toBe(SEQUENCE.length);
    expectIntact(join(dir, 'c.tkpt'));
  });

  it.each(['mkdir', 'open', 'pwrite', 'fsync', 'close', 'rename', 'unlink'])('op=%s counts only that kind of call', (op) => {
    const dir = freshDir();
    native.setFaultPlan(`op=${op}`);
    write(join(dir, 'c.tkpt'));
    expect(native.faultCallCount()).toBe(SEQUENCE.filter((s) => s.op === op).length);
  });

  it('a second write into the same directory makes the same calls (mkdir of .tmp/ fails with EEXIST)', () => {
    const dir = freshDir();
    write(join(dir, 'a.tkpt'));
    native.setFaultPlan('');
    write(join(dir, 'b.tkpt'));
    expect(native.faultCallCount()).toBe(SEQUENCE.length);
  });
});

const ERRNOS: Array<{ errno: string; value: number; code: ErrorCode; text: string }> = [
  { errno: 'ENOSPC', value: 28, code: 'E_NOSPACE', text: 'No space left on device' },
  { errno: 'EIO', value: 5, code: 'E_IO', text: 'Input/output error' },
];

describe.each(ERRNOS)('the k-th call of a write fails with $errno', ({ errno, value, code, text }) => {
  const cases = SEQUENCE.map((s, i) => ({ k: i + 1, ...s, code }));

  it.each(cases.filter((c) => c.k <= RENAME_AT))(
    'k=$k ($op of $what): $code, and nothing at the final path or in .tmp/',
    ({ k, op }) => {
      const dir = freshDir();
      const path = join(dir, 'c.tkpt');
      native.setFaultPlan(`fail_at=${k},errno=${errno}`);
      const err = expectThrowsCode(() => write(path), code, text);
      expect(err.message.startsWith(`${op} `), err.message).toBe(true); // names the call that failed
      expect(err.errno).toBe(value);
      native.clearFaultPlan();
      expect(existsSync(path)).toBe(false);
      expect(readdirSync(dir).filter((f) => f !== '.tmp')).toEqual([]);
      expect(tmpEntries(dir)).toEqual([]);
    },
  );

  it.each(cases.filter((c) => c.k > RENAME_AT && c.op !== 'close'))(
    'k=$k ($op of $what, after the rename): $code, the file is in place and complete but the write was not acknowledged',
    ({ k, op }) => {
      const dir = freshDir();
      const path = join(dir, 'c.tkpt');
      native.setFaultPlan(`fail_at=${k},errno=${errno}`);
      const err = expectThrowsCode(() => write(path), code, text);
      expect(err.message.startsWith(`${op} ${dir}:`), err.message).toBe(true);
      native.clearFaultPlan();
      expectIntact(path);
      expect(tmpEntries(dir)).toEqual([]);
    },
  );

  it.each([SEQUENCE.length - 1, SEQUENCE.length])('k=%i (close of .tmp/ or the directory, after its fsync succeeded): the write succeeds', (k) => {
    // The rename is already durable; a directory descriptor opened read-only
    // has nothing left to lose, so its close status is not an error.
    const dir = freshDir();
    const path = join(dir, 'c.tkpt');
    native.setFaultPlan(`fail_at=${k},errno=${errno}`);
    write(path);
    native.clearFaultPlan();
    expectIntact(path);
    expect(tmpEntries(dir)).toEqual([]);
  });

  it('the async writeCheckpoint fails with the same code at every k', async () => {
    for (let k = 1; k <= DIR_FSYNC_AT; k++) {
      const dir = freshDir();
      const path = join(dir, 'c.tkpt');
      native.setFaultPlan(`fail_at=${k},errno=${errno}`);
      const err = await expectRejectsCode(writeCheckpoint(path, TENSORS, { step: 1 }, OPTIONS), code, text);
      expect(err.message.startsWith(`${SEQUENCE[k - 1].op} `), `k=${k}: ${err.message}`).toBe(true);
      native.clearFaultPlan();
      expect(existsSync(path), `k=${k}`).toBe(k > RENAME_AT);
      if (k > RENAME_AT) expectIntact(path);
      expect(tmpEntries(dir), `k=${k}`).toEqual([]);
    }
  });

  it('a failed overwrite before the rename leaves the previous file intact', () => {
    const dir = freshDir();
    const path = join(dir, 'c.tkpt');
    write(path); // the previous, good version
    const other = { w: weights(10_000, 99), b: new Int32Array(100) };
    for (let k = 1; k <= RENAME_AT; k++) {
      native.setFaultPlan(`fail_at=${k},errno=${errno}`);
      expectThrowsCode(() => writeCheckpointSync(path, other, {}, OPTIONS), code);
      native.clearFaultPlan();
      expectIntact(path);
      expect(tmpEntries(dir), `k=${k}`).toEqual([]);
    }
  });
});

describe('targeted faults', () => {
  it('fsync of the file failing with ENOSPC is E_NOSPACE, and nothing is renamed into place', () => {
    const dir = freshDir();
    const path = join(dir, 'c.tkpt');
    native.setFaultPlan('op=fsync,fail_at=1,errno=ENOSPC');
    expectThrowsCode(() => write(path), 'E_NOSPACE', /^fsync .*\.partial: No space left on device/);
    native.clearFaultPlan();
    expect(existsSync(path)).toBe(false);
    expect(tmpEntries(dir)).toEqual([]);
  });

  it('fsync of the directory failing with EIO is E_IO, the renamed file stays', () => {
    const dir = freshDir();
    const path = join(dir, 'c.tkpt');
    native.setFaultPlan('op=fsync,fail_at=2,errno=EIO');
    expectThrowsCode(() => write(path), 'E_IO', `fsync ${dir}: Input/output error`);
    native.clearFaultPlan();
    expectIntact(path);
  });

  it('rename failing with EIO is E_IO naming the final path, and the partial is removed', () => {
    const dir = freshDir();
    const path = join(dir, 'c.tkpt');
    native.setFaultPlan('op=rename,fail_at=1,errno=EIO');
    const err = expectThrowsCode(() => write(path), 'E_IO', `rename ${path}: Input/output error`);
    expect(err.errno).toBe(5);
    native.clearFaultPlan();
    expect(existsSync(path)).toBe(false);
    expect(tmpEntries(dir)).toEqual([]);
  });

  it('the async write reports the same codes for fsync ENOSPC and rename EIO', async () => {
    for (const [plan, code] of [['op=fsync,fail_at=1,errno=ENOSPC', 'E_NOSPACE'], ['op=rename,fail_at=1,errno=EIO', 'E_IO']] as const) {
      const dir = freshDir();
      const path = join(dir, 'c.tkpt');
      native.setFaultPlan(plan);
      await expectRejectsCode(writeCheckpoint(path, TENSORS, {}, OPTIONS), code);
      native.clearFaultPlan();
      expect(existsSync(path)).toBe(false);
      expect(tmpEntries(dir)).toEqual([]);
    }
  });

  it.each([
    ['EDQUOT', 'E_NOSPACE', 122],
    ['EACCES', 'E_IO', 13],
    ['EROFS', 'E_IO', 30],
  ] as const)('a pwrite failing with %s is %s (errno %i kept on the error)', (errno, code, value) => {
    const dir = freshDir();
    native.setFaultPlan(`op=pwrite,fail_at=2,errno=${errno}`);
    const err = expectThrowsCode(() => write(join(dir, 'c.tkpt')), code);
    expect(err.errno).toBe(value);
    native.clearFaultPlan();
    expect(readdirSync(dir)).toEqual(['.tmp']);
    expect(tmpEntries(dir)).toEqual([]);
  });

  it('a disk that stays full (sticky ENOSPC on pwrite) fails the write once, cleanly', () => {
    const dir = freshDir();
    const path = join(dir, 'c.tkpt');
    native.setFaultPlan('op=pwrite,fail_at=3,errno=ENOSPC,sticky');
    expectThrowsCode(() => write(path), 'E_NOSPACE', /^pwrite /);
    expect(native.faultCallCount()).toBe(3); // no retry loop hammering the full disk
    native.clearFaultPlan();
    expect(existsSync(path)).toBe(false);
    expect(tmpEntries(dir)).toEqual([]);
  });

  it('when every call from the k-th on fails, the error is the first failure, not the cleanup\'s', () => {
    const dir = freshDir();
    const path = join(dir, 'c.tkpt');
    native.setFaultPlan('fail_at=6,errno=ENOSPC,sticky'); // 6th call: a chunk pwrite; close and unlink then fail too
    expectThrowsCode(() => write(path), 'E_NOSPACE', /^pwrite .*\.partial: No space left on device/);
    native.clearFaultPlan();
    expect(existsSync(path)).toBe(false);
    // The partial could not be unlinked on the dead disk; opening the store
    // clears .tmp/ (durability/recovery.ts). Nothing else was left behind.
    expect(readdirSync(dir)).toEqual(['.tmp']);
    expect(tmpEntries(dir).every((f) => f.endsWith('.partial'))).toBe(true);
  });

  it('an interrupted pwrite (EINTR) is retried and the write succeeds', () => {
    const dir = freshDir();
    const path = join(dir, 'c.tkpt');
    native.setFaultPlan('op=pwrite,fail_at=2,errno=EINTR');
    write(path);
    expect(native.faultCallCount()).toBe(PWRITES + 1);
    native.clearFaultPlan();
    expectIntact(path);
  });

  it('a write after clearing the plan succeeds: the process is healthy after all those faults', async () => {
    native.setFaultPlan('fail_at=1,errno=EIO,sticky');
    expectThrowsCode(() => write(join(freshDir(), 'x.tkpt')), 'E_IO');
    native.clearFaultPlan();
    expect(native.faultCallCount()).toBe(0);
    const dir = freshDir();
    write(join(dir, 'sync.tkpt'));
    await writeCheckpoint(join(dir, 'async.tkpt'), TENSORS, {}, OPTIONS);
    expectIntact(join(dir, 'sync.tkpt'));
    expectIntact(join(dir, 'async.tkpt'));
    expect(readdirSync(dir).sort()).toEqual(['.tmp', 'async.tkpt', 'sync.tkpt']);
    expect(tmpEntries(dir)).toEqual([]);
  });

  it('a malformed fault plan is E_BAD_INPUT and arms nothing', () => {
    // The raw addon throws plain Errors carrying a code (src/errors.ts wraps them for the public API).
    expect(thrownBy(() => native.setFaultPlan('fail_at=x'))).toMatchObject({ code: 'E_BAD_INPUT', message: "fail_at needs a number (0 or more), got 'x'" });
    expect(thrownBy(() => native.setFaultPlan('op=chmod'))).toMatchObject({ code: 'E_BAD_INPUT', message: "unknown op 'chmod'" });
    expect(thrownBy(() => native.setFaultPlan('errno=ENOENT'))).toMatchObject({ code: 'E_BAD_INPUT', message: "unknown errno 'ENOENT'" });
    const dir = freshDir();
    write(join(dir, 'c.tkpt'));
    expect(native.faultCallCount()).toBe(0);
    expectIntact(join(dir, 'c.tkpt'));
  });
});

describe('read faults', () => {
  const dir = tempDir();
  const path = join(dir, 'r.tkpt');

  it('every pread failing with EIO is E_IO, never E_CORRUPT (a disk error must not condemn a good file)', async () => {
    writeCheckpointSync(path, TENSORS, {}, OPTIONS);
    native.setFaultPlan('op=pread');
    readCheckpointSync(path, { threads: 1 });
    const preads = native.faultCallCount();
    expect(preads).toBe(3 + CHUNKS); // header, footer, index, then one per chunk
    for (let k = 1; k <= preads; k++) {
      native.setFaultPlan(`op=pread,fail_at=${k},errno=EIO`);
      expectThrowsCode(() => readCheckpointSync(path), 'E_IO', /^pread .*: Input\/output error/);
      native.setFaultPlan(`op=pread,fail_at=${k},errno=EIO`);
      await expectRejectsCode(readCheckpoint(path), 'E_IO');
    }
    native.clearFaultPlan();
    expectIntact(path);
  });

  it.each([
    ['open', 'EACCES', 'E_IO'],
    ['fstat', 'EIO', 'E_IO'],
  ] as const)('%s failing with %s while reading is %s', (op, errno, code) => {
    writeCheckpointSync(path, TENSORS, {}, OPTIONS);
    native.setFaultPlan(`op=${op},fail_at=1,errno=${errno}`);
    const err = thrownBy(() => readCheckpointSync(path));
    expectCheckpointError(err, code, new RegExp(`^${op} ${path}`));
  });
});
