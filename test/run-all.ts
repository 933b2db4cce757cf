import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm test`: runs every compiled `*.test.js` under dist/test with node's test runner. The files
 * are listed explicitly because Node 20 does not expand globs and newer Nodes treat a directory
 * argument differently; an explicit list means the same on every version.
 *
 * Two passes. Most files run three at once on two cores: they wait on child processes and the
 * disk more than they compute (the whole suite used 1.65 of the 2 cores with two at once; 650 s
 * with two, 545 s with three, 2-core EPYC, 2026-12-02). Files named `*.timed.test.js` assert
 * wall-clock windows of a second or so (a transfer that must not be cut by a 1 s low-speed
 * limit); starved of CPU by three neighbours, one failed on a clean-clone CI run, so they run
 * afterwards, two at once, as the whole suite used to.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const files = (fs.readdirSync(here, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => path.join(here, f))
  .sort();
const isTimed = (f: string) => f.endsWith('.timed.test.js');
const timed = files.filter(isTimed);
const rest = files.filter((f) => !isTimed(f));
const concurrency = process.env['GROVE_TEST_CONCURRENCY'] ?? '3';

function run(list: string[], n: string): number {
  if (list.length === 0) return 0;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${n}`, ...process.argv.slice(2), ...list], { stdio: 'inherit' });
  return r.status ?? 1;
}

const first = run(rest, concurrency);
const second = run(timed, process.env['GROVE_TEST_CONCURRENCY'] ?? '2');
process.exitCode = first !== 0 ? first : second;
