// Corruption of an open store's files: bit flips,
// truncations, zeroed 4 KiB pages, two files' contents swapped, a file
// deleted behind the catalog. Every load refuses the damaged file, reports it
// with an `error` event, sets it aside and falls back to the previous valid
// checkpoint; never a wrong tensor, never a crash. The full run is
// `npm run stress:corruption` (10 000); this one is small and fast.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { runCorruptionTrials } from '../../scripts/stress/corruption-trials.js';
import { sameBytes, tempDir } from '../helpers.js';
import { quarantined, silentLogger, tensorsFor } from '../fixtures/store.js';
import { onEvent, type Payload } from '../fixtures/events.js';

const root = tempDir();

describe('random corruption of an open store', () => {
  it('200 corruptions of every kind: each damaged file detected, reported and set aside; 0 wrong tensors, 0 crashes', async () => {
    const totals = await runCorruptionTrials({ count: 200, seed: 7 });
    console.log(`corruptions ${totals.trials} ${JSON.stringify(totals.byKind)}: detected ${totals.detected}/${totals.damaged}, harmless ${totals.harmless}, unaccounted ${totals.unaccounted} (${totals.seconds.toFixed(1)} s)`);
    expect(totals.firstFailures).toEqual([]);
    expect(totals).toMatchObject({ trials: 200, wrong: 0, crashes: 0, fsckProblems: 0, failures: 0 });
    for (const n of Object.values(totals.byKind)) expect(n).toBeGreaterThan(20);
    // Each damaged file was seen refused or loaded bit-exact (each trial
    // checks and counts it); one that was neither is unaccounted, and a
    // failure. Flips and pages only hit bytes a reader reads, so a damaged
    // file that loads bit-exact stays a rarity.
    expect(totals.unaccounted).toBe(0);
    expect(totals.detected + totals.harmless).toBe(totals.damaged);
    expect(totals.harmless).toBeLessThanOrEqual(totals.damaged * 0.01);
  });
});

describe('two files swapped', () => {
  it('each verifies, but holds the other checkpoint: resume() refuses both and falls back', async () => {
    const store = await open(root, { always: true, logger: silentLogger, handleSignals: false });
    const errors: Array<Payload<'error'>> = [];
    onEvent(store, 'error', (e) => errors.push(e));
    const m = store.model('swap');
    for (let i = 0; i < 3; i++) await m.report({ step: i, tensors: tensorsFor(i) }).durable;
    const [, second, third] = m.list().map((c) => c.path);
    const bytes = readFileSync(third);
    copyFileSync(second, third);
    writeFileSync(second, bytes);

    const resumed = await m.resume();
    expect(resumed!.info.seq).toBe(1);
    expect(sameBytes(resumed!.tensors.w.data, tensorsFor(0).w as Float32Array)).toBe(true);
    expect(errors.map((e) => [e.code, e.seq])).toEqual([['E_CORRUPT', 3], ['E_CORRUPT', 2]]);
    expect(errors[0].message).toBe('00000003-s2.tkpt holds checkpoint 2 (step 1) of model "swap", not checkpoint 3 (step 2) of model "swap"');
    expect(quarantined(`${root}/swap`).map((f) => f.split('.tkpt')[0] + '.tkpt').sort()).toEqual([basename(second), basename(third)]);
    await store.close();
  });
});
