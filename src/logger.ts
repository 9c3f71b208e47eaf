// The logger every layer writes to, and the default one.

/** pino-compatible: a bindings object first, then the message. */
export interface Logger {
  debug(bindings: object, message: string): void;
  info(bindings: object, message: string): void;
  warn(bindings: object, message: string): void;
  error(bindings: object, message: string): void;
}

// Quiet by default: warnings and errors reach stderr, routine saves do not.
// Pass a pino logger (or anything with the same four methods) to see them.
function write(level: string, bindings: object, message: string): void {
  const err = (bindings as { err?: unknown }).err;
  const detail = err instanceof Error ? `: ${err.message}` : '';
  const { err: _err, ...rest } = bindings as Record<string, unknown>;
  console.error(`[tensorkeep] ${level} ${message}${detail} ${JSON.stringify(rest)}`);
}

export const quietConsoleLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (bindings, message) => write('warn', bindings, message),
  error: (bindings, message) => write('error', bindings, message),
};
