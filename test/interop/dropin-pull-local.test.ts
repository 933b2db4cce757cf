import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { grove, makeGpgKey, needsOstree, ostree, tempDir } from '../helpers.js';
import { lsRC } from './support.js';
import { both, assertSame, sameFailure, type Twins } from './dropin-support.js';

/**
 * Drop-in: the options of `ostree pull-local` that grove lacked. ostree and grove pull the same
 * source (made by ostree, its commit GPG-signed) into twin repositories with the same command
 * line: successes leave the same refs and trees, failures the same status and message.
 */

interface Setup { dir: string; src: string; unsigned: string; repos: Twins; gpgHome: string; commit: string }
let s: Setup;
let cleanup: () => Promise<void>;

const refOf = (repo: string, ref: string) => ostree(['rev-parse', `--repo=${repo}`, ref], { allowFail: true }).stdout.trim();

async function fresh(mode = 'bare-user'): Promise<void> {
  for (const r of [s.repos.g, s.repos.o]) {
    await fs.rm(r, { recursive: true, force: true });
    ostree(['init', `--repo=${r}`, `--mode=${mode}`]);
  }
}

/** Both pull-local with `args` successfully, to the same `ref` and tree. */
async function samePull(args: string[], ref: string): Promise<void> {
  const r = await both(s.repos, (repo) => ['pull-local', `--repo=${repo}`, ...args]);
  assertSame(r, s.repos, `pull-local ${args.join(' ')}`, { stdout: false });
  assert.equal(r.o.code, 0, r.o.stderr);
  assert.equal(refOf(s.repos.g, ref), s.commit);
  assert.equal(refOf(s.repos.o, ref), s.commit);
  assert.equal(lsRC(s.repos.g, ref), lsRC(s.repos.o, ref));
}

