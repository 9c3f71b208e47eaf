// The public API of tensorkeep, nothing else (docs/ARCHITECTURE.md, "Public API").
// Classes that users only receive (a store, a model, an episode log) are
// exported as types. Two calls have a Sync twin, for callers already off the
// event loop (a worker thread of the user's): writeCheckpointSync and
// readCheckpointSync.
export { open } from './store/store.js';
export { verifyStore, type VerifyStoreOptions, type StoreReport, type ModelReport, type StoreProblem, type ProblemKind } from './store/verify-store.js';
export { writeCheckpoint, writeCheckpointSync, readCheckpoint, readCheckpointSync, inspectCheckpoint, verifyCheckpoint } from './file/checkpoint-file.js';
export { checkpointRefs, type ReplayableCheckpoint } from './episodes/store.js';
export { CheckpointError, type ErrorCode } from './errors.js';

export type { CheckpointManager } from './store/store.js';
export type { ModelCheckpoints } from './model/model.js';
export type { EpisodeLog } from './episodes/log.js';
export type { ReportInput, Ticket, SaveOptions, ModelStats, LatencyStats, TensorSource } from './model/types.js';
export type { StoreOptions, Backpressure, SnapshotMode } from './validate/store-options.js';
export type { PolicyOptions, ModelSettings } from './validate/policy-options.js';
export type { Logger } from './logger.js';
export type {
  StoreEventMap, StoreEventName, SavedEvent, ImprovedEvent, SkippedEvent, EvictedEvent, DegradedEvent, AlertEvent,
  RepairedEvent, ErrorEvent, ErrorContext,
} from './events.js';
export type {
  Codec, Category, Metrics, CheckpointFields, WriteOptions, ReadOptions, CheckpointInfo, CheckpointIndex, TensorIndexEntry, LoadedCheckpoint,
} from './file/types.js';
export type { Dtype, Tensor, TensorDict, TensorInput, TensorLike, TypedArray } from './file/tensors.js';
export type { JsonValue } from './validate/json.js';
export type { HistoryEntry } from './durability/history.js';
export type { Reason } from './policy/categories.js';
export type { Direction, PresetName } from './policy/decide.js';
export type { ExportResult } from './episodes/arrow-export.js';
export type {
  AppendResult, Column, DataFrame, EpisodeDamage, EpisodeLogOptions, EpisodeRecord, EpisodeRef, EpisodeRetention,
  EpisodeStats, ReplayQuery, StoredEpisode,
} from './episodes/types.js';
