import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { GROVE_BIN, grove, groveOk, isRoot, listFiles, tempDir, type RunResult } from '../helpers.js';

/**
 * Acceptance point 4: bad input ends in one line on stderr, `error: …`, naming the path, ref or
 * option at fault, exit status 1 — and leaves the repository exactly as it was: no ref moved, no
 * object, no staging directory, nothing new in `tmp/` (only `.lock`, which ostree also creates).
 */

interface Snapshot { files: string[]; refs: Record<string, string> }

/**
 * What may appear even when a command fails: `.lock` (ostree creates it too) and grove's LMDB
 * index under `grove/`, a cache created on first use whose content nothing trusts unchecked.
 */
const MAY_APPEAR = (f: string) => f === '.lock' || f === 'grove' || f.startsWith('grove/');

async function snapshot(repo: string): Promise<Snapshot> {
  const files = (await listFiles(repo)).filter((f) => !MAY_APPEAR(f));
  const refs: Record<string, string> = {};
  for (const f of files) {
    if (f.startsWith('refs/') && (await fs.lstat(path.join(repo, f))).isFile()) refs[f] = await fs.readFile(path.join(repo, f), 'utf8');
  }
  return { files, refs };
}

/** ostree's usage errors: the verb's usage on stderr, then one `error: …` line, exit 1. */
function assertUsageError(r: RunResult, verb: string, message: string): void {
  assert.equal(r.code, 1, `exit status 1 (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.match(r.stderr, new RegExp(`^Usage:\\n {2}grove ${verb} \\[OPTION…\\]`), 'the usage first');
  assert.ok(r.stderr.endsWith(`\nerror: ${message}\n`), `then the error: ${r.stderr}`);
}

function assertOneLineError(r: RunResult, names: Array<string | RegExp>): void {
  assert.equal(r.code, 1, `exit status 1 (stderr: ${r.stderr})`);
  assert.match(r.stderr, /^error: [^\n]+\n$/, 'stderr is exactly one line starting "error: "');
  assert.equal(r.stdout, '', 'nothing on stdout');
  for (const n of names) {
    if (typeof n === 'string') assert.ok(r.stderr.includes(n), `the message names ${n}: ${r.stderr}`);
    else assert.match(r.stderr, n);
  }
}

describe('bad input: one-line errors, nothing left behind', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let tree: string;
  let mainCommit: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-badinput-'));
    repo = path.join(dir, 'repo');
    tree = path.join(dir, 'tree');
    await buildTree(tree, [
      { path: 'etc/hostname', type: 'file', content: 'grove\n' },
      { path: 'usr/bin/tool', type: 'file', content: '#!/bin/sh\n', mode: 0o755 },
      { path: 'bin', type: 'symlink', target: 'usr/bin' },
    ]);
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    mainCommit = groveOk(['commit', `--repo=${repo}`, '-b', 'main', tree]).trim();
  });

  after(async () => cleanup());

  /** Runs grove expecting a one-line error naming `names`, and checks the repository did not change. */
  async function rejects(args: string[], names: Array<string | RegExp>, run: (a: string[]) => RunResult = grove): Promise<void> {
    const beforeSnap = await snapshot(repo);
    const r = run(args);
    assertOneLineError(r, names);
    // The listing covers objects, refs and tmp/; the snapshot also holds every ref's content.
    assert.deepEqual(await snapshot(repo), beforeSnap, 'the repository is unchanged, no ref moved');
  }

  /** A tree like `tree` with one extra entry made by `make`. */
  async function treeWith(name: string, make: (p: string) => Promise<void> | void): Promise<string> {
    const t = path.join(dir, `tree-${name}`);
    await buildTree(t, [
      { path: 'etc/hostname', type: 'file', content: `${name}\n` },
      { path: 'var/run', type: 'dir' },
    ]);
    await make(path.join(t, 'var/run', name));
    return t;
  }

  describe('the repository', () => {
    it('--repo pointing nowhere', async () => {
      const nowhere = path.join(dir, 'no/such/repo');
      for (const args of [['commit', '-b', 'main', tree], ['fsck'], ['refs'], ['checkout', 'main', path.join(dir, 'co-nowhere')]]) {
        const r = grove([...args, `--repo=${nowhere}`]);
        assertOneLineError(r, [nowhere]);
      }
      await assert.rejects(fs.lstat(path.join(dir, 'no')), { code: 'ENOENT' });
      await assert.rejects(fs.lstat(path.join(dir, 'co-nowhere')), { code: 'ENOENT' });
    });

    it('a directory that is not a repository', async () => {
      const plain = path.join(dir, 'plain');
      await fs.mkdir(plain);
      for (const args of [['commit', '-b', 'main', tree], ['fsck'], ['rev-parse', 'main'], ['config', 'get', 'core.mode']]) {
        // ostree's words, which name what is missing in the directory --repo gave.
        assertOneLineError(grove([...args, `--repo=${plain}`]), ['opening repo: opendir(objects): No such file or directory']);
      }
      assert.deepEqual(await fs.readdir(plain), [], 'nothing created in it');
    });

    it('no --repo and no $OSTREE_REPO', () => {
      // As ostree: the verb's usage, then the error (the current directory is not a repository, and there is no /ostree/repo).
      const r = grove(['refs'], { env: { OSTREE_REPO: '' } });
      assertUsageError(r, 'refs', 'Command requires a --repo argument');
    });
  });

  describe('refs and checksums', () => {
    for (const bad of ['-bad', 'a b', 'a//b', '/abs', 'trailing/', '.hidden', ':y', 'x:']) {
      it(`commit -b '${bad}' (invalid ref name)`, async () => {
        await rejects(['commit', `--repo=${repo}`, '-b', bad, tree], [`Invalid refspec ${bad}`]);
      });
    }

    it('rev-parse, checkout and refs --create with an invalid ref name', async () => {
      await rejects(['rev-parse', `--repo=${repo}`, 'no such ref'], ['Invalid refspec no such ref']);
      await rejects(['refs', `--repo=${repo}`, '--create', 'bad..ref/', 'main'], ['Invalid refspec bad..ref/']);
      const dest = path.join(dir, 'co-badref');
      await rejects(['checkout', `--repo=${repo}`, 'bad ref', dest], ['Invalid refspec bad ref']);
      await assert.rejects(fs.lstat(dest), { code: 'ENOENT' });
    });

    it('a ref that does not exist', async () => {
      await rejects(['rev-parse', `--repo=${repo}`, 'nope'], ["'nope'", 'not found']);
      await rejects(['log', `--repo=${repo}`, 'nope/deeper'], ["'nope/deeper'"]);
      await rejects(['show', `--repo=${repo}`, 'main^'], [mainCommit, 'no parent']);
    });

    it('--parent=xyz', async () => {
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', '--parent=xyz', tree], ['--parent', "'xyz'"]);
    });

    it('rev-parse of 63 hex digits that begin no commit', async () => {
      // A unique beginning of a commit checksum resolves, as in ostree; one that begins no
      // commit is refused in ostree's words (scripts compare them).
      const short = (mainCommit[0] === '0' ? '1' : '0') + mainCommit.slice(1, 63);
      await rejects(['rev-parse', `--repo=${repo}`, short], [`Refspec '${short}' not found`]);
      assert.equal(groveOk(['rev-parse', `--repo=${repo}`, mainCommit.slice(0, 63)]).trim(), mainCommit);
    });

    it('a well-formed checksum of a commit that is not there', async () => {
      const absent = 'f'.repeat(64);
      await rejects(['checkout', `--repo=${repo}`, absent, path.join(dir, 'co-absent')], [absent]);
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', `--parent=${absent}`, tree], [absent]);
    });
  });

  describe('the tree to commit', () => {
    it('a missing tree path', async () => {
      const missing = path.join(dir, 'no-such-tree');
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', missing], [missing]);
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', `--tree=dir=${missing}`], [missing]);
    });

    it('a file where a directory is expected', async () => {
      const file = path.join(tree, 'etc/hostname');
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', file], [file]);
    });

    it('a character device in the tree (mknod c 1 3)', { skip: isRoot ? false : 'mknod needs root' }, async () => {
      const t = await treeWith('null', (p) => {
        const r = spawnSync('mknod', [p, 'c', '1', '3'], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
      });
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', t], [path.join(t, 'var/run/null'), 'character device']);
    });

    it('a fifo in the tree', async () => {
      const t = await treeWith('fifo', (p) => {
        const r = spawnSync('mkfifo', [p], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
      });
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', t], [path.join(t, 'var/run/fifo'), 'fifo']);
    });

    it('a socket in the tree', async () => {
      let server: net.Server | undefined;
      const t = await treeWith('sock', (p) => new Promise<void>((resolve, reject) => {
        server = net.createServer();
        server.once('error', reject);
        server.listen(p, () => resolve());
      }));
      try {
        await rejects(['commit', `--repo=${repo}`, '-b', 'main', t], [path.join(t, 'var/run/sock'), 'socket']);
      } finally {
        await new Promise<void>((resolve) => server!.close(() => resolve()));
      }
    });

    it('an unreadable file, committed by an unprivileged user into a bare-user repository', { skip: isRoot ? false : 'needs root to switch users' }, async () => {
      // The user must reach everything but the one file: its own repository and tree, world
      // readable parents, and the grove installation.
      const base = path.join(dir, 'nobody');
      await fs.mkdir(base);
      await fs.chmod(dir, 0o755);
      const userRepo = path.join(base, 'repo');
      const userTree = path.join(base, 'tree');
      groveOk(['init', `--repo=${userRepo}`, '--mode=bare-user']);
      await buildTree(userTree, [
        ...Array.from({ length: 40 }, (_, i) => ({ path: `usr/share/f${i}`, type: 'file' as const, content: `readable ${i}\n` })),
        { path: 'etc/secret', type: 'file', content: 'top secret\n', mode: 0o000 },
        { path: 'etc/public', type: 'file', content: 'public\n' },
      ]);
      spawnSync('chown', ['-R', '65534:65534', base]);
      const asNobody = (args: string[]): RunResult => {
        const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, GROVE_BIN, ...args], { encoding: 'utf8' });
        return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
      };
      const beforeSnap = await snapshot(userRepo);
      const r = asNobody(['commit', `--repo=${userRepo}`, '-b', 'main', userTree]);
      assertOneLineError(r, [path.join(userTree, 'etc/secret'), 'permission denied']);
      assert.deepEqual(await snapshot(userRepo), beforeSnap, 'the repository is unchanged');
      assert.ok(!(await listFiles(userRepo)).includes('refs/heads/main'), 'no ref was created');
      // Readable again, the same user commits it.
      await fs.chmod(path.join(userTree, 'etc/secret'), 0o600);
      const ok = asNobody(['commit', `--repo=${userRepo}`, '-b', 'main', userTree]);
      assert.equal(ok.code, 0, ok.stderr);
    });
  });

  describe('commit options', () => {
    it('an unknown option', async () => {
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', '--no-such-option', tree], ['--no-such-option']);
      await rejects(['fsck', `--repo=${repo}`, '--frobnicate'], ['--frobnicate']);
    });

    it('--statoverride file missing', async () => {
      const f = path.join(dir, 'no-statoverride');
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', `--statoverride=${f}`, tree], ['--statoverride', f]);
    });

    it('--skip-list file missing', async () => {
      const f = path.join(dir, 'no-skip-list');
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', `--skip-list=${f}`, tree], ['--skip-list', f]);
    });

    it('--statoverride with a path that matches nothing', async () => {
      const f = path.join(dir, 'statoverride');
      await fs.writeFile(f, '+2048 /usr/bin/tool\n+2048 /usr/bin/nonexistent\n');
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', `--statoverride=${f}`, tree], ['/usr/bin/nonexistent', 'statoverride']);
    });

    it('--skip-list with a path that matches nothing', async () => {
      const f = path.join(dir, 'skip-list');
      await fs.writeFile(f, '/etc/hostname\n/etc/nonexistent\n');
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', `--skip-list=${f}`, tree], ['/etc/nonexistent', 'skip-list']);
    });

    it('a malformed --timestamp and --owner-uid', async () => {
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', '--timestamp=yesterday', tree], ['--timestamp', "'yesterday'"]);
      await rejects(['commit', `--repo=${repo}`, '-b', 'main', '--owner-uid=abc', tree], ['--owner-uid']);
    });

    it('neither --branch nor --orphan', async () => {
      await rejects(['commit', `--repo=${repo}`, tree], ['--branch']);
    });
  });

  describe('other verbs', () => {
    it('init with an unknown --mode', async () => {
      const fresh = path.join(dir, 'fresh-repo');
      assertOneLineError(grove(['init', `--repo=${fresh}`, '--mode=archive-z3']), ['--mode', "'archive-z3'"]);
      await assert.rejects(fs.lstat(fresh), { code: 'ENOENT' });
    });

    it('init over a repository of another mode', async () => {
      await rejects(['init', `--repo=${repo}`, '--mode=bare'], [repo]);
    });

    it('checkout into a non-empty directory without --union', async () => {
      const dest = path.join(dir, 'occupied');
      await buildTree(dest, [{ path: 'etc/hostname', type: 'file', content: 'mine\n' }]);
      const beforeDest = await listFiles(dest);
      // ostree's words, and (run as grove, not as ostree) the directory they leave unnamed.
      await rejects(['checkout', `--repo=${repo}`, 'main', dest], ['mkdirat: File exists', dest]);
      assert.deepEqual(await listFiles(dest), beforeDest, 'the destination is unchanged');
      assert.equal(await fs.readFile(path.join(dest, 'etc/hostname'), 'utf8'), 'mine\n');
    });

    it('cat of a missing path', async () => {
      await rejects(['cat', `--repo=${repo}`, 'main', '/etc/no-such-file'], ['/etc/no-such-file']);
      await rejects(['cat', `--repo=${repo}`, 'main', '/usr/bin'], ['/usr/bin']);
    });

    it('ls of a missing path', async () => {
      await rejects(['ls', `--repo=${repo}`, 'main', '/no/such/dir'], ['/no/such/dir']);
    });

    it('config get of a missing key', async () => {
      // ostree's messages, which name the key and group (GLib's quotes), or the form a key must have.
      await rejects(['config', 'get', `--repo=${repo}`, 'core.no-such-key'], ['“no-such-key”', '“core”']);
      await rejects(['config', 'get', `--repo=${repo}`, 'nogroup.key'], ['“nogroup”']);
      await rejects(['config', 'get', `--repo=${repo}`, 'nodot'], ['"sectionname.keyname"']);
    });

    it('an unknown verb and a missing argument', async () => {
      // As ostree: the usage, then the error. `--repo` is unknown until a verb is named.
      const beforeSnap = await snapshot(repo);
      const unknown = grove(['frobnicate']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^Usage:\n {2}grove \[OPTION…\] COMMAND\n[^]*\nerror: Unknown command 'frobnicate'\n$/);
      assert.match(grove(['frobnicate', `--repo=${repo}`]).stderr, /\nerror: Unknown option --repo=\S+\n$/);
      assertUsageError(grove(['rev-parse', `--repo=${repo}`]), 'rev-parse', 'REV must be specified');
      assert.deepEqual(await snapshot(repo), beforeSnap, 'the repository is unchanged');
    });
  });

  describe('--help', () => {
    // Each verb with options its help must list.
    const verbs: Array<[string[], string[]]> = [
      [['init'], ['--repo', '--mode']],
      [['commit'], ['--repo', '--branch', '--subject', '--tree', '--parent', '--timestamp', '--statoverride', '--skip-list', '--orphan']],
      [['checkout'], ['--repo', '--union', '--union-add', '--subpath', '--user-mode', '--require-hardlinks']],
      [['refs'], ['--repo', '--create', '--delete']],
      [['rev-parse'], ['--repo']],
      [['log'], ['--repo']],
      [['show'], ['--repo']],
      [['ls'], ['--repo', '--recursive', '--checksum']],
      [['cat'], ['--repo']],
      [['fsck'], ['--repo', '--quiet', '--json']],
      [['config'], ['get', 'set']],
      [['config', 'get'], ['--repo', '--group']],
      [['config', 'set'], ['--repo', '--group']],
    ];
    for (const [verb, options] of verbs) {
      it(`grove ${verb.join(' ')} --help`, () => {
        const r = grove([...verb, '--help']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        // `config` is one verb whose first operand is the operation, as in ostree: its help is the one of `config`.
        const usage = verb[0] === 'config' ? ['config'] : verb;
        assert.match(r.stdout, new RegExp(`^Usage:\\n {2}grove ${usage.join(' ')} \\[OPTION…\\]`));
        for (const o of options) assert.ok(r.stdout.includes(o), `help of ${verb.join(' ')} mentions ${o}`);
      });
    }

    it('grove --help lists every verb', () => {
      const r = grove(['--help']);
      assert.equal(r.code, 0, r.stderr);
      for (const [verb] of verbs) assert.ok(r.stdout.includes(`  ${verb[0]} `), `lists ${verb[0]}`);
    });
  });
});
