// What the suite compares: tensorkeep in each codec and snapshot mode, the
// ways JS users save tensors today, and the machine's own limits. Every
// contender saves the same tensors into the same directory's disk and loads
// them back into the same arrays.
import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { open, type CheckpointInfo, type Codec } from '../../src/index.js';
import type { Tensor } from '../../src/file/tensors.js';
import { keepingNewest, offsetsOf, rawBytesOf, syncDir, toBuffer } from '../lib/io.js';
import { readSafetensorsSync, writeSafetensorsSync } from '../lib/safetensors.js';
import { LIMIT_WAYS } from './limit-ways.js';
import type { LimitId } from './limits.js';

export type Kind = 'tensorkeep' | 'baseline' | 'limit';

/** What a contender works on: its own empty directory, the tensors, and arrays to load into. */
export interface Setting {
  dir: string;
  tensors: Array<[string, Tensor]>;
  into: Array<[string, Tensor]>;
}

export interface Session {
  /**
   * Starts a save of the tensors. What runs before it returns is the stall on
   * the calling thread; the promise (if any) resolves when the save is done
   * (durable, for a durable contender).
   */
  save(step: number): Promise<void> | void;
  /** After each save, outside the timing: leaves no dirty pages for the next one to pay. */
  afterSave?(): void;
  /** Loads the newest save into `into` (limits: into their own buffer). */
  load?(): Promise<void> | void;
  /**
   * After each round's save and load, outside the timings: removes every save
   * but the newest, durably, so the disk holds one save per contender.
   */
  prune?(): Promise<void> | void;
  /** Size on disk of the newest save. */
  bytesOnDisk?(): number;
  close(): Promise<void> | void;
}

export interface Contender {
  id: string;
  label: string;
  kind: Kind;
  /** A finished save survives a power cut (fsync'd, and renamed into place where it has a name). */
  durable: boolean;
  /** A load checks checksums of the bytes. */
  verified: boolean;
  /** False for a copy in memory: only its stall is a figure. */
  writes: boolean;
  /** The limits whose work this contender does: each limit is the best of the contenders naming it (limits.ts). */
  limits: LimitId[];
  start(setting: Setting): Promise<Session> | Session;
}

/** What a writer without fsync leaves dirty, flushed outside its timing. */
function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** The store as a trainer uses it: report() with force, await `durable`, load('latest') verified. */
function tensorkeep(codec: Codec, level: number, snapshot: 'copy' | 'borrow'): Contender {
  const codecName = `${codec}${codec === 'raw' ? '' : ` -${level}`}`;
  return {
    id: `tk-${codec.replace('+', '-')}${codec === 'raw' ? '' : `-${level}`}${snapshot === 'borrow' ? '-borrow' : ''}`,
    label: `tensorkeep ${codecName}, ${snapshot}`,
    kind: 'tensorkeep',
    durable: true,
    verified: true,
    writes: true,
    // The copy snapshot copies every byte on up to 2 threads; raw, it writes and reads the raw bytes too.
    limits: [...(snapshot === 'copy' ? ['memcpy-2' as const] : []), ...(codec === 'raw' ? ['durable-write', 'page-cache-read'] as const : [])],
    async start({ dir, tensors, into }) {
      // Every save periodic (always), and one periodic kept besides the pinned
      // ones: with the last save pinned, a save's commit evicts nothing (a
      // delete would land in its timing); prune() lets the older one go.
      const store = await open(dir, {
        compression: { codec, level }, every: { steps: null }, always: true, keep: { best: 1, periodic: 1 }, quotaBytes: null, snapshot,
      });
      const model = store.model('bench');
      let newest: CheckpointInfo | null = null;
      let kept: CheckpointInfo | null = null;
      return {
        save(step) {
          const ticket = model.report({ step, tensors, force: true });
          return ticket.durable.then((info) => void (newest = info));
        },
        async load() { await model.load('latest', { into, verify: true }); },
        async prune() {
          await model.pin(newest!.seq!);
          if (kept) await model.pin(kept.seq!, false);
          kept = newest;
          await model.flush(); // the eviction's journal and unlink
          syncDir(dirname(newest!.path));
        },
        bytesOnDisk: () => newest!.bytes,
        close: () => store.close(),
      };
    },
  };
}

