// Small tfjs models with many layer types, built with seeded initializers so
// that two processes build the same weights. Recurrent layers get glorot, not
// their default orthogonal initializer: that one calls chained tensor methods
// (t.flatten()), which only the @tensorflow/tfjs union package registers.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';

/** The CPU backend, quiet (prod mode skips the "install tfjs-node" banner and debug checks). */
export async function useCpu(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('cpu');
}

const init = (seed: number) => tfl.initializers.glorotUniform({ seed });

/** Sequential: conv1d, batch norm (non-trainable moving stats), pooling, GRU, dropout, dense. */
export function sequentialModel(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.conv1d({ inputShape: [12, 2], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.batchNormalization(),
      tfl.layers.maxPooling1d({ poolSize: 2 }),
      tfl.layers.gru({ units: 5, kernelInitializer: init(2), recurrentInitializer: init(3) }),
      tfl.layers.dropout({ rate: 0.2 }),
      tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
}

/** Functional: an embedding + LSTM branch and a dense branch, concatenated, layer-normalized. */
export function functionalModel(): tfl.LayersModel {
  const tokens = tfl.input({ shape: [6], name: 'tokens' });
  const features = tfl.input({ shape: [4], name: 'features' });
  const embedded = tfl.layers.embedding({ inputDim: 10, outputDim: 3, embeddingsInitializer: tfl.initializers.randomUniform({ minval: -1, maxval: 1, seed: 5 }) }).apply(tokens) as tfl.SymbolicTensor;
  const sequence = tfl.layers.lstm({ units: 4, kernelInitializer: init(6), recurrentInitializer: init(7) }).apply(embedded) as tfl.SymbolicTensor;
  const dense = tfl.layers.dense({ units: 4, activation: 'tanh', kernelInitializer: init(8) }).apply(features) as tfl.SymbolicTensor;
  const joined = tfl.layers.concatenate().apply([sequence, dense]) as tfl.SymbolicTensor;
  const normed = tfl.layers.layerNormalization().apply(joined) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: init(9) }).apply(normed) as tfl.SymbolicTensor;
  return tfl.model({ inputs: [tokens, features], outputs: out });
}
