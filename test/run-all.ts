import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm test`: runs every compiled `*.test.js` under dist/test with node's test runner. The files
 * are listed explicitly because Node 20 does not expand globs and newer Nodes treat a directory
 * argument differently; an explicit list means the same on every version.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const files = (fs.readdirSync(here, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => path.join(here, f))
  .sort();
const concurrency = process.env['GROVE_TEST_CONCURRENCY'] ?? '2';
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...process.argv.slice(2), ...files], { stdio: 'inherit' });
process.exitCode = r.status ?? 1;
