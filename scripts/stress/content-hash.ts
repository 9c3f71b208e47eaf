// Content identities the stress scripts compare: what a child acknowledged
// against what the parent loads.
import type { EpisodeRecord } from '../../src/index.js';
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

/**
 * Identifies an episode record by content, as appended and as replayed: its
 * scalar fields as JSON, then every frame column, index and feature (name,
 * dtype or form, and the xxh3 of its bytes or of its strings' JSON).
 */
export function episodeHash(r: EpisodeRecord): string {
  const part = (name: string, v: unknown): string => {
    if (Array.isArray(v)) return `${name}:s:${native.xxh3(Buffer.from(JSON.stringify(v)))}`;
    const t = v as ArrayBufferView | { dtype: string; shape: number[]; data: ArrayBufferView };
    if (ArrayBuffer.isView(t)) return `${name}:${t.constructor.name}:${native.xxh3(t)}`;
    return `${name}:${t.dtype}[${t.shape.join(',')}]:${native.xxh3(t.data)}`;
  };
  const { frame, features, reward, ...scalars } = r as EpisodeRecord & { id?: number };
  delete (scalars as { id?: number }).id;
  const parts = [JSON.stringify(scalars), `reward:${Object.is(reward, -0) ? '-0' : String(reward)}`];
  for (const [name, col] of Object.entries(frame?.columns ?? {})) parts.push(part(`col ${name}`, col));
  if (frame?.index) parts.push(part('index', frame.index));
  for (const [name, t] of Object.entries(features ?? {})) parts.push(part(`feature ${name}`, t));
  return native.xxh3(Buffer.from(parts.join(';')));
}
