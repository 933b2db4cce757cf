import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { listFiles, needsOstree, ostree, tempDir } from '../helpers.js';
import { groveAsync as groveOk, groveRun as grove, run } from '../interop/support.js';
import { generateKeyPair } from '../../src/sign/ed25519.js';
import { startRepoServer, type TestServer } from './repo-server.js';

/**
 * Ref bindings, which ostree 2022.7's pull verifies: a commit made with `-b testing` and served
 * as `stable` is refused, even when it is correctly signed (signatures say who made a commit,
 * bindings say for which branch), over HTTP, from a file:// remote and by pull-local; nothing of
 * it is kept and no ref moves. `--disable-verify-bindings` accepts it. A commit without bindings,
 * one asked for by checksum and the parents reached with --depth are not checked.
 */

/** A passphrase-less GPG key in its own homedir: its fingerprint and its public key file. */
function makeGpgKey(home: string): { id: string; pub: string } {
  const gpg = (args: string[]) => {
    const r = spawnSync('gpg', ['--batch', '--homedir', home, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', 'builder <builder@grove.test>', 'ed25519', 'sign', 'never']);
  const id = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-keys']))![1]!;
  const pub = path.join(home, 'builder.asc');
  gpg(['--armor', '--output', pub, '--export', id]);
  return { id, pub };
}

const objectPath = (repo: string, csum: string, type: string) => path.join(repo, 'objects', csum.slice(0, 2), `${csum.slice(2)}.${type}`);

describe('ref bindings', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let gpgHome: string;
  let key: { id: string; pub: string };
  let src: string;
  let server: TestServer;
  /** The commit made for testing (and beta), that refs/heads/stable points at too. */
  let testing: string;
  let n = 0;

  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    await fs.mkdir(path.join(tree, 'etc'), { recursive: true });
    await fs.writeFile(path.join(tree, 'etc/os-release'), 'ID=grove\n');
    gpgHome = path.join(tmp.dir, 'gnupg');
    await fs.mkdir(gpgHome, { mode: 0o700 });
    key = makeGpgKey(gpgHome);
    src = path.join(tmp.dir, 'src');
    const sign = [`--gpg-sign=${key.id}`, `--gpg-homedir=${gpgHome}`];
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    testing = ostree(['commit', `--repo=${src}`, '-b', 'testing', '--bind-ref=beta', ...sign, `--tree=dir=${tree}`, '-s', 'for testing']).stdout.trim();
    ostree(['refs', `--repo=${src}`, '--create=stable', 'testing']);
    ostree(['commit', `--repo=${src}`, '-b', 'nobind', '--no-bindings', ...sign, `--tree=dir=${tree}`, '-s', 'unbound']);
    // Bound to its own ref, its parent to another: --depth reaches the parent with no ref asked.
    ostree(['commit', `--repo=${src}`, '-b', 'child', `--parent=${testing}`, ...sign, `--tree=dir=${tree}`, '-s', 'child']);
    ostree(['summary', `--repo=${src}`, '-u']);
    server = await startRepoServer(src);
  });
  after(async () => {
    await server?.close();
    spawnSync('gpgconf', ['--homedir', gpgHome, '--kill', 'gpg-agent']);
    await tmp?.cleanup();
  });

  /** What ostree prints (one line), and that it exits 1. */
  async function ostreeRefuses(args: string[]): Promise<string> {
    const r = await run('ostree', args);
    assert.equal(r.code, 1, r.stderr);
    return r.stderr.trimEnd();
  }

  /** grove refuses with ostree's line (and a hint on it), and keeps nothing: no object, no ref, no state. */
  async function groveRefuses(repo: string, args: string[], ostreeLine: string, ref: string): Promise<void> {
    const r = await grove(args);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.ok(r.stderr.startsWith(`${ostreeLine} `), `grove: ${r.stderr}ostree: ${ostreeLine}`);
    await assert.rejects(fs.access(objectPath(repo, testing, 'commit')));
    await assert.rejects(fs.access(path.join(repo, ref)));
    assert.deepEqual(await listFiles(path.join(repo, 'objects')), []);
    assert.deepEqual(await listFiles(path.join(repo, 'state')), []);
  }

  for (const [how, remoteArgs] of [['an unsigned remote', () => ['--no-gpg-verify']], ['a GPG-verifying remote', () => [`--gpg-import=${key.pub}`]]] as const) {
    it(`over HTTP with ${how}: a commit for testing served as stable is refused as ostree refuses it; --disable-verify-bindings accepts it`, async () => {
      const o = path.join(tmp.dir, `o-${n++}`);
      ostree(['init', `--repo=${o}`, '--mode=bare-user']);
      ostree(['remote', 'add', `--repo=${o}`, ...remoteArgs(), 'origin', server.url]);
      const line = await ostreeRefuses(['pull', `--repo=${o}`, 'origin', 'stable']);
      assert.match(line, new RegExp(`^error: Commit ${testing}: Commit has no requested ref ‘stable’ in ref binding metadata \\(‘beta’, ‘testing’\\)$`));

      const g = path.join(tmp.dir, `g-${n++}`);
      await groveOk(['init', `--repo=${g}`, '--mode=bare-user']);
      await groveOk(['remote', 'add', `--repo=${g}`, ...remoteArgs(), 'origin', server.url]);
      await groveRefuses(g, ['pull', `--repo=${g}`, 'origin', 'stable'], line, 'refs/remotes/origin/stable');

      // Under a ref it is bound to, it is pulled; once here, it is still refused as stable.
      await groveOk(['pull', `--repo=${g}`, 'origin', 'testing']);
      let r = await grove(['pull', `--repo=${g}`, 'origin', 'stable']);
      assert.equal(r.code, 1);
      assert.ok(r.stderr.startsWith(line), r.stderr);
      await assert.rejects(fs.access(path.join(g, 'refs/remotes/origin/stable')));
      const o2 = path.join(tmp.dir, `o-${n++}`);
      ostree(['init', `--repo=${o2}`, '--mode=bare-user']);
      ostree(['remote', 'add', `--repo=${o2}`, ...remoteArgs(), 'origin', server.url]);
      await run('ostree', ['pull', `--repo=${o2}`, 'origin', 'testing']);
      assert.equal(await ostreeRefuses(['pull', `--repo=${o2}`, 'origin', 'stable']), line);

      // No binding, a checksum, a parent reached by --depth: nothing to check, as for ostree.
      await groveOk(['pull', `--repo=${g}`, 'origin', 'nobind']);
      await groveOk(['pull', `--repo=${g}`, '--depth=1', 'origin', 'child']);
      await groveOk(['pull', `--repo=${g}`, 'origin', testing]);

      r = await grove(['pull', `--repo=${g}`, '--disable-verify-bindings', 'origin', 'stable']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await fs.readFile(path.join(g, 'refs/remotes/origin/stable'), 'utf8')).trim(), testing);
      // ostree accepts it the same way.
      assert.equal((await run('ostree', ['pull', `--repo=${o}`, '--disable-verify-bindings', 'origin', 'stable'])).code, 0);
    });
  }

  it('pull-local and a file:// remote refuse it as ostree pull-local does; --disable-verify-bindings accepts it', async () => {
    const o = path.join(tmp.dir, `o-${n++}`);
    ostree(['init', `--repo=${o}`, '--mode=bare-user']);
    const line = await ostreeRefuses(['pull-local', `--repo=${o}`, src, 'stable']);

    const g = path.join(tmp.dir, `g-${n++}`);
    await groveOk(['init', `--repo=${g}`, '--mode=bare-user']);
    await groveRefuses(g, ['pull-local', `--repo=${g}`, src, 'stable'], line, 'refs/heads/stable');
    await groveRefuses(g, ['pull-local', `--repo=${g}`, '--remote=up', src, 'stable'], line, 'refs/remotes/up/stable');
    await groveOk(['remote', 'add', `--repo=${g}`, '--no-gpg-verify', 'local', pathToFileURL(src).href]);
    await groveRefuses(g, ['pull', `--repo=${g}`, 'local', 'stable'], line, 'refs/remotes/local/stable');

    await groveOk(['pull-local', `--repo=${g}`, '--disable-verify-bindings', src, 'stable']);
    assert.equal((await fs.readFile(path.join(g, 'refs/heads/stable'), 'utf8')).trim(), testing);
    await groveOk(['pull', `--repo=${g}`, '--disable-verify-bindings', 'local', 'stable']);
    assert.equal((await fs.readFile(path.join(g, 'refs/remotes/local/stable'), 'utf8')).trim(), testing);
    assert.equal((await run('ostree', ['pull-local', `--repo=${o}`, '--disable-verify-bindings', src, 'stable'])).code, 0);
  });

  it('a remote with a collection-id: a commit without a collection binding is refused as ostree refuses it', async () => {
    const o = path.join(tmp.dir, `o-${n++}`);
    ostree(['init', `--repo=${o}`, '--mode=bare-user']);
    ostree(['remote', 'add', `--repo=${o}`, '--no-gpg-verify', '--set=collection-id=org.example.Os', 'origin', server.url]);
    const line = await ostreeRefuses(['pull', `--repo=${o}`, 'origin', 'testing']);
    assert.equal(line, `error: Commit ${testing}: Expected commit metadata to have collection ID binding information, found none`);
    const g = path.join(tmp.dir, `g-${n++}`);
    await groveOk(['init', `--repo=${g}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${g}`, '--no-gpg-verify', '--set=collection-id=org.example.Os', 'origin', server.url]);
    await groveRefuses(g, ['pull', `--repo=${g}`, 'origin', 'testing'], line, 'refs/remotes/origin/testing');
  });

  it('ed25519: a commit correctly signed for testing is refused as stable (Debian\'s ostree lacks ed25519)', async () => {
    const k = generateKeyPair();
    const esrc = path.join(tmp.dir, `esrc-${n++}`);
    const tree = path.join(tmp.dir, 'tree');
    await groveOk(['init', `--repo=${esrc}`, '--mode=archive']);
    const csum = (await groveOk(['commit', `--repo=${esrc}`, '-b', 'testing', `--sign=${k.secret}`, tree])).trim().split('\n').pop()!;
    await fs.copyFile(path.join(esrc, 'refs/heads/testing'), path.join(esrc, 'refs/heads/stable'));
    await groveOk(['summary', `--repo=${esrc}`, '-u']);
    const s = await startRepoServer(esrc);
    try {
      const g = path.join(tmp.dir, `g-${n++}`);
      await groveOk(['init', `--repo=${g}`, '--mode=bare-user']);
      await groveOk(['remote', 'add', `--repo=${g}`, '--no-gpg-verify', `--sign-verify=ed25519=inline:${k.public}`, 'origin', s.url]);
      const r = await grove(['pull', `--repo=${g}`, 'origin', 'stable']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `error: Commit ${csum}: Commit has no requested ref ‘stable’ in ref binding metadata (‘testing’) (pull with --disable-verify-bindings to accept it)\n`);
      assert.deepEqual(await listFiles(path.join(g, 'objects')), []);
      await assert.rejects(fs.access(path.join(g, 'refs/remotes/origin/stable')));
      await groveOk(['pull', `--repo=${g}`, '--disable-verify-bindings', 'origin', 'stable']);
      assert.equal((await fs.readFile(path.join(g, 'refs/remotes/origin/stable'), 'utf8')).trim(), csum);
    } finally {
      await s.close();
    }
  });
});
