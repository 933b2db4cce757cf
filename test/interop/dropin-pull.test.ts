import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildTree } from '../../fixtures/trees/build.js';
import { ostree, tempDir } from '../helpers.js';
import { startRepoServer, type TestServer } from '../net/repo-server.js';
import { lsRC, needsOstreeAsRoot } from './support.js';
import { both, assertSame, sameFailure, type Twins } from './dropin-support.js';

/**
 * Drop-in: the options of `ostree pull` that grove lacked. An archive repository made by ostree
 * is served over HTTP; ostree and grove pull it into twin repositories with the same command
 * line. Successes must leave the same refs and trees (the progress lines differ by design);
 * failures the same status, and where grove words it as ostree does, the same message.
 */

interface Setup {
  dir: string;
  src: string;
  repos: Twins;
  server: TestServer;
  headers: Array<{ agent: string; value: string | undefined }>;
  older: string;
  newer: string;
  cleanup: () => Promise<void>;
}

async function setup(): Promise<Setup> {
  const { dir, cleanup } = await tempDir('grove-dropin-pull-');
  const src = path.join(dir, 'src');
  const tree = path.join(dir, 'tree');
  await buildTree(tree, [
    { path: 'usr/bin/tool', type: 'file', content: 'tool\n', mode: 0o755 },
    { path: 'usr/share/doc/readme', type: 'file', content: 'doc\n' },
    { path: 'etc/conf', type: 'file', content: 'a=1\n' },
  ]);
  ostree(['init', `--repo=${src}`, '--mode=archive']);
  const older = ostree(['commit', `--repo=${src}`, '-b', 'main', '--timestamp=@1700000000', tree]).stdout.trim();
  await fs.writeFile(path.join(tree, 'usr/share/doc/readme'), 'doc 2\n');
  const newer = ostree(['commit', `--repo=${src}`, '-b', 'main', '--timestamp=@1700000100', tree]).stdout.trim();
  ostree(['summary', `--repo=${src}`, '-u']);
  const headers: Setup['headers'] = [];
  const server = await startRepoServer(src, (_rel, _res, req) => {
    const v = req.headers['x-grove-test'];
    headers.push({ agent: String(req.headers['user-agent'] ?? ''), value: Array.isArray(v) ? v.join(',') : v });
    return false;
  });
  const repos = { g: path.join(dir, 'g'), o: path.join(dir, 'o') };
  for (const r of [repos.g, repos.o]) {
    ostree(['init', `--repo=${r}`, '--mode=archive']);
    ostree(['remote', 'add', `--repo=${r}`, '--no-gpg-verify', 'origin', server.url]);
  }
  return { dir, src, repos, server, headers, older, newer, cleanup: async () => { await server.close(); await cleanup(); } };
}

/** Every object file of a repository, sorted (what a partial pull kept). */
const objectsOf = (repo: string): string => spawnSync('find', [path.join(repo, 'objects'), '-type', 'f', '-printf', '%P\\n'], { encoding: 'utf8' }).stdout.split('\n').sort().join('\n');

const lsAt = (repo: string, rev: string, p: string): string => ostree(['ls', `--repo=${repo}`, '-R', '-C', rev, p]).stdout;

const refOf = (repo: string, ref: string) => ostree(['rev-parse', `--repo=${repo}`, ref], { allowFail: true }).stdout.trim();

/** Both pull with `args`, successfully, to the same refs and trees. */
async function samePull(s: Setup, args: string[], ref = 'origin:main'): Promise<void> {
  const r = await both(s.repos, (repo) => ['pull', `--repo=${repo}`, ...args]);
  assertSame(r, s.repos, `pull ${args.join(' ')}`, { stdout: false, stderr: false });
  assert.equal(r.o.code, 0, r.o.stderr);
  assert.equal(r.g.stderr, '', `grove pull ${args.join(' ')} wrote to stderr`);
  assert.equal(refOf(s.repos.g, ref), refOf(s.repos.o, ref));
  assert.equal(lsRC(s.repos.g, ref), lsRC(s.repos.o, ref));
}

async function reset(s: Setup): Promise<void> {
  for (const r of [s.repos.g, s.repos.o]) {
    ostree(['refs', `--repo=${r}`, '--delete', 'origin:main'], { allowFail: true });
    ostree(['prune', `--repo=${r}`, '--refs-only'], { allowFail: true });
  }
}

