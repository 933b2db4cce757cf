import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { archiveHeader, encodeCommit, encodeDirMeta } from '../../src/format/objects.js';
import { GROVE_BIN, needsOstree, ostree, tempDir } from '../helpers.js';
import { run } from '../interop/support.js';
import { startRepoServer } from '../net/repo-server.js';
import { checksumOf, fileHeader, filez, loadCommit, loadTree, objectFile, putCommit, putDirTree, putObject, readCommit, zeroBomb } from './craft.js';

/**
 * What the object store refuses, whoever hands it the bytes: a server, a local repository, or a
 * repository on disk that someone tampered with. Every object here has the checksum it claims
 * (unless the case is about a forged name), so only the store's own checks stand in the way.
 */

interface Run { code: number; stdout: string; stderr: string; ms: number; maxRssMiB: number }

/** A preload that records the process's peak RSS (worker threads included) when it exits. */
const RSS_HOOK = `process.on('exit', () => require('fs').writeFileSync(process.env.GROVE_TEST_RSS_FILE, String(process.resourceUsage().maxRSS)));\n`;

let hookFile = '';

async function grove(args: string[]): Promise<Run> {
  const rssFile = `${hookFile}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  const started = performance.now();
  const r = await spawnAsync(process.execPath, ['--require', hookFile, GROVE_BIN, ...args], { GROVE_TEST_RSS_FILE: rssFile });
  const ms = performance.now() - started;
  const kib = Number(fsSync.readFileSync(rssFile, 'utf8'));
  fsSync.rmSync(rssFile, { force: true });
  return { ...r, ms, maxRssMiB: kib / 1024 };
}

function spawnAsync(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    // Nothing here may take long: a read that never ends is killed and fails the test.
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** A refusal as the standards ask: exit 1, one line on stderr, `error: …` matching `re`. */
function assertRefused(r: Run, re: RegExp): void {
  assert.equal(r.code, 1, `exit status (stderr: ${r.stderr})`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, /^error: /);
  assert.match(r.stderr, re);
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

describe('the object store refuses hostile objects', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let base: string;
  let n = 0;

  before(async () => {
    tmp = await tempDir('grove-hostile-');
    hookFile = path.join(tmp.dir, 'rss-hook.cjs');
    await fs.writeFile(hookFile, RSS_HOOK);
    const tree = path.join(tmp.dir, 'tree');
    await buildTree(tree, [
      { path: 'etc/hostname', type: 'file', content: 'grove\n' },
      { path: 'usr/bin/tool', type: 'file', content: '#!/bin/sh\n', mode: 0o755 },
      { path: 'usr/lib/link', type: 'symlink', target: '../bin/tool' },
    ]);
    base = path.join(tmp.dir, 'base');
    await run(process.execPath, [GROVE_BIN, 'init', `--repo=${base}`, '--mode=archive']);
    const c = await run(process.execPath, [GROVE_BIN, 'commit', `--repo=${base}`, '-b', 'main', '--timestamp=@1700000000', tree]);
    assert.equal(c.code, 0, c.stderr);
  });
  after(async () => {
    await tmp?.cleanup();
  });

  /** A copy of the base archive repository to tamper with. */
  const variant = async (): Promise<string> => {
    const p = path.join(tmp.dir, `evil-${n++}`);
    await fs.cp(base, p, { recursive: true });
    return p;
  };
  const freshRepo = async (mode: string): Promise<string> => {
    const p = path.join(tmp.dir, `dst-${n++}`);
    assert.equal((await grove(['init', `--repo=${p}`, `--mode=${mode}`])).code, 0);
    return p;
  };

  /** Pulls ref `evil` of `evil` into a new repository of `mode`, over HTTP or pull-local. */
  const pullEvil = async (evil: string, mode: string, how: 'http' | 'local'): Promise<{ r: Run; repo: string }> => {
    const repo = await freshRepo(mode);
    if (how === 'local') return { r: await grove(['pull-local', `--repo=${repo}`, evil, 'evil']), repo };
    const server = await startRepoServer(evil);
    try {
      assert.equal((await grove(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', server.url])).code, 0);
      return { r: await grove(['pull', `--repo=${repo}`, 'origin', 'evil']), repo };
    } finally {
      await server.close();
    }
  };

  const DIRMETAS: Array<[string, Uint8Array, RegExp]> = [
    ['a regular file\'s mode', encodeDirMeta({ uid: 0, gid: 0, mode: 0o100644, xattrs: [] }), /not a directory/],
    ['a mode bit outside type and permissions', encodeDirMeta({ uid: 0, gid: 0, mode: 0o040755 | 0o200000, xattrs: [] }), /Invalid mode \d+; invalid bits in mode/],
    ['garbage bytes', Buffer.from('twelve bytes and then some garbage that frames nothing'), /corrupt/],
  ];
  for (const [what, bytes, re] of DIRMETAS) {
    it(`a dirmeta with ${what} is refused over HTTP and pull-local, into archive, bare-user and bare-user-only, as ostree refuses it`, async () => {
      const evil = await variant();
      const { commit } = await readCommit(evil, 'main');
      const meta = await putObject(evil, 'dirmeta', bytes);
      await putCommit(evil, commit, 'evil', { tree: commit.rootTree, meta });
      for (const how of ['http', 'local'] as const) {
        for (const mode of ['archive', 'bare-user', 'bare-user-only']) {
          const { r, repo } = await pullEvil(evil, mode, how);
          assertRefused(r, new RegExp(`dirmeta.*${meta}|${meta}.*dirmeta`));
          assert.match(r.stderr, re);
          assert.equal(await exists(objectFile(repo, meta, 'dirmeta')), false, `${how} into ${mode}: the dirmeta was stored`);
          assert.equal(await exists(path.join(repo, how === 'http' ? 'refs/remotes/origin/evil' : 'refs/heads/evil')), false);
        }
      }
      if (needsOstree().skip === false) {
        const o = path.join(tmp.dir, `ostree-${n++}`);
        ostree(['init', `--repo=${o}`, '--mode=archive']);
        assert.notEqual(ostree(['pull-local', '--untrusted', `--repo=${o}`, evil, 'evil'], { allowFail: true }).code, 0, 'ostree refuses it too');
      }
    });
  }

  const HEADERS: Array<[string, ReturnType<typeof fileHeader>, string[], RegExp]> = [
    ['a character device', fileHeader(0o020644), ['archive', 'bare-user'], /Invalid file metadata mode \d+; not a valid file type/],
    ['a mode bit outside type and permissions', fileHeader(0o100644 | 0o200000), ['bare-user'], /Invalid mode \d+; invalid bits in mode/],
    ['a symlink with an empty target', fileHeader(0o120777, ''), ['bare-user'], /invalid symlink target/],
    ['a setuid file, into bare-user-only', fileHeader(0o104755), ['bare-user-only'], /bits 04000.*bare-user-only/],
  ];
  for (const [what, header, modes, re] of HEADERS) {
    it(`a content object that is ${what} is refused and not stored`, async () => {
      const evil = await variant();
      const { commit } = await readCommit(evil, 'main');
      const obj = filez(header, header.mode === 0o120777 ? undefined : Buffer.from('payload\n'));
      await putObject(evil, 'filez', obj.bytes, obj.checksum);
      const tree = await putDirTree(evil, { files: [['x', obj.checksum]], dirs: [] });
      await putCommit(evil, commit, 'evil', { tree, meta: commit.rootMeta });
      for (const mode of modes) {
        const { r, repo } = await pullEvil(evil, mode, 'http');
        assertRefused(r, re);
        assert.match(r.stderr, new RegExp(obj.checksum));
        assert.equal(await exists(objectFile(repo, obj.checksum, mode === 'archive' ? 'filez' : 'file')), false, `stored into ${mode}`);
      }
    });
  }

  it('a setuid file pulled into bare-user is kept (only bare-user-only forbids it)', async () => {
    const evil = await variant();
    const { commit } = await readCommit(evil, 'main');
    const obj = filez(fileHeader(0o104755), Buffer.from('payload\n'));
    await putObject(evil, 'filez', obj.bytes, obj.checksum);
    const tree = await putDirTree(evil, { files: [['x', obj.checksum]], dirs: [] });
    await putCommit(evil, commit, 'evil', { tree, meta: commit.rootMeta });
    const { r, repo } = await pullEvil(evil, 'bare-user', 'http');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await exists(objectFile(repo, obj.checksum, 'file')));
  });

  describe('an archive object that inflates past its announced size', () => {
    // 2 GiB of zeros in about 2 MB. A checksum that matches nothing: the bytes are never
    // meant to be stored, only refused before they cost memory.
    for (const announced of [1000, (64 << 20) + 1]) {
      it(`(announcing ${announced} bytes) is refused by checkout and pull with a peak RSS under 300 MiB`, async () => {
        const evil = await variant();
        const { commit } = await readCommit(evil, 'main');
        const header = fileHeader(0o100644);
        const name = checksumOf(header, Buffer.from(`bomb ${announced}`));
        await putObject(evil, 'filez', Buffer.concat([archiveHeader(header, BigInt(announced)), zeroBomb(2048)]), name);
        const tree = await putDirTree(evil, { files: [['bomb', name]], dirs: [] });
        await putCommit(evil, commit, 'evil', { tree, meta: commit.rootMeta });

        const co = await grove(['checkout', `--repo=${evil}`, 'evil', path.join(tmp.dir, `co-${n++}`)]);
        assertRefused(co, /inflates past its recorded size/);
        assert.ok(co.maxRssMiB < 300, `checkout peaked at ${co.maxRssMiB.toFixed(0)} MiB`);

        const { r } = await pullEvil(evil, 'bare-user', 'http');
        assertRefused(r, /inflates past its recorded size/);
        assert.ok(r.maxRssMiB < 300, `pull peaked at ${r.maxRssMiB.toFixed(0)} MiB`);
      });
    }
  });
});

describe('a repository whose object files are not what they claim', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: string;
  let commit: string;
  let n = 0;

  before(async () => {
    tmp = await tempDir('grove-nonreg-');
    hookFile = path.join(tmp.dir, 'rss-hook.cjs');
    await fs.writeFile(hookFile, RSS_HOOK);
    const tree = path.join(tmp.dir, 'tree');
    await buildTree(tree, [
      { path: 'a/data', type: 'file', content: 'some data\n'.repeat(100) },
      { path: 'b/more', type: 'file', content: 'more\n' },
    ]);
    repo = path.join(tmp.dir, 'repo');
    assert.equal((await grove(['init', `--repo=${repo}`, '--mode=bare-user'])).code, 0);
    const c = await grove(['commit', `--repo=${repo}`, '-b', 'main', '--timestamp=@1700000000', tree]);
    assert.equal(c.code, 0, c.stderr);
    commit = c.stdout.trim();
  });
  after(async () => {
    await tmp?.cleanup();
  });

  /** Runs checkout, fsck and pull-local with one object replaced by `replace`, then restores it. */
  const withReplaced = async (file: string, replace: (p: string) => void): Promise<Record<string, Run>> => {
    const saved = `${file}.saved`;
    await fs.rename(file, saved);
    try {
      replace(file);
      const dst = path.join(tmp.dir, `dst-${n++}`);
      await grove(['init', `--repo=${dst}`, '--mode=bare-user']);
      return {
        // A copying checkout reads every object (a hardlink checkout with the index's catalogue reads none).
        checkout: await grove(['checkout', `--repo=${repo}`, '-U', '-C', 'main', path.join(tmp.dir, `co-${n++}`)]),
        fsck: await grove(['fsck', `--repo=${repo}`]),
        'pull-local': await grove(['pull-local', `--repo=${dst}`, repo, 'main']),
      };
    } finally {
      await fs.rm(file, { force: true });
      await fs.rename(saved, file);
    }
  };

  /** The object of file `a/data`. */
  const contentObject = async (): Promise<string> => {
    const c = await loadCommit(repo, commit);
    const a = (await loadTree(repo, c.rootTree)).dirs.find(([name]) => name === 'a')!;
    return objectFile(repo, (await loadTree(repo, a[1])).files[0]![1], 'file');
  };

  for (const [what, make] of [
    ['a symlink to /dev/zero', (p: string) => fsSync.symlinkSync('/dev/zero', p)],
    ['a FIFO', (p: string) => { assert.equal(spawnSync('mkfifo', [p]).status, 0); }],
  ] as const) {
    it(`a content object that is ${what} fails checkout, fsck and pull-local at once, with one line`, async () => {
      const file = await contentObject();
      const runs = await withReplaced(file, make);
      for (const [verb, r] of Object.entries(runs)) {
        assert.equal(r.code, 1, `${verb}: ${r.stderr}`);
        assert.ok(r.ms < 15_000, `${verb} took ${Math.round(r.ms)} ms`);
        assert.match(r.stderr, /not a regular file/, verb);
        if (verb !== 'fsck') assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${verb}: ${r.stderr}`);
        assert.ok(r.maxRssMiB < 300, `${verb} peaked at ${r.maxRssMiB} MiB`);
      }
    });
  }

  it('a dirtree object that is a symlink to /dev/zero fails them at once, with one line', async () => {
    const { dirs } = await loadTree(repo, (await loadCommit(repo, commit)).rootTree);
    const runs = await withReplaced(objectFile(repo, dirs[0]![1], 'dirtree'), (p) => fsSync.symlinkSync('/dev/zero', p));
    for (const [verb, r] of Object.entries(runs)) {
      assert.equal(r.code, 1, `${verb}: ${r.stderr}`);
      assert.ok(r.ms < 15_000, `${verb} took ${Math.round(r.ms)} ms`);
      assert.match(r.stderr, /symbolic link, not a regular file/, verb);
    }
  });

  it('a dirtree that contains itself is refused by ls -R, checkout and fsck with one line', async () => {
    const c = await loadCommit(repo, commit);
    const root = await loadTree(repo, c.rootTree);
    // A forged name: its content lists itself as a subdirectory.
    const loop = 'ab'.repeat(32);
    await putDirTree(repo, { files: root.files, dirs: [['loop', loop, c.rootMeta]] }, loop);
    const forged = await putObject(repo, 'commit', encodeCommit({ ...c, rootTree: loop }));
    try {
      for (const args of [['ls', '-R', forged], ['checkout', '-U', forged, path.join(tmp.dir, `co-${n++}`)]]) {
        const r = await grove([args[0]!, `--repo=${repo}`, ...args.slice(1)]);
        assertRefused(r, /contains itself/);
      }
      const f = await grove(['fsck', `--repo=${repo}`]);
      assert.equal(f.code, 1, f.stderr);
      assert.doesNotMatch(f.stderr, /internal error|    at /);
    } finally {
      await fs.rm(objectFile(repo, forged, 'commit'));
      await fs.rm(objectFile(repo, loop, 'dirtree'));
    }
  });

  it('a commit that is its own parent is refused by log with one line', async () => {
    const c = await loadCommit(repo, commit);
    const self = 'cd'.repeat(32);
    await putObject(repo, 'commit', encodeCommit({ ...c, parent: self }), self);
    try {
      const r = await grove(['log', `--repo=${repo}`, self]);
      assertRefused(r, /its own ancestor/);
      assert.ok(r.maxRssMiB < 300);
    } finally {
      await fs.rm(objectFile(repo, self, 'commit'));
    }
  });
});

