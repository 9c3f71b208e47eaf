// A disk that fills up for real (a 64 MiB tmpfs; needs root, as in CI) and
// injected EIO/ENOSPC on fsync and rename: saves fail with a clear code,
// retention evicts periodic checkpoints and retries once, training goes
// on, repeated failures raise one alert, no partial file is ever visible,
// and once space returns saves resume.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { open, type CheckpointManager, type ModelCheckpoints, type StoreOptions, type Ticket } from '../../src/index.js';
import { native } from '../../src/native.js';
import { expectRejectsCode, sameBytes, tempDir } from '../helpers.js';
import { silentLogger } from '../fixtures/store.js';
import { onEvent } from '../fixtures/events.js';
import { notTmpfs, requireCapability } from '../fixtures/capabilities.js';

const root = tempDir();
const MiB = 1 << 20;
const mountPoint = join(root, 'tmpfs');
let unavailable: string | null = null;

beforeAll(() => {
  mkdirSync(mountPoint);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (err) {
    unavailable = `cannot mount a tmpfs (${(err as Error).message.split('\n')[0]}); run as root to test a real full disk`;
    return;
  }
  // Mounted means mounted there: a mount that silently left the directory on
  // the parent filesystem would not fill up at 64 MiB.
  unavailable = notTmpfs(mountPoint);
  if (unavailable) execFileSync('umount', ['-l', mountPoint]);
});

afterAll(() => {
  if (!unavailable) execFileSync('umount', ['-l', mountPoint]);
});

afterEach(() => native.clearFaultPlan());

/** 8 MiB that zstd cannot shrink: every checkpoint takes its full size on the disk. */
function noise(seed: number): { w: Uint32Array } {
  const w = new Uint32Array(2 * MiB);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x >>> 0;
  }
  return { w };
}

/** Fills the filesystem until a write fails; returns the filler's path. */
function fill(dir: string, leaveBytes: number): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(MiB, 1);
  try {
    const free = Number(execFileSync('df', ['--output=avail', '-B1', dir]).toString().split('\n')[1]);
    for (let left = free - leaveBytes; left > 0; left -= block.length) writeSync(fd, block, 0, Math.min(block.length, left));
  } catch {
    // full already: fine
  } finally {
    closeSync(fd);
  }
  return path;
}

function visibleFiles(modelDir: string): string[] {
  return readdirSync(modelDir).filter((f) => !['LOCK', 'journal', 'catalog.json', 'history', '.tmp', '.quarantine'].includes(f)).sort();
}

async function settleAll(tickets: Ticket[]): Promise<Array<{ ok: boolean; code?: string }>> {
  return Promise.all(tickets.map((t) => t.durable.then(() => ({ ok: true }), (err) => ({ ok: false, code: err.code }))));
}

describe('a real full disk (64 MiB tmpfs)', () => {
  it('evicts periodic checkpoints and retries, alerts once when nothing more can go, and resumes when space returns', async (ctx) => {
    requireCapability(ctx, 'a 64 MiB tmpfs to fill', unavailable);
    const dir = join(mountPoint, 'store');
    const options: StoreOptions = { logger: silentLogger, handleSignals: false, always: true, keep: { best: 0, periodic: 20 }, compression: { codec: 'raw' }, alertAfter: 3 };
    const store: CheckpointManager = await open(dir, options);
    const m: ModelCheckpoints = store.model('m');
    const modelDir = join(dir, 'm');
    const alerts: unknown[] = [];
    const errors: Array<{ code?: string }> = [];
    onEvent(store, 'alert', (a) => alerts.push(a));
    onEvent(store, 'error', (e) => errors.push(e));

    // Three checkpoints, then the rest of the disk filled but 12 MiB: the
    // fourth save fits, the fifth hits ENOSPC, evicts periodic ones and retries.
    for (let step = 1; step <= 3; step++) await m.report({ step, tensors: noise(step) }).durable;
    const filler = fill(mountPoint, 12 * MiB);
    let step = 4;
    for (; step <= 7; step++) {
      const info = await m.report({ step, tensors: noise(step) }).durable;
      expect(info!.step).toBe(step);
      await store.flush();
    }
    expect(m.list().at(-1)!.step).toBe(7);
    expect(m.list().length).toBeLessThan(7); // evicted to make room
    expect(errors).toEqual([]);
    expect(visibleFiles(modelDir)).toEqual(m.list().map((c) => c.path.split('/').pop()).sort());

    // Now nothing can make room: every kept checkpoint is pinned and the
    // filler takes every free byte. Saves fail with E_NOSPACE, training
    // goes on, one alert fires, and what was committed stays intact.
    const kept = m.list();
    for (const c of kept) m.pin(c.seq!);
    fill(mountPoint, 0);
    const outcomes = await settleAll(Array.from({ length: 4 }, () => m.report({ step: step++, tensors: noise(step) })));
    for (let i = 0; i < 3; i++) outcomes.push(...(await settleAll([m.report({ step: step++, tensors: noise(step) })])));
    await store.flush();
    expect(outcomes.map((o) => o.code)).toEqual(Array(outcomes.length).fill('E_NOSPACE'));
    expect(alerts).toHaveLength(1);
    expect(m.list().map((c) => c.seq)).toEqual(kept.map((c) => c.seq));
    expect(readdirSync(join(modelDir, '.tmp'))).toEqual([]);
    expect(visibleFiles(modelDir)).toEqual(m.list().map((c) => c.path.split('/').pop()).sort());
    const newest = m.list().at(-1)!;
    expect(sameBytes((await m.load(newest.seq!)).tensors.w.data, noise(newest.step).w)).toBe(true);

    // Space returns: saves succeed again.
    rmSync(filler);
    const again = await m.report({ step: step++, tensors: noise(step) }).durable;
    expect(again).not.toBeNull();
    await store.close();
    const reopened = await open(dir, options);
    expect(reopened.model('m').list().at(-1)!.seq).toBe(again!.seq);
    await reopened.close();
  }, 60_000);
});

describe('injected failures on fsync and rename', () => {
  const root2 = tempDir();
  for (const op of ['fsync', 'rename'] as const) {
    for (const errno of ['EIO', 'ENOSPC'] as const) {
      it(`${errno} on ${op}: the save fails with ${errno === 'EIO' ? 'E_IO' : 'E_NOSPACE'}, nothing partial is visible, the next save works`, async () => {
        const dir = join(root2, `${op}-${errno}`);
        const store = await open(dir, { logger: silentLogger, handleSignals: false, always: true });
        const m = store.model('m');
        const errors: unknown[] = [];
        onEvent(store, 'error', (e) => errors.push(e));
        const first = (await m.report({ step: 1, tensors: noise(1) }).durable)!;
        // ENOSPC on the first try is retried once after eviction: make it stick.
        native.setFaultPlan(`op=${op},fail_at=1,errno=${errno}${errno === 'ENOSPC' ? ',sticky' : ''}`);
        await expectRejectsCode(m.report({ step: 2, tensors: noise(2) }).durable, errno === 'EIO' ? 'E_IO' : 'E_NOSPACE');
        native.clearFaultPlan();
        await store.flush();
        expect(errors).toHaveLength(1);
        const modelDir = join(dir, 'm');
        expect(readdirSync(join(modelDir, '.tmp'))).toEqual([]);
        expect(visibleFiles(modelDir)).toEqual(m.list().map((c) => c.path.split('/').pop()).sort());
        expect(m.list().map((c) => c.seq)).toContain(first.seq);
        expect((await m.report({ step: 3, tensors: noise(3) }).durable)!.step).toBe(3);
        await store.close();
      });
    }
  }
});
