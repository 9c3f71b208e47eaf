// Loads of one model: which checkpoints load('best' | 'latest' | seq) and
// resume() try, in order, and the one loop that reads them, verified, off
// the calling thread. A file that cannot be read is moved aside (or, when it
// is missing, forgotten) and the next candidate is tried.
import { badInput, CheckpointError } from '../errors.js';
import { errorEvent } from '../events.js';
import { readFrom, STORE } from '../file/checkpoint-file.js';
import { checkReadOptions } from '../validate/file-args.js';
import { type LoadedCheckpoint, type ReadOptions } from '../file/types.js';
import type { Catalog } from '../durability/catalog.js';
import { identityProblem, type CheckpointRecord } from '../durability/records.js';
import { withEpisodes, type ReplayableCheckpoint } from '../episodes/store.js';
import { rankBest, type Primary } from '../policy/ranking.js';
import type { ModelContext } from './types.js';

export type Which = 'best' | 'latest' | number;
export type Loaded = LoadedCheckpoint & ReplayableCheckpoint;

// Codes that mean "this file cannot be loaded": the next candidate may be.
const UNREADABLE = new Set(['E_CORRUPT', 'E_NOT_FOUND', 'E_VERSION']);

export class Loader {
  constructor(
    private readonly name: string,
    private readonly catalog: Catalog,
    private readonly ctx: ModelContext,
    private readonly primary: Primary,
  ) {}

  /** What load(which) tries, in order; a seq names exactly one. */
  candidates(which: Which): CheckpointRecord[] {
    this.catalog.refresh();
    if (which === 'latest') return [...this.catalog.list()].reverse();
    if (which === 'best') return rankBest(this.catalog.list(), this.primary);
    if (!Number.isSafeInteger(which)) throw badInput(`Expected 'best', 'latest' or a seq number for load() but received ${JSON.stringify(which)}`);
    const record = this.catalog.get(which);
    if (!record) throw new CheckpointError('E_NOT_FOUND', `model "${this.name}" has no checkpoint ${which}`);
    return [record];
  }

  /** What resume() tries: healthy checkpoints before diverged ones, newest first. */
  resumeOrder(): CheckpointRecord[] {
    this.catalog.refresh();
    return [...this.catalog.list()].sort((a, b) => Number(b.healthy) - Number(a.healthy) || b.seq - a.seq);
  }

  /**
   * The first candidate that loads. An unreadable one is dealt with and,
   * with `fallBack`, the next is tried; without, its error is thrown. Null
   * when there were no candidates or none loaded.
   */
  async first(candidates: CheckpointRecord[], options: ReadOptions, fallBack: boolean): Promise<Loaded | null> {
    const { verify } = checkReadOptions(options);
    for (const record of candidates) {
      try {
        return await this.read(record, options, verify);
      } catch (err) {
        if (!UNREADABLE.has((err as CheckpointError).code)) throw err;
        await this.unreadable(record, err as CheckpointError);
        if (!fallBack) throw err;
      }
    }
    return null;
  }

  /** With `into`, straight into the caller's arrays from a libuv thread; else on a worker. */
  private async read(record: CheckpointRecord, options: ReadOptions, verify: boolean): Promise<Loaded> {
    const path = this.catalog.path(record);
    const loaded = options.into !== undefined
      ? await readFrom(path, options, STORE)
      : await this.ctx.workers.run<LoadedCheckpoint>({ kind: 'load', path, verify });
    // A file that verifies but is another checkpoint (swapped, copied over) is as unreadable as a corrupt one.
    const problem = identityProblem(this.name, record, loaded.info);
    if (problem) throw new CheckpointError('E_CORRUPT', problem);
    return withEpisodes({ ...loaded, info: this.catalog.info(record) }, { episodes: (stream) => this.ctx.episodes(stream) });
  }

  /**
   * Moved aside (or, when missing, forgotten) off the event loop; then the
   * next candidate may be tried. A move that fails (.quarantine is not a
   * directory the store can use) leaves the file listed and in place, to be
   * moved by a later load or a repair: the fallback goes on either way.
   */
  private async unreadable(record: CheckpointRecord, err: CheckpointError): Promise<void> {
    const context = { model: this.name, seq: record.seq, file: record.file };
    if (!this.catalog.readOnly) {
      let where = 'missing';
      try {
        if (err.code === 'E_NOT_FOUND') await this.catalog.forget(record, err.message);
        else where = await this.catalog.quarantine(record, err.message);
      } catch (moveErr) {
        where = `not moved: ${(moveErr as Error).message}`;
        this.ctx.emit('error', errorEvent(moveErr, context));
      }
      this.ctx.logger.error({ ...context, quarantined: where, err }, 'checkpoint unreadable; falling back');
    }
    this.ctx.emit('error', errorEvent(err, context));
  }
}
