// What waits for an episode log's next group commit: the records' ids,
// times and models, the chunk buffers holding their frames-to-be, and the
// one promise they are acknowledged by; and the pool of chunk buffers that
// commits hand back for reuse.
import type { NativeEncodedBatch } from './native-episodes.js';
import { Batch } from './record-batch.js';
import type { BatchRecords } from './segment-writer.js';

/** The records of one commit, the chunks holding them, and the promise they share. */
export interface PendingBatch extends BatchRecords {
  chunks: Batch[];
  /** Encodings of the first chunks, started while an earlier commit was written. */
  ahead: Promise<NativeEncodedBatch>[];
  /** Raw bytes of the records. */
  bytes: number;
  durable: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export function pendingBatch(): PendingBatch {
  let settle!: Pick<PendingBatch, 'resolve' | 'reject'>;
  const durable = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  durable.catch(() => undefined); // failures also go to stats, the logger and the 'error' event
  return { ids: [], times: [], models: [], chunks: [], ahead: [], bytes: 0, durable, ...settle };
}

/** Chunk buffers kept for reuse (a burst that outruns the disk fills several before a commit takes them). */
const MAX_SPARE_CHUNKS = 8;

export class ChunkPool {
  private readonly spares: Batch[] = [];

  constructor(private readonly batchBytes: number) {}

  /** A reused chunk, or a new one with room for batchBytes (untouched pages cost nothing; a larger record grows its own). */
  take(): Batch {
    return this.spares.pop() ?? new Batch(this.batchBytes);
  }

  /** The chunks of a finished commit, emptied for reuse. */
  giveBack(chunks: readonly Batch[]): void {
    for (const chunk of chunks) {
      chunk.reset(this.batchBytes);
      if (this.spares.length < MAX_SPARE_CHUNKS) this.spares.push(chunk);
    }
  }
}
