// The clock of time-based decisions (every.minutes, episode age). Within a
// process it advances with the monotonic clock, so a wall-clock jump (a
// user, NTP, a resumed virtual machine) neither fires nor stops saves; its
// values are wall-clock milliseconds from when it was made, because they
// are persisted and compared again after a restart.
export type Clock = () => number;

export function monotonicWallClock(): Clock {
  const wallAtStart = Date.now();
  const monoAtStart = performance.now();
  return () => wallAtStart + Math.round(performance.now() - monoAtStart);
}
