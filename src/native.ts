// Loads the addon; the only file that touches it directly.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: ArrayBufferView;
}

export interface NativeWriteOptions {
  codec?: string;
  level?: number;
  chunkBytes?: number;
  threads?: number;
}

export interface NativeWriteResult {
  fileBytes: number;
  rawBytes: number;
  indexJson: string;
}

export interface NativeOpenOptions {
  /** Read through a symbolic link at the path (default false: refused). */
  followLinks?: boolean;
}

export interface NativeReader {
  readonly indexJson: string;
  readonly fileBytes: number;
  decode(targets: Array<{ tensor: number; data: ArrayBufferView }>, verify: boolean, threads: number | undefined, async: false): void;
  decode(targets: Array<{ tensor: number; data: ArrayBufferView }>, verify: boolean, threads: number | undefined, async: true): Promise<void>;
  verifyAll(threads: number | undefined, async: false): void;
  verifyAll(threads: number | undefined, async: true): Promise<void>;
  close(): void;
}

/**
 * Every limit the checkpoint reader enforces (native/core/format_limits.h),
 * defined once there: the native writer refuses (E_BAD_INPUT) whatever the
 * reader would refuse (E_CORRUPT), and TypeScript checks can use the same
 * numbers. Frozen.
 */
export interface NativeLimits {
  /** Largest index JSON (names, shapes, chunk table, meta, metrics, ...), in bytes: 64 MiB. */
  readonly maxIndexBytes: number;
  /** chunkBytes: a multiple of chunkAlignment in [minChunkBytes, maxChunkBytes] (4 KiB .. 256 MiB). */
  readonly minChunkBytes: number;
  readonly maxChunkBytes: number;
  readonly defaultChunkBytes: number;
  readonly chunkAlignment: number;
  /** UTF-8 bytes of a tensor name: 1024. */
  readonly maxNameBytes: number;
  /** Dimensions of a shape: 32. */
  readonly maxDims: number;
  /** Bytes of one tensor: 2^53. */
  readonly maxTensorBytes: number;
  /** zstd level: 1 .. 19. */
  readonly minLevel: number;
  readonly maxLevel: number;
  /** Nesting depth of the index JSON, so of `meta`: 64. */
  readonly maxJsonDepth: number;
  /** A zstd chunk's raw length is below stored length × this (32768). */
  readonly maxZstdExpansion: number;
  /** Payload of one journal or history record: 16 MiB. */
  readonly maxJournalRecordBytes: number;
  /** Payload of one episode record: 256 MiB; blocks per record: 65536. */
  readonly maxEpisodePayloadBytes: number;
  readonly maxEpisodeBlocks: number;
}

export interface NativeAddon {
  formatVersion: number;
  limits: NativeLimits;
  /** `links.followLinks` false: the store's own file, whose directory is never reached through a symbolic link. */
  writeCheckpoint(path: string, tensors: NativeTensor[], headJson: string, options: NativeWriteOptions, async: false, links: { followLinks: boolean }): NativeWriteResult;
  writeCheckpoint(path: string, tensors: NativeTensor[], headJson: string, options: NativeWriteOptions, async: true, links: { followLinks: boolean }): Promise<NativeWriteResult>;
  /**
   * Anything but a regular file at `path` is E_CORRUPT naming what it is; a
   * symbolic link too, unless `followLinks` (for a path the caller chose: a
   * store reads only its own files). A link to a FIFO or device is refused either way.
   */
  /** What writeCheckpoint would refuse before creating a file (E_BAD_INPUT), with `checkValues` bool bytes too; writes nothing. */
  checkWrite(tensors: NativeTensor[], headJson: string, options: NativeWriteOptions, checkValues: boolean): void;
  openReader(path: string, async: false, options?: NativeOpenOptions): NativeReader;
  openReader(path: string, async: true, options?: NativeOpenOptions): Promise<NativeReader>;
  /** Copies every source into `destination` at the matching offset, on `threads` threads. */
  snapshot(sources: ArrayBufferView[], destination: ArrayBufferView, offsets: number[], threads?: number): void;
  /** xxh3-64 of the bytes, as 16 hex digits. */
  xxh3(data: ArrayBufferView): string;
  /** Sets the calling thread's nice value (never raising its priority); returns the value in effect, -100 where threads have none. */
  lowerThreadPriority(nice: number): number;
  /** Arms the system-call fault seam (grammar: docs/RELIABILITY.md, "Fault plans"). */
  setFaultPlan(spec: string): void;
  clearFaultPlan(): void;
  faultCallCount(): number;
  /** The calls recorded by a `trace` plan since it was set, oldest first; clears them. */
  takeFaultTrace(): NativeTraceEntry[];

