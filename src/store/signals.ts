// SIGINT and SIGTERM close every store that asked for it, once, and then
// let the signal take its course: alone, tensorkeep re-raises it so the
// process exits as it would have; an application that listens to the
// signal itself keeps deciding what it means. A second signal while
// closing is the user insisting: it is re-raised at once.
const closers = new Set<() => Promise<unknown>>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
let closing = false;

function listen(on: boolean): void {
  for (const signal of SIGNALS) (on ? process.on : process.removeListener).call(process, signal, onSignal);
}

function reraise(signal: NodeJS.Signals): void {
  listen(false);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function onSignal(signal: NodeJS.Signals): void {
  if (closing) return reraise(signal);
  closing = true;
  void Promise.allSettled([...closers].map((close) => close())).then(() => {
    closing = false;
    reraise(signal);
  });
}

/** Runs `close` on SIGINT/SIGTERM; returns the function that stops it. */
export function onTerminationSignal(close: () => Promise<unknown>): () => void {
  if (closers.size === 0 && !closing) listen(true);
  closers.add(close);
  return () => {
    closers.delete(close);
    if (closers.size === 0 && !closing) listen(false);
  };
}
