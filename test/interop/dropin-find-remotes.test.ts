import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { GROVE_BIN, isRoot, makeGpgKey, needsOstree, ostree, tempDir, type RunResult } from '../helpers.js';
import { runEnv } from './dropin-support.js';
import { assertSameStderr } from './usage-compare.js';

/**
 * Drop-in: `find-remotes`. A volume (an ext4 image) holds what `ostree create-usb` copied from a
 * source repository; the source is also a configured remote. Each command runs in a private
 * mount namespace of its own (`unshare -m`), where a tmpfs covers /media and the image is
 * mounted read-only at /media/usb, so nothing is seen outside and ostree and grove may run at
 * once. ostree runs on one twin client repository, grove (under the name `ostree`) on the
 * other: status, stdout and stderr must match, and what a `--pull` leaves must too.
 */

/** Why the volume cannot be mounted here, or false when it can. */
function volumeUnsupported(): string | false {
  const skip = needsOstree().skip;
  if (skip) return skip;
  if (!isRoot) return 'mounting a volume needs root';
  for (const tool of ['unshare', 'mkfs.ext4', 'losetup']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  if (spawnSync('test', ['-d', '/media']).status !== 0) return 'there is no /media to mount the volume below';
  if (spawnSync('unshare', ['-m', '--propagation', 'private', 'mount', '-t', 'tmpfs', 'none', '/media']).status !== 0) return 'unshare -m cannot mount here';
  if (spawnSync('losetup', ['-f']).status !== 0) return 'no free loop device';
  return false;
}

const unsupported = volumeUnsupported();

/** Mounts IMG at /media/usb in the namespace (tmpfs over /media first), then runs the command. */
const MOUNT = 'mount -t tmpfs none /media && mkdir /media/usb && mount -o "loop,$1" "$2" /media/usb && shift 2 && exec "$@"';

interface Setup { dir: string; src: string; img: string; bin: string; gpgPub: string; old: string; next: string }
let s: Setup;
let cleanup: () => Promise<void>;

function inVolume(cmd: string[], opts: { rw?: boolean } = {}): Promise<RunResult> {
  return runEnv('unshare', ['-m', '--propagation', 'private', 'sh', '-c', MOUNT, 'sh', opts.rw ? 'rw' : 'ro,noload', s.img, ...cmd], { GROVE_NO_PROGRESS: '1' });
}

/** The same command line under both tools, each on its own client repository. */
async function both(clients: { g: string; o: string }, args: string[]): Promise<{ g: RunResult; o: RunResult }> {
  const [g, o] = await Promise.all([
    inVolume([process.execPath, path.join(s.bin, 'ostree'), 'find-remotes', `--repo=${clients.g}`, ...args]),
    inVolume(['ostree', 'find-remotes', `--repo=${clients.o}`, ...args]),
  ]);
  return { g, o };
}

async function same(clients: { g: string; o: string }, args: string[]): Promise<{ g: RunResult; o: RunResult }> {
  const r = await both(clients, args);
  const what = `find-remotes ${args.join(' ')}`;
  assert.equal(r.g.code, r.o.code, `${what}: exit status (grove: ${r.g.stderr.trim()}; ostree: ${r.o.stderr.trim()})`);
  assert.equal(r.g.stdout, r.o.stdout, `${what}: stdout`);
  assertSameStderr(r.g.stderr, r.o.stderr, what);
  return r;
}

let clientCount = 0;

/** Twin client repositories with the same remotes (NAME, URL, collection ID), each trusting the signing key. */
async function clients(remotes: Array<[string, string, string]>, opts: { collectionId?: string } = {}): Promise<{ g: string; o: string }> {
  const n = clientCount++;
  const out = { g: path.join(s.dir, `client-${n}-g`), o: path.join(s.dir, `client-${n}-o`) };
  for (const c of [out.g, out.o]) {
    ostree(['init', `--repo=${c}`, '--mode=archive', ...(opts.collectionId ? [`--collection-id=${opts.collectionId}`] : [])]);
    for (const [name, url, id] of remotes) ostree(['remote', 'add', `--repo=${c}`, `--collection-id=${id}`, `--gpg-import=${s.gpgPub}`, name, url]);
  }
  return out;
}

/** Every path of a repository but its objects, with each ref's content. */
async function refsAndLayout(repo: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of (await fs.readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      const rel = path.relative(repo, p);
      if (rel === 'objects' || rel === '.lock') continue;
      if (e.isDirectory()) {
        out.push(`${rel}/`);
        await walk(p);
      } else out.push(rel.startsWith('refs/') ? `${rel}: ${await fs.readFile(p, 'utf8')}` : rel);
    }
  };
  await walk(repo);
  return out;
}

