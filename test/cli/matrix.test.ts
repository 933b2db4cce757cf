import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { captureOstree, CAPTURE_FILE } from '../../fixtures/cli-matrix/capture.js';
import { BEGIN, END, README, renderMatrix, withMatrix } from '../../fixtures/cli-matrix/generate.js';
import { needsOstree } from '../helpers.js';

/**
 * The README's compatibility matrix is generated (fixtures/cli-matrix/generate.ts) from ostree's
 * help and grove's option tables; it must be regenerated whenever either changes.
 */
describe('the command-line compatibility matrix', () => {
  it('the README holds the matrix generate.ts makes from grove\'s option tables', async () => {
    const readme = fs.readFileSync(README, 'utf8');
    assert.ok(readme.includes(BEGIN) && readme.includes(END), 'README.md has the matrix section');
    assert.equal(readme, withMatrix(readme, await renderMatrix()),
      'README.md is stale: run `node dist/fixtures/cli-matrix/generate.js --write` after `npm run build`');
  });

  it('its ostree input is what the installed ostree prints', needsOstree(), () => {
    assert.deepEqual(captureOstree(), JSON.parse(fs.readFileSync(CAPTURE_FILE, 'utf8')),
      'fixtures/cli-matrix/ostree-2022.7.json is stale: run `node dist/fixtures/cli-matrix/capture.js --write`');
  });

  it('ostree\'s verbs and grove\'s have rows (a family grove lacks altogether has one)', async () => {
    const matrix = await renderMatrix();
    for (const v of ['commit', 'admin status', 'remote add', 'remote add-cookie', 'static-delta', 'serve']) {
      assert.match(matrix, new RegExp(`^\\| \`${v}\` \\|`, 'm'), v);
    }
  });
});
