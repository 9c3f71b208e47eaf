// What every benchmark prints: a markdown table and the machine it ran on.
import { readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';

/** A markdown table; the first column left-aligned, the others right-aligned. */
export function table(headers: string[], body: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(headers), `|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1) + (i === 0 ? '-' : ':')).join('|')}|`, ...body.map(line)].join('\n');
}

/** The file system a path lives on, from /proc/mounts. */
export function filesystemOf(path: string): string {
  const real = realpathSync(path);
  let best = { mount: '', line: 'unknown' };
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [device, mount, type] = line.split(' ');
    if (mount && (real === mount || real.startsWith(mount.endsWith('/') ? mount : `${mount}/`)) && mount.length >= best.mount.length)
      best = { mount, line: `${type} (${device} on ${mount})` };
  }
  return best.line;
}

export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? 'unknown';
}