describe('pull-local options', needsOstree(), () => {
  before(async () => {
    const t = await tempDir('grove-dropin-pull-local-');
    cleanup = t.cleanup;
    const dir = t.dir;
    const tree = path.join(dir, 'tree');
    await buildTree(tree, [
      { path: 'usr/bin/tool', type: 'file', content: 'tool\n', mode: 0o755 },
      { path: 'etc/conf', type: 'file', content: 'a=1\n' },
    ]);
    const gpgHome = path.join(dir, 'gnupg');
    await fs.mkdir(gpgHome, { mode: 0o700 });
    const key = makeGpgKey(gpgHome, 'builder');
    const src = path.join(dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    const commit = ostree(['commit', `--repo=${src}`, '-b', 'main', '--timestamp=@1700000000', `--gpg-sign=${key.id}`, `--gpg-homedir=${gpgHome}`, tree]).stdout.trim();
    const unsigned = path.join(dir, 'unsigned');
    ostree(['init', `--repo=${unsigned}`, '--mode=archive']);
    ostree(['commit', `--repo=${unsigned}`, '-b', 'main', '--timestamp=@1700000001', tree]);
    s = { dir, src, unsigned, repos: { g: path.join(dir, 'g'), o: path.join(dir, 'o') }, gpgHome, commit };
    (s as Setup & { pub: string }).pub = key.pub;
  });
  after(async () => {
    spawnSync('gpgconf', ['--homedir', s.gpgHome, '--kill', 'gpg-agent']);
    await cleanup();
  });

  test('--disable-fsync, --per-object-fsync, --untrusted, --bareuseronly-files pull as ostree does', async () => {
    for (const flag of ['--disable-fsync', '--per-object-fsync', '--untrusted', '--bareuseronly-files']) {
      await fresh();
      await samePull([flag, s.src, 'main'], 'main');
    }
  });

  test('between repositories of one mode on one file system, content objects are hardlinked as ostree links them, and still checked', async () => {
    await fresh('archive');
    await samePull([s.src, 'main'], 'main');
    const inodes = async (repo: string) => {
      const out = new Map<string, number>();
      for (const d of await fs.readdir(path.join(repo, 'objects'))) {
        for (const n of await fs.readdir(path.join(repo, 'objects', d))) if (n.endsWith('.filez')) out.set(d + n, (await fs.stat(path.join(repo, 'objects', d, n))).ino);
      }
      return out;
    };
    const src = await inodes(s.src);
    const shared = async (repo: string) => [...(await inodes(repo))].filter(([n, ino]) => src.get(n) === ino).map(([n]) => n).sort();
    const linked = await shared(s.repos.g);
    assert.ok(linked.length > 0, 'nothing was hardlinked');
    assert.deepEqual(linked, await shared(s.repos.o));

    // A source object whose bytes are not its checksum's: ostree's trusted import links it as
    // it is; grove checks the linked object, refuses it in one line and keeps nothing of it.
    const bad = path.join(s.dir, 'corrupt-src');
    await fs.rm(bad, { recursive: true, force: true });
    await fs.cp(s.src, bad, { recursive: true });
    const victim = [...src.keys()].sort()[0]!;
    const file = path.join(bad, 'objects', victim.slice(0, 2), victim.slice(2));
    const bytes = await fs.readFile(file);
    bytes[bytes.length - 1] ^= 0xff;
    await fs.writeFile(file, bytes);
    await fresh('archive');
    const r = grove(['pull-local', `--repo=${s.repos.g}`, bad, 'main']);
    assert.notEqual(r.code, 0);
    const checksum = victim.slice(0, 64);
    assert.match(r.stderr.trim(), new RegExp(`^error: file object ${checksum}: `));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(await fs.stat(path.join(s.repos.g, 'objects', victim.slice(0, 2), victim.slice(2))).catch(() => null), null);
    assert.equal(refOf(s.repos.g, 'main'), '');
  });

  test('from another file system the objects are copied (the link is refused there)', async (t) => {
    const shm = await fs.mkdtemp('/dev/shm/grove-pull-local-').catch(() => null);
    if (shm === null) return t.skip('no /dev/shm here');
    try {
      const src = path.join(shm, 'src');
      await fs.cp(s.src, src, { recursive: true });
      await fresh('archive');
      await samePull([src, 'main'], 'main');
      assert.equal(ostree(['fsck', `--repo=${s.repos.g}`]).code, 0);
    } finally {
      await fs.rm(shm, { recursive: true, force: true });
    }
  });

  test('--bareuseronly-files refuses a setuid file, as ostree does', async () => {
    const tree = path.join(s.dir, 'suid');
    await buildTree(tree, [{ path: 'bin/su', type: 'file', content: 'su\n', mode: 0o4755 }]);
    const src = path.join(s.dir, 'suid-src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    ostree(['commit', `--repo=${src}`, '-b', 'main', tree]);
    await fresh();
    await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--bareuseronly-files', src, 'main'], { stderr: false });
    assert.equal(refOf(s.repos.g, 'main'), '');
  });

  test('--require-static-deltas fails as ostree does when the source has no deltas', async () => {
    await fresh();
    // No summary: ostree fails before opening the source, even a missing one.
    await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--require-static-deltas', s.unsigned, 'main']);
    await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--require-static-deltas', path.join(s.dir, 'nowhere'), 'main']);
    ostree(['summary', `--repo=${s.unsigned}`, '-u']);
    try {
      await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--require-static-deltas', s.unsigned, 'main']);
      const c = refOf(s.unsigned, 'main');
      await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--require-static-deltas', s.unsigned, c]);
    } finally {
      await fs.rm(path.join(s.unsigned, 'summary'));
    }
    await fresh('archive');
    await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--require-static-deltas', s.unsigned, 'main']);
  });

  test('--gpg-verify and --gpg-verify-summary need --remote, whose keys verify', async () => {
    await fresh();
    for (const flag of ['--gpg-verify', '--gpg-verify-summary']) {
      await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, flag, s.src, 'main']);
    }
    // A remote with no keys: the signature cannot be verified, nor an unsigned commit.
    await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--gpg-verify', '--remote=nokeys', s.src, 'main'], { stderr: false });
    await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--gpg-verify', '--remote=nokeys', s.unsigned, 'main'], { stderr: false });
    // No summary to verify.
    await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--gpg-verify-summary', '--remote=nokeys', s.src, 'main']);
    for (const r of [s.repos.g, s.repos.o]) ostree(['remote', 'add', `--repo=${r}`, `--gpg-import=${(s as Setup & { pub: string }).pub}`, 'up', 'file:///nowhere']);
    await samePull(['--gpg-verify', '--remote=up', s.src, 'main'], 'up:main');
    await sameFailure(s.repos, (r) => ['pull-local', `--repo=${r}`, '--remote=up', '--gpg-verify', s.unsigned, 'main'], { stderr: false });
    // Without --gpg-verify a local pull does not verify, whatever the remote's config says.
    const r = await both(s.repos, (repo) => ['pull-local', `--repo=${repo}`, '--remote=up', s.unsigned, 'main']);
    assertSame(r, s.repos, 'pull-local --remote=up (unsigned)', { stdout: false });
    assert.equal(r.o.code, 0, r.o.stderr);
    assert.equal(refOf(s.repos.g, 'up:main'), refOf(s.unsigned, 'main'));
  });
});
