// Which episodes the kept checkpoints of a store were trained on: the
// `meta.episodes` of every checkpoint file under the store root (docs/
// EPISODES.md, "Linking checkpoints"). Files are the truth here, not a
// catalog: a checkpoint of a model no process has open still protects its
// episodes. Each file's reference is read once (files never change).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inspectFromSync, STORE } from '../file/checkpoint-file.js';
import { NAME } from '../validate/names.js';
import { checkQuery } from '../validate/episode-record.js';
import type { EpisodeRef, ReplayQuery } from './types.js';

/** The refs of `meta.episodes` (one or a list); a malformed one protects the whole stream it names (or every stream). */
export function refsOf(meta: Record<string, unknown>): EpisodeRef[] {
  const raw = meta.episodes;
  if (raw === undefined) return [];
  const out: EpisodeRef[] = [];
  for (const item of Array.isArray(raw) ? raw : [raw]) {
    const stream = (item as { stream?: unknown } | null)?.stream;
    try {
      const { from, to, model, episode } = checkQuery(item, 'meta.episodes');
      if (typeof stream !== 'string') throw new Error('no stream');
      out.push({ stream, from, to, model, episode });
    } catch {
      out.push({ stream: typeof stream === 'string' ? stream : '*' });
    }
  }
  return out;
}

export class CheckpointReferences {
  private readonly cache = new Map<string, EpisodeRef[]>();

  constructor(private readonly root: string) {}

  /** Time ranges of `stream` that checkpoints under the root reference. */
  ranges(stream: string): ReplayQuery[] {
    const seen = new Set<string>();
    const out: ReplayQuery[] = [];
    for (const file of this.checkpointFiles()) {
      seen.add(file);
      let refs = this.cache.get(file);
      if (!refs) {
        try {
          refs = refsOf(inspectFromSync(file, STORE).meta);
        } catch {
          refs = []; // unreadable: no loadable checkpoint references anything
        }
        this.cache.set(file, refs);
      }
      for (const r of refs) if (r.stream === stream || r.stream === '*') out.push({ from: r.from, to: r.to });
    }
    for (const file of this.cache.keys()) if (!seen.has(file)) this.cache.delete(file);
    return out;
  }

  private checkpointFiles(): string[] {
    const files: string[] = [];
    for (const model of readdirSync(this.root)) {
      if (!NAME.test(model)) continue; // model directories only
      const dir = join(this.root, model);
      try {
        if (!statSync(dir).isDirectory()) continue;
        for (const name of readdirSync(dir)) if (name.endsWith('.tkpt')) files.push(join(dir, name));
      } catch {
        // removed while listing
      }
    }
    return files;
  }
}