/** What many JS trainers do: every tensor through Array.from into one JSON string, written in one call. */
const naiveJson: Contender = {
  id: 'naive-json', label: 'naive JS: JSON.stringify + writeFileSync', kind: 'baseline', durable: false, verified: false, writes: true, limits: [],
  start({ dir, tensors, into }) {
    let path = '';
    const keep = keepingNewest(dir);
    return {
      save(step) {
        path = join(dir, `${step}.json`);
        writeFileSync(path, JSON.stringify(Object.fromEntries(tensors.map(([name, t]) => [name, Array.from(t.data as Float32Array)]))));
      },
      afterSave: () => fsyncFile(path),
      load() {
        const parsed = JSON.parse(readFileSync(path, 'utf8')) as Record<string, number[]>;
        for (const [name, t] of into) (t.data as Float32Array).set(parsed[name]);
      },
      prune: () => keep(path),
      bytesOnDisk: () => statSync(path).size,
      close() {},
    };
  },
};

/**
 * tfjs-node's file handler: the weights concatenated into one new buffer on
 * the calling thread (tfjs's encodeWeights), then model.json and weights.bin
 * through fs.writeFile, no fsync: a finished save can be lost to a power cut.
 */
const tfjsStyle: Contender = {
  id: 'tfjs-style', label: 'tfjs-style: model.json + weights.bin, no fsync', kind: 'baseline', durable: false, verified: false, writes: true,
  // Its stall copies every byte on the calling thread; its load reads them all.
  limits: ['memcpy-1', 'memcpy-2', 'page-cache-read'],
  start({ dir, tensors, into }) {
    const rawBytes = rawBytesOf(tensors);
    const offsets = offsetsOf(tensors);
    const weights = tensors.map(([name, t]) => ({ name, shape: t.shape, dtype: t.dtype }));
    let saved = '';
    const keep = keepingNewest(dir);
    const files = () => [join(saved, 'model.json'), join(saved, 'weights.bin')];
    return {
      save(step) {
        const weightData = new Uint8Array(rawBytes);
        tensors.forEach(([, t], i) => weightData.set(toBuffer(t.data), offsets[i]));
        const modelJson = {
          modelTopology: { class_name: 'Sequential', config: { name: 'bench' } }, format: 'layers-model',
          generatedBy: 'tensorkeep bench', convertedBy: null, weightsManifest: [{ paths: ['weights.bin'], weights }],
        };
        const to = join(dir, String(step));
        return (async () => {
          await mkdir(to);
          await writeFile(join(to, 'model.json'), JSON.stringify(modelJson), 'utf8');
          await writeFile(join(to, 'weights.bin'), weightData);
          saved = to;
        })();
      },
      afterSave: () => files().forEach(fsyncFile),
      async load() {
        const manifest = JSON.parse(await readFile(join(saved, 'model.json'), 'utf8')) as { weightsManifest: Array<{ weights: Array<{ name: string }> }> };
        const data = await readFile(join(saved, 'weights.bin'));
        const byName = new Map(into);
        let offset = 0;
        for (const { name } of manifest.weightsManifest[0].weights) {
          const target = toBuffer(byName.get(name)!.data);
          data.copy(target, 0, offset, offset + target.length);
          offset += target.length;
        }
      },
      prune: () => keep(saved),
      bytesOnDisk: () => files().reduce((sum, f) => sum + statSync(f).size, 0),
      close() {},
    };
  },
};

/** The safetensors layout written as its reference writer does, made durable: tmp file, fsync, rename, fsync of the directory. */
const safetensorsStyle: Contender = {
  id: 'safetensors-style', label: 'safetensors-style: write + fsync + rename', kind: 'baseline', durable: true, verified: false, writes: true,
  limits: ['durable-write', 'page-cache-read'],
  start({ dir, tensors, into }) {
    let path = '';
    const keep = keepingNewest(dir);
    return {
      save(step) {
        path = join(dir, `${step}.safetensors`);
        writeSafetensorsSync(path, tensors);
      },
      load: () => void readSafetensorsSync(path, into),
      prune: () => keep(path),
      bytesOnDisk: () => statSync(path).size,
      close() {},
    };
  },
};

export const CONTENDERS: readonly Contender[] = [
  tensorkeep('raw', 1, 'copy'),
  tensorkeep('zstd', 1, 'copy'),
  tensorkeep('shuffle+zstd', 1, 'copy'),
  tensorkeep('shuffle+zstd', 3, 'copy'),
  tensorkeep('shuffle+zstd', 1, 'borrow'),
  naiveJson,
  tfjsStyle,
  safetensorsStyle,
  ...LIMIT_WAYS,
];

/** The default tensorkeep contender (codec and snapshot of a store opened without options). */
export const DEFAULT_TK = 'tk-shuffle-zstd-1';
export const BORROW_TK = 'tk-shuffle-zstd-1-borrow';

export function contender(id: string): Contender {
  const found = CONTENDERS.find((c) => c.id === id);
  if (!found) throw new Error(`unknown contender ${id}; one of ${CONTENDERS.map((c) => c.id).join(', ')}`);
  return found;
}
