// The chunk checksum is xxh3-64 as the reference implementation defines it,
// not merely whatever native.xxh3 computes: the published known answers
// (test/fixtures/xxh3-vectors.ts) for every length class of XXH3, through the
// addon's hash and through the reader, which must accept a crafted file whose
// chunks carry the published hashes and refuse one whose hash is off.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpointSync } from '../../src/index.js';
import { verifyFromSync, STORE } from '../../src/file/checkpoint-file.js';
import { native } from '../../src/native.js';
import { craftCheckpoint, expectThrowsCode, sameBytes, tempDir, type CraftTensor } from '../helpers.js';
import { XXH3_UNSEEDED, xxhTestBuffer } from '../fixtures/xxh3-vectors.js';

const dir = tempDir();

/** A tensor per published length: the reference's test buffer, stored raw, its chunk hash as published. */
function referenceTensors(hashOf = (len: number, hex: string) => hex): CraftTensor[] {
  return XXH3_UNSEEDED.filter(({ len }) => len > 0).map(({ len, hex }) => ({
    name: `ref${len}`, dtype: 'uint8', shape: [len], chunks: [{ stored: xxhTestBuffer(len), xxh3: hashOf(len, hex) }],
  }));
}

function write(name: string, file: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, file);
  return path;
}

describe('xxh3-64 against the reference implementation', () => {
  it('native.xxh3 gives the published XXH3_64bits of every length class', () => {
    expect(XXH3_UNSEEDED.map(({ len }) => len)).toEqual([0, 1, 6, 12, 24, 48, 80, 195, 403, 512, 2048, 2099, 2240, 2367]);
    for (const { len, hex } of XXH3_UNSEEDED) expect(native.xxh3(xxhTestBuffer(len)), `length ${len}`).toBe(hex);
  });

  it('a crafted file whose chunks carry the published hashes loads verified and bit-exact', () => {
    const path = write('reference.tkpt', craftCheckpoint(referenceTensors()));
    const loaded = readCheckpointSync(path);
    expect(Object.keys(loaded.tensors)).toEqual(XXH3_UNSEEDED.filter(({ len }) => len > 0).map(({ len }) => `ref${len}`));
    for (const { len } of XXH3_UNSEEDED.filter(({ len }) => len > 0)) expect(sameBytes(loaded.tensors[`ref${len}`].data, xxhTestBuffer(len))).toBe(true);
    // verify: every chunk checked against its stored (published) hash, without decoding into tensors.
    expect(verifyFromSync(path, {}, STORE).tensors.map((t) => t.chunks[0][4])).toEqual(XXH3_UNSEEDED.filter(({ len }) => len > 0).map(({ hex }) => hex));
  });

  it('the same file with one chunk carrying the published hash of another length is refused', () => {
    // ref403 claims the hash published for 512 bytes: one digit of the file differs.
    const path = write('off.tkpt', craftCheckpoint(referenceTensors((len, hex) => (len === 403 ? XXH3_UNSEEDED.find((v) => v.len === 512)!.hex : hex))));
    expectThrowsCode(() => readCheckpointSync(path), 'E_CORRUPT', /chunk 0 of "ref403".*checksum mismatch/);
    expectThrowsCode(() => verifyFromSync(path, {}, STORE), 'E_CORRUPT', /checksum mismatch/);
  });
});
