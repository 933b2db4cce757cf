import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { generateKeyPair } from '../../src/sign/ed25519.js';
import { groveOk, haveOstree, needsOstree, tempDir } from '../helpers.js';
import { same } from './compare.js';
import { commitBoth, initRepos } from './support.js';

/**
 * `sign -d/--delete`: ostree 2022.7 parses it and never reads it (the command signs as without
 * it), and its checks come in a fixed order with fixed words. The Debian ostree here has no
 * ed25519 backend ("Requested signature type is not implemented"), so a successful signing is
 * compared with grove's own signing without the flag.
 */
describe('sign --delete and sign failures match ostree', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let repos = { g: '', o: '' };
  let commit = '';

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-sign-opts-'));
    const tree = path.join(dir, 'tree');
    await buildTree(tree, [{ path: 'f', type: 'file', content: 'signed\n' }]);
    repos = initRepos(dir, 'archive');
    commit = (await commitBoth(repos, ['-b', 'main', '--timestamp=@1600000000', tree])).o;
  });

  after(async () => {
    await cleanup();
  });

  test('failures: unknown rev, unknown signature type, with and without --delete', async () => {
    const { secret } = generateKeyPair();
    await same(['sign', 'no/such', secret], repos.o, repos.g, { fails: true });
    await same(['sign', '--delete', 'no/such', secret], repos.o, repos.g, { fails: true });
    await same(['sign', '--sign-type=rsa', 'main', secret], repos.o, repos.g, { fails: true });
    await same(['sign', '-d', '-s', 'rsa', 'main', secret], repos.o, repos.g, { fails: true });
  });

  test('--delete signs, as ostree does', async () => {
    const { secret, public: pub } = generateKeyPair();
    const a = path.join(dir, 'a');
    await fs.cp(repos.g, a, { recursive: true });
    groveOk(['sign', `--repo=${repos.g}`, '--delete', 'main', secret]);
    groveOk(['sign', `--repo=${a}`, 'main', secret]);
    const meta = (r: string) => fs.readFile(path.join(r, 'objects', commit.slice(0, 2), `${commit.slice(2)}.commitmeta`));
    assert.ok((await meta(repos.g)).equals(await meta(a)), 'sign --delete wrote what sign writes');
    assert.match(groveOk(['sign', `--repo=${repos.g}`, '--verify', 'main', pub]), /^Signature verified successfully with key/);
  });
});
