import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { describeTree, GROVE_BIN, needsOstree, ROOT, tempDir, type RunResult } from '../helpers.js';

/**
 * The drop-in promise for the command line: the same words, given to ostree 2022.7 and to grove
 * (installed under the name `ostree`), in twin directories that start the same, with options
 * before the verb, between a verb and its sub-verb and after the arguments, give the same
 * stdout, stderr and exit status. Each tool runs in its own directory with relative paths, and
 * commits carry fixed timestamps, so nothing needs normalising but the directory itself in
 * messages that print absolute paths. Where ostree prints a verb's usage (its help, on stderr),
 * grove's help has its own descriptions and option list (the README's matrix says how they
 * differ), so there the usage line and the error line are compared, not the text between.
 */

interface World { name: string; cwd: string; run: (args: string[]) => RunResult }

const ENV = (() => {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C.UTF-8', TZ: 'UTC' };
  delete env['OSTREE_REPO'];
  return env;
})();

describe('options anywhere: ostree and grove read a command line the same way', needsOstree(), () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let o: World;
  let g: World;

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-anywhere-'));
    const bin = path.join(dir, 'bin');
    await fs.mkdir(bin);
    // Installed as `ostree`, grove names itself `ostree` in its usage lines, as ostree does.
    await fs.symlink(GROVE_BIN, path.join(bin, 'ostree'));
    const world = (name: string, cmd: string, pre: string[]): World => {
      const cwd = path.join(dir, name);
      return {
        name, cwd,
        run: (args) => {
          const r = spawnSync(cmd, [...pre, ...args], { cwd, env: ENV, encoding: 'utf8' });
          const norm = (s: string) => s.split(cwd).join('CWD');
          return { code: r.status ?? -1, stdout: norm(r.stdout), stderr: norm(r.stderr) };
        },
      };
    };
    o = world('ostree', 'ostree', []);
    g = world('grove', process.execPath, [path.join(bin, 'ostree')]);
    for (const w of [o, g]) {
      await buildTree(path.join(w.cwd, 'tree'), [
        { path: 'etc/hostname', type: 'file', content: 'twin\n' },
        { path: 'etc/motd', type: 'file', content: 'hello\n', mode: 0o600 },
        { path: 'usr/bin/tool', type: 'file', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
        { path: 'bin', type: 'symlink', target: 'usr/bin' },
      ]);
      await fs.mkdir(path.join(w.cwd, 'sysroot'));
    }
  });

  after(async () => cleanup());

  const firstLines = (s: string, n: number) => s.split('\n').slice(0, n).join('\n');
  const lastLine = (s: string) => s.replace(/\n$/, '').split('\n').at(-1);

  /** Runs `args` in both worlds; `exact`: all three outputs equal; `usage`/`help`: see the file comment. */
  function same(args: string[], how: 'exact' | 'usage' | 'help' = 'exact'): RunResult {
    const ro = o.run(args);
    const rg = g.run(args);
    const what = `ostree ${args.join(' ')}`;
    assert.equal(rg.code, ro.code, `${what}: exit status (ostree stderr: ${ro.stderr}; grove stderr: ${rg.stderr})`);
    if (how === 'help') {
      assert.equal(firstLines(rg.stdout, 2), firstLines(ro.stdout, 2), `${what}: the usage line on stdout`);
      assert.equal(rg.stderr, ro.stderr, `${what}: stderr`);
      return ro;
    }
    assert.equal(rg.stdout, ro.stdout, `${what}: stdout`);
    if (how === 'exact') {
      assert.equal(rg.stderr, ro.stderr, `${what}: stderr`);
    } else {
      assert.match(ro.stderr, /^Usage:\n/, `${what}: ostree prints its usage (is this a usage case?)`);
      assert.equal(firstLines(rg.stderr, 2), firstLines(ro.stderr, 2), `${what}: the usage line on stderr`);
      assert.equal(lastLine(rg.stderr), lastLine(ro.stderr), `${what}: the error line`);
      assert.equal(rg.stderr.match(/^error: /gm)?.length, 1, `${what}: one error line, the last`);
    }
    return ro;
  }

  describe('verbs, with options before, between and after', () => {
    it('init', async () => {
      same(['--repo=repo', 'init', '--mode=archive']);
      same(['init', '--mode', 'archive', '--repo', 'repo2']);
      // -v is accepted; ostree's debug output for init is empty.
      same(['init', '--repo=repo3', '--mode=bare-user', '-v']);
      for (const r of ['repo', 'repo2', 'repo3']) {
        assert.equal(await fs.readFile(path.join(g.cwd, r, 'config'), 'utf8'), await fs.readFile(path.join(o.cwd, r, 'config'), 'utf8'), `${r}/config`);
      }
    });

    it('commit', () => {
      same(['--repo=repo', 'commit', '-b', 'main', '-s', 'one', '--timestamp=@1000', 'tree']);
      same(['commit', 'tree', '--repo=repo', '--branch=main', '--subject', 'two', '--timestamp=@2000']);
      same(['commit', '--repo', 'repo', '-b', 'other', '-s', 'three', '--timestamp', '@3000', '--', 'tree']);
      // GLib ignores the value given to a flag: --orphan=no still makes an orphan commit.
      same(['commit', '--repo=repo', '--orphan=no', '-s', 'orphan', '--timestamp=@4000', 'tree']);
      same(['commit', '-s', 'short', '-b', 'main', '--timestamp=@5000', 'tree', '--repo=repo']);
    });

    it('refs', () => {
      // ostree lists refs in its hash table's order, grove sorted (see the matrix): compare the sets here.
      const sorted = (args: string[]) => {
        const [ro, rg] = [o.run(args), g.run(args)];
        assert.deepEqual([rg.code, rg.stderr], [ro.code, ro.stderr], args.join(' '));
        assert.deepEqual(rg.stdout.split('\n').sort(), ro.stdout.split('\n').sort(), args.join(' '));
      };
      sorted(['--repo=repo', 'refs']);
      same(['refs', '--repo=repo', '--create=copy', 'main']);
      same(['refs', '--delete', 'copy', '--repo=repo']);
      sorted(['refs', '--repo', 'repo']);
    });

    it('config get and set', async () => {
      same(['config', '--repo=repo', 'get', 'core.mode']);
      same(['--repo=repo', 'config', 'get', 'core.mode']);
      same(['config', 'get', 'core.mode', '--repo=repo']);
      same(['config', '--repo=repo', 'set', 'core.grove-test', 'yes']);
      same(['config', 'set', '--group', 'core', 'other-test', 'two words', '--repo=repo']);
      same(['config', '--group=core', 'get', 'other-test', '--repo', 'repo']);
      same(['config', 'set', '--repo=repo', '--', 'core.dash', '-x']);
      same(['config', 'get', 'core.dash', '--repo=repo']);
      assert.equal(await fs.readFile(path.join(g.cwd, 'repo/config'), 'utf8'), await fs.readFile(path.join(o.cwd, 'repo/config'), 'utf8'));
    });

    it('log', () => {
      same(['log', '--repo=repo', 'main']);
      same(['--repo=repo', 'log', 'main']);
      same(['log', 'main', '--repo=repo']);
    });

    it('rev-parse', () => {
      same(['rev-parse', 'main', '--repo=repo']);
      same(['--repo=repo', 'rev-parse', 'main^']);
      same(['rev-parse', '--repo=repo', '--', 'main']);
      same(['rev-parse', '--repo=repo', 'main', '--', 'other']);
    });

    it('checkout', async () => {
      same(['checkout', '--repo=repo', 'main', 'co1']);
      same(['--repo=repo', 'checkout', '-U', 'main', 'co2']);
      same(['checkout', 'main', 'co3', '--repo', 'repo', '--subpath=/etc']);
      same(['checkout', '-UC', '--repo=repo', 'other', 'co4']);
      for (const co of ['co1', 'co2', 'co3', 'co4']) {
        assert.equal(await describeTree(path.join(g.cwd, co), { xattrs: false }), await describeTree(path.join(o.cwd, co), { xattrs: false }), co);
      }
    });

    it('remote add and list', async () => {
      same(['remote', 'add', '--repo=repo', '--no-gpg-verify', 'origin', 'http://example.com/repo']);
      same(['remote', '--repo=repo', 'add', 'second', 'http://example.com/two', '--no-gpg-verify']);
      same(['--repo=repo', 'remote', 'add', 'third', 'http://example.com/three', 'b1', 'b2']);
      same(['remote', 'list', '--repo=repo']);
      same(['remote', '--repo=repo', 'list', '-u']);
      same(['--repo=repo', 'remote', 'list', '--show-urls']);
      assert.equal(await fs.readFile(path.join(g.cwd, 'repo/config'), 'utf8'), await fs.readFile(path.join(o.cwd, 'repo/config'), 'utf8'));
    });

    it('admin status', () => {
      same(['admin', 'init-fs', 'sysroot']);
      same(['admin', '--sysroot=sysroot', 'os-init', 'osx']);
      same(['admin', 'status', '--sysroot=sysroot']);
      same(['admin', '--sysroot=sysroot', 'status']);
      same(['--sysroot=sysroot', 'admin', 'status']);
      same(['admin', 'status', '--sysroot', 'sysroot']);
      // Below `admin`, a `--` ends the line: what follows it is dropped, even an unknown option.
      same(['admin', '--sysroot=sysroot', 'status', '--', '--no-such-option']);
      same(['admin', '--sysroot=sysroot', '--print-current-dir'], 'usage');
      same(['admin', 'status', '--print-current-dir', '--sysroot=sysroot']);
    });
  });

  describe('what ostree refuses, grove refuses with the same words', () => {
    it('no verb, an unknown verb, an option only a verb knows', () => {
      same([], 'usage');
      same(['-v'], 'usage');
      same(['--repo=repo'], 'usage');
      same(['badverb', '--repo=repo'], 'usage');
      same(['badverb'], 'usage');
      same(['--nosuchopt'], 'usage');
      // The verb is the first word without a dash: here `repo`.
      same(['--repo', 'repo', 'log', 'main'], 'usage');
    });

    it('unknown options, missing values, short option groups', () => {
      same(['commit', '--nosuchopt']);
      same(['commit', '--repo=repo', '-b']);
      same(['commit', '--repo=repo', '--subject']);
      same(['log', '--repo']);
      // A short option takes the next word, never the rest of its group.
      same(['commit', '--repo=repo', '-bmain', '-s', 'x', 'tree']);
      same(['commit', '--repo=repo', '-b', 'main', '-ss', 'tree']);
      same(['checkout', '--repo=repo', '-Uq', 'main', 'x']);
      same(['log', '--repo=repo', '--raw-ish', 'main']);
      same(['log', '--repo=repo', '--help=yes', 'main']);
      same(['log', '--repo=repo', '--nosuch', '--help']);
    });

    it('missing arguments print the usage', () => {
      same(['log', '--repo=repo'], 'usage');
      same(['rev-parse', '--repo=repo'], 'usage');
      same(['checkout', '--repo=repo'], 'usage');
      same(['config', '--repo=repo'], 'usage');
      same(['config', '--repo=repo', 'get', 'core.mode', 'extra'], 'usage');
      same(['remote', 'delete', '--repo=repo'], 'usage');
      same(['remote', '--repo=repo', 'show-url'], 'usage');
      same(['admin', 'os-init', '--sysroot=sysroot'], 'usage');
      same(['refs'], 'usage');
    });

    it('config and refs checks', () => {
      same(['config', '--repo=repo', 'get']);
      same(['config', '--repo=repo', 'set', 'core.x']);
      same(['config', '--repo=repo', 'nosuchop']);
      same(['config', '--repo=repo', 'get', 'nodot']);
      same(['config', '--repo=repo', 'get', 'core.no-such-key']);
      same(['config', '--repo=repo', 'get', 'nogroup.key']);
      same(['refs', '--repo=repo', '--create=x']);
      same(['refs', '--repo=repo', '--delete']);
    });

    it('families: remote, admin, admin kargs', () => {
      same(['remote'], 'usage');
      same(['remote', '--repo=repo'], 'usage');
      same(['remote', 'nosuch'], 'usage');
      same(['admin'], 'usage');
      same(['admin', 'nosuch', '--sysroot=sysroot'], 'usage');
      same(['admin', '--sysroot', 'sysroot', 'status'], 'usage');
      same(['admin', '--nosuch', 'status']);
      same(['admin', 'kargs', '--sysroot=sysroot'], 'usage');
    });
  });

  describe('help and version', () => {
    it('--help, -h and -? wherever they are, unless an error comes first', () => {
      for (const args of [['--help'], ['-h'], ['--help', 'commit'], ['log', '--repo=repo', 'main', '--help'], ['checkout', '-U?'],
        ['checkout', '-Uh'], ['log', '--help-all'], ['admin', '--help'], ['admin', 'status', '-h'], ['remote', 'list', '--help'],
        ['config', '--help'], ['--repo=repo', 'refs', '--help']]) {
        const r = same(args, 'help');
        assert.match(r.stdout, /^Usage:\n/, `ostree ${args.join(' ')} prints a usage`);
      }
    });

    it('--version anywhere prints the version and features, in ostree\'s layout', async () => {
      const layout = /^([a-z]+):\n Version: '([^']+)'\n Features:\n((?: {2}- [a-z0-9-]+\n)+)$/;
      const known = layout.exec(o.run(['--version']).stdout);
      assert.ok(known, 'ostree --version has the layout this test expects');
      const version = (JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
      const ostreeFeatures = known[3]!.split('\n').filter(Boolean).map((l) => l.slice(4));
      for (const args of [['--version'], ['log', '--version'], ['badverb', '--version'], ['admin', 'status', '--version'], ['--repo=nonexistent', 'refs', '--version']]) {
        const ro = o.run(args);
        const rg = g.run(args);
        assert.equal(ro.code, 0);
        assert.equal(rg.code, 0, rg.stderr);
        assert.equal(rg.stderr, '');
        const m = layout.exec(rg.stdout);
        assert.ok(m, `grove ${args.join(' ')}: ${rg.stdout}`);
        assert.equal(m[1], 'grove');
        assert.equal(m[2], version);
        const features = m[3]!.split('\n').filter(Boolean).map((l) => l.slice(4));
        assert.deepEqual(features, ['gpgme', 'sign-ed25519', 'libarchive', 'p2p']);
        // A name ostree lists means the same capability; sign-ed25519 is the name ostree builds with libsodium use.
        for (const f of features) assert.ok(ostreeFeatures.includes(f) || f === 'sign-ed25519', f);
      }
      same(['--version', '--nosuch'], 'usage');
    });
  });

  it('run as grove, grove names itself grove', () => {
    const r = spawnSync(process.execPath, [GROVE_BIN, 'log'], { cwd: o.cwd, env: ENV, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^Usage:\n {2}grove log \[OPTION…\] REV\n/);
  });
});
