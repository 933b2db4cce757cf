import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { GROVE_BIN, groveAsOstree, needsOstree, ostree, tempDir } from '../helpers.js';
import { both, assertSame, runEnv, type Twins } from './dropin-support.js';
import { assertSameStderr } from './usage-compare.js';
import { assertSameSummary } from './compare.js';

/**
 * Drop-in: `create-usb`. ostree and grove copy collection refs of one source repository (made
 * by ostree, with a collection ID, a mirrored collection and a summary) into a directory each,
 * standing for the mount, from twin working directories so that every message reads the same.
 * What they leave must match: every path (with symlink targets), every ref, the config, and the
 * summary byte for byte (its last-modified time aside).
 */

interface Setup { dir: string; src: string; cwd: Twins; main: string; other: string }
let s: Setup;
let cleanup: () => Promise<void>;

/** Every path below `dir`, with a symlink's target and a ref's content. */
async function describeMount(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of (await fs.readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isSymbolicLink()) out.push(`${rel} -> ${await fs.readlink(p)}`);
      else if (e.isDirectory()) {
        out.push(`${rel}/`);
        await walk(p);
      } else out.push(rel.includes('/refs/') || rel.endsWith('config') ? `${rel}: ${await fs.readFile(p, 'utf8')}` : rel);
    }
  };
  await walk(dir);
  return out;
}

/**
 * Both refuse `create-usb ARGS` (from twin working directories): same status and stdout, the
 * same stderr (where ostree prints the verb's usage first, its usage line and error line).
 */
function sameRefusal(args: string[]): void {
  const o = spawnSync('ostree', ['create-usb', ...args], { cwd: s.cwd.o, encoding: 'utf8' });
  const g = groveAsOstree(['create-usb', ...args], { cwd: s.cwd.g });
  const what = `create-usb ${args.join(' ')}`;
  assert.notEqual(o.status, 0, `${what}: ostree succeeded`);
  assert.equal(g.code, o.status, `${what}: exit status (grove: ${g.stderr.trim()})`);
  assert.equal(g.stdout, o.stdout, `${what}: stdout`);
  assertSameStderr(g.stderr, o.stderr, what);
}

async function freshMounts(): Promise<void> {
  for (const c of [s.cwd.g, s.cwd.o]) {
    await fs.rm(path.join(c, 'mnt'), { recursive: true, force: true });
    await fs.mkdir(path.join(c, 'mnt'));
  }
}

/** Both copy with `args`, succeed with the same report, and leave the same mount. */
async function sameCopy(args: string[], repoDir = '.ostree/repo'): Promise<void> {
  const r = await both(s.cwd, () => ['create-usb', `--repo=${s.src}`, ...args], { cwd: s.cwd });
  assertSame(r, s.cwd, `create-usb ${args.join(' ')}`);
  assert.equal(r.o.code, 0, r.o.stderr);
  const [g, o] = [path.join(s.cwd.g, 'mnt'), path.join(s.cwd.o, 'mnt')];
  assert.deepEqual(await describeMount(g), await describeMount(o), 'the mount');
  await assertSameSummary(path.join(g, repoDir), path.join(o, repoDir));
}

