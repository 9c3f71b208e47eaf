// The events a store emits, with their payloads: `store.on('saved', (e) => ...)`
// knows e's type. Every layer emits through the same typed function.
import type { ErrorCode } from './errors.js';
import type { CheckpointInfo } from './file/types.js';

export interface SavedEvent {
  model: string;
  info: CheckpointInfo;
  /** From the start of the write to the commit. */
  durationMs: number;
}

export interface ImprovedEvent {
  model: string;
  info: CheckpointInfo;
  /** The monitored metrics that beat their best. */
  improved: string[];
}

export interface SkippedEvent {
  model: string;
  step: number;
  /** Set when the policy asked for a save that backpressure dropped. */
  reason?: 'backpressure';
}

export interface EvictedEvent {
  model: string;
  seq: number;
  file: string;
  bytes: number;
  /** Which retention rule let it go: a window, the quota, or a full disk. */
  reason: string;
}

export interface DegradedEvent {
  model: string;
  step: number;
  metric: string;
  value: number;
  best: number | undefined;
}

export interface AlertEvent {
  model: string;
  /** Consecutive failed saves. */
  failures: number;
  error: unknown;
}

export interface RepairedEvent {
  /** The model or the episode stream that recovery at open repaired. */
  model?: string;
  stream?: string;
  repairs: readonly string[];
}

/** Where a failure happened; the fields that apply are set. */
export interface ErrorContext {
  model?: string;
  seq?: number;
  file?: string;
  stream?: string;
  /** Episode records: the first and last id of a failed commit. */
  ids?: [number, number];
  segment?: number;
  offset?: number;
  bytes?: number;
}

/** A failed save, load, eviction or episode commit: the error (a CheckpointError, with its code), and where it happened. */
export type ErrorEvent = Error & { code?: ErrorCode } & ErrorContext;

/** Event name -> listener arguments, for EventEmitter<StoreEventMap>. */
export interface StoreEventMap {
  saved: [SavedEvent];
  improved: [ImprovedEvent];
  skipped: [SkippedEvent];
  evicted: [EvictedEvent];
  degraded: [DegradedEvent];
  error: [ErrorEvent];
  alert: [AlertEvent];
  repaired: [RepairedEvent];
}

export type StoreEventName = keyof StoreEventMap;

/** How layers below the store emit: the store fans it out to its listeners. */
export type Emit = <K extends StoreEventName>(event: K, ...args: StoreEventMap[K]) => void;

/** An error event: `err` with the context of where it happened. */
export function errorEvent(err: unknown, context: ErrorContext): ErrorEvent {
  return Object.assign(err instanceof Error ? err : new Error(String(err)), context);
}
