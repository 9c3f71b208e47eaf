// Hand-crafted .tkpt files that no writer would produce: every lie a file can
// tell about itself must end in a CheckpointError whose code says what kind of
// problem it is (E_CORRUPT: damaged, E_VERSION: from a newer release) and
// whose message says what exactly is wrong — never a crash, a hang or a
// silently wrong tensor.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  inspectCheckpoint, readCheckpoint, readCheckpointSync, writeCheckpointSync, type ErrorCode,
} from '../../src/index.js';
import { inspectFromSync, verifyFromSync, STORE } from '../../src/file/checkpoint-file.js';
import {
  bytesOf, craftCheckpoint, expectRejectsCode, expectThrowsCode, FOOTER_MAGIC, HEADER_MAGIC, rng, sameBytes, tempDir,
  xxh3Hex, type CraftOptions, type CraftTensor,
} from '../helpers.js';
import { notTmpfs, requireCapability } from '../fixtures/capabilities.js';

const dir = tempDir();
let fileNo = 0;

/** Writes the bytes to a fresh file and returns its path. */
function put(bytes: Uint8Array): string {
  const path = join(dir, `f${fileNo++}.tkpt`);
  writeFileSync(path, bytes);
  return path;
}

const W = new Float32Array([1, 2, 3, 4, 5, 6]);
const B = new Int32Array([-7, 8, 9, 2 ** 31 - 1]);

/** Two valid tensors, each one raw chunk: w at 64 (24 bytes), b at 128 (16 bytes). */
function base(): CraftTensor[] {
  return [
    { name: 'w', dtype: 'float32', shape: [2, 3], bytes: bytesOf(W) },
    { name: 'b', dtype: 'int32', shape: [4], bytes: bytesOf(B) },
  ];
}

function craft(options: CraftOptions = {}, tensors = base()): Buffer {
  return craftCheckpoint(tensors, options);
}

/** A genuine zstd frame of `n` compressible bytes, cut out of a file the writer made. */
function zstdFrame(n: number): { stored: Uint8Array; raw: Uint8Array } {
  const raw = new Uint8Array(n);
  for (let i = 0; i < n; i++) raw[i] = i % 7;
  const path = join(dir, `zstd-source-${n}.tkpt`);
  const index = writeCheckpointSync(path, { raw }, {}, { codec: 'zstd' });
  const [offset, storedLen, rawLen, codec] = index.tensors[0].chunks[0];
  expect([codec, rawLen]).toEqual(['zstd', n]);
  const file = readFileSync(path);
  return { stored: file.subarray(offset, offset + storedLen), raw };
}

interface Case {
  name: string;
  file: () => Uint8Array;
  code: ErrorCode;
  /** Every pattern must match the message. */
  message: Array<string | RegExp>;
}

