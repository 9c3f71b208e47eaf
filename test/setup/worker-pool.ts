// Each test file's process keeps one store open, and with it the shared
// worker pool: the many stores a file opens and closes would otherwise
// restart the worker threads (~0.3 s each, more under load) every time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { open } from '../../src/index.js';
import { silentLogger } from '../fixtures/store.js';

const dir = mkdtempSync(join(tmpdir(), 'tensorkeep-pool-keeper-'));
const keeper = await open(dir, { logger: silentLogger, handleSignals: false });
afterAll(async () => {
  await keeper.close();
  rmSync(dir, { recursive: true, force: true });
});