describe('create-usb', needsOstree(), () => {
  before(async () => {
    const t = await tempDir('grove-dropin-create-usb-');
    cleanup = t.cleanup;
    const dir = t.dir;
    const tree = path.join(dir, 'tree');
    await buildTree(tree, [
      { path: 'usr/bin/tool', type: 'file', content: 'tool\n', mode: 0o755 },
      { path: 'etc/conf', type: 'file', content: 'a=1\n' },
      { path: 'usr/lib/link', type: 'symlink', target: '../bin/tool' },
    ]);
    const src = path.join(dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive', '--collection-id=org.example.Os']);
    const first = ostree(['commit', `--repo=${src}`, '-b', 'os/stable', '--timestamp=@1700000000', tree]).stdout.trim();
    const main = ostree(['commit', `--repo=${src}`, '-b', 'os/stable', '--timestamp=@1700000100', `--tree=dir=${tree}`, '--add-metadata-string=v=2']).stdout.trim();
    // A ref of another collection, mirrored in the source: refs/mirrors/org.example.Apps/app.
    // ostree checks a commit's collection binding against the source's own collection ID,
    // whatever collection the ref is in, so the commit is made here, bound to ref app.
    const other = ostree(['commit', `--repo=${src}`, '-b', 'app', '--timestamp=@1700000200', `--tree=dir=${path.join(tree, 'etc')}`]).stdout.trim();
    await fs.mkdir(path.join(src, 'refs', 'mirrors', 'org.example.Apps'), { recursive: true });
    await fs.rename(path.join(src, 'refs', 'heads', 'app'), path.join(src, 'refs', 'mirrors', 'org.example.Apps', 'app'));
    // And one whose commit has no binding at all, which a source with a collection ID may not serve.
    const unbound = ostree(['commit', `--repo=${src}`, '--orphan', '--timestamp=@1700000300', `--tree=dir=${path.join(tree, 'etc')}`]).stdout.trim();
    await fs.writeFile(path.join(src, 'refs', 'mirrors', 'org.example.Apps', 'unbound'), `${unbound}\n`);
    ostree(['summary', `--repo=${src}`, '-u']);
    const cwd = { g: path.join(dir, 'g'), o: path.join(dir, 'o') };
    for (const c of [cwd.g, cwd.o]) await fs.mkdir(c);
    s = { dir, src, cwd, main, other };
    void first;
  });
  after(async () => cleanup());

  test('copies collection refs into .ostree/repo as ostree does', async () => {
    await freshMounts();
    await sameCopy(['mnt', 'org.example.Os', 'os/stable']);
    const ref = await fs.readFile(path.join(s.cwd.g, 'mnt/.ostree/repo/refs/mirrors/org.example.Os/os/stable'), 'utf8');
    assert.equal(ref, `${s.main}\n`);
    // Again, into the existing repository, with a ref of the mirrored collection added.
    await sameCopy(['--disable-fsync', 'mnt', 'org.example.Os', 'os/stable', 'org.example.Apps', 'app']);
  });

  test('--destination-repo links the repository from .ostree/repos.d, once per run', async () => {
    await freshMounts();
    await sameCopy(['--destination-repo=stick/repo', 'mnt', 'org.example.Os', 'os/stable'], 'stick/repo');
    await sameCopy(['--destination-repo=stick/repo', 'mnt', 'org.example.Os', 'os/stable'], 'stick/repo');
    await sameCopy(['--destination-repo=ostree/repo', 'mnt', 'org.example.Os', 'os/stable'], 'ostree/repo');
  });

  test('--commit copies that commit for the ref', async () => {
    await freshMounts();
    const parent = ostree(['rev-parse', `--repo=${s.src}`, 'os/stable^']).stdout.trim();
    await sameCopy([`--commit=${parent}`, 'mnt', 'org.example.Os', 'os/stable']);
    const ref = await fs.readFile(path.join(s.cwd.o, 'mnt/.ostree/repo/refs/mirrors/org.example.Os/os/stable'), 'utf8');
    assert.equal(ref, `${parent}\n`);
  });

  test('refuses bad command lines in ostree\'s words', async () => {
    await freshMounts();
    const fail = async (args: string[]) => sameRefusal([`--repo=${s.src}`, ...args]);
    await fail([]);
    await fail(['mnt']);
    await fail(['mnt', 'org.example.Os']);
    await fail(['mnt', 'org.example.Os', 'os/stable', 'org.example.Apps']);
    await fail([`--commit=${s.main}`, 'mnt', 'org.example.Os', 'os/stable', 'org.example.Apps', 'app']);
    await fail(['nowhere', 'org.example.Os', 'os/stable']);
    await fail(['mnt', 'bad', 'os/stable']);
    await fail(['mnt', 'org.example.Os', '+bad']);
    await fail(['mnt', 'org.example.Os', 'os/missing']);
    await fail(['mnt', 'org.example.Other', 'os/stable']);
    await fail(['mnt', 'org.example.Apps', 'unbound']);
    await fail([`--destination-repo=${s.src}`, path.dirname(s.src), 'org.example.Os', 'os/stable']);
    // Another file system: ostree makes its repository there before it refuses it; grove does not.
    const elsewhere = await fs.mkdtemp('/dev/shm/grove-create-usb-');
    try {
      await fail([`--destination-repo=${elsewhere}/repo`, 'mnt', 'org.example.Os', 'os/stable']);
    } finally {
      await fs.rm(elsewhere, { recursive: true, force: true });
    }
  });

  test('refuses a --commit that is not a checksum in one line (ostree aborts on an assertion)', async () => {
    await freshMounts();
    const r = await both(s.cwd, () => ['create-usb', `--repo=${s.src}`, '--commit=abc', 'mnt', 'org.example.Os', 'os/stable'], { cwd: s.cwd });
    assert.equal(r.g.code, 1);
    assert.equal(r.g.stderr, "error: --commit: 'abc' is not a commit checksum\n");
    assert.deepEqual(await fs.readdir(path.join(s.cwd.g, 'mnt')), []);
  });

  test('the link in repos.d reads as ostree writes it (nothing normalized)', async () => {
    await freshMounts();
    for (const c of [s.cwd.g, s.cwd.o]) await fs.mkdir(path.join(c, 'mnt', 'stick'));
    await sameCopy(['--destination-repo=stick/../repo/', 'mnt', 'org.example.Os', 'os/stable'], 'repo');
    assert.equal(await fs.readlink(path.join(s.cwd.g, 'mnt/.ostree/repos.d/00-generated')), '../../stick/../repo/');
  });

  test('copies from a source without a summary, and refuses there in ostree\'s words', async () => {
    const bare = path.join(s.dir, 'nosummary');
    await fs.rm(bare, { recursive: true, force: true });
    ostree(['init', `--repo=${bare}`, '--mode=archive', '--collection-id=org.example.Os']);
    ostree(['pull-local', `--repo=${bare}`, s.src, 'os/stable']);
    await freshMounts();
    const r = await both(s.cwd, () => ['create-usb', `--repo=${bare}`, 'mnt', 'org.example.Os', 'os/stable'], { cwd: s.cwd });
    assertSame(r, s.cwd, 'create-usb from a source without a summary');
    assert.equal(r.o.code, 0, r.o.stderr);
    assert.deepEqual(await describeMount(path.join(s.cwd.g, 'mnt')), await describeMount(path.join(s.cwd.o, 'mnt')));
    sameRefusal([`--repo=${bare}`, 'mnt', 'org.example.Os', 'os/missing']);
  });

  test('each tool pulls (--mirror) what the other\'s create-usb wrote', async () => {
    await freshMounts();
    await sameCopy(['mnt', 'org.example.Os', 'os/stable', 'org.example.Apps', 'app']);
    const [gUsb, oUsb] = [path.join(s.cwd.g, 'mnt/.ostree/repo'), path.join(s.cwd.o, 'mnt/.ostree/repo')];
    ostree(['fsck', `--repo=${gUsb}`]);
    for (const [name, usb] of [['grove', gUsb], ['ostree', oUsb]] as const) {
      const clients = { g: path.join(s.dir, `client-g-${name}`), o: path.join(s.dir, `client-o-${name}`) };
      for (const c of [clients.g, clients.o]) {
        await fs.rm(c, { recursive: true, force: true });
        ostree(['init', `--repo=${c}`, '--mode=archive']);
        ostree(['remote', 'add', `--repo=${c}`, '--no-gpg-verify', '--collection-id=org.example.Os', 'usb', `file://${usb}`]);
      }
      const r = await both(clients, (repo) => ['pull', `--repo=${repo}`, '--mirror', 'usb']);
      assert.equal(r.o.code, 0, r.o.stderr);
      assert.equal(r.g.code, 0, r.g.stderr);
      const refs = (repo: string) => ostree(['refs', `--repo=${repo}`, '--collections']).stdout;
      assert.equal(refs(clients.g), refs(clients.o), `refs pulled from ${name}'s stick`);
      assert.match(refs(clients.o), /\(org\.example\.Apps, app\)/);
      // A full mirror keeps the source's summary as it came, as ostree does.
      assert.ok((await fs.readFile(path.join(clients.g, 'summary'))).equals(await fs.readFile(path.join(usb, 'summary'))), 'summary kept');
      for (const c of [clients.g, clients.o]) ostree(['fsck', `--repo=${c}`]);
    }
  });

  test('pull --mirror of a ref from a source with a collection ID writes its collection ref', async () => {
    const clients = { g: path.join(s.dir, 'mirror-g'), o: path.join(s.dir, 'mirror-o') };
    for (const c of [clients.g, clients.o]) {
      await fs.rm(c, { recursive: true, force: true });
      ostree(['init', `--repo=${c}`, '--mode=archive']);
      ostree(['remote', 'add', `--repo=${c}`, '--no-gpg-verify', 'origin', `file://${s.src}`]);
    }
    const r = await both(clients, (repo) => ['pull', `--repo=${repo}`, '--mirror', 'origin', 'os/stable']);
    assert.equal(r.o.code, 0, r.o.stderr);
    assert.equal(r.g.code, 0, r.g.stderr);
    const files = async (repo: string) => (await fs.readdir(path.join(repo, 'refs'), { recursive: true })).sort();
    assert.deepEqual(await files(clients.g), await files(clients.o));
    assert.ok((await files(clients.o)).includes('mirrors/org.example.Os/os/stable'));
  });

  test('leaves nothing in an existing directory without a repository when the copy fails', async () => {
    await freshMounts();
    await fs.mkdir(path.join(s.cwd.g, 'mnt', 'repo'));
    const r = await runEnv(process.execPath, [GROVE_BIN, 'create-usb', `--repo=${s.src}`, '--destination-repo=repo', 'mnt', 'org.example.Os', 'os/missing'], {}, undefined, s.cwd.g);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(await fs.readdir(path.join(s.cwd.g, 'mnt', 'repo')), []);
  });

  test('leaves nothing on the mount when the copy fails', async () => {
    await freshMounts();
    const r = await both(s.cwd, () => ['create-usb', `--repo=${s.src}`, 'mnt', 'org.example.Os', 'os/missing'], { cwd: s.cwd });
    assert.notEqual(r.g.code, 0);
    assert.deepEqual(await fs.readdir(path.join(s.cwd.g, 'mnt')), []);
  });
});
