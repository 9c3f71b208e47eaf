// The episode logs of one checkpoint store: `<root>/.episodes/<stream>/`
// (a model name never starts with a dot, so no model directory can collide),
// one EpisodeLog per stream, protected by the store's checkpoints.
import { join } from 'node:path';
import { badInput, callNative } from '../errors.js';
import { native } from '../native.js';
import type { Emit } from '../events.js';
import type { Logger } from '../logger.js';
import type { EpisodeKeep } from '../validate/episode-options.js';
import { EpisodeLog } from './log.js';
import { checkStreamName } from '../validate/names.js';
import { CheckpointReferences } from './references.js';
import { checkQuery } from '../validate/episode-record.js';
import type { EpisodeLogOptions, EpisodeRef, StoredEpisode } from './types.js';

export const EPISODES_DIR = '.episodes';

export interface StoreEpisodesContext {
  readOnly: boolean;
  /** The store's `keep.episodes`, checked at open. */
  keep: EpisodeKeep;
  logger: Logger;
  emit: Emit;
}

export class StoreEpisodes {
  private readonly logs = new Map<string, EpisodeLog>();
  private readonly references: CheckpointReferences;

  constructor(private readonly root: string, private readonly ctx: StoreEpisodesContext) {
    this.references = new CheckpointReferences(root);
  }

  /** The stream's log, opened (and recovered) on first use; options only on that first call. */
  open(stream: string, options: EpisodeLogOptions = {}): EpisodeLog {
    checkStreamName(stream);
    const existing = this.logs.get(stream);
    if (existing) {
      if (Object.keys(options ?? {}).length > 0) throw badInput(`episode stream "${stream}" is already open; pass its options on the first episodes() call`);
      return existing;
    }
    const base = join(this.root, EPISODES_DIR);
    if (!this.ctx.readOnly) callNative(() => native.ensureDir(base));
    const log = EpisodeLog.open(join(base, stream), stream, options, {
      logger: this.ctx.logger,
      emit: this.ctx.emit,
      keep: this.ctx.keep,
      references: () => this.references.ranges(stream),
    }, this.ctx.readOnly);
    this.logs.set(stream, log);
    return log;
  }

  async closeAll(): Promise<void> {
    for (const log of this.logs.values()) {
      try {
        await log.close();
      } catch (err) {
        this.ctx.logger.error({ stream: log.stream, err }, 'episode log close failed');
      }
    }
  }
}

/** The refs a checkpoint's `meta.episodes` holds (one or a list); E_BAD_INPUT when malformed. */
export function checkpointRefs(meta: Record<string, unknown> | undefined): EpisodeRef[] {
  const raw = meta?.episodes;
  if (raw === undefined) return [];
  return (Array.isArray(raw) ? raw : [raw]).map((item, i) => {
    const what = `meta.episodes${Array.isArray(raw) ? `[${i}]` : ''}`;
    const { stream, ...query } = (item ?? {}) as EpisodeRef;
    checkStreamName(stream);
    return { stream, ...checkQuery(query, what) };
  });
}

/**
 * Replays the episodes a checkpoint was trained on: each ref of its
 * `meta.episodes`, in order, every one in time order, with its stream.
 */
async function* checkpointEpisodes(
  store: { episodes(stream: string): EpisodeLog }, checkpoint: { meta?: Record<string, unknown> },
): AsyncGenerator<StoredEpisode & { stream: string }> {
  for (const { stream, ...query } of checkpointRefs(checkpoint.meta)) {
    for await (const record of store.episodes(stream).replay(query)) yield { ...record, stream };
  }
}

/** What load()/loadSync()/resume() add to a loaded checkpoint: its episodes, replayed. */
export interface ReplayableCheckpoint {
  /** The episodes the checkpoint's `meta.episodes` references: each ref in order, its records in time order, with their stream. */
  episodes(): AsyncGenerator<StoredEpisode & { stream: string }>;
}

/**
 * Gives a loaded checkpoint its episodes(). Not enumerable, so the object
 * still compares, spreads and clones as the plain data it is.
 */
export function withEpisodes<T extends { meta?: Record<string, unknown> }>(
  checkpoint: T, store: { episodes(stream: string): EpisodeLog },
): T & ReplayableCheckpoint {
  return Object.defineProperty(checkpoint, 'episodes', {
    value: () => checkpointEpisodes(store, checkpoint), enumerable: false, configurable: true, writable: true,
  }) as T & ReplayableCheckpoint;
}
