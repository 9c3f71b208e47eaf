// A model.fit / fitDataset callback that reports the logs to a ModelCheckpoints
// and lets the store's policy decide when to save.
import { Callback } from '@tensorflow/tfjs-layers';
import { CheckpointError, type Metrics, type ModelCheckpoints, type Ticket } from '../../index.js';
import { captureModel } from './capture.js';

export interface CallbackOptions {
  /** Report at the end of every 'batch' or every 'epoch' (default 'epoch'; val_* logs exist only there). */
  every?: 'batch' | 'epoch';
  /** Save the optimizer's state too (default true). */
  includeOptimizer?: boolean;
  /** Step of the last batch before this fit (default: the model's last reported step, 0 for none). Each batch adds one. */
  initialStep?: number;
  /** The trainer's own state to save with each checkpoint (JSON; RNG state, data position). */
  state?: () => Record<string, unknown>;
}

type Logs = Record<string, number | { dataSync(): ArrayLike<number> }> | undefined;

// Batch logs also carry the batch index and size: bookkeeping, not metrics.
const NOT_METRICS = new Set(['batch', 'size']);

/** Batch logs may still hold scalar tensors (fit disposes them after the callbacks). */
function metricsOf(logs: Logs): Metrics {
  const metrics: Metrics = {};
  for (const [name, value] of Object.entries(logs ?? {}))
    if (!NOT_METRICS.has(name)) metrics[name] = typeof value === 'number' ? value : value.dataSync()[0];
  return metrics;
}

export class CheckpointCallback extends Callback {
  private step: number;
  private epoch = 0;
  /** The ticket of the last report, to await `durable` after fit. */
  lastTicket: Ticket | null = null;

  constructor(private readonly ckpts: ModelCheckpoints, private readonly options: CallbackOptions = {}) {
    super();
    const { every, initialStep, state } = options;
    if (every !== undefined && every !== 'batch' && every !== 'epoch')
      throw new CheckpointError('E_BAD_INPUT', `Expected 'batch' or 'epoch' for every but received ${JSON.stringify(every)}`);
    if (initialStep !== undefined && !(Number.isSafeInteger(initialStep) && initialStep >= 0))
      throw new CheckpointError('E_BAD_INPUT', `Expected non-negative integer for initialStep but received ${String(initialStep)}`);
    if (state !== undefined && typeof state !== 'function')
      throw new CheckpointError('E_BAD_INPUT', 'Expected a function returning the trainer state for state');
    this.step = initialStep ?? ckpts.stats().lastStep ?? 0;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(_batch: number, logs?: Logs): Promise<void> {
    this.step++;
    if (this.options.every === 'batch') await this.report(logs);
  }

  override async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    this.epoch = epoch;
    if (this.options.every !== 'batch') await this.report(logs);
  }

  private async report(logs: Logs): Promise<void> {
    const captured = await captureModel(this.model, { includeOptimizer: this.options.includeOptimizer, state: this.options.state?.() });
    // Borrowed, not copied: tfjs never writes these arrays again (an
    // optimizer step assigns new ones to its variables).
    this.lastTicket = this.ckpts.report({ step: this.step, epoch: this.epoch, metrics: metricsOf(logs), ...captured, snapshot: 'borrow' });
  }
}

/** `model.fit(xs, ys, { callbacks: [checkpointCallback(ckpts)] })`. */
export function checkpointCallback(ckpts: ModelCheckpoints, options: CallbackOptions = {}): CheckpointCallback {
  return new CheckpointCallback(ckpts, options);
}
