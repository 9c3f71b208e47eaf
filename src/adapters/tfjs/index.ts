// tensorkeep/tfjs: checkpoints for TensorFlow.js layers models. Public exports, nothing else.
export { tfjsHandler, registerTensorkeepRouter, type HandlerOptions } from './handler.js';
export { checkpointCallback, CheckpointCallback, type CallbackOptions } from './callback.js';
export { captureModel, restoreModel, type CaptureOptions, type CapturedModel, type RestoredState } from './capture.js';
export { type TfjsMeta } from './artifacts.js';
