import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { generateKeyPair } from '../../src/sign/ed25519.js';
import { groveOk, haveOstree, needsOstree, tempDir } from '../helpers.js';
import { assertSameSummary, same } from './compare.js';
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
    assert.equal(groveOk(['sign', `--repo=${repos.g}`, '--verify', 'main', pub]), `ed25519: Signature verified successfully with key '${Buffer.from(pub, 'base64').toString('hex')}'\n`);
  });

  test('ostree\'s test engine dummy: sign, commit --sign and summary --sign write ostree\'s bytes; --verify says what ostree says', async () => {
    process.env['OSTREE_DUMMY_SIGN_ENABLED'] = '1';
    try {
      const twins = { g: path.join(dir, 'dg'), o: path.join(dir, 'do') };
      for (const r of Object.values(twins)) await fs.cp(repos.o, r, { recursive: true });
      const meta = (r: string, c: string) => fs.readFile(path.join(r, 'objects', c.slice(0, 2), `${c.slice(2)}.commitmeta`));
      await same(['sign', '--sign-type=dummy', 'main', 'first-key', 'second-key'], twins.o, twins.g, { fails: false });
      assert.ok((await meta(twins.g, commit)).equals(await meta(twins.o, commit)), 'sign: the detached metadata differs');
      for (const key of ['second-key', 'third-key']) await same(['sign', '--sign-type=dummy', '--verify', 'main', key], twins.o, twins.g);
      await same(['sign', '--sign-type=dummy', '--verify', 'main'], twins.o, twins.g, { fails: true });
      const tree = path.join(dir, 'tree');
      const c = await same(['commit', '-b', 'signed', '--timestamp=@1600000100', '--sign-type=dummy', '--sign=commit-key', tree], twins.o, twins.g, { fails: false });
      const made = c.o.stdout.toString().trim();
      assert.ok((await meta(twins.g, made)).equals(await meta(twins.o, made)), 'commit --sign: the detached metadata differs');
      await same(['summary', '-u', '--sign-type=dummy', '--sign=summary-key'], twins.o, twins.g, { fails: false });
      await assertSameSummary(twins.g, twins.o);
      // A dummy signature is its key's text, whatever the summary's last-modified time.
      assert.ok((await fs.readFile(path.join(twins.g, 'summary.sig'))).equals(await fs.readFile(path.join(twins.o, 'summary.sig'))), 'summary --sign: summary.sig differs');
      await same(['commit', '-b', 'x', '--sign-type=bogus', '--sign=k', tree], twins.o, twins.g, { fails: true });
    } finally {
      delete process.env['OSTREE_DUMMY_SIGN_ENABLED'];
    }
    // Without the variable, as in ostree, the engine refuses to sign.
    await same(['sign', '--sign-type=dummy', 'main', 'k'], repos.o, repos.g, { fails: true });
  });
});