const APPS = Array.from({ length: 10 }, (_, i) => `app/b${i + 1}`);

describe('find-remotes', { skip: unsupported }, () => {
  before(async () => {
    const t = await tempDir('grove-dropin-find-remotes-');
    cleanup = t.cleanup;
    const dir = t.dir;
    const bin = path.join(dir, 'bin');
    await fs.mkdir(bin);
    await fs.symlink(GROVE_BIN, path.join(bin, 'ostree'));
    const gpgHome = path.join(dir, 'gpg');
    await fs.mkdir(gpgHome, { mode: 0o700 });
    const key = makeGpgKey(gpgHome, 'builder');
    const sign = [`--gpg-sign=${key.id}`, `--gpg-homedir=${gpgHome}`];
    const tree = path.join(dir, 'tree');
    await buildTree(tree, [
      { path: 'usr/bin/tool', type: 'file', content: 'tool\n', mode: 0o755 },
      { path: 'etc/conf', type: 'file', content: 'a=1\n' },
      { path: 'usr/lib/link', type: 'symlink', target: '../bin/tool' },
    ]);
    const src = path.join(dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive', '--collection-id=org.example.Os']);
    const old = ostree(['commit', `--repo=${src}`, '-b', 'os/stable', '--timestamp=@1700000000', ...sign, tree]).stdout.trim();
    for (const [i, app] of APPS.entries()) ostree(['commit', `--repo=${src}`, '-b', app, `--timestamp=@${1700000010 + i}`, ...sign, `--tree=dir=${path.join(tree, 'etc')}`]);
    ostree(['summary', `--repo=${src}`, '-u']);
    const img = path.join(dir, 'volume.img');
    spawnSync('truncate', ['-s', '64M', img]);
    assert.equal(spawnSync('mkfs.ext4', ['-q', img]).status, 0, 'mkfs.ext4');
    s = { dir, src, img, bin, gpgPub: key.pub, old, next: '' };
    const pairs = ['os/stable', ...APPS].flatMap((r) => ['org.example.Os', r]);
    const usb = await inVolume(['ostree', 'create-usb', `--repo=${src}`, '/media/usb', ...pairs], { rw: true });
    assert.equal(usb.code, 0, usb.stderr);
    // The source moves on: the volume's os/stable is now older than the remote's.
    s.next = ostree(['commit', `--repo=${src}`, '-b', 'os/stable', '--timestamp=@1700000500', ...sign, `--tree=dir=${tree}`, '--add-metadata-string=v=2']).stdout.trim();
    ostree(['summary', `--repo=${src}`, '-u']);
  });
  after(async () => cleanup?.());

  test('finds refs on the mounted volume, with the keyring of the remote of their collection', async () => {
    // The remote gives the keyring only: its URL leads nowhere, so the config finder finds nothing.
    const c = await clients([['usbkey', 'file:///nonexistent', 'org.example.Os']]);
    const r = await same(c, ['org.example.Os', 'os/stable', 'org.example.Os', 'app/b1', 'org.example.Os', 'missing']);
    assert.equal(r.o.code, 0);
    assert.match(r.o.stdout, /^Result 0: file:\/\/\/media\/usb\/\.ostree\/repo\n - Finder: OstreeRepoFinderMount\n - Keyring: usbkey\.trustedkeys\.gpg\n/);
    assert.match(r.o.stdout, new RegExp(`\\(org\\.example\\.Os, os/stable\\) = ${s.old}\n`));
    assert.match(r.o.stdout, /2\/3 refs were found\.\nRefs not found in any remote:\n - \(org\.example\.Os, missing\)\n$/);
    await same(c, ['--finders=mount', 'org.example.Os', 'app/b2']);
    await same(c, ['--finders=config', 'org.example.Os', 'app/b2']);
  });

  test('finds refs through configured remotes; the newest commit of each ref wins', async () => {
    const c = await clients([['origin', `file://${s.src}`, 'org.example.Os']]);
    const r = await same(c, ['org.example.Os', 'os/stable', 'org.example.Os', 'app/b1']);
    // The volume gives app/b1 (the same commit as the remote) but not its older os/stable.
    assert.match(r.o.stdout, /Result 0: file:\/\/\/media\/usb\/\.ostree\/repo\n[^]*\(org\.example\.Os, os\/stable\) = \(not found\)\n/);
    assert.match(r.o.stdout, new RegExp(`Result 1: file://${s.src}\n - Finder: OstreeRepoFinderConfig\n - Keyring: origin\\.trustedkeys\\.gpg\n - Priority: 100\n[^]*\\(org\\.example\\.Os, os/stable\\) = ${s.next}\n`));
    await same(c, ['--finders=config', 'org.example.Os', 'os/stable']);
    await same(c, ['--finders=mount,config', 'org.example.Os', 'app/b3']);
    // Only os/stable: the volume has nothing new enough and is left out.
    const only = await same(c, ['--finders=mount,config', 'org.example.Os', 'os/stable']);
    assert.doesNotMatch(only.o.stdout, /media/);
  });

  test('lists many refs, a repeated one too, in ostree\'s order', async () => {
    const c = await clients([['origin', `file://${s.src}`, 'org.example.Os']]);
    const pairs = ['app/b4', 'gone', ...APPS, 'os/stable', 'app/b4'].flatMap((r) => ['org.example.Os', r]);
    const r = await same(c, pairs);
    assert.match(r.o.stdout, /\(org\.example\.Os, app\/b10\)/);
  });

  test('finds nothing where nothing serves the refs', async () => {
    const c = await clients([['usbkey', 'file:///nonexistent', 'org.example.Os']]);
    const r = await same(c, ['org.example.Other', 'os/stable']);
    assert.equal(r.o.stdout, 'No results.\n');
    // Refs on the volume, but no remote of their collection to verify them with.
    const none = await clients([]);
    assert.equal((await same(none, ['org.example.Os', 'os/stable'])).o.stdout, 'No results.\n');
    await same(none, ['--pull', 'org.example.Os', 'os/stable']);
  });

  test('refuses bad command lines in ostree\'s words', async () => {
    const c = await clients([['usbkey', 'file:///nonexistent', 'org.example.Os']]);
    for (const args of [
      [], ['org.example.Os'], ['org.example.Os', 'os/stable', 'org.example.Os'],
      ['--mirror', 'org.example.Os', 'os/stable'],
      ['bad', 'os/stable'], ['org.example.Os', '+bad'], ['org.example.Os', 'os/stable', 'x', 'os/stable'],
      ['--finders=', 'org.example.Os', 'os/stable'], ['--finders=config,config', 'org.example.Os', 'os/stable'],
      ['--finders=config,', 'org.example.Os', 'os/stable'], ['--finders=usb', 'org.example.Os', 'os/stable'],
      ['--finders=lan,bogus', 'org.example.Os', 'os/stable'], ['--finders=lan', 'bad', 'os/stable'],
      ['--cache-dir=/nonexistent', 'org.example.Os', 'os/stable'],
    ]) {
      const r = await same(c, args);
      assert.equal(r.o.code, 1, `find-remotes ${args.join(' ')}: ostree's status`);
    }
  });

  test('core.default-repo-finders chooses the finders; lan there is passed over, an unknown one refused', async () => {
    // ostree opens no repository with a bad value, its own config verb's neither: those come last, on clients of their own.
    for (const values of [['config;', 'mount;', 'lan;config;', 'bogus;'], ['']]) {
      const c = await clients([['origin', `file://${s.src}`, 'org.example.Os']]);
      for (const value of values) {
        for (const repo of [c.g, c.o]) ostree(['config', `--repo=${repo}`, 'set', 'core.default-repo-finders', value]);
        await same(c, ['org.example.Os', 'app/b1']);
      }
    }
  });

  test('refuses the LAN finder in one line: grove has no Avahi (ostree without a running daemon hangs)', async () => {
    const c = await clients([['usbkey', 'file:///nonexistent', 'org.example.Os']]);
    for (const finders of ['lan', 'config,lan']) {
      const r = await inVolume([process.execPath, GROVE_BIN, 'find-remotes', `--repo=${c.g}`, `--finders=${finders}`, 'org.example.Os', 'os/stable']);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /\n\nerror: LAN repo finder requested but grove has no Avahi support\n$/);
    }
  });

  test('--pull pulls each ref from the result with its newest commit, verified', async () => {
    const c = await clients([['origin', `file://${s.src}`, 'org.example.Os']]);
    const r = await same(c, ['--pull', 'org.example.Os', 'os/stable', 'org.example.Os', 'app/b1', 'org.example.Os', 'missing']);
    assert.equal(r.o.code, 0, r.o.stderr);
    assert.match(r.o.stdout, /Pulled 3\/3 refs successfully\.\n$/);
    assert.deepEqual(await refsAndLayout(c.g), await refsAndLayout(c.o));
    assert.equal(ostree(['rev-parse', `--repo=${c.g}`, 'origin:os/stable']).stdout.trim(), s.next);
    ostree(['fsck', `--repo=${c.g}`]);
    // From the volume alone, under the keyring remote's name.
    const usb = await clients([['usbkey', 'file:///nonexistent', 'org.example.Os']]);
    await same(usb, ['--pull', '--disable-fsync', 'org.example.Os', 'os/stable', 'org.example.Os', 'app/b2']);
    assert.deepEqual(await refsAndLayout(usb.g), await refsAndLayout(usb.o));
    assert.equal(ostree(['rev-parse', `--repo=${usb.g}`, 'usbkey:os/stable']).stdout.trim(), s.old);
    ostree(['fsck', `--repo=${usb.g}`]);
  });

  test('--pull --mirror writes collection refs', async () => {
    for (const collectionId of [undefined, 'org.example.Os']) {
      const c = await clients([['usbkey', 'file:///nonexistent', 'org.example.Os']], collectionId ? { collectionId } : {});
      const r = await same(c, ['--pull', '--mirror', 'org.example.Os', 'os/stable']);
      assert.equal(r.o.code, 0, r.o.stderr);
      assert.deepEqual(await refsAndLayout(c.g), await refsAndLayout(c.o));
      ostree(['fsck', `--repo=${c.g}`]);
    }
  });

  test('--pull fails, naming the refs, when no result gives a verified commit', async () => {
    // The remote trusts no key: nothing verifies.
    const c = { g: path.join(s.dir, 'untrusting-g'), o: path.join(s.dir, 'untrusting-o') };
    for (const repo of [c.g, c.o]) {
      ostree(['init', `--repo=${repo}`, '--mode=archive']);
      ostree(['remote', 'add', `--repo=${repo}`, '--collection-id=org.example.Os', 'origin', `file://${s.src}`]);
    }
    const r = await same(c, ['--pull', 'org.example.Os', 'os/stable', 'org.example.Os', 'app/b1']);
    assert.equal(r.o.code, 1);
    assert.match(r.o.stderr, /^error: Failed to pull some refs from the remotes: /);
    // ostree keeps the refused commits, marked partial; grove keeps nothing of them.
    const kept = (await refsAndLayout(c.o)).filter((p) => !p.endsWith('.commitpartial'));
    assert.deepEqual(await refsAndLayout(c.g), kept);
  });
});
