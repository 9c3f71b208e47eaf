// The training child of the kill harness (scripts/stress/crash.ts). It opens
// the store at --dir, resumes models "a" and "b" from their newest checkpoint
// and trains until it is killed: random tensors (1 KiB .. --max-mb MiB per
// save, seeded by --seed, --run, the model and the step), random decreasing
// losses, the hybrid policy the parent passes as --policy (JSON).
//
// Every checkpoint whose `durable` has resolved is appended to the side log
// (--log) as one JSON line, fsync'd before anything else happens:
//   {model, seq, step, hash, loss, bestLoss}
// hash: contentHash() of the tensors that went into that seq (a coalesced
// ticket resolves to the newer checkpoint, so the hash is the one of the last
// tensors staged under that seq); bestLoss: the best loss the catalog lists
// at that moment (committed records only, never the in-memory tracker).
// Nothing is logged for a checkpoint that was not acknowledged.
//
// It also appends an episode record every other loop to the stream "ticks" (time =
// run * 1e6 + k for the k-th record of this run; random frame columns whose
// bits include NaN payloads and -0, strings, an int64 index, features), and
// logs {stream, id, time, hash} once its `durable` has resolved (hash:
// episodeHash of the record as appended).
//
// stdout: "ready <pid> a=<step> b=<step>" once both models are open and resumed.
import { fsyncSync, openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { open, type EpisodeRecord, type ModelCheckpoints, type PolicyOptions, type TensorDict } from '../../src/index.js';
import { contentHash, episodeHash } from './content-hash.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    log: { type: 'string' },
    seed: { type: 'string', default: '1' },
    run: { type: 'string', default: '0' },
    'max-mb': { type: 'string', default: '8' },
    policy: { type: 'string', default: '{}' },
    'episode-segment-bytes': { type: 'string', default: '262144' },
  },
});
if (!values.dir || !values.log) throw new Error('usage: crash-child.ts --dir <store> --log <side log> [--seed S] [--run i] [--max-mb M] [--policy JSON]');
const seed = Number(values.seed);
const run = Number(values.run);
const maxBytes = Math.max(1024, Math.floor(Number(values['max-mb']) * 1024 * 1024));
const policy = JSON.parse(values.policy!) as PolicyOptions;

/** mulberry32: small, fast, good enough for test data. */
function rng(...keys: number[]): () => number {
  let a = 0x9e3779b9;
  for (const k of keys) a = Math.imul(a ^ (k >>> 0), 0x85ebca6b) + 0x27d4eb2f;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 1 KiB .. maxBytes, log-uniform; fp32 weights rounded like bf16 (compressible), a few small tensors. */
function makeTensors(modelIndex: number, step: number): TensorDict {
  const r = rng(seed, run, modelIndex, step);
  const bytes = Math.floor(Math.exp(Math.log(1024) + r() * (Math.log(maxBytes) - Math.log(1024))));
  const n = Math.max(1, Math.floor((bytes - 1024) / 4));
  const w = new Float32Array(n);
  const u = new Uint32Array(w.buffer);
  let x = (r() * 0xffffffff) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    // Keep sign, exponent near 1.0 and 7 mantissa bits: bf16-like values.
    u[i] = (x & 0x8000_0000) | 0x3f00_0000 | ((x & 0x00ff) << 16);
  }
  const b = new Int32Array(64 + Math.floor(r() * 128));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 2 ** 31) - 2 ** 30;
  const h = new Float64Array([step, modelIndex, seed, run, r()]);
  const mask = new Uint8Array(1 + Math.floor(r() * 300));
  for (let i = 0; i < mask.length; i++) mask[i] = r() < 0.5 ? 1 : 0;
  return { w, b, h, mask };
}

