// What the orchestrator prints: the resume line, the live status lines,
// the store's warnings, and the summary table at exit.
import type { CheckpointInfo, Logger, ModelCheckpoints } from '../../src/index.js';
import type { ModelRun } from './run.js';

const num = (v: number | undefined) => (v === undefined ? '-' : Number.isInteger(v) || Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);
const ago = (ms: number) => (ms < 1000 ? 'just now' : `${(ms / 1000).toFixed(0)} s ago`);

function bestValues(ckpts: ModelCheckpoints): string {
  const best = Object.entries(ckpts.stats().best);
  if (best.length === 0) return 'no best yet';
  return best.map(([metric, b]) => `${metric} ${num(b.value)} at step ${b.step} (${clock(b.time)})`).join(', ');
}

export function resumeLine(run: ModelRun): string {
  const r = run.resumed;
  if (!r) return `${run.name.padEnd(8)} fresh start`;
  return `${run.name.padEnd(8)} resumed checkpoint #${r.info.seq} (${r.info.category}) at step ${r.step}; best: ${bestValues(run.ckpts)}`;
}

/** A pino-style logger that prints the store's warnings and errors, one line each. */
export const storeLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (bindings, message) => console.log(format(bindings, message)),
  error: (bindings, message) => console.error(format(bindings, message)),
};

function format(bindings: object, message: string): string {
  const { model, err, ...rest } = bindings as { model?: string; err?: Error };
  const details = Object.entries(rest).map(([k, v]) => `${k} ${typeof v === 'number' ? num(v) : JSON.stringify(v)}`).join(', ');
  return `${(model ?? 'store').padEnd(8)} ${message}${details ? ` (${details})` : ''}${err ? `: ${err.message}` : ''}`;
}

export function revertLine(run: ModelRun, best: CheckpointInfo): string {
  const metrics = Object.entries(best.metrics).map(([k, v]) => `${k} ${num(v)}`).join(', ');
  return `${run.name.padEnd(8)} restored best checkpoint #${best.seq} (step ${best.step}: ${metrics}) into the live model at step ${run.step}`;
}

export function statusLine(run: ModelRun, stepsPerSecond: number): string {
  const latest = run.ckpts.latest();
  const save = latest ? `last save #${latest.seq} ${latest.category} ${ago(Date.now() - Date.parse(latest.created))}` : 'no save yet';
  const metrics = Object.entries(run.metrics).map(([k, v]) => `${k} ${num(v)}`).join(' ');
  const primary = Object.entries(run.ckpts.stats().best)[0];
  const best = primary ? `best ${primary[0]} ${num(primary[1].value)} @${primary[1].step}` : 'no best yet';
  return `${run.name.padEnd(8)} step ${String(run.step).padStart(6)}  ${stepsPerSecond.toFixed(1).padStart(5)} steps/s  ${metrics}  | ${save} | ${best}`;
}

export function summary(runs: ModelRun[], seconds: number): Record<string, Record<string, string | number>> {
  return Object.fromEntries(runs.map((run) => {
    const stats = run.ckpts.stats();
    const primary = Object.entries(stats.best)[0];
    return [run.name, {
      steps: `${run.startStep} -> ${run.step}`,
      'steps/s': Number((run.stepsThisRun / seconds).toFixed(1)),
      saves: run.saves,
      reverts: run.reverts,
      kept: Object.entries(stats.checkpoints).filter(([, n]) => n > 0).map(([c, n]) => `${n} ${c}`).join(', '),
      'KiB on disk': Number((stats.bytesOnDisk / 1024).toFixed(1)),
      best: primary ? `${primary[0]} ${num(primary[1].value)} @${primary[1].step}` : '-',
    }];
  }));
}
