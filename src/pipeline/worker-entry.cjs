// The file Piscina loads in each worker thread. CommonJS on purpose: Piscina
// require()s its worker file, and require() of an ES module takes Node's
// require(esm) path, which can abort the whole process ("v8::Module::
// IsGraphAsync must be used on an instantiated module") when a store is
// opened and closed quickly under load. The worker module itself is loaded
// with import(). From the TypeScript sources (tests, tsx) tsx is registered
// first: a worker thread does not inherit its parent's loader. The thread
// lowers its own priority before its first task (worker.ts, setUp).
'use strict';
const { workerData } = require('node:worker_threads');

const handler = (async () => {
  if (workerData.fromSource) (await import('tsx/esm/api')).register();
  const worker = await import(workerData.module);
  worker.setUp(workerData);
  return worker.default;
})();

module.exports = async function run(task) {
  return (await handler)(task);
};