// Files whose damage the reader sees when it opens them (header, footer and
// index are checked before any tensor byte is read): inspect, read and verify
// must all refuse them, with the same code and message.
const OPEN_CASES: Case[] = [
  {
    name: 'a chunk offset past the end of the file',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].chunks[0][0] = 1 << 20) }),
    code: 'E_CORRUPT',
    message: ['past end', '1048576'],
  },
  {
    name: 'a chunk that runs past the start of the index',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[1].chunks[0][0] = 192) }),
    code: 'E_CORRUPT',
    message: ['past end'],
  },
  {
    name: 'a chunk offset of 2^64 - 64 (an overflow attempt)',
    file: () => {
      const marker = 987654336; // a 64-aligned placeholder, replaced in the JSON text
      let json = '';
      craft({ editIndex: (ix) => void ((ix.tensors[0].chunks[0][0] = marker), (json = JSON.stringify(ix))) });
      return craft({ indexBytes: json.replace(String(marker), '18446744073709551552') });
    },
    code: 'E_CORRUPT',
    message: ['past end'],
  },
  {
    name: 'two tensors whose chunks overlap',
    file: () =>
      craft({
        editIndex: (ix) => {
          // b's chunk claims 16 bytes at w's offset, inside w's 24 bytes.
          ix.tensors[1].chunks[0][0] = ix.tensors[0].chunks[0][0];
        },
      }),
    code: 'E_CORRUPT',
    message: ['overlap'],
  },
  {
    name: 'an index length field of 4 GiB',
    file: () => craft({ indexLen: 1n << 32n }),
    code: 'E_CORRUPT',
    message: [/index length 4294967296 exceeds/],
  },
  {
    name: 'an index offset that does not end where the footer starts',
    file: () => craft({ indexOffset: 128n }),
    code: 'E_CORRUPT',
    message: ['index at 128', 'does not end where the footer starts'],
  },
  {
    name: 'an index whose xxh3 does not match the footer',
    file: () => craft({ indexHash: 0x0123456789abcdefn }),
    code: 'E_CORRUPT',
    message: ['index checksum mismatch', '0123456789abcdef'],
  },
  {
    name: 'an index that is not valid JSON',
    file: () => craft({ indexBytes: '{"format_version":1,"tensors":[' }),
    code: 'E_CORRUPT',
    message: ['index JSON', 'unexpected end'],
  },
  {
    name: 'an index that is JSON but not an object',
    file: () => craft({ indexBytes: '[1,2,3]' }),
    code: 'E_CORRUPT',
    message: ['index JSON is not an object'],
  },
  {
    name: 'an index without a tensors list',
    file: () => craft({ indexBytes: '{"format_version":1}' }),
    code: 'E_CORRUPT',
    message: ['"tensors" must be array', 'missing'],
  },
  {
    name: 'an index that says format version 2 inside a version-1 file',
    file: () => craft({ editIndex: (ix) => void (ix.format_version = 2) }),
    code: 'E_CORRUPT',
    message: ['index says format version 2'],
  },
  {
    name: 'a chunk with the unknown codec "lz4"',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].chunks[0][3] = 'lz4') }),
    code: 'E_VERSION',
    message: ['unknown codec "lz4"', 'newer release'],
  },
  {
    name: 'format version 2 in both header and footer',
    file: () => craft({ headerVersion: 2, footerVersion: 2 }),
    code: 'E_VERSION',
    message: ['format version 2', 'reads format version 1'],
  },
  {
    name: 'format version 2 in the header only (a flipped bit, not a newer file)',
    file: () => craft({ headerVersion: 2 }),
    code: 'E_CORRUPT',
    message: ['header says format version 2, footer says 1'],
  },
  {
    name: 'format version 2 in the footer only',
    file: () => craft({ footerVersion: 2 }),
    code: 'E_CORRUPT',
    message: ['header says format version 1, footer says 2'],
  },
  {
    name: 'header flags that version 1 does not define',
    file: () => craft({ headerFlags: 4 }),
    code: 'E_CORRUPT',
    message: ['header flags 4'],
  },
  {
    name: 'a non-zero byte in the header padding',
    file: () => {
      const f = craft();
      f[40] = 1;
      return f;
    },
    code: 'E_CORRUPT',
    message: ['header padding byte 40'],
  },
  {
    name: 'a non-zero footer reserved field',
    file: () => craft({ footerReserved: 1 }),
    code: 'E_CORRUPT',
    message: ['footer reserved'],
  },
  {
    name: 'chunks that hold fewer raw bytes than dtype × shape',
    file: () =>
      craft({
        editIndex: (ix) => {
          ix.tensors[0].shape = [2, 4]; // 32 bytes of float32; the one chunk holds 24
          ix.tensors[0].nbytes = 32;
        },
      }),
    code: 'E_CORRUPT',
    message: ['chunks hold 24 raw bytes, nbytes is 32'],
  },
  {
    name: 'an nbytes that does not match dtype × shape',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].shape = [7]) }),
    code: 'E_CORRUPT',
    message: ['shape and float32 need 28 bytes, nbytes is 24'],
  },
  {
    name: 'a raw chunk whose stored length differs from its raw length',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].chunks[0][1] = 20) }),
    code: 'E_CORRUPT',
    message: ['stored_len 20 impossible for a raw chunk of 24'],
  },
  {
    name: 'a zstd chunk that claims to be no smaller than its raw bytes',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].chunks[0][3] = 'zstd') }),
    code: 'E_CORRUPT',
    message: ['impossible for a zstd chunk'],
  },
  {
    name: 'a chunk hash that is not 16 lowercase hex digits',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].chunks[0][4] = 'XYZ') }),
    code: 'E_CORRUPT',
    message: ['xxh3 must be 16 lowercase hex digits'],
  },
  {
    name: 'a chunk that is not a 5-tuple',
    file: () => craft({ editIndex: (ix) => void ((ix.tensors[0].chunks[0] as unknown[]).length = 4) }),
    code: 'E_CORRUPT',
    message: ['[offset, stored_len, raw_len, codec, xxh3]'],
  },
  {
    name: 'a negative chunk offset',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].chunks[0][0] = -64) }),
    code: 'E_CORRUPT',
    message: ['non-negative integers'],
  },
  {
    name: 'the unknown dtype "float8"',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].dtype = 'float8') }),
    code: 'E_VERSION',
    message: ['unknown dtype "float8"', 'newer release'],
  },
  {
    name: 'a shape holding more than 2^53 bytes',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].shape = [2 ** 26, 2 ** 26, 2]) }),
    code: 'E_CORRUPT',
    message: ['more than 2^53 bytes'],
  },
  {
    name: 'a shape of 33 dimensions',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].shape = [...Array(33).fill(1), 6]) }),
    code: 'E_CORRUPT',
    message: ['dimensions exceed 32'],
  },
  {
    name: 'two tensors with the same name',
    file: () => craft({}, [base()[0], { ...base()[1], name: 'w' }]),
    code: 'E_CORRUPT',
    message: ['tensor name "w" appears twice'],
  },
  {
    name: 'an empty tensor name',
    file: () => craft({}, [{ ...base()[0], name: '' }]),
    code: 'E_CORRUPT',
    message: ['tensor name is empty'],
  },
  {
    name: 'a tensor name over 1024 bytes',
    file: () => craft({}, [{ ...base()[0], name: 'n'.repeat(1025) }]),
    code: 'E_CORRUPT',
    message: ['1025 bytes exceeds 1024'],
  },
  {
    name: 'an unaligned chunk offset',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].chunks[0][0] = 65) }),
    code: 'E_CORRUPT',
    message: ['offset 65 is not a 64-byte aligned offset'],
  },
  {
    name: 'a chunk offset inside the header',
    file: () => craft({ editIndex: (ix) => void (ix.tensors[0].chunks[0][0] = 0) }),
    code: 'E_CORRUPT',
    message: ['offset 0 is not a 64-byte aligned offset past the header'],
  },
  {
    name: 'a bad footer magic (a truncated or unfinished file)',
    file: () => craft({ footerMagic: Buffer.from('TKPTEND?', 'latin1') }),
    code: 'E_CORRUPT',
    message: ['bad footer magic', 'truncated'],
  },
  {
    name: 'a bad header magic',
    file: () => {
      const f = craft();
      f[0] = 'X'.charCodeAt(0);
      return f;
    },
    code: 'E_CORRUPT',
    message: ['not a tensorkeep checkpoint'],
  },
  {
    name: 'a file of 103 bytes (one short of header + footer)',
    file: () => {
      const f = Buffer.alloc(103);
      HEADER_MAGIC.copy(f, 0);
      FOOTER_MAGIC.copy(f, 95);
      return f;
    },
    code: 'E_CORRUPT',
    message: ['103 bytes, too small', '104'],
  },
  {
    name: 'a zero-length file',
    file: () => new Uint8Array(0),
    code: 'E_CORRUPT',
    message: ['0 bytes, too small'],
  },
  {
    name: '10 KB of random garbage',
    file: () => {
      const rand = rng(77);
      return Uint8Array.from({ length: 10_000 }, () => Math.floor(rand() * 256));
    },
    code: 'E_CORRUPT',
    message: ['not a tensorkeep checkpoint'],
  },
  {
    // The native parser takes the first of two equal keys, JSON.parse the
    // last: a file that says both must be refused, or the two layers would
    // disagree about what the file holds.
    name: 'an index with a duplicate "tensors" key',
    file: () => {
      let json = '';
      craft({ editIndex: (ix) => void (json = JSON.stringify(ix)) });
      const evil = '"tensors":[{"name":"evil","dtype":"uint8","shape":[24],"nbytes":24,"chunks":[]}]';
      return craft({ indexBytes: json.replace(/}$/, `,${evil}}`) });
    },
    code: 'E_CORRUPT',
    message: [/duplicate|twice/i, 'tensors'],
  },
  {
    name: 'a tensor entry with a duplicate "dtype" key',
    file: () => {
      let json = '';
      craft({ editIndex: (ix) => void (json = JSON.stringify(ix)) });
      return craft({ indexBytes: json.replace('"dtype":"float32"', '"dtype":"float32","dtype":"int32"') });
    },
    code: 'E_CORRUPT',
    message: [/duplicate|twice/i, 'dtype'],
  },
];

