// Public exports, nothing else.
export { CheckpointError, type ErrorCode } from './errors.js';
export {
  type Dtype, type Tensor, type TensorDict, type TensorInput, type TensorLike, type TypedArray,
} from './tensors.js';
export {
  writeCheckpoint, writeCheckpointSync, readCheckpoint, readCheckpointSync,
  inspectCheckpoint, inspectCheckpointSync, verifyCheckpoint, verifyCheckpointSync,
  type Codec, type Category, type Metrics, type CheckpointFields, type WriteOptions, type ReadOptions,
  type CheckpointInfo, type CheckpointIndex, type TensorIndexEntry, type LoadedCheckpoint,
} from './checkpoint-file.js';