  // Store primitives (native/addon/store_bindings.cc). Every file system
  // call goes through the fault seam. The operations with a trailing `async`
  // flag run on the calling thread when it is false or omitted, and on a
  // libuv thread behind a Promise when it is true.
  /** Opens (creating) a framed journal for appending; see src/durability/journal.ts. */
  journalOpen(path: string): NativeJournal;
  /** Every intact frame from the start; a missing file is an empty scan. */
  journalScan(path: string): NativeJournalScan;
  /** Cuts a file to `length` bytes and fsyncs it; never grows it (E_BAD_INPUT). */
  truncateFile(path: string, length: number, async?: false): void;
  truncateFile(path: string, length: number, async: true): Promise<void>;
  /**
   * Replaces the file via .tmp/ + fsync + rename + directory fsync; `data`
   * may be pieces, written end to end. The async form reads them in place on
   * a libuv thread: they must not change until it settles.
   */
  writeFileAtomic(path: string, data: Uint8Array | Uint8Array[], async?: false): void;
  writeFileAtomic(path: string, data: Uint8Array | Uint8Array[], async: true): Promise<void>;
  /** Unlinks (a symbolic link itself, never its target) and fsyncs the directory; a missing file is not an error. */
  removeFile(path: string, async?: false): void;
  removeFile(path: string, async: true): Promise<void>;
  /** Unlinks every entry of `<dir>/.tmp/`; returns how many (0 without .tmp). A `.tmp` that is not a real directory is E_IO. */
  clearTmpDir(dir: string, async?: false): number;
  clearTmpDir(dir: string, async: true): Promise<number>;
  /** Creates one directory level if missing; an existing entry must be a real directory (a symbolic link is E_IO). */
  ensureDir(path: string): void;
  /**
   * Creates every missing level of `path` (mkdir through the seam) and fsyncs
   * the parent of each level it made, so a power cut cannot take a new store
   * or model directory away. Existing levels are followed wherever they lead
   * (links above the store are the caller's business). Returns the levels
   * made, outermost first. A level that is not a directory is E_BAD_INPUT; a
   * file system that refuses the mkdir (/proc, /sys, read-only) is E_IO.
   */
  makeDirs(path: string, async?: false): string[];
  makeDirs(path: string, async: true): Promise<string[]>;
  /**
   * Moves the entry `file` of `dir` (a plain name) into `<dir>/.quarantine/`
   * (made durably if missing; E_IO if it is a symbolic link or not a
   * directory) as `<file>.<ms since epoch>` (`-2`, `-3`, ... if taken), then
   * fsyncs both directories. The entry itself moves, whatever it is. Returns
   * its new path. A missing file is E_NOT_FOUND.
   */
  moveToQuarantine(dir: string, file: string, async?: false): string;
  moveToQuarantine(dir: string, file: string, async: true): Promise<string>;
  /**
   * The whole of a small store file (catalog.json, an episode index), which
   * must be a regular file: opened O_NOFOLLOW | O_NONBLOCK and checked, so a
   * FIFO or symbolic link in its place is E_IO at once (readFileSync would
   * block forever on a FIFO, or follow the link). A missing file is E_NOT_FOUND.
   */
  readStoreFile(path: string, async?: false): Buffer;
  readStoreFile(path: string, async: true): Promise<Buffer>;
  fsyncDir(path: string): void;
  /** Exclusive non-blocking flock; E_LOCKED names the holder's pid. */
  lockFile(path: string): NativeLock;
}

/** One system call as the seam recorded it (native/core/syscall_seam.h). */
export interface NativeTraceEntry {
  op: 'open' | 'close' | 'pwrite' | 'pread' | 'fsync' | 'sync_range' | 'rename' | 'unlink' | 'mkdir' | 'rmdir' | 'flock' | 'fstat' | 'ftruncate';
  /** The path argument, or the path the descriptor was opened with. */
  path: string;
  /** rename: the target. */
  path2: string;
  /** pwrite, pread, sync_range: the range; ftruncate: the new length is `offset`. */
  offset: number;
  length: number;
  /** open: its O_* flags. */
  flags: number;
  /** pwrite: the bytes written. */
  data?: Buffer;
}

export interface NativeJournal {
  /** One frame per call; fsynced when `sync`. A failed append leaves the file as it was. */
  append(record: Uint8Array, sync: boolean): void;
  /** The payloads end to end (record i is lengths[i] bytes), one frame each, written by one pwrite: all or none. */
  appendMany(records: Uint8Array, lengths: Uint32Array, sync: boolean): void;
  sync(): void;
  /** The fsync on a libuv thread; appends may continue meanwhile. */
  sync(async: true): Promise<void>;
  /** Bytes in the file, this writer's appends included. */
  size(): number;
  /** Idempotent; every other method throws E_CLOSED afterwards. */
  close(): void;
}

export interface NativeJournalScan {
  records: Buffer[];
  /** Byte offset of each record's frame. */
  offsets: number[];
  /** End of the last intact frame: where the damaged tail, if any, starts. */
  validBytes: number;
  fileBytes: number;
  problem: string | null;
}

export interface NativeLock {
  /** Idempotent. */
  release(): void;
}

const require = createRequire(import.meta.url);
// src/ and dist/ sit at the same depth, so one relative path serves both.
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * The addon built from source (build/Release/) when there is one, else the
 * prebuilt binary the package ships for this platform (node-gyp-build's
 * search order).
 */
function loadAddon(): NativeAddon {
  const findAddon = require('node-gyp-build') as { path(dir: string): string };
  let path: string;
  try {
    path = findAddon.path(packageRoot);
  } catch (err) {
    throw new Error(
      `tensorkeep: no native addon for this platform (${(err as Error).message.split('\n')[0]}). ` +
        'The package ships prebuilt binaries for some platforms only; elsewhere its install script builds one ' +
        '(CMake >= 3.15 and a C++17 compiler). If npm skipped that script, allow it and rebuild: ' +
        '`npm install-scripts approve tensorkeep && npm rebuild tensorkeep`.',
      { cause: err },
    );
  }
  return require(path) as NativeAddon;
}

export const native: NativeAddon = loadAddon();
