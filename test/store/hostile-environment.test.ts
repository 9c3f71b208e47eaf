// The hostile-environment suite: a symbolic link, a FIFO, a socket or a
// device in place of each file and directory of a model, placed while the
// store is closed, while it saves, evicts, loads and compacts, and before a
// repair (test/fixtures/hostile-env.ts says what each case checks). The
// cases run in child processes: a case that does not finish within
// CASE_TIMEOUT_MS is a failure, its child is killed and the next case goes
// on in a new one. Stores whose root is /proc, /sys, /dev/null, a regular
// file or a directory the store may not write are here too.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { open, type CheckpointManager } from '../../src/index.js';
import { native } from '../../src/native.js';
import { CASES, type CaseResult } from '../fixtures/hostile-env.js';
import { silentLogger } from '../fixtures/store.js';
import { expectRejectsCode, expectThrowsCode, tempDir } from '../helpers.js';

const CASE_TIMEOUT_MS = 20_000;
const CHILD = join(import.meta.dirname, '../fixtures/hostile-env-child.ts');
const base = tempDir();
const results = new Map<string, CaseResult>();

/**
 * Runs the cases in a child, and the cases left in a new child each time one
 * is killed: a case that has not finished CASE_TIMEOUT_MS after it started
 * is a hang (or the process died under it).
 */
async function runAll(): Promise<void> {
  let left = CASES.map((c) => c.id);
  while (left.length > 0) {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, base, JSON.stringify(left)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? `exit code ${code}`)));
    const running = new Map<string, number>();
    let hung: string | null = null;
    const watchdog = setInterval(() => {
      for (const [id, started] of running) {
        if (Date.now() - started < CASE_TIMEOUT_MS) continue;
        hung = id;
        child.kill('SIGKILL');
        break;
      }
    }, 250);
    for await (const line of createInterface({ input: child.stdout })) {
      const message = JSON.parse(line) as { start?: string; result?: CaseResult };
      if (message.start) running.set(message.start, Date.now());
      if (message.result) {
        running.delete(message.result.id);
        results.set(message.result.id, message.result);
      }
    }
    clearInterval(watchdog);
    const how = await exited;
    if (hung !== null) results.set(hung, { id: hung, errors: [], problems: [`did not finish within ${CASE_TIMEOUT_MS} ms`] });
    else for (const id of running.keys()) results.set(id, { id, errors: [], problems: [`the process died (${how}) under it: ${stderr.slice(-2000)}`] });
    if (hung === null && running.size === 0 && results.size < CASES.length && how !== 'exit code 0')
      throw new Error(`the child stopped (${how}) between cases: ${stderr.slice(-2000)}`);
    left = left.filter((id) => !results.has(id));
    if (how === 'exit code 0' && left.length > 0) throw new Error(`the child finished without running ${left.join(', ')}`);
  }
}

describe('a link or special file in place of a store file or directory', () => {
  beforeAll(async () => {
    await runAll();
  }, 600_000);

  it.for(CASES)('$id', (c, ctx) => {
    const result = results.get(c.id);
    expect(result, 'the case never reported').toBeDefined();
    if (result!.skipped) ctx.skip(result!.skipped);
    expect(result!.problems).toEqual([]);
  });
});

describe('a store whose root the store cannot use', () => {
  const T = 10_000;
  const opened: CheckpointManager[] = [];
  afterEach(async () => {
    native.clearFaultPlan();
    for (const store of opened.splice(0)) await store.close();
  });
  const openStore = async (root: string) => {
    const store = await open(root, { logger: silentLogger, handleSignals: false });
    opened.push(store);
    return store;
  };

  it.each([
    ['/proc/self', 'E_NOT_FOUND', 'mkdir /proc/self/m'],
    ['/sys/kernel', 'E_IO', 'mkdir /sys/kernel/m'],
  ] as const)('%s: open() works (it is a directory), model() is %s naming the path, at once', async (root, code, message) => {
    if (!existsSync(root)) return expect.fail(`${root} is not on this machine`);
    const store = await openStore(root);
    expectThrowsCode(() => store.model('m'), code, message);
  }, T);

  it('/dev/null and a regular file: open() is E_BAD_INPUT naming what it is; the file keeps its bytes', async () => {
    await expectRejectsCode(open('/dev/null'), 'E_BAD_INPUT', '/dev/null is a character device, not a directory');
    const file = join(mkdtempSync(join(base, 'root-')), 'file');
    writeFileSync(file, 'precious');
    await expectRejectsCode(open(file), 'E_BAD_INPUT', `${file} is a regular file, not a directory`);
    await expectRejectsCode(open(join(file, 'below')), 'E_BAD_INPUT', `${file} is a regular file, not a directory`);
    expect(readFileSync(file, 'utf8')).toBe('precious');
  }, T);

  // Root ignores permission bits, so the refusal also comes from the fault seam (EACCES on mkdir), as a read-only disk would give it.
  it('a directory the store may not write: open() of a new root below it and model() in it are E_IO naming the path', async () => {
    const parent = mkdtempSync(join(base, 'ro-'));
    writeFileSync(join(parent, 'sentinel'), 'precious');
    chmodSync(parent, 0o500);
    try {
      native.setFaultPlan('op=mkdir,fail_at=1,errno=EACCES,sticky');
      await expectRejectsCode(open(join(parent, 'store')), 'E_IO', `mkdir ${join(parent, 'store')}: Permission denied`);
      native.clearFaultPlan();
      const store = await openStore(parent);
      native.setFaultPlan('op=mkdir,fail_at=1,errno=EACCES,sticky');
      expectThrowsCode(() => store.model('m'), 'E_IO', `mkdir ${join(parent, 'm')}: Permission denied`);
    } finally {
      native.clearFaultPlan();
      chmodSync(parent, 0o700);
    }
    expect(readdirSync(parent)).toEqual(['sentinel']);
    expect(readFileSync(join(parent, 'sentinel'), 'utf8')).toBe('precious');
  }, T);
});
