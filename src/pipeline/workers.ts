// The worker threads of the save pipeline (Piscina): persists, loads,
// unlinks and page pre-faulting run there, never on the training thread.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { CheckpointError } from '../errors.js';
import { failureToError, type WorkerFailure, type WorkerTask } from './worker.js';

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * Worker threads (Piscina), started at open so the first save does not wait
 * for them, and shared by the stores of a process that ask for the same
 * number and nice value: each further store costs no thread start-up.
 */
export class WorkerPool {
  private static readonly shared = new Map<string, WorkerPool>();
  private users = 0;
  private readonly pool: Piscina;

  private constructor(private readonly key: string, size: number, nice: number) {
    const fromSource = import.meta.url.endsWith('.ts');
    this.pool = new Piscina({
      filename: new URL('./worker-entry.cjs', import.meta.url).href,
      workerData: { module: new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url).href, fromSource, nice },
      minThreads: size,
      maxThreads: size,
      idleTimeout: Infinity,
    });
  }

  /** The pool of `threads` workers at nice value `nice`; release() it when done. */
  static acquire(threads: number, nice: number): WorkerPool {
    const key = `${threads}:${nice}`;
    let pool = WorkerPool.shared.get(key);
    if (!pool) WorkerPool.shared.set(key, (pool = new WorkerPool(key, threads, nice)));
    pool.users++;
    return pool;
  }

  /** Runs a task; a failure comes back as the CheckpointError the worker saw. */
  async run<T>(task: WorkerTask): Promise<T> {
    let result: unknown;
    try {
      result = await this.pool.run(task);
    } catch (err) {
      // The worker died (terminated, out of memory): Piscina starts another.
      throw new CheckpointError('E_IO', `worker thread failed during ${task.kind}: ${(err as Error).message}`, { cause: err });
    }
    if (result !== null && typeof result === 'object' && 'failed' in result) throw failureToError((result as WorkerFailure).failed);
    return result as T;
  }

  /** The live worker threads (tests terminate one to prove a dead worker is replaced). */
  get threads() {
    return this.pool.threads;
  }

  /** Stops the threads once the last store using them lets go. */
  async release(): Promise<void> {
    if (--this.users > 0) return;
    WorkerPool.shared.delete(this.key);
    await this.pool.destroy();
  }
}