describe('a pull that fails part way', () => {
  it('keeps every object it had fetched, so the rerun fetches only the rest', async () => {
    const tmp = await tempDir('grove-rerun-');
    hookFile = path.join(tmp.dir, 'rss-hook.cjs');
    await fs.writeFile(hookFile, RSS_HOOK);
    try {
      const tree = path.join(tmp.dir, 'tree');
      await buildTree(tree, Array.from({ length: 300 }, (_, i) => ({ path: `d${i % 7}/f${i}`, type: 'file' as const, content: `file ${i}\n`.repeat(i + 1) })));
      const src = path.join(tmp.dir, 'src');
      await grove(['init', `--repo=${src}`, '--mode=archive']);
      assert.equal((await grove(['commit', `--repo=${src}`, '-b', 'main', tree])).code, 0);
      // The 40th content object asked for is missing from the server: the pull fails then.
      const served = new Set<string>();
      let asked = 0;
      const failing = await startRepoServer(src, (rel, res) => {
        if (!rel.endsWith('.filez')) return false;
        if (++asked === 40) {
          res.writeHead(404).end();
          return true;
        }
        served.add(rel);
        const body = fsSync.readFileSync(path.join(src, rel));
        res.writeHead(200, { 'content-length': body.length }).end(body);
        return true;
      });
      const repo = path.join(tmp.dir, 'dst');
      await grove(['init', `--repo=${repo}`, '--mode=archive']);
      await grove(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', failing.url]);
      const first = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
      await failing.close();
      assertRefused(first, /missing/);
      const lost = [...served].filter((rel) => !fsSync.existsSync(path.join(repo, rel)));
      assert.deepEqual(lost, [], `${lost.length} of the ${served.size} objects served were not kept`);

      const again = new Set<string>();
      const healthy = await startRepoServer(src, (rel) => {
        if (rel.endsWith('.filez')) again.add(rel);
        return false;
      });
      await grove(['remote', 'add', `--repo=${repo}`, '--force', '--no-gpg-verify', 'origin', healthy.url]);
      const second = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
      await healthy.close();
      assert.equal(second.code, 0, second.stderr);
      const twice = [...again].filter((rel) => served.has(rel));
      assert.deepEqual(twice, [], 'the rerun fetched again what the failed pull had');
    } finally {
      await tmp.cleanup();
    }
  });
});
