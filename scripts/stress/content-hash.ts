import { native } from '../../src/native.js';

/** Identifies a set of tensors by content: xxh3 of each tensor's bytes, in name order, hashed again. */
export function contentHash(tensors: Record<string, unknown>): string {
  const parts = Object.keys(tensors).sort().map((name) => {
    const t = tensors[name] as ArrayBufferView | { data: ArrayBufferView };
    const data = ArrayBuffer.isView(t) ? t : t.data;
    return `${name}:${data.byteLength}:${native.xxh3(data)}`;
  });
  return native.xxh3(Buffer.from(parts.join(';')));
}
