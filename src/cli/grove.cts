#!/usr/bin/env node
/**
 * grove's bin. It runs the command line from its one-file bundle (dist/bundle/cli.cjs, which
 * src/cli/build/bundle.ts makes at build time) compiled with V8's code cache for it
 * (dist/bundle/cli.cache), or from the modules tsc wrote when there is no bundle, or in a git
 * checkout when the bundle is older than they are (a developer ran tsc alone). Outside a
 * checkout the times say nothing: npm unpacks a package's files in no particular order.
 *
 * Why: grove starts often (build farms script it, one verb a line), and on Node 20 most of a
 * short command's life went to loading and compiling its ES modules. Node 20 has no compile
 * cache of its own for them (module.enableCompileCache() came in 22.1); a vm.Script with V8's
 * cached data works on every version, and V8 itself refuses a cache made by another V8 or with
 * other flags, so a stale cache costs only the compilation it would have saved. Figures are in
 * the README (Performance, start-up).
 *
 * This file is CommonJS so that Node's ES module loader is never started for a short command.
 */
import fs = require('node:fs');
import path = require('node:path');
import vm = require('node:vm');
import nodeModule = require('node:module');
import url = require('node:url');

type Main = (argv: string[]) => Promise<number>;

/**
 * The files the bin runs: the bundle, its code cache, tsc's module, and the `.git` whose presence
 * says this is a developer's checkout (all from dist/src/cli/).
 */
export interface CliFiles { bundle: string; codeCache: string | null; modules: string; gitDir: string }
export const CLI_FILES: CliFiles = {
  bundle: path.join(__dirname, '../../bundle/cli.cjs'),
  codeCache: path.join(__dirname, '../../bundle/cli.cache'),
  modules: path.join(__dirname, 'main.js'),
  gitDir: path.join(__dirname, '../../../.git'),
};

export interface LoadedBundle {
  main: Main;
  /** The compiled bundle, whose createCachedData() the build's training run saves. */
  script: vm.Script;
  /** What V8 did with the code cache. */
  cache: 'accepted' | 'rejected' | 'absent';
}

function mtimeMs(file: string): number | null {
  try {
    return fs.statSync(file).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Compiles and runs the bundle (with the code cache when there is one) and returns its exports,
 * or null when there is no bundle, or in a checkout when it is older than the modules tsc wrote.
 */
export function loadBundle({ bundle, codeCache, modules, gitDir }: CliFiles = CLI_FILES): LoadedBundle | null {
  const built = mtimeMs(bundle);
  if (built === null) return null;
  const compiled = mtimeMs(modules);
  if (compiled !== null && compiled > built && mtimeMs(gitDir) !== null) return null;
  let cachedData: Buffer | undefined;
  try {
    if (codeCache !== null) cachedData = fs.readFileSync(codeCache);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const script = new vm.Script(nodeModule.wrap(fs.readFileSync(bundle, 'utf8')), { filename: bundle, ...(cachedData && { cachedData }) });
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  const module = { exports: {} as { main?: Main } };
  wrapper.call(module.exports, module.exports, nodeModule.createRequire(bundle), module, bundle, path.dirname(bundle));
  if (typeof module.exports.main !== 'function') throw new Error(`${bundle} does not export main(); rebuild grove (npm run build)`);
  return { main: module.exports.main, script, cache: cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted' };
}

/**
 * ostree ignores SIGPIPE and the failed writes after it: a reader that went away (`ostree ls -R
 * | head`) neither stops the command nor changes its status, so `commit … | true` still
 * commits. Node reports a failed write as an 'error' event, which unhandled ends the process
 * with a stack trace; here the stream just stops writing.
 */
function ignoreClosedReader(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stream.write = (() => true) as typeof stream.write;
  });
}

if (require.main === module) {
  ignoreClosedReader(process.stdout);
  ignoreClosedReader(process.stderr);
  const argv = process.argv.slice(2);
  const bundled = loadBundle();
  const run = bundled ? bundled.main(argv) : import(url.pathToFileURL(CLI_FILES.modules).href).then((m: { main: Main }) => m.main(argv));
  void run.then((code) => {
    process.exitCode = code;
  });
}
