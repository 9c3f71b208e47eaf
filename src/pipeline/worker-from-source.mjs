// The worker entry when tensorkeep runs from its TypeScript sources (tests,
// tsx): a worker thread does not inherit the parent's loader, so it
// registers tsx itself. Built packages load dist/worker.js directly.
import { register } from 'tsx/esm/api';

register();
const { default: run } = await import('./worker.ts');
export default run;