function expectMessage(message: string, patterns: Array<string | RegExp>): void {
  for (const p of patterns) {
    if (typeof p === 'string') expect(message).toContain(p);
    else expect(message).toMatch(p);
  }
}

describe('hostile files: damage visible in header, footer or index', () => {
  it.each(OPEN_CASES)('$name -> $code', async ({ file, code, message }) => {
    const path = put(file());
    const fromRead = expectThrowsCode(() => readCheckpointSync(path), code);
    expectMessage(fromRead.message, message);
    expect(fromRead.message).toContain(path); // every message names the file
    expectThrowsCode(() => inspectFromSync(path, STORE), code, fromRead.message);
    expectThrowsCode(() => verifyFromSync(path, {}, STORE), code, fromRead.message);
    await expectRejectsCode(readCheckpoint(path), code, fromRead.message);
    await expectRejectsCode(inspectCheckpoint(path), code, fromRead.message);
  });

  // Anything but a regular file in place of a checkpoint is unreadable like a
  // corrupt one (E_CORRUPT: a load falls back, the store quarantines it),
  // and the message says what it is (docs/FORMAT.md, "Special files").
  it('a directory path is E_CORRUPT saying it is a directory, not a regular file', async () => {
    const path = join(dir, 'a-directory.tkpt');
    mkdirSync(path);
    expectThrowsCode(() => readCheckpointSync(path), 'E_CORRUPT', /is a directory, not a regular file/);
    await expectRejectsCode(inspectCheckpoint(path), 'E_CORRUPT', /is a directory, not a regular file/);
  });

  // /dev/shm is a tmpfs on Linux as a rule; checked by its filesystem type.
  // On tmpfs a directory's st_size is tiny (40 bytes for an empty one): the
  // reader must not report it as a truncated checkpoint.
  it('a directory on tmpfs is said to be a directory, not a "too small" checkpoint', (ctx) => {
    requireCapability(ctx, 'a tmpfs at /dev/shm', notTmpfs('/dev/shm'));
    const path = mkdtempSync('/dev/shm/tensorkeep-test-');
    try {
      expectThrowsCode(() => readCheckpointSync(path), 'E_CORRUPT', /is a directory, not a regular file/);
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('a missing file is E_NOT_FOUND naming the path', async () => {
    const path = join(dir, 'does-not-exist.tkpt');
    expectThrowsCode(() => readCheckpointSync(path), 'E_NOT_FOUND', path);
    await expectRejectsCode(readCheckpoint(path), 'E_NOT_FOUND', path);
  });
});

describe('hostile files: damage only the tensor bytes show', () => {
  // The index is consistent; only decoding a chunk reveals the lie. Inspect
  // reads no tensor bytes and accepts these files; read and verify refuse them.
  const DECODE_CASES: Case[] = [
    {
      name: 'a raw chunk whose bytes do not match its xxh3',
      file: () => craft({}, [{ ...base()[0], chunks: [{ stored: bytesOf(W), xxh3: '0000000000000000' }] }]),
      code: 'E_CORRUPT',
      message: ['chunk 0 of "w"', 'checksum mismatch', 'stored xxh3 0000000000000000'],
    },
    {
      name: 'a zstd chunk of garbage',
      file: () => {
        const raw = new Uint8Array(4096);
        const garbage = Uint8Array.from({ length: 100 }, (_, i) => (i * 37) & 255);
        return craft({}, [{ name: 'g', dtype: 'uint8', shape: [4096], chunks: [{ stored: garbage, rawLen: 4096, codec: 'zstd', xxh3: xxh3Hex(raw) }] }]);
      },
      code: 'E_CORRUPT',
      message: ['chunk 0 of "g"', 'zstd data does not decode'],
    },
    {
      name: 'a genuine zstd frame that decodes to fewer bytes than raw_len says',
      file: () => {
        const { stored } = zstdFrame(4096);
        const claimed = new Uint8Array(8192);
        return craft({}, [{ name: 'z', dtype: 'uint8', shape: [8192], chunks: [{ stored, rawLen: 8192, codec: 'zstd', xxh3: xxh3Hex(claimed) }] }]);
      },
      code: 'E_CORRUPT',
      message: ['zstd data decodes to 4096 bytes, index says 8192'],
    },
    {
      name: 'a genuine zstd frame that decodes to more bytes than raw_len says',
      file: () => {
        const { stored, raw } = zstdFrame(8192);
        const claimed = raw.subarray(0, 4096);
        return craft({}, [{ name: 'z', dtype: 'uint8', shape: [4096], chunks: [{ stored, rawLen: 4096, codec: 'zstd', xxh3: xxh3Hex(claimed) }] }]);
      },
      code: 'E_CORRUPT',
      message: ['chunk 0 of "z"', 'zstd data does not decode'],
    },
    {
      name: 'a shuffle+zstd chunk whose decoded bytes do not match its xxh3',
      file: () => {
        const { stored } = zstdFrame(4096);
        return craft({}, [
          { name: 's', dtype: 'float32', shape: [1024], chunks: [{ stored, rawLen: 4096, codec: 'shuffle+zstd', xxh3: '00000000000000ff' }] },
        ]);
      },
      code: 'E_CORRUPT',
      message: ['chunk 0 of "s"', 'checksum mismatch'],
    },
  ];

  it.each(DECODE_CASES)('$name -> $code from read and verify, not from inspect', async ({ file, code, message }) => {
    const path = put(file());
    expect(() => inspectFromSync(path, STORE)).not.toThrow();
    const fromRead = expectThrowsCode(() => readCheckpointSync(path), code);
    expectMessage(fromRead.message, message);
    expectThrowsCode(() => verifyFromSync(path, {}, STORE), code, fromRead.message);
    await expectRejectsCode(readCheckpoint(path), code, fromRead.message);
  });
});

describe('hand-crafted valid files', () => {
  it('a hand-crafted file of raw chunks reads back exactly (the builder is right)', async () => {
    const empty: CraftTensor = { name: 'nothing', dtype: 'float64', shape: [0, 3] };
    const path = put(craft({}, [...base(), empty]));
    for (const loaded of [readCheckpointSync(path), await readCheckpoint(path)]) {
      expect(Object.keys(loaded.tensors)).toEqual(['w', 'b', 'nothing']);
      expect(loaded.tensors.w).toMatchObject({ dtype: 'float32', shape: [2, 3] });
      expect(sameBytes(loaded.tensors.w.data, W)).toBe(true);
      expect(Array.from(loaded.tensors.b.data as Int32Array)).toEqual(Array.from(B));
      expect(loaded.tensors.nothing).toMatchObject({ dtype: 'float64', shape: [0, 3] });
      expect(loaded.tensors.nothing.data.length).toBe(0);
    }
    expect(verifyFromSync(path, {}, STORE).info.bytes).toBe(readFileSync(path).length);
  });

  it('a hand-crafted file with a genuine zstd chunk and a multi-chunk tensor reads back exactly', () => {
    const { stored, raw } = zstdFrame(4096);
    const w2 = bytesOf(new Float32Array([0.5, -0.25, 8, 16, 1e-3, 7]));
    const path = put(
      craft({}, [
        { name: 'z', dtype: 'uint8', shape: [4096], chunks: [{ stored, rawLen: 4096, codec: 'zstd', xxh3: xxh3Hex(raw) }] },
        { name: 'split', dtype: 'float32', shape: [6], chunks: [{ stored: w2.subarray(0, 8) }, { stored: w2.subarray(8) }] },
      ]),
    );
    const loaded = readCheckpointSync(path);
    expect(sameBytes(loaded.tensors.z.data, raw)).toBe(true);
    expect(sameBytes(loaded.tensors.split.data, w2)).toBe(true);
  });

  it('a tensor named "__proto__" loads as an own key, without touching the prototype', () => {
    const path = put(craft({}, [{ ...base()[0], name: '__proto__' }, base()[1]]));
    const loaded = readCheckpointSync(path);
    expect(Object.keys(loaded.tensors)).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(loaded.tensors)).toBe(Object.prototype);
    expect(sameBytes(Object.getOwnPropertyDescriptor(loaded.tensors, '__proto__')!.value.data, W)).toBe(true);
  });

  it('a metric named "__proto__" in the index loads as an own key', () => {
    const path = put(craft({ editIndex: (ix) => void (ix.metrics = JSON.parse('{"__proto__": 0.5, "loss": 1}')) }));
    const loaded = readCheckpointSync(path);
    expect(Object.keys(loaded.metrics).sort()).toEqual(['__proto__', 'loss']);
    expect(Object.getPrototypeOf(loaded.metrics)).toBe(Object.prototype);
  });
});
