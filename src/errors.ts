/** Stable error codes (docs/ARCHITECTURE.md, "Public API"). */
export type ErrorCode =
  | 'E_BAD_INPUT'
  | 'E_CORRUPT'
  | 'E_VERSION'
  | 'E_LOCKED'
  | 'E_NOSPACE'
  | 'E_IO'
  | 'E_CLOSED'
  | 'E_NOT_FOUND';

const CODES = new Set<string>([
  'E_BAD_INPUT', 'E_CORRUPT', 'E_VERSION', 'E_LOCKED', 'E_NOSPACE', 'E_IO', 'E_CLOSED', 'E_NOT_FOUND',
]);

/** Every failure tensorkeep reports is a CheckpointError with a stable `code`. */
export class CheckpointError extends Error {
  readonly code: ErrorCode;
  /** The system errno behind an I/O failure, when there was one. */
  readonly errno?: number;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; errno?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CheckpointError';
    this.code = code;
    if (options.errno !== undefined) this.errno = options.errno;
  }
}

export function badInput(message: string): CheckpointError {
  return new CheckpointError('E_BAD_INPUT', message);
}

/** Turns an error thrown by the addon (a plain Error with .code) into a CheckpointError. */
export function fromNative(err: unknown): unknown {
  if (err instanceof CheckpointError) return err;
  const e = err as { code?: unknown; message?: unknown; errno?: unknown };
  if (err instanceof Error && typeof e.code === 'string' && CODES.has(e.code)) {
    return new CheckpointError(e.code as ErrorCode, err.message, {
      cause: err,
      errno: typeof e.errno === 'number' ? e.errno : undefined,
    });
  }
  return err;
}

/** Runs a native call and rethrows its failure as a CheckpointError. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

export async function callNativeAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromNative(err);
  }
}
