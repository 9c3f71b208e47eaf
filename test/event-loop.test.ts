// The event loop stays responsive while a 500 MB checkpoint persists (issue
// 4): the copy is the caller's only cost; compression, write and fsyncs run
// on worker threads and the commit's fsync on a libuv thread. A functional
// check with a generous bound, not a benchmark. It runs after every other
// test file, alone (vitest.config.ts), so that other tests' processes do not
// take the CPU the event loop would wake on.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { open } from '../src/index.js';
import { sameBytes, tempDir } from './helpers.js';
import { silentLogger } from './fixtures/store.js';

const root = tempDir();

describe('saves off the calling thread', () => {
  it('keeps the event loop responsive while a 500 MB checkpoint persists', async () => {
    const store = await open(mkdtempSync(join(root, 's')), { logger: silentLogger, handleSignals: false, always: true, compression: { codec: 'raw' } });
    const m = store.model('big');
    const big = new Float32Array(125_000_000); // 500 MB
    for (let i = 0; i < big.length; i += 1024) big[i] = i;
    const ticket = m.report({ step: 1, tensors: { big } });
    // Measured from the moment report() returned.
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const info = (await ticket.durable)!;
    delay.disable();
    expect(info.rawBytes).toBe(500_000_000);
    expect(delay.max / 1e6).toBeLessThan(20);
    const loaded = await m.load('latest', { verify: false });
    expect(sameBytes(loaded.tensors.big.data, big)).toBe(true);
    await store.close();
  }, 60_000);
});
