// Public exports, nothing else.
export { CheckpointError, type ErrorCode } from './errors.js';
export {
  type Dtype, type Tensor, type TensorDict, type TensorInput, type TensorLike, type TypedArray,
} from './file/tensors.js';
export {
  writeCheckpoint, writeCheckpointSync, readCheckpoint, readCheckpointSync,
  inspectCheckpoint, inspectCheckpointSync, verifyCheckpoint, verifyCheckpointSync,
  type Codec, type Category, type Metrics, type CheckpointFields, type WriteOptions, type ReadOptions,
  type CheckpointInfo, type CheckpointIndex, type TensorIndexEntry, type LoadedCheckpoint,
} from './file/checkpoint-file.js';
export { open, CheckpointManager, type StoreEvent } from './store/store.js';
export { ModelCheckpoints, type ReportInput, type Ticket, type SaveOptions, type ModelStats, type TensorSource } from './model/model.js';
export { type StoreOptions, type PolicyOptions, type Logger } from './validate/options.js';
export { type HistoryEntry } from './durability/history.js';
export {
  EpisodeLog, checkpointEpisodes, checkpointRefs, exportEpisodes, type ExportResult, type ReplayableCheckpoint,
  type AppendResult, type Column, type DataFrame, type EpisodeDamage, type EpisodeLogOptions, type EpisodeRecord, type EpisodeRef,
  type EpisodeRetention, type EpisodeStats, type JsonValue, type ReplayQuery, type StoredEpisode,
} from './episodes/index.js';
export { verifyStore, type VerifyStoreOptions, type StoreReport, type ModelReport, type StoreProblem, type ProblemKind } from './store/verify-store.js';