/** The k-th episode record of this run: a few hundred random bytes in every shape the log stores. */
function makeEpisode(k: number): EpisodeRecord {
  const r = rng(seed, run, k, 11);
  const rows = 1 + Math.floor(r() * 16);
  const bits = new Uint32Array(rows * 2).map(() => (r() * 0x1_0000_0000) >>> 0); // any float64 bits: NaNs, -0, subnormals
  return {
    time: run * 1e6 + k, model: k % 2 ? 'a' : 'b', episode: Math.floor(k / 50), step: k, action: r() < 0.5 ? 'buy' : 'sell',
    reward: k % 7 === 0 ? -0 : r() - 0.5, context: { regime: r() < 0.3 ? 'calm' : 'volatile' },
    frame: {
      columns: { raw: new Float64Array(bits.buffer), price: Float64Array.from({ length: rows }, () => 100 + r()), side: Array.from({ length: rows }, (_, i) => `s${k}-${i}`) },
      index: BigInt64Array.from({ length: rows }, (_, i) => BigInt(run * 1e6 + k) * 1000n + BigInt(i)),
    },
    features: { obs: Float32Array.from({ length: 32 }, () => r() * 2 - 1), mask: { dtype: 'bool', shape: [8], data: Uint8Array.from({ length: 8 }, () => (r() < 0.5 ? 1 : 0)) } },
  };
}

const sideLog = openSync(values.log, 'a');
function acknowledge(entry: object): void {
  writeSync(sideLog, JSON.stringify(entry) + '\n');
  fsyncSync(sideLog);
}

const store = await open(values.dir, { ...policy, logger: { debug() {}, info() {}, warn() {}, error() {} } });
store.on('error', (err: Error) => process.stderr.write(`store error: ${err.message}\n`));

interface Trainer {
  name: string;
  index: number;
  model: ModelCheckpoints;
  step: number;
  /** What was staged under each seq not yet acknowledged (the last one, after coalescing). */
  staged: Map<number, { step: number; hash: string; loss: number }>;
  logged: Set<number>;
}

const trainers: Trainer[] = [];
for (const [index, name] of ['a', 'b'].entries()) {
  const model = store.model(name);
  const resumed = await model.resume();
  // Continue after the resumed step: the policy rejects steps going backwards
  // behind the resumed one, and a fresh model starts at 0.
  const step = resumed ? resumed.step + 1 : 0;
  trainers.push({ name, index, model, step, staged: new Map(), logged: new Set() });
}
const ticks = store.episodes('ticks', { segmentBytes: Number(values['episode-segment-bytes']) });
let episodeCount = 0;
function appendEpisode(): void {
  const record = makeEpisode(episodeCount++);
  const hash = episodeHash(record);
  const { id, durable } = ticks.append(record);
  durable.then(
    () => acknowledge({ stream: 'ticks', id, time: record.time, hash }),
    (err: Error) => process.stderr.write(`child: episode commit failed: ${err.message}\n`),
  );
}

process.stdout.write(`ready ${process.pid} ${trainers.map((t) => `${t.name}=${t.step}`).join(' ')}\n`);

function loss(t: Trainer): number {
  const r = rng(seed, run, t.index, t.step, 7);
  return (5 / (1 + t.step / 50)) * (0.7 + 0.6 * r());
}

// One "training step" of both models per millisecond or so: saves are
// requested faster than an 8 MiB file reaches the disk, so coalescing and the
// queue behind a running save are exercised too.
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));
for (let loop = 0; ; loop++) {
  if (loop % 2 === 0) appendEpisode(); // every other loop: the checkpoint saves stay about as frequent as before
  for (const t of trainers) {
    const step = t.step++;
    const metricsLoss = loss(t);
    const made: { tensors?: TensorDict } = {};
    const ticket = t.model.report({
      step,
      metrics: { loss: metricsLoss },
      tensors: () => (made.tensors = makeTensors(t.index, step)),
    });
    if (!ticket.saved || ticket.seq === undefined || !made.tensors) continue;
    t.staged.set(ticket.seq, { step, hash: contentHash(made.tensors), loss: metricsLoss });
    ticket.durable.then(
      (info) => {
        if (!info || info.seq === null || t.logged.has(info.seq)) return;
        const staged = t.staged.get(info.seq);
        if (!staged || staged.step !== info.step) {
          process.stderr.write(`child: seq ${info.seq} acknowledged at step ${info.step} but staged ${JSON.stringify(staged)}\n`);
          process.exit(3);
        }
        t.logged.add(info.seq);
        t.staged.delete(info.seq);
        acknowledge({ model: t.name, seq: info.seq, step: info.step, hash: staged.hash, loss: staged.loss, bestLoss: t.model.best()?.metrics.loss ?? null });
      },
      (err: Error) => process.stderr.write(`child: save failed: ${err.message}\n`),
    );
  }
  await tick();
}
