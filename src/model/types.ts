// The types of one model's API (ModelCheckpoints), and what a model needs
// from its store.
import type { Emit } from '../events.js';
import type { Category, CheckpointInfo, Metrics } from '../file/types.js';
import type { TensorInput } from '../file/tensors.js';
import type { Logger } from '../logger.js';
import type { Reason } from '../policy/categories.js';
import type { StagingPool } from '../pipeline/staging.js';
import type { WorkerPool } from '../pipeline/workers.js';
import type { EpisodeLog } from '../episodes/log.js';
import type { PipelineSettings, SnapshotMode } from '../validate/store-options.js';

export type TensorSource = TensorInput | (() => TensorInput);

export interface ReportInput {
  step: number;
  epoch?: number;
  metrics?: Metrics;
  /** The tensors, or a function called only when the report saves. */
  tensors?: TensorSource;
  meta?: Record<string, unknown>;
  /** Save whatever the policy says (reason "forced"). */
  force?: boolean;
  /** Overrides the store's `snapshot` option for this report. */
  snapshot?: SnapshotMode;
}

export interface Ticket {
  saved: boolean;
  reasons: Reason[];
  category: Category | null;
  seq?: number;
  /**
   * Resolves once the checkpoint is in the catalog for good, and list(),
   * best() and latest() show the retention its commit caused; null when
   * nothing was saved.
   */
  durable: Promise<CheckpointInfo | null>;
  /** The policy asked for a save that backpressure dropped (the disk is behind and memory is full). */
  dropped?: true;
}

export interface SaveOptions {
  step: number;
  epoch?: number;
  metrics?: Metrics;
  meta?: Record<string, unknown>;
  category?: Category;
  /** Overrides the store's `snapshot` option for this save. */
  snapshot?: SnapshotMode;
}

/** Latency percentiles in milliseconds. */
export interface LatencyStats { count: number; p50: number; p99: number; max: number }

export interface ModelStats {
  checkpoints: Record<Category, number>;
  bytesOnDisk: number;
  quotaBytes: number | null;
  best: Record<string, { value: number; step: number; time: number }>;
  /** The step of the newest report or save, persisted across restarts (null before the first). */
  lastStep: number | null;
  lastSaveAgeMs: number | null;
  saves: number;
  skips: number;
  failures: number;
  /** Saves merged into a newer one because the disk was behind. */
  coalesced: number;
  /** Saves the policy asked for that backpressure dropped. */
  dropped: number;
  /** Accepted saves not yet durable (running or waiting). */
  queueDepth: number;
  /** Time report()/save() held the calling thread for a save (the copy). */
  stallMs: LatencyStats;
  /** Time from the start of a write to its commit. */
  persistMs: LatencyStats;
}

/** What a model needs from its store. */
export interface ModelContext {
  logger: Logger;
  staging: StagingPool;
  workers: WorkerPool;
  pipeline: PipelineSettings;
  emit: Emit;
  /** The store's episode log of a stream: a loaded checkpoint replays the episodes it references. */
  episodes(stream: string): EpisodeLog;
}
