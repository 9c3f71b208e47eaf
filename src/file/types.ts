// The types of the checkpoint file's API (docs/FORMAT.md): what a file
// records beside its tensors, and what reading it gives back.
import type { Dtype, Tensor, TensorInput } from './tensors.js';

export type Codec = 'raw' | 'zstd' | 'shuffle+zstd';
export const CODECS: readonly Codec[] = ['raw', 'zstd', 'shuffle+zstd'];

export type Category = 'best' | 'periodic' | 'final' | 'manual';
export const CATEGORIES: readonly Category[] = ['best', 'periodic', 'final', 'manual'];
export type Metrics = Record<string, number>;

/** What a checkpoint records beside its tensors. */
export interface CheckpointFields {
  step?: number;
  epoch?: number;
  metrics?: Metrics;
  meta?: Record<string, unknown>;
  model?: string;
  seq?: number;
  category?: Category;
  reasons?: string[];
}

export interface WriteOptions {
  codec?: Codec;
  /** zstd level, 1 (fastest, the default) to 19. */
  level?: number;
  /** Bytes per chunk; a multiple of 64 in [4 KiB, 256 MiB]; default 4 MiB. */
  chunkBytes?: number;
  /** Threads for compression; default: one per core. */
  threads?: number;
}

export interface CheckpointInfo {
  model: string | null;
  seq: number | null;
  step: number;
  epoch: number;
  category: Category | null;
  reasons: string[];
  metrics: Metrics;
  /** Size of the file on disk. */
  bytes: number;
  /** Sum of the tensors' raw bytes. */
  rawBytes: number;
  created: string;
  path: string;
}

export interface TensorIndexEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  nbytes: number;
  chunks: Array<[offset: number, storedLen: number, rawLen: number, codec: Codec, xxh3: string]>;
}

/** The index of a checkpoint file: everything but the tensor bytes. */
export interface CheckpointIndex {
  info: CheckpointInfo;
  meta: Record<string, unknown>;
  formatVersion: number;
  writer: string;
  codec: { name: Codec; level: number; chunk_bytes: number };
  tensors: TensorIndexEntry[];
}

export interface LoadedCheckpoint {
  info: CheckpointInfo;
  tensors: Record<string, Tensor>;
  metrics: Metrics;
  step: number;
  epoch: number;
  meta: Record<string, unknown>;
}

export interface ReadOptions {
  /** Decode into these arrays instead of allocating (byte sizes must match). */
  into?: TensorInput;
  /** Check every chunk's xxh3 (default true). */
  verify?: boolean;
  threads?: number;
}
