// Loads the addon; the only file that touches it directly.
import { createRequire } from 'node:module';

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

export interface NativeReader {
  readonly indexJson: string;
  readonly fileBytes: number;
  decode(targets: Array<{ tensor: number; data: ArrayBufferView }>, verify: boolean, threads: number | undefined, async: false): void;
  decode(targets: Array<{ tensor: number; data: ArrayBufferView }>, verify: boolean, threads: number | undefined, async: true): Promise<void>;
  verifyAll(threads: number | undefined, async: false): void;
  verifyAll(threads: number | undefined, async: true): Promise<void>;
  close(): void;
}

export interface NativeAddon {
  formatVersion: number;
  writeCheckpoint(path: string, tensors: NativeTensor[], headJson: string, options: NativeWriteOptions, async: false): NativeWriteResult;
  writeCheckpoint(path: string, tensors: NativeTensor[], headJson: string, options: NativeWriteOptions, async: true): Promise<NativeWriteResult>;
  openReader(path: string, async: false): NativeReader;
  openReader(path: string, async: true): Promise<NativeReader>;
  /** Copies every source into `destination` at the matching offset, on `threads` threads. */
  snapshot(sources: ArrayBufferView[], destination: ArrayBufferView, offsets: number[], threads?: number): void;
  /** xxh3-64 of the bytes, as 16 hex digits. */
  xxh3(data: ArrayBufferView): string;
  /** Arms the system-call fault seam (grammar: docs/RELIABILITY.md, "Fault plans"). */
  setFaultPlan(spec: string): void;
  clearFaultPlan(): void;
  faultCallCount(): number;
}

const require = createRequire(import.meta.url);
// src/ and dist/ sit at the same depth, so one relative path serves both.
export const native: NativeAddon = require('../build/Release/tensorkeep.node');
