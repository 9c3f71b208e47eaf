// The save path's memory: tensors are copied into reused staging buffers
// (fresh pages cost ~1.15 µs each; reused ones copy at memcpy speed), so the
// caller may change its arrays as soon as report() returns.
import { native } from './native.js';
import { DTYPES, type TensorSpec } from './tensors.js';

// Views into a staging buffer must be aligned for their element type.
const ALIGN = 64;
const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export interface Staged {
  tensors: TensorSpec[];
  rawBytes: number;
  release(): void;
}

export class StagingPool {
  private free: ArrayBuffer[] = [];

  /** Copies the tensors into one staging buffer (native, both cores for large sets). */
  stage(specs: TensorSpec[]): Staged {
    const offsets: number[] = [];
    let total = 0;
    let rawBytes = 0;
    for (const t of specs) {
      offsets.push(total);
      total = alignUp(total + t.data.byteLength);
      rawBytes += t.data.byteLength;
    }
    const buffer = this.acquire(total);
    native.snapshot(specs.map((t) => t.data), new Uint8Array(buffer, 0, total), offsets);
    const tensors = specs.map((t, i) => ({
      ...t,
      data: new DTYPES[t.dtype].array(buffer, offsets[i], t.data.byteLength / DTYPES[t.dtype].size),
    }));
    let released = false;
    return {
      tensors,
      rawBytes,
      release: () => {
        if (!released) this.free.push(buffer);
        released = true;
      },
    };
  }

  private acquire(bytes: number): ArrayBuffer {
    // Smallest free buffer that fits: a periodic save of one model does not
    // take the buffer sized for another's.
    let best = -1;
    for (let i = 0; i < this.free.length; i++)
      if (this.free[i].byteLength >= bytes && (best < 0 || this.free[i].byteLength < this.free[best].byteLength)) best = i;
    if (best >= 0) return this.free.splice(best, 1)[0];
    return new ArrayBuffer(Math.max(bytes, ALIGN));
  }
}
