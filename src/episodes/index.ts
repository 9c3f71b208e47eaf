// The public surface of the episode log; src/index.ts re-exports it.
export { EpisodeLog } from './log.js';
export { checkpointEpisodes, checkpointRefs, exportEpisodes, type ReplayableCheckpoint } from './store.js';
export type { ExportResult } from './arrow-export.js';
export type {
  AppendResult, Column, DataFrame, EpisodeDamage, EpisodeLogOptions, EpisodeRecord, EpisodeRef, EpisodeRetention, EpisodeStats,
  JsonValue, ReplayQuery, StoredEpisode,
} from './types.js';
