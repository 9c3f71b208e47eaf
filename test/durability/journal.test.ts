// src/durability/journal.ts and the native store primitives through the addon: record
// round trips, a torn tail at every cut, damaged and non-JSON records,
// appends failed through the fault seam, the model LOCK across processes, and
// the idempotent file operations of recovery.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { callNative } from '../../src/errors.js';
import { Journal, readJournal, repairJournal } from '../../src/durability/journal.js';
import { entryJson } from '../../src/durability/history.js';
import { encodeMetrics } from '../../src/file/index-json.js';
import { native } from '../../src/native.js';
import { expectThrowsCode, tempDir } from '../helpers.js';

const root = tempDir();
const fresh = () => mkdtempSync(join(root, 'd'));
const ADDON = fileURLToPath(new URL('../../build/Release/tensorkeep.node', import.meta.url));

afterEach(() => native.clearFaultPlan());

const THREE = [
  { kind: 'commit', seq: 1, file: '00000001-s100.tkpt', metrics: { loss: 0.5 } },
  { kind: 'evict', seq: 1 },
  { kind: 'note', text: 'ünïcødé ✓ 𝔘', nested: { a: [1, 2, { b: null }] } },
];

function writeJournal(path: string, records: object[]): void {
  const j = Journal.open(path);
  for (const r of records) j.append(r);
  j.close();
}

/** Byte offsets where each frame ends. */
function frameEnds(records: object[]): number[] {
  let end = 0;
  return records.map((r) => (end += 12 + Buffer.byteLength(JSON.stringify(r))));
}

describe('Journal', () => {
  it('round-trips records and appends after reopening', () => {
    const path = join(fresh(), 'journal');
    const j = Journal.open(path);
    expect(j.bytes).toBe(0);
    j.append(THREE[0]);
    j.append(THREE[1], { sync: false });
    j.append(THREE[2], { sync: false });
    j.sync();
    expect(j.bytes).toBe(frameEnds(THREE)[2]);
    expect(j.bytes).toBe(statSync(path).size);
    j.close();
    j.close(); // idempotent

    const size = statSync(path).size;
    expect(readJournal(path)).toEqual({ records: THREE, offsets: [0, ...frameEnds(THREE).slice(0, 2)], validBytes: size, fileBytes: size, problem: null });
    writeJournal(path, [{ kind: 'more' }]);
    expect(readJournal(path).records).toEqual([...THREE, { kind: 'more' }]);
  });

  it('reads a missing journal as empty', () => {
    expect(readJournal(join(fresh(), 'none'))).toEqual({ records: [], offsets: [], validBytes: 0, fileBytes: 0, problem: null });
  });

  it('throws E_CLOSED after close and E_BAD_INPUT for records JSON cannot hold', () => {
    const j = Journal.open(join(fresh(), 'journal'));
    expectThrowsCode(() => j.append({ big: 1n }), 'E_BAD_INPUT', 'not serializable');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectThrowsCode(() => j.append(cyclic), 'E_BAD_INPUT', 'not serializable');
    expectThrowsCode(() => j.append(() => 1), 'E_BAD_INPUT', 'JSON-serializable');
    expect(j.bytes).toBe(0);
    j.close();
    expectThrowsCode(() => j.append({}), 'E_CLOSED', 'is closed');
    expectThrowsCode(() => j.sync(), 'E_CLOSED');
    expectThrowsCode(() => j.bytes, 'E_CLOSED');
    expectThrowsCode(() => Journal.open(''), 'E_BAD_INPUT');
  });

  it('cuts a torn tail at every possible length, never returning a partial record', () => {
    const dir = fresh();
    const full = join(dir, 'full');
    writeJournal(full, THREE);
    const bytes = readFileSync(full);
    const ends = frameEnds(THREE);
    const path = join(dir, 'cut');
    for (let cut = 0; cut <= bytes.length; cut++) {
      writeFileSync(path, bytes.subarray(0, cut));
      const whole = ends.filter((e) => e <= cut).length;
      const valid = whole === 0 ? 0 : ends[whole - 1];
      const read = readJournal(path);
      expect(read.records).toEqual(THREE.slice(0, whole));
      expect(read.validBytes).toBe(valid);
      expect(read.fileBytes).toBe(cut);
      if (cut === valid) expect(read.problem).toBeNull();
      else expect(read.problem).toMatch(new RegExp(`^torn record at byte ${valid}: ${cut - valid} of \\d+ (header )?bytes$`));
    }
    // Repair, then appends continue on a frame boundary.
    writeFileSync(path, bytes.subarray(0, ends[1] + 7));
    const scan = readJournal(path);
    expect(repairJournal(path, scan)).toBe(7);
    expect(statSync(path).size).toBe(ends[1]);
    expect(repairJournal(path, readJournal(path))).toBe(0);
    writeJournal(path, [THREE[2]]);
    expect(readJournal(path)).toMatchObject({ records: THREE, problem: null });
  });

  it('stops at a record that fails its checksum', () => {
    const path = join(fresh(), 'journal');
    writeJournal(path, THREE);
    const ends = frameEnds(THREE);
    const bytes = readFileSync(path);
    bytes[ends[0] + 15] ^= 0x01; // inside the second record's payload
    writeFileSync(path, bytes);
    const read = readJournal(path);
    expect(read).toEqual({ records: [THREE[0]], offsets: [0], validBytes: ends[0], fileBytes: bytes.length, problem: `record at byte ${ends[0]} fails its checksum` });
    repairJournal(path, read);
    expect(readJournal(path)).toEqual({ records: [THREE[0]], offsets: [0], validBytes: ends[0], fileBytes: ends[0], problem: null });
  });

  it('treats an intact frame that is not UTF-8 JSON as the start of the damaged tail', () => {
    for (const junk of [Buffer.from('{"half":'), Buffer.from([0x22, 0xff, 0x22])]) {
      const path = join(fresh(), 'journal');
      const j = callNative(() => native.journalOpen(path));
      j.append(Buffer.from('{"ok":1}'), true);
      j.append(junk, true);
      j.append(Buffer.from('{"ok":2}'), true);
      j.close();
      const read = readJournal(path);
      expect(read.records).toEqual([{ ok: 1 }]);
      expect(read.validBytes).toBe(20);
      expect(read.problem).toMatch(/^record at byte 20 is not UTF-8 JSON/);
      repairJournal(path, read);
      expect(statSync(path).size).toBe(20);
    }
  });

  it('rolls back a failed append: the error has its code and the journal scans clean', () => {
    const path = join(fresh(), 'journal');
    const j = Journal.open(path);
    j.append(THREE[0]);
    const before = j.bytes;

    native.setFaultPlan('op=pwrite,fail_at=1,errno=ENOSPC');
    expectThrowsCode(() => j.append(THREE[1]), 'E_NOSPACE', 'pwrite');
    native.clearFaultPlan();
    expect(j.bytes).toBe(before);
    expect(statSync(path).size).toBe(before);

    native.setFaultPlan('op=fsync,fail_at=1,errno=EIO');
    expectThrowsCode(() => j.append(THREE[1]), 'E_IO', 'fsync');
    native.clearFaultPlan();
    expect(readJournal(path)).toEqual({ records: [THREE[0]], offsets: [0], validBytes: before, fileBytes: before, problem: null });

    j.append(THREE[1]);
    j.close();
    expect(readJournal(path)).toMatchObject({ records: THREE.slice(0, 2), problem: null });
  });
});