describe('pull drop-in options against ostree', needsOstreeAsRoot(), () => {
  test('--untrusted, --http-trusted, --disable-static-deltas, --per-object-fsync, --disable-fsync, --update-frequency, --cache-dir', async () => {
    const s = await setup();
    try {
      await samePull(s, ['--untrusted', '--disable-static-deltas', '--per-object-fsync', 'origin', 'main']);
      await reset(s);
      await samePull(s, ['--http-trusted', '--disable-fsync', '--update-frequency=50', 'origin', 'main']);
      await reset(s);
      await fs.mkdir(path.join(s.dir, 'cache'));
      await samePull(s, [`--cache-dir=${path.join(s.dir, 'cache')}`, '--bareuseronly-files', 'origin', 'main']);
      await sameFailure(s.repos, (r) => ['pull', `--repo=${r}`, `--cache-dir=${path.join(s.dir, 'no-cache')}`, 'origin', 'main'], { stderr: false });
    } finally {
      await s.cleanup();
    }
  });

  test('--url replaces the configured URL; --http-header goes with every request', async () => {
    const s = await setup();
    try {
      for (const r of [s.repos.g, s.repos.o]) ostree(['remote', 'add', `--repo=${r}`, '--no-gpg-verify', 'elsewhere', 'http://127.0.0.1:9/nothing']);
      await samePull(s, [`--url=${s.server.url}`, 'elsewhere', 'main'], 'elsewhere:main');
      s.headers.length = 0;
      await samePull(s, ['--http-header=X-Grove-Test=hello', 'origin', 'main']);
      const grove = s.headers.filter((h) => h.agent.startsWith('grove'));
      const other = s.headers.filter((h) => !h.agent.startsWith('grove'));
      assert.ok(grove.length > 0 && other.length > 0);
      assert.deepEqual([...new Set(grove.map((h) => h.value))], ['hello']);
      assert.deepEqual([...new Set(other.map((h) => h.value))], ['hello']);
      await sameFailure(s.repos, (r) => ['pull', `--repo=${r}`, '--http-header=NoEquals', 'origin', 'main']);
    } finally {
      await s.cleanup();
    }
  });

  test('the closing line is ostree\'s: fetched over HTTP, imported by pull-local, and when nothing was new', async () => {
    const s = await setup();
    try {
      // Only the whole seconds depend on the run.
      const line = (out: string) => out.replace(/ in \d+ seconds/, ' in N seconds');
      const r = await both(s.repos, (repo) => ['pull', `--repo=${repo}`, 'origin', 'main']);
      assert.equal(r.o.code, 0, r.o.stderr);
      assert.equal(line(r.g.stdout), line(r.o.stdout));
      assert.match(r.g.stdout, /^\d+ metadata, \d+ content objects fetched; \d+ B transferred in \d+ seconds; \d+ bytes content written\n$/);
      const local = { g: path.join(s.dir, 'gl'), o: path.join(s.dir, 'ol') };
      for (const repo of [local.g, local.o]) ostree(['init', `--repo=${repo}`, '--mode=archive']);
      // ostree links a trusted local source's objects in and counts no bytes written; grove checks
      // and writes each one, and says what it wrote.
      const imported = (out: string) => out.replace(/; [^;]* content written\n$/, '');
      for (const [i, written] of ['15 bytes', '0 bytes'].entries()) {
        const l = await both(local, (repo) => ['pull-local', `--repo=${repo}`, s.src, 'main']);
        assert.equal(l.o.code, 0, l.o.stderr);
        assert.equal(imported(l.g.stdout), imported(l.o.stdout), `pull-local, run ${i + 1}`);
        assert.match(l.g.stdout, new RegExp(`; ${written} content written\n$`));
      }
    } finally {
      await s.cleanup();
    }
  });

  test('--dry-run needs --require-static-deltas; --require-static-deltas with no delta to the commit fails as ostree does', async () => {
    const s = await setup();
    try {
      await sameFailure(s.repos, (r) => ['pull', `--repo=${r}`, '--dry-run', 'origin', 'main']);
      // The server has a summary (so ostree looks for deltas there and in its delta indexes) but no deltas.
      await sameFailure(s.repos, (r) => ['pull', `--repo=${r}`, '--require-static-deltas', 'origin', 'main']);
    } finally {
      await s.cleanup();
    }
  });

  test('which refs: none named needs configured branches (a mirror pull takes the summary\'s); a missing ref, with a summary and without, from HTTP and locally', async () => {
    const s = await setup();
    try {
      const refused = async (args: (r: string) => string[], message: string) => {
        assert.equal(await sameFailure(s.repos, args), `error: ${message}\n`);
      };
      // A summary lists refs, but ostree pulls only the configured branches.
      await refused((r) => ['pull', `--repo=${r}`, 'origin'], 'No configured branches for remote origin');
      await refused((r) => ['pull', `--repo=${r}`, 'origin', 'nope'], "No such branch 'nope' in repository summary");
      await refused((r) => ['pull-local', `--repo=${r}`, s.src, 'nope'], "No such branch 'nope' in repository summary");
      await fs.rename(path.join(s.src, 'summary'), path.join(s.dir, 'summary.aside'));
      await refused((r) => ['pull', `--repo=${r}`, 'origin', 'nope'], 'Server returned HTTP 404');
      await refused((r) => ['pull', `--repo=${r}`, 'origin'], 'No configured branches for remote origin');
      await refused((r) => ['pull', `--repo=${r}`, '--mirror', 'origin'], 'Fetching all refs was requested in mirror mode, but remote repository does not have a summary');
      await refused((r) => ['pull-local', `--repo=${r}`, s.src, 'nope'], "Refspec 'nope' not found");
      // With `branches` configured, a plain pull takes those.
      for (const r of [s.repos.g, s.repos.o]) ostree(['config', `--repo=${r}`, 'set', 'remote "origin".branches', 'main;']);
      await samePull(s, ['origin']);
    } finally {
      await s.cleanup();
    }
  });

  test('-T/--timestamp-check and --timestamp-check-from-rev refuse an older commit', async () => {
    const s = await setup();
    try {
      await samePull(s, ['origin', 'main']);
      // The server goes back to the older commit.
      ostree(['reset', `--repo=${s.src}`, 'main', s.older]);
      ostree(['summary', `--repo=${s.src}`, '-u']);
      await sameFailure(s.repos, (r) => ['pull', `--repo=${r}`, '-T', 'origin', 'main']);
      await sameFailure(s.repos, (r) => ['pull', `--repo=${r}`, `--timestamp-check-from-rev=${s.newer}`, 'origin', 'main']);
      await sameFailure(s.repos, (r) => ['pull', `--repo=${r}`, '--timestamp-check-from-rev=no-such-rev', 'origin', 'main'], { stderr: false });
      // Without the check, the downgrade goes through.
      await samePull(s, ['origin', 'main']);
      assert.equal(refOf(s.repos.g, 'origin:main'), s.older);
      await samePull(s, ['--timestamp-check', 'origin', 'main']);
    } finally {
      await s.cleanup();
    }
  });

  test('-L/--localcache-repo takes the objects a local repository has; --subpath twice; --bareuseronly-files refuses setuid files', async () => {
    const s = await setup();
    try {
      const cache = path.join(s.dir, 'cache-repo');
      ostree(['init', `--repo=${cache}`, '--mode=archive']);
      ostree(['pull-local', `--repo=${cache}`, s.src, 'main']);
      s.server.requests.length = 0;
      const r = await both(s.repos, (repo) => ['pull', `--repo=${repo}`, `--localcache-repo=${cache}`, 'origin', 'main']);
      assertSame(r, s.repos, 'pull -L', { stdout: false, stderr: false });
      assert.equal(r.o.code, 0, r.o.stderr);
      assert.equal(lsRC(s.repos.g, 'origin:main'), lsRC(s.repos.o, 'origin:main'));
      assert.deepEqual(s.server.requests.filter((q) => q.startsWith('objects/')), [], 'objects were fetched despite the local cache');
      await reset(s);
      const r2 = await both(s.repos, (repo) => ['pull', `--repo=${repo}`, '--subpath=/usr/bin', '--subpath=/etc', 'origin', 'main']);
      assertSame(r2, s.repos, 'pull --subpath twice', { stdout: false, stderr: false });
      assert.equal(r2.o.code, 0, r2.o.stderr);
      for (const sub of ['/usr/bin', '/etc']) assert.equal(lsAt(s.repos.g, 'origin:main', sub), lsAt(s.repos.o, 'origin:main', sub));
      assert.equal(objectsOf(s.repos.g), objectsOf(s.repos.o), 'pull --subpath twice: the repositories hold different objects');

      const tree = path.join(s.dir, 'suid');
      await buildTree(tree, [{ path: 'usr/bin/su', type: 'file', content: 'su\n', mode: 0o4755 }]);
      ostree(['commit', `--repo=${s.src}`, '-b', 'suid', '--timestamp=@1700000000', tree]);
      ostree(['summary', `--repo=${s.src}`, '-u']);
      const f = await both(s.repos, (repo) => ['pull', `--repo=${repo}`, '--bareuseronly-files', 'origin', 'suid']);
      assert.notEqual(f.o.code, 0, 'ostree accepted a setuid file');
      assert.equal(f.g.code, f.o.code);
      assert.match(f.o.stderr, /invalid mode 0104755 with bits 04000/);
      assert.match(f.g.stderr, /invalid mode 0104755 with bits 04000/);
      await samePull(s, ['origin', 'suid'], 'origin:suid');
    } finally {
      await s.cleanup();
    }
  });
});
