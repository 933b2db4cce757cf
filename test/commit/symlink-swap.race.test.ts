import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { GROVE_BIN, tempDir } from '../helpers.js';
import { run } from '../interop/support.js';

/**
 * Committing a tree that someone else can write, while they change it: each file swapped for a
 * symlink to a secret outside the tree after the walk has seen it, or a directory swapped for a
 * symlink to a directory of secrets. The commit may fail (the tree changed under it) but must
 * never store a byte of the secret. Real processes: the attacker is a separate node process
 * flipping entries as fast as it can.
 */

const SECRET = 'SECRET-0123456789-do-not-commit';
const FILES = 200;

/** The attacker: flips every file (or directory `d`) between the real thing and a symlink to the secret. */
const ATTACKER = `
const fs = require('fs');
const [tree, secretFile, secretDir, what] = process.argv.slice(2);
let stop = false;
process.on('SIGTERM', () => { stop = true; });
// New entries are made beside the tree and renamed in, so the tree only ever holds its own names.
const side = tree + '.side';
fs.mkdirSync(side, { recursive: true });
const flipFile = (i) => {
  const p = tree + '/d/f' + i;
  try { fs.symlinkSync(secretFile, side + '/l'); fs.renameSync(side + '/l', p); } catch {}
  try { fs.writeFileSync(side + '/r', 'public ' + i + '\\n'); fs.renameSync(side + '/r', p); } catch {}
};
const flipDir = () => {
  const d = tree + '/d';
  try { fs.symlinkSync(secretDir, side + '/l'); fs.renameSync(d, side + '/real'); fs.renameSync(side + '/l', d); } catch {}
  try { fs.renameSync(d, side + '/gone'); fs.unlinkSync(side + '/gone'); fs.renameSync(side + '/real', d); } catch {}
};
process.stdout.write('ready\\n');
(function loop() {
  for (let k = 0; k < 200; k++) what === 'dir' ? flipDir() : flipFile((Math.random() * ${FILES}) | 0);
  if (!stop) setImmediate(loop); else process.exit(0);
})();
`;

describe('committing a tree that changes under the commit', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let secretFile: string;
  let secretDir: string;
  let attacker: string;

  before(async () => {
    tmp = await tempDir('grove-swap-');
    secretDir = path.join(tmp.dir, 'secrets');
    await fs.mkdir(secretDir);
    secretFile = path.join(secretDir, 'secret');
    await fs.writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
    // The directory of secrets holds files of the very names the tree's directory has.
    for (let i = 0; i < FILES; i++) await fs.writeFile(path.join(secretDir, `f${i}`), `${SECRET} ${i}\n`, { mode: 0o600 });
    attacker = path.join(tmp.dir, 'attacker.cjs');
    await fs.writeFile(attacker, ATTACKER);
  });
  after(async () => {
    await tmp?.cleanup();
  });

  /** Every byte of the repository's objects, searched for the secret. */
  const leaked = async (repo: string): Promise<string[]> => {
    const out: string[] = [];
    for (const d of await fs.readdir(path.join(repo, 'objects'))) {
      for (const f of await fs.readdir(path.join(repo, 'objects', d))) {
        const bytes = await fs.readFile(path.join(repo, 'objects', d, f));
        if (bytes.includes(SECRET)) out.push(`${d}/${f}`);
      }
    }
    return out;
  };

  for (const [what, trials] of [["file", 20], ["dir", 3]] as const) {
    it(`${what}s swapped for symlinks during ${trials} commits: no byte of the secret is stored`, async () => {
      let committed = 0;
      for (let t = 0; t < trials; t++) {
        const tree = path.join(tmp.dir, `tree-${what}-${t}`);
        await fs.mkdir(path.join(tree, 'd'), { recursive: true });
        for (let i = 0; i < FILES; i++) await fs.writeFile(path.join(tree, 'd', `f${i}`), `public ${i}\n`);
        // A tree that another user can write: the walk must not trust its paths.
        await fs.chmod(tree, 0o777);
        await fs.chmod(path.join(tree, 'd'), 0o777);
        const repo = path.join(tmp.dir, `repo-${what}-${t}`);
        assert.equal((await run(process.execPath, [GROVE_BIN, 'init', `--repo=${repo}`, '--mode=bare-user'])).code, 0);
        const child = spawn(process.execPath, [attacker, tree, secretFile, secretDir, what], { stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        const r = await run(process.execPath, [GROVE_BIN, 'commit', `--repo=${repo}`, '-b', 'main', '--no-xattrs', tree]);
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('close', resolve));
        if (r.code === 0) committed++;
        else {
          assert.equal(r.code, 1, r.stderr);
          assert.match(r.stderr, /^error: .* (was replaced|stopped being a symlink|disappeared|does not exist)/, r.stderr);
        }
        assert.deepEqual(await leaked(repo), [], `trial ${t}: the secret was committed`);
      }
      // Not an assertion: how often the tree held still long enough to commit.
      console.log(`# ${committed} of ${trials} commits completed while the ${what}s were being swapped`);
    });
  }
});
