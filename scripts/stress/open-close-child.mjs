// One process of the open/close check (scripts/stress/open-close.ts): opens
// a store of the built package (dist/, as users run it), saves one
// checkpoint, closes, and exits 0.
import { open } from '../../dist/index.js';

const store = await open(process.argv[2], { handleSignals: false });
const model = store.model('m');
await model.save({ w: new Float32Array(1024) }, { step: Number(process.argv[3] ?? 0) });
await store.close();
