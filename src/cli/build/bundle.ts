/**
 * The build's last step (`npm run build` runs it after tsc): packs the command line and the
 * workers' code into one CommonJS file each in dist/bundle/, then has train-code-cache.ts run
 * the command line's bundle through common verbs and keep V8's code cache of it. The bin
 * (src/cli/grove.cts) loads them. This runs only at build time: esbuild is a development
 * dependency, and grove still runs from tsc's modules without these files.
 *
 * What was measured before choosing this (2-core Xeon VM, Node 20.20, medians of 21 interleaved
 * runs, `node -e 0` 61 ms; README, Performance, has the bench's figures):
 * - tsc's ES modules: `refs` 101 ms, `rev-parse` 99 ms, `--version` 80 ms.
 * - this CommonJS bundle without a code cache: `rev-parse` 94 ms; with the cache 78 ms (a cache
 *   made from compiling alone, without the training run, 84 ms).
 * - an ES module bundle split by verb: no faster than tsc's modules.
 * - a V8 start-up snapshot of the bundle (`node --build-snapshot`): about as fast as the code
 *   cache, but the 7 MB blob works only with the node binary that made it, needs a shell
 *   wrapper to pass `--snapshot-blob`, and commander's child_process cannot be in a snapshot.
 *
 * The workers' bundle is CommonJS too: Piscina require()s a thread's entry, and require() of an
 * ES module crashed now and then on Node 20.19+ (see workers/entry.cts). Packages with native
 * code (lmdb, lzma-native, @napi-rs/xattr) and piscina, which starts threads from a file of its
 * own, stay outside and load from node_modules.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const out = path.join(dist, 'bundle');
const external = ['lmdb', 'lzma-native', '@napi-rs/xattr', 'piscina'];

fs.rmSync(out, { recursive: true, force: true });
const commonjs = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external,
  // CommonJS has no import.meta: the modules' `createRequire(import.meta.url)` and the like get
  // the bundle's URL instead.
  banner: { js: 'const importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': 'importMetaUrl', GROVE_BUNDLE: 'true' },
  logLevel: 'warning',
} as const;
await build({ ...commonjs, entryPoints: [path.join(dist, 'workers/grove-worker.js')], outfile: path.join(out, 'worker.cjs') });
await build({ ...commonjs, entryPoints: [path.join(dist, 'src/cli/main.js')], outfile: path.join(out, 'cli.cjs') });

const training = spawnSync(process.execPath, [path.join(dist, 'src/cli/build/train-code-cache.js')], { stdio: ['ignore', 'ignore', 'inherit'] });
if (training.status !== 0) throw new Error(`the code cache's training run failed (status ${training.status ?? training.signal})`);
