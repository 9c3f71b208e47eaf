// What a benchmark ran on: printed with every run and stored with its results,
// so two runs can only be compared knowingly.
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGB: number;
  /** Filesystem type, device and mount point of the bench directory. */
  filesystem: string;
  kernel: string;
  node: string;
  loadAverageAtStart: number[];
}

/** The longest mount point of /proc/mounts that holds `path` (what `df -T` reports). */
function filesystemOf(path: string): string {
  const real = realpathSync(path);
  let best = { mount: '', line: 'unknown' };
  try {
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, type] = line.split(' ');
      if (mount && (real === mount || real.startsWith(mount.endsWith('/') ? mount : `${mount}/`)) && mount.length >= best.mount.length)
        best = { mount, line: `${type} (${device} on ${mount})` };
    }
  } catch { /* not Linux */ }
  return best.line;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? 'unknown';
}

export const loadAverage = () => os.loadavg().map((x) => +x.toFixed(2));

export function describeMachine(benchDir: string): Machine {
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    filesystem: filesystemOf(benchDir),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverageAtStart: loadAverage(),
  };
}

/** The commit the benchmark ran (with "+dirty" for uncommitted changes), or null outside git. */
export function codeVersion(): string | null {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? '+dirty' : ''}`;
  } catch {
    return null;
  }
}

export function printMachine(machine: Machine, benchDir: string): void {
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GiB, ${machine.kernel}; node ${machine.node}`);
  console.log(`bench dir: ${benchDir} — ${machine.filesystem}`);
  console.log(`load average at start: ${machine.loadAverageAtStart.join(' ')} (1, 5, 15 min)`);
}