describe('Journal.appendMany', () => {
  it('writes the same frames as one append each, in one write, and none of them when it fails', () => {
    const dir = fresh();
    const single = Journal.open(join(dir, 'single'));
    for (const r of THREE) single.append(r, { sync: false });
    single.close();
    const batched = Journal.open(join(dir, 'batched'));
    batched.appendMany(THREE, { sync: false });
    expect(readFileSync(join(dir, 'batched'))).toEqual(readFileSync(join(dir, 'single')));

    const before = batched.bytes;
    native.setFaultPlan('op=pwrite,fail_at=1,errno=ENOSPC');
    expectThrowsCode(() => batched.appendMany(THREE), 'E_NOSPACE', 'pwrite');
    native.clearFaultPlan();
    expect(statSync(join(dir, 'batched')).size).toBe(before);
    // A record JSON cannot hold fails the whole batch before anything is written.
    expectThrowsCode(() => batched.appendMany([{ a: 1 }, { b: 1n }]), 'E_BAD_INPUT', 'not serializable');
    batched.appendMany([]);
    expect(batched.bytes).toBe(before);
    batched.close();
    expect(readJournal(join(dir, 'batched'))).toMatchObject({ records: THREE, problem: null });
  });
});

describe('history records', () => {
  it('entryJson writes what JSON.stringify writes of the entry with its metrics encoded, for any metric name and value', () => {
    const names = ['loss', 'val/acc', '"quoted"', 'naïve ✓', '\u2028', '__proto__', '10', '2', 'constructor', ''];
    const values = [0, -0, 1.5, -3e-300, 1e21, 5e-324, Number.MAX_VALUE, NaN, Infinity, -Infinity];
    for (let i = 0; i < 200; i++) {
      const metrics: Record<string, number> = {};
      for (let k = 0; k < i % 5; k++) Object.defineProperty(metrics, names[(i + 3 * k) % names.length], { value: values[(i * 7 + k) % values.length], enumerable: true, writable: true, configurable: true });
      const entry = { step: i * 1000, epoch: i % 3, time: 1.8e12 + i, metrics, saved: i % 2 === 0, reasons: i % 4 === 0 ? ['improved:loss', 'every:steps'] : [] };
      expect(entryJson(entry)).toBe(JSON.stringify({ ...entry, metrics: encodeMetrics(metrics) }));
    }
  });

  it('appendJson frames serialized records exactly as appendMany frames the objects', () => {
    const dir = fresh();
    const objects = Journal.open(join(dir, 'objects'));
    objects.appendMany(THREE, { sync: false });
    objects.close();
    const texts = Journal.open(join(dir, 'texts'));
    texts.appendJson(THREE.map((r) => JSON.stringify(r)), { sync: false });
    texts.close();
    expect(readFileSync(join(dir, 'texts'))).toEqual(readFileSync(join(dir, 'objects')));
  });
});

