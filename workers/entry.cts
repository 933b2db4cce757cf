/**
 * What Piscina loads in each worker thread. Piscina first tries require() on its filename, and
 * on Node 20.19+ require() of an ES module goes through require(esm), which crashed the process
 * now and then in this project's test runs (V8 FATAL "Module::IsGraphAsync must be used on an
 * instantiated module", from loadESMFromCJS). This file is CommonJS, so require() is the plain
 * CommonJS path, and the real worker module is loaded once with import().
 */
type Run = (task: unknown) => Promise<unknown>;

// Loading starts as the thread starts, while the main thread is still preparing the first task.
const loaded: Promise<Run> = import('./grove-worker.js').then((m) => m.default as Run);

async function runTask(task: unknown): Promise<unknown> {
  return (await loaded)(task);
}

export = runTask;
