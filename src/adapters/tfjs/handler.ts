// tf.io.IOHandler over a ModelCheckpoints, and the `tensorkeep://` URL scheme.
import { io } from '@tensorflow/tfjs-core';
import { CheckpointError, type Category, type CheckpointManager, type Metrics, type ModelCheckpoints } from '../../index.js';
import { fromArtifacts, toArtifacts } from './artifacts.js';

export interface HandlerOptions {
  /** The checkpoint load() reads: 'latest' (default), 'best' or a seq number. */
  checkpoint?: 'latest' | 'best' | number;
  /** Step recorded by save(); default: the model's last reported step (0 for none). */
  step?: number;
  epoch?: number;
  metrics?: Metrics;
  /** Category of the saved checkpoint (default 'manual'). */
  category?: Category;
}

/**
 * `model.save(tfjsHandler(ckpts, { step }), { includeOptimizer: true })`
 * stores every weight (and the optimizer's) as a named tensor; `await
 * tf.loadLayersModel(tfjsHandler(ckpts))` rebuilds the model, optimizer
 * state included. save() resolves once the checkpoint is durable.
 */
export function tfjsHandler(ckpts: ModelCheckpoints, options: HandlerOptions = {}): io.IOHandler {
  const { checkpoint = 'latest', step, epoch, metrics, category } = options;
  return {
    save: async (artifacts) => {
      const { tensors, meta } = fromArtifacts(artifacts);
      // Borrowed: model.save() built weightData for this call alone, and the
      // promise it awaits settles only once the checkpoint is durable.
      const info = await ckpts.save(tensors, { step: step ?? ckpts.stats().lastStep ?? 0, epoch, metrics, meta, category, snapshot: 'borrow' });
      return { modelArtifactsInfo: { ...io.getModelArtifactsInfoForJSON(artifacts), dateSaved: new Date(info.created) } };
    },
    load: async () => toArtifacts(await ckpts.load(checkpoint)),
  };
}

const SCHEME = 'tensorkeep://';
// tensorkeep://<model>[/latest|/best|/<seq>][?step=N&epoch=N]
const URL_PATTERN = /^tensorkeep:\/\/([^/?#]+)(?:\/(latest|best|\d+))?(?:\?([^#]*))?$/;

function integerParam(params: URLSearchParams, name: string, url: string): number | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw)) throw new CheckpointError('E_BAD_INPUT', `Expected non-negative integer for ${name} in ${url} but received ${JSON.stringify(raw)}`);
  return Number(raw);
}

function handlerFor(store: CheckpointManager, url: string): io.IOHandler {
  const match = URL_PATTERN.exec(url);
  if (!match) throw new CheckpointError('E_BAD_INPUT', `Expected ${SCHEME}<model>[/latest|/best|/<seq>][?step=N&epoch=N] but received ${JSON.stringify(url)}`);
  const [, model, which, query] = match;
  const params = new URLSearchParams(query ?? '');
  return tfjsHandler(store.model(decodeURIComponent(model)), {
    checkpoint: which === undefined || which === 'latest' || which === 'best' ? which : Number(which),
    step: integerParam(params, 'step', url),
    epoch: integerParam(params, 'epoch', url),
  });
}

// tfjs keeps routers forever: they are registered once and route to the current store.
let routed: CheckpointManager | null = null;
let registered = false;

function route(url: string | string[]): io.IOHandler | null {
  if (typeof url !== 'string' || !url.startsWith(SCHEME) || !routed) return null;
  return handlerFor(routed, url);
}

/**
 * Makes `model.save('tensorkeep://dqn')` and `tf.loadLayersModel('tensorkeep://dqn/best')`
 * use `store`. Returns a function that unregisters it.
 */
export function registerTensorkeepRouter(store: CheckpointManager): () => void {
  routed = store;
  if (!registered) {
    // Routers answer null for URLs that are not theirs (as tfjs's own do); the typings say IOHandler.
    const router = route as (url: string | string[]) => io.IOHandler;
    io.registerSaveRouter(router);
    io.registerLoadRouter(router);
    registered = true;
  }
  return () => {
    if (routed === store) routed = null;
  };
}