describe('lockFile', () => {
  const lock = (path: string) => callNative(() => native.lockFile(path));

  it('conflicts within one process, naming this pid; release is idempotent', () => {
    const path = join(fresh(), 'LOCK');
    const held = lock(path);
    expectThrowsCode(() => lock(path), 'E_LOCKED', `held by pid ${process.pid}`);
    held.release();
    held.release();
    const again = lock(path);
    again.release();
  });

  it('conflicts with another process, naming its pid, until that process exits', async () => {
    const path = join(fresh(), 'LOCK');
    const code = `const l = require(process.env.TK_ADDON).lockFile(process.env.TK_LOCK);
      process.stdout.write('locked\\n'); setInterval(() => l, 1000);`;
    const child = spawn(process.execPath, ['-e', code], {
      env: { ...process.env, TK_ADDON: ADDON, TK_LOCK: path },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        child.once('exit', (c) => reject(new Error(`child exited with ${c} before locking`)));
      });
      expectThrowsCode(() => lock(path), 'E_LOCKED', `held by pid ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    lock(path).release(); // the kernel dropped the flock with the process
  });
});

describe('store operations', () => {
  it('writeFileAtomic replaces the content and leaves nothing in .tmp', () => {
    const dir = fresh();
    const path = join(dir, 'catalog.json');
    native.writeFileAtomic(path, Buffer.from('{"v":1}'));
    native.writeFileAtomic(path, Buffer.from('{"v":2}'));
    expect(readFileSync(path, 'utf8')).toBe('{"v":2}');
    expect(readdirSync(join(dir, '.tmp'))).toEqual([]);
    native.setFaultPlan('op=rename,fail_at=1,errno=EIO');
    expectThrowsCode(() => callNative(() => native.writeFileAtomic(path, Buffer.from('{"v":3}'))), 'E_IO', 'rename');
    native.clearFaultPlan();
    expect(readFileSync(path, 'utf8')).toBe('{"v":2}');
    expect(readdirSync(join(dir, '.tmp'))).toEqual([]);
  });

  it('removeFile is idempotent', () => {
    const path = join(fresh(), '00000001-s1.tkpt');
    writeFileSync(path, 'x');
    native.removeFile(path);
    expect(existsSync(path)).toBe(false);
    native.removeFile(path);
  });

  it('clearTmpDir removes every leftover and counts them', () => {
    const dir = fresh();
    expect(native.clearTmpDir(dir)).toBe(0);
    mkdirSync(join(dir, '.tmp'));
    for (const name of ['a.partial', 'b.partial', '.x']) writeFileSync(join(dir, '.tmp', name), 'x');
    writeFileSync(join(dir, 'keep'), 'x');
    expect(native.clearTmpDir(dir)).toBe(3);
    expect(readdirSync(join(dir, '.tmp'))).toEqual([]);
    expect(existsSync(join(dir, 'keep'))).toBe(true);
    expect(native.clearTmpDir(dir)).toBe(0);
  });

  it('truncateFile, ensureDir and fsyncDir', () => {
    const dir = fresh();
    const path = join(dir, 'f');
    writeFileSync(path, '0123456789');
    native.truncateFile(path, 3);
    expect(readFileSync(path, 'utf8')).toBe('012');
    expectThrowsCode(() => callNative(() => native.truncateFile(path, 4)), 'E_BAD_INPUT', 'has only 3');
    expectThrowsCode(() => callNative(() => native.truncateFile(path, -1)), 'E_BAD_INPUT');
    native.ensureDir(join(dir, 'sub'));
    native.ensureDir(join(dir, 'sub'));
    native.fsyncDir(join(dir, 'sub'));
    expectThrowsCode(() => callNative(() => native.fsyncDir(join(dir, 'missing'))), 'E_NOT_FOUND');
  });
});
