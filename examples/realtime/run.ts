// One model's training run: its trainer, its ModelCheckpoints, resume at
// start, a report every EVAL_EVERY steps, and the revert to the best
// checkpoint when the store says the model degraded.
import type { LoadedCheckpoint, Metrics, ModelCheckpoints } from '../../src/index.js';
import { captureModel, restoreModel, type CapturedModel } from '../../src/adapters/tfjs/index.js';
import type { Market, MarketState } from './market.js';
import type { Trainer } from './trainer.js';

const EVAL_EVERY = 10;

export class ModelRun {
  step = 0;
  readonly startStep: number;
  metrics: Metrics = {};
  saves = 0;
  reverts = 0;
  private captured: CapturedModel | null = null;
  private pendingRevert: LoadedCheckpoint | null = null;

  private constructor(readonly trainer: Trainer, readonly ckpts: ModelCheckpoints, readonly resumed: LoadedCheckpoint | null) {
    this.step = this.startStep = resumed?.step ?? 0;
    // close() (at the end or on a signal) saves the state of the last report.
    ckpts.attach(() => this.captured!.tensors(), () => this.captured!.meta);
  }

  /** Opens the model's checkpoints and puts the newest one (weights, optimizer, RNG) into the trainer. */
  static async resume(trainer: Trainer, ckpts: ModelCheckpoints): Promise<ModelRun> {
    const resumed = await ckpts.resume();
    if (resumed) {
      const { state } = await restoreModel(trainer.model, resumed);
      if (state) trainer.restore(state);
    }
    return new ModelRun(trainer, ckpts, resumed);
  }

  get name(): string {
    return this.trainer.name;
  }

  get stepsThisRun(): number {
    return this.step - this.startStep;
  }

  /** The market state saved with the resumed checkpoint. */
  get resumedMarket(): MarketState | undefined {
    return (this.resumed?.meta.state as { market?: MarketState } | undefined)?.market;
  }

  /** Called by the store (degradation.onRevert) once the best checkpoint is loaded; applied between steps. */
  revertTo(best: LoadedCheckpoint): void {
    this.pendingRevert = best;
  }

  /** Applies a pending revert; returns the checkpoint put back, if any. */
  async applyRevert(): Promise<LoadedCheckpoint | null> {
    const best = this.pendingRevert;
    if (!best) return null;
    this.pendingRevert = null;
    await restoreModel(this.trainer.model, best);
    this.reverts++;
    return best;
  }

  async trainStep(market: Market): Promise<void> {
    const trained = await this.trainer.train(market.history);
    this.step++;
    if (this.step % EVAL_EVERY === 0) await this.report(market, { ...this.trainer.validate(market.history), ...trained });
  }

  /** Reports metrics at the current step; the store's policy decides whether it saves. */
  async report(market: Market, metrics: Metrics = this.metrics): Promise<void> {
    this.metrics = metrics;
    this.captured = await captureModel(this.trainer.model, { state: { ...this.trainer.state(), market: market.snapshot() } });
    this.ckpts.report({ step: this.step, metrics, tensors: this.captured.tensors, meta: this.captured.meta });
  }
}
