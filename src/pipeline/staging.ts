// Staging memory of the save path. Tensors are copied into reused,
// pre-faulted SharedArrayBuffer slabs (fresh pages cost ~1.15 µs each;
// reused ones copy at memcpy speed) that worker threads read without a
// copy; the slabs of a store never exceed its staging budget.
import { badInput } from '../errors.js';
import { native } from '../native.js';
import { DTYPES, type TensorSpec } from '../file/tensors.js';
import type { SlabTensor } from './worker.js';

// Views into a slab must be aligned for their element type.
const ALIGN = 64;
const alignUp = (n: number, to = ALIGN) => Math.ceil(n / to) * to;
// Slabs come in whole MiB so that a slightly larger save reuses a slab.
const SLAB_GRAIN = 1 << 20;
export const MIN_STAGING_BYTES = 64 << 20;

export interface Staged {
  /** Views of the staged bytes (the caller's own arrays when borrowed). */
  tensors: TensorSpec[];
  rawBytes: number;
  /** The slab and where each tensor lies in it; null when borrowed. */
  slab: { buffer: SharedArrayBuffer; layout: SlabTensor[] } | null;
  release(): void;
}

/** The caller's arrays, used in place: it promises not to change them until `durable`. */
export function borrow(specs: TensorSpec[]): Staged {
  return { tensors: specs, rawBytes: specs.reduce((sum, t) => sum + t.data.byteLength, 0), slab: null, release() {} };
}

export class StagingPool {
  private readonly free: SharedArrayBuffer[] = [];
  private allocated = 0;
  /** Largest staged size per model: the automatic budget is twice their sum. */
  private readonly largest = new Map<string, number>();
  private releaseWaiters: Array<() => void> = [];

  /**
   * @param maxBytes the budget, or null for automatic (2 × each model's
   *   largest checkpoint, at least 64 MiB)
   * @param prefault touches a fresh slab's pages off the calling thread
   */
  constructor(private readonly maxBytes: number | null, private readonly prefault: (slab: SharedArrayBuffer) => Promise<unknown>) {}

  budget(): number {
    if (this.maxBytes !== null) return this.maxBytes;
    let sum = 0;
    for (const bytes of this.largest.values()) sum += 2 * bytes;
    return Math.max(MIN_STAGING_BYTES, sum);
  }

  stats(): { allocatedBytes: number; freeSlabs: number; budgetBytes: number } {
    return { allocatedBytes: this.allocated, freeSlabs: this.free.length, budgetBytes: this.budget() };
  }

  /** Bytes the tensors take in a slab; throws if they could never fit the budget. */
  checkFits(model: string, specs: TensorSpec[]): number {
    const total = StagingPool.sizeOf(specs);
    if (total > (this.largest.get(model) ?? 0)) this.largest.set(model, total);
    if (this.maxBytes !== null && total > this.maxBytes)
      throw badInput(`model "${model}": a checkpoint of ${total} bytes does not fit staging.maxBytes ${this.maxBytes}`);
    return total;
  }

  /** Bytes a set of tensors takes in a slab. */
  static sizeOf(specs: TensorSpec[]): number {
    let total = 0;
    for (const t of specs) total = alignUp(total + t.data.byteLength);
    return total;
  }

  /** Resolves at the next release of a slab: a blocked save tries again then. */
  released(): Promise<void> {
    return new Promise((resolve) => this.releaseWaiters.push(resolve));
  }

  /**
   * Copies the tensors into a slab (native, both cores for large sets), or
   * returns null when the budget has no room for them now. `replacing` (a
   * waiting save's copy that this one supersedes) is released on success,
   * its slab reused when it fits; on failure it is left as it was.
   */
  stage(model: string, specs: TensorSpec[], replacing?: Staged): Staged | null {
    const total = this.checkFits(model, specs);
    const reusable = replacing?.slab && replacing.slab.buffer.byteLength >= total;
    if (reusable) replacing.release();
    const acquired = this.acquire(total);
    if (!acquired) return null;
    if (!reusable) replacing?.release();
    const { buffer, fresh } = acquired;
    const layout: SlabTensor[] = [];
    let offset = 0;
    for (const t of specs) {
      layout.push({ name: t.name, dtype: t.dtype, shape: t.shape, offset, byteLength: t.data.byteLength });
      offset = alignUp(offset + t.data.byteLength);
    }
    native.snapshot(specs.map((t) => t.data), new Uint8Array(buffer, 0, Math.max(total, 1)), layout.map((l) => l.offset));
    // A fresh slab just paid its page faults; ready a spare so the next
    // save that overlaps this one does not.
    if (fresh) this.warm(total);
    const tensors = specs.map((t, i) => ({
      ...t,
      data: new DTYPES[t.dtype].array(buffer, layout[i].offset, t.data.byteLength / DTYPES[t.dtype].size),
    }));
    let released = false;
    return {
      tensors,
      rawBytes: specs.reduce((sum, t) => sum + t.data.byteLength, 0),
      slab: { buffer, layout },
      release: () => {
        if (released) return;
        released = true;
        this.free.push(buffer);
        for (const wake of this.releaseWaiters.splice(0)) wake();
      },
    };
  }

  private acquire(bytes: number): { buffer: SharedArrayBuffer; fresh: boolean } | null {
    // Smallest free slab that fits: a periodic save of one model does not
    // take the slab sized for another's.
    let best = -1;
    for (let i = 0; i < this.free.length; i++)
      if (this.free[i].byteLength >= bytes && (best < 0 || this.free[i].byteLength < this.free[best].byteLength)) best = i;
    if (best >= 0) return { buffer: this.free.splice(best, 1)[0], fresh: false };
    const size = alignUp(Math.max(bytes, 1), SLAB_GRAIN);
    if (!this.makeRoom(size)) return null;
    this.allocated += size;
    return { buffer: new SharedArrayBuffer(size), fresh: true };
  }

  /** Drops free slabs (too small to be of use) until `size` more fits the budget. */
  private makeRoom(size: number): boolean {
    const budget = this.budget();
    this.free.sort((a, b) => a.byteLength - b.byteLength);
    while (this.allocated + size > budget && this.free.length > 0) this.allocated -= this.free.shift()!.byteLength;
    return this.allocated + size <= budget;
  }

  /**
   * Adds a spare slab for the next overlapping save. It is usable at once;
   * a worker faults its pages in meanwhile with atomic adds of zero, which
   * cannot lose a byte that a save copies into it at the same time.
   */
  private warm(bytes: number): void {
    const size = alignUp(Math.max(bytes, 1), SLAB_GRAIN);
    if (this.free.some((b) => b.byteLength >= bytes) || this.allocated + size > this.budget()) return;
    const spare = new SharedArrayBuffer(size);
    this.allocated += size;
    this.free.push(spare);
    this.prefault(spare).catch(() => undefined); // only a warm-up: a dead worker leaves the faults to the copy
  }
}
