// Deterministic, seeded tensor sets for benchmarks. The same (name, seed,
// scale) always yields the same bytes, whatever order tensors are built in.
import type { Tensor } from '../src/file/tensors.js';

/** An ordered set of named tensors; also a TensorInput as it stands. */
export interface Workload {
  name: string;
  tensors: Array<[string, Tensor]>;
  /** Elements over all tensors. */
  elements: number;
  /** Raw bytes over all tensors. */
  bytes: number;
}

export type Rand = () => number;

/** sfc32: fast, 32-bit state words, good enough statistics for test data. Uniform in [0, 1). */
export function sfc32(seed: number): Rand {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** FNV-1a of the name, mixed with the seed: each tensor has its own stream. */
function seedOf(name: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface Draw {
  std: number;
  mean?: number;
  /** Fraction of elements drawn `tailScale` times wider: the heavy tails of trained weights. */
  tailFraction?: number;
  tailScale?: number;
  /** Store the square of the draw (Adam's second moment). */
  square?: boolean;
}

/** Normal draws by Marsaglia's polar method (Box-Muller without the trigonometry). */
export function fillNormal(out: Float32Array, rand: Rand, { std, mean = 0, tailFraction = 0.01, tailScale = 10, square = false }: Draw): void {
  const n = out.length;
  const wide = std * tailScale;
  for (let i = 0; i < n; i += 2) {
    let u: number, v: number, s: number;
    do {
      u = 2 * rand() - 1;
      v = 2 * rand() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    // One more draw picks the tails of both values: the first below tailFraction, the second above 1 - tailFraction.
    const t = rand();
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    const x = u * f * (t < tailFraction ? wide : std);
    const y = v * f * (t >= 1 - tailFraction ? wide : std);
    out[i] = square ? x * x : mean + x;
    if (i + 1 < n) out[i + 1] = square ? y * y : mean + y;
  }
}

/** Rows of the first dimension kept at `scale` (at least one), so every tensor shrinks. */
function scaled(shape: number[], scale: number): number[] {
  return [Math.max(1, Math.round(shape[0] * scale)), ...shape.slice(1)];
}

function build(name: string, specs: Array<[string, number[], Draw]>, seed: number, scale: number): Workload {
  if (!(scale > 0 && scale <= 1)) throw new RangeError(`scale must be in (0, 1], got ${scale}`);
  const tensors: Array<[string, Tensor]> = [];
  let elements = 0;
  for (const [tensorName, fullShape, draw] of specs) {
    const shape = scaled(fullShape, scale);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    fillNormal(data, sfc32(seedOf(tensorName, seed)), draw);
    tensors.push([tensorName, { dtype: 'float32', shape, data }]);
    elements += data.length;
  }
  return { name: scale === 1 ? name : `${name} x${scale}`, tensors, elements, bytes: elements * 4 };
}

/** GPT-like dimensions: 45.8 M parameters at scale 1. */
export const TRANSFORMER = { vocab: 32000, context: 2048, dModel: 512, layers: 9, mlp: 4 } as const;

/**
 * A GPT-like model (token and position embeddings, 9 blocks of attention and
 * MLP with layer norms, a final layer norm; 45.8 M fp32 parameters) plus
 * Adam's m and v for every parameter: 336 tensors, 550 MB at scale 1.
 * Weights are normal with std 0.02 (residual projections scaled by
 * 1/sqrt(2 layers), as in GPT-2) and 1 % of values 10x wider; layer-norm
 * gains sit near 1; m is a narrower normal; v is the square of one.
 */
export function transformerAdam(scale = 1, seed = 1): Workload {
  const { vocab, context, dModel: d, layers, mlp } = TRANSFORMER;
  const weight: Draw = { std: 0.02 };
  const residual: Draw = { std: 0.02 / Math.sqrt(2 * layers) };
  const bias: Draw = { std: 0.01 };
  const gain: Draw = { std: 0.05, mean: 1 };
  const params: Array<[string, number[], Draw]> = [['wte', [vocab, d], weight], ['wpe', [context, d], { std: 0.01 }]];
  const norm = (prefix: string) =>
    params.push([`${prefix}/g`, [d], gain], [`${prefix}/b`, [d], bias]);
  for (let l = 0; l < layers; l++) {
    const h = `h.${l}`;
    norm(`${h}/ln_1`);
    params.push(
      [`${h}/attn/c_attn/w`, [d, 3 * d], weight], [`${h}/attn/c_attn/b`, [3 * d], bias],
      [`${h}/attn/c_proj/w`, [d, d], residual], [`${h}/attn/c_proj/b`, [d], bias],
    );
    norm(`${h}/ln_2`);
    params.push(
      [`${h}/mlp/c_fc/w`, [d, mlp * d], weight], [`${h}/mlp/c_fc/b`, [mlp * d], bias],
      [`${h}/mlp/c_proj/w`, [mlp * d, d], residual], [`${h}/mlp/c_proj/b`, [d], bias],
    );
  }
  norm('ln_f');
  const specs: Array<[string, number[], Draw]> = [
    ...params.map(([n, shape, draw]): [string, number[], Draw] => [`model/${n}`, shape, draw]),
    ...params.map(([n, shape]): [string, number[], Draw] => [`adam/m/${n}`, shape, { std: 1e-4 }]),
    ...params.map(([n, shape]): [string, number[], Draw] => [`adam/v/${n}`, shape, { std: 3e-4, square: true }]),
  ];
  return build('transformer-46m+adam', specs, seed, scale);
}

/**
 * A CNN with ResNet-18's conv and dense kernels (conv1 7x7, four stages of
 * two basic blocks, 1x1 downsampling, a 1000-way classifier) and batch-norm
 * gains, biases and running statistics: 11.7 M fp32 values, 46.8 MB at scale 1.
 */
export function cnn12m(scale = 1, seed = 1): Workload {
  const kernel: Draw = { std: 0.02 };
  const specs: Array<[string, number[], Draw]> = [];
  const conv = (name: string, out: number, inC: number, k: number) => {
    specs.push(
      [`${name}/w`, [out, inC, k, k], kernel],
      [`${name}/bn/g`, [out], { std: 0.05, mean: 1 }], [`${name}/bn/b`, [out], { std: 0.01 }],
      [`${name}/bn/mean`, [out], { std: 0.05 }], [`${name}/bn/var`, [out], { std: 0.1, mean: 1 }],
    );
  };
  conv('conv1', 64, 3, 7);
  let channels = 64;
  for (const [stage, width] of [64, 128, 256, 512].entries()) {
    for (let block = 0; block < 2; block++) {
      const name = `layer${stage + 1}.${block}`;
      conv(`${name}/conv1`, width, block === 0 ? channels : width, 3);
      conv(`${name}/conv2`, width, width, 3);
      if (block === 0 && width !== channels) conv(`${name}/downsample`, width, channels, 1);
    }
    channels = width;
  }
  specs.push(['fc/w', [1000, 512], kernel], ['fc/b', [1000], { std: 0.01 }]);
  return build('cnn-12m', specs, seed, scale);
}

/** A DQN's online network (128 inputs, two hidden layers of 256, 18 actions): 103 k fp32 values, 414 KB at scale 1. */
export function dqn100k(scale = 1, seed = 1): Workload {
  const layers: Array<[string, number, number]> = [['fc1', 256, 128], ['fc2', 256, 256], ['q', 18, 256]];
  return build('dqn-100k', layers.flatMap(([name, out, inputs]): Array<[string, number[], Draw]> => [
    [`${name}/w`, [out, inputs], { std: 0.02 }], [`${name}/b`, [out], { std: 0.01 }],
  ]), seed, scale);
}

/** The benchmark workloads by name, largest first. */
export const WORKLOADS = {
  'transformer-46m+adam': transformerAdam,
  'cnn-12m': cnn12m,
  'dqn-100k': dqn100k,
} as const satisfies Record<string, (scale?: number, seed?: number) => Workload>;
export type WorkloadName = keyof typeof WORKLOADS;

/**
 * The same tensors with every fp32 value rounded to bfloat16 precision
 * (round to nearest, ties to even; the low 16 bits zeroed), as a model
 * trained in bf16 and kept in fp32 arrays would be. New arrays; the input is untouched.
 */
export function roundToBf16(workload: Workload): Workload {
  const tensors = workload.tensors.map(([name, t]): [string, Tensor] => {
    const src = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
    const out = new Uint32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const u = src[i];
      out[i] = (u & 0x7f800000) === 0x7f800000
        ? (u & 0xffff0000) | ((u & 0xffff) !== 0 ? 0x400000 : 0) // Inf stays Inf, NaN stays (quiet) NaN
        : (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
    }
    return [name, { ...t, shape: [...t.shape], data: new Float32Array(out.buffer) }];
  });
  return { ...workload, name: `${workload.name} bf16`, tensors };
}
