import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { GROVE_BIN, describeTree, needsOstree, ostree, tempDir } from '../helpers.js';
import { run } from '../interop/support.js';
import { startRepoServer } from './repo-server.js';

/**
 * `grove pull` against the real ostree: from an ostree-made archive repository behind a plain
 * static server (python's http.server), into every user mode; the checkout must equal ostree's
 * checkout of the same commit. Also `pull-local` across modes.
 */

const grove = (args: string[]) => run(process.execPath, [GROVE_BIN, ...args]);
async function groveOk(args: string[]): Promise<string> {
  const r = await grove(args);
  if (r.code !== 0) throw new Error(`grove ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** A small rootfs-like tree: text, an executable, an empty file, a symlink, depth, and a file big enough to be downloaded to disk. */
export async function makeTree(dir: string): Promise<void> {
  await fs.mkdir(path.join(dir, 'usr/bin'), { recursive: true });
  await fs.mkdir(path.join(dir, 'etc/deep/er/still'), { recursive: true });
  await fs.writeFile(path.join(dir, 'etc/hostname'), 'grove\n');
  await fs.writeFile(path.join(dir, 'etc/empty'), '');
  await fs.writeFile(path.join(dir, 'etc/deep/er/still/file'), 'deep\n'.repeat(1000));
  await fs.writeFile(path.join(dir, 'usr/bin/tool'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fs.symlink('../etc/hostname', path.join(dir, 'usr/hostname-link'));
  for (let i = 0; i < 40; i++) await fs.writeFile(path.join(dir, `usr/f${i}`), `file ${i}\n`.repeat(i * 50));
  // Incompressible and over the 8 MiB in-memory limit: fetched to a temp file.
  await fs.writeFile(path.join(dir, 'usr/big.bin'), randomBytes(9 << 20));
}

describe('grove pull from an ostree archive repository', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let src: string;
  let http: ChildProcess;
  let url: string;
  let expected: string;

  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    await makeTree(tree);
    src = path.join(tmp.dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    ostree(['commit', `--repo=${src}`, '-b', 'os/main', '--canonical-permissions', `--tree=dir=${tree}`, '-s', 'one']);
    await fs.appendFile(path.join(tree, 'etc/hostname'), 'changed\n');
    ostree(['commit', `--repo=${src}`, '-b', 'os/main', '--canonical-permissions', `--tree=dir=${tree}`, '-s', 'two']);
    ostree(['summary', `--repo=${src}`, '-u']);
    ostree(['checkout', `--repo=${src}`, '-U', 'os/main', path.join(tmp.dir, 'expected')]);
    expected = await describeTree(path.join(tmp.dir, 'expected'), { xattrs: false });
    // A plain static web server, as the issue asks: python's http.server on a free port.
    http = spawn('python3', ['-u', '-m', 'http.server', '--bind', '127.0.0.1', '--directory', src, '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((resolve, reject) => {
      http.stdout!.setEncoding('utf8').on('data', (d: string) => {
        const m = /port (\d+)/.exec(d);
        if (m) resolve(`http://127.0.0.1:${m[1]}/`);
      });
      http.on('exit', (c) => reject(new Error(`python3 http.server exited (${c})`)));
    });
  });
  after(async () => {
    http?.kill();
    await tmp?.cleanup();
  });

  for (const mode of ['archive', 'bare-user', 'bare-user-only']) {
    it(`into ${mode}: the checkout equals ostree's and ostree fsck passes`, async () => {
      const repo = path.join(tmp.dir, `dst-${mode}`);
      await groveOk(['init', `--repo=${repo}`, `--mode=${mode}`]);
      await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', url]);
      const out = JSON.parse(await groveOk(['pull', `--repo=${repo}`, '--json', '--depth=1', 'origin', 'os/main'])) as { refs: Array<{ checksum: string }>; contentFetched: number };
      const want = ostree(['rev-parse', `--repo=${src}`, 'os/main']).stdout.trim();
      assert.equal(out.refs[0]!.checksum, want);
      assert.equal((await fs.readFile(path.join(repo, 'refs/remotes/origin/os/main'), 'utf8')).trim(), want);
      assert.ok(out.contentFetched > 40);
      ostree(['fsck', `--repo=${repo}`]);
      const co = path.join(tmp.dir, `co-${mode}`);
      await groveOk(['checkout', `--repo=${repo}`, '-U', 'origin:os/main', co]);
      assert.equal(await describeTree(co, { xattrs: false }), expected);
      // --depth=1 brought the parent too.
      ostree(['ls', `--repo=${repo}`, 'origin:os/main^', '/usr/big.bin']);
      // Pulling again finds nothing to fetch.
      const again = JSON.parse(await groveOk(['pull', `--repo=${repo}`, '--json', 'origin', 'os/main'])) as { contentFetched: number; metadataFetched: number };
      assert.equal(again.contentFetched + again.metadataFetched, 0);
    });
  }

  it('pull-local copies between modes; the checkout equals ostree\'s', async () => {
    const a = path.join(tmp.dir, 'local-bu');
    const b = path.join(tmp.dir, 'local-archive');
    await groveOk(['init', `--repo=${a}`, '--mode=bare-user']);
    await groveOk(['init', `--repo=${b}`, '--mode=archive']);
    await groveOk(['pull-local', `--repo=${a}`, src, 'os/main']);
    await groveOk(['pull-local', `--repo=${b}`, a]);
    ostree(['fsck', `--repo=${a}`]);
    ostree(['fsck', `--repo=${b}`]);
    const co = path.join(tmp.dir, 'co-local');
    await groveOk(['checkout', `--repo=${b}`, 'os/main', co]);
    assert.equal(await describeTree(co, { xattrs: false }), expected);
  });

  it('--commit-metadata-only stores the commit marked partial; a full pull completes it', async () => {
    const repo = path.join(tmp.dir, 'partial');
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', url]);
    await groveOk(['pull', `--repo=${repo}`, '--commit-metadata-only', 'origin', 'os/main']);
    const csum = ostree(['rev-parse', `--repo=${src}`, 'os/main']).stdout.trim();
    await fs.access(path.join(repo, 'state', `${csum}.commitpartial`));
    // Both fsck tools accept a partial commit: they check it, not the tree it lacks.
    assert.match(await groveOk(['fsck', `--repo=${repo}`]), /1 partial commits not verified/);
    ostree(['fsck', `--repo=${repo}`]);
    await groveOk(['pull', `--repo=${repo}`, 'origin', 'os/main']);
    await assert.rejects(fs.access(path.join(repo, 'state', `${csum}.commitpartial`)));
    ostree(['fsck', `--repo=${repo}`]);
  });

  it('an unknown ref, an unknown remote and a bad URL are one-line errors', async () => {
    const repo = path.join(tmp.dir, 'errs');
    await groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', url]);
    let r = await grove(['pull', `--repo=${repo}`, 'origin', 'no/such']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "error: No such branch 'no/such' in repository summary\n");
    r = await grove(['pull', `--repo=${repo}`, 'nope', 'x']);
    assert.match(r.stderr, /^error: Remote "nope" not found/);
    await groveOk(['remote', 'add', `--repo=${repo}`, 'bad', 'ftp://x']);
    r = await grove(['pull', `--repo=${repo}`, 'bad', 'x']);
    assert.equal(r.stderr, 'error: Invalid URI scheme in ftp://x\n');
  });
});

describe('grove pull from a server that is hostile or fails', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let src: string;
  let commit: string;
  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    await makeTree(tree);
    src = path.join(tmp.dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    commit = ostree(['commit', `--repo=${src}`, '-b', 'main', '--canonical-permissions', `--tree=dir=${tree}`]).stdout.trim();
    ostree(['summary', `--repo=${src}`, '-u']);
  });
  after(async () => { await tmp?.cleanup(); });

  let n = 0;
  /** A fresh bare-user repository with remote `origin` at `url`. */
  async function freshRepo(url: string): Promise<string> {
    const repo = path.join(tmp.dir, `dst-${n++}`);
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', url]);
    return repo;
  }

  /**
   * The failure left no ref and nothing corrupt (grove fsck passes on what was kept); a rerun
   * against the healthy server fetches only what the repository still lacks.
   */
  async function recovers(repo: string, opts: { keptSome?: boolean } = {}): Promise<void> {
    await assert.rejects(fs.access(path.join(repo, 'refs/remotes/origin/main')));
    await groveOk(['fsck', `--repo=${repo}`]);
    const kept = (await listObjects(repo)).length;
    if (opts.keptSome) assert.ok(kept > 10, `only ${kept} objects kept from the failed pull`);
    const healthy = await startRepoServer(src);
    try {
      await groveOk(['remote', 'add', `--repo=${repo}`, '--force', '--no-gpg-verify', 'origin', healthy.url]);
      const r = JSON.parse(await groveOk(['pull', `--repo=${repo}`, '--json', 'origin', 'main'])) as { metadataFetched: number; contentFetched: number };
      const total = (await listObjects(src)).length;
      assert.ok(r.metadataFetched + r.contentFetched <= total - kept, `rerun fetched ${r.metadataFetched + r.contentFetched} of ${total} objects, ${kept} were kept`);
      assert.equal((await fs.readFile(path.join(repo, 'refs/remotes/origin/main'), 'utf8')).trim(), commit);
      ostree(['fsck', `--repo=${repo}`]);
    } finally {
      await healthy.close();
    }
  }

  const objectsOf = async (suffix: string) => (await listObjects(src)).filter((o) => o.endsWith(suffix));

  for (const how of ['bit-flipped', 'swapped for another valid object']) {
    it(`a ${how} content object is refused, named, and not stored`, async () => {
      const [victim, other] = (await objectsOf('.filez')).slice(3, 5) as [string, string];
      const server = await startRepoServer(src, (rel, res) => {
        if (rel !== victim) return false;
        let body = require_(path.join(src, how === 'bit-flipped' ? rel : other));
        if (how === 'bit-flipped') {
          body = Buffer.from(body);
          body[body.length - 1]! ^= 0xff;
        }
        res.writeHead(200, { 'content-length': body.length }).end(body);
        return true;
      });
      const repo = await freshRepo(server.url);
      const r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
      await server.close();
      assert.equal(r.code, 1);
      const csum = victim.replace(/^objects\/(..)\/(.*)\.filez$/, '$1$2');
      assert.match(r.stderr, new RegExp(`^error: file object ${csum} from remote origin .*${how === 'bit-flipped' ? '(corrupt|deflate)' : 'is corrupt: its content has checksum'}`));
      await assert.rejects(fs.access(path.join(repo, 'objects', victim.slice(8).replace('.filez', '.file'))));
      await recovers(repo);
    });
  }

  it('a body shorter than its Content-Length is retried, then reported', async () => {
    const victim = (await objectsOf('.dirtree'))[0]!;
    const server = await startRepoServer(src, (rel, res) => {
      if (rel !== victim) return false;
      const body = require_(path.join(src, rel));
      res.writeHead(200, { 'content-length': body.length + 10 });
      res.write(body);
      res.socket?.destroy();
      return true;
    });
    const repo = await freshRepo(server.url);
    const r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
    await server.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: fetching dirtree object [0-9a-f]{64} from http:.*gave up after 5 attempts/);
    assert.ok(server.requests.filter((q) => q === victim).length >= 5);
    await recovers(repo);
  });

  for (const [what, body] of [['garbage', Buffer.from('this is not a summary at all, just text')], ['truncated', null]] as const) {
    it(`a ${what} summary is refused with a clear error`, async () => {
      const server = await startRepoServer(src, (rel, res) => {
        if (rel !== 'summary') return false;
        const b = body ?? require_(path.join(src, 'summary')).subarray(0, 40);
        res.writeHead(200, { 'content-length': b.length }).end(b);
        return true;
      });
      const repo = await freshRepo(server.url);
      const r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
      await server.close();
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: summary of remote origin .*(corrupt|invalid|checksum|ref)/);
      await recovers(repo);
    });
  }

  it('an oversized metadata object is cut off and named', async () => {
    const victim = (await objectsOf('.dirtree'))[1]!;
    const server = await startRepoServer(src, (rel, res) => {
      if (rel !== victim) return false;
      res.writeHead(200, { 'content-length': 64 << 20 });
      res.end(Buffer.alloc(1 << 20));
      return true;
    });
    const repo = await freshRepo(server.url);
    const r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
    await server.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: dirtree object [0-9a-f]{64} is 67108864 bytes, more than the 10485760 allowed/);
    await recovers(repo);
  });

  it('a server that dies mid-pull: error, no ref; the rerun fetches only the rest', async () => {
    let served = 0;
    const server = await startRepoServer(src, () => {
      if (++served === 40) server.kill();
      return false;
    });
    const repo = await freshRepo(server.url);
    const r = await grove(['pull', `--repo=${repo}`, '--max-outstanding-fetcher-requests=4', 'origin', 'main']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: fetching .* from http:\/\/127\.0\.0\.1:\d+\/: .*gave up after 5 attempts/);
    await recovers(repo, { keptSome: true });
  });

  it('hostile dirtrees: names "..", ".", "a/b", "" and a name that is both a file and a directory', async () => {
    const { craftCommit } = await import('./craft.js');
    for (const bad of [['..'], ['.'], ['a/b'], [''], ['both', 'both']] as const) {
      const evil = path.join(tmp.dir, `evil-${n++}`);
      await fs.cp(src, evil, { recursive: true });
      await fs.rm(path.join(evil, 'summary'));
      const evilCommit = await craftCommit(evil, bad[0], bad.length === 2);
      const server = await startRepoServer(evil);
      const repo = await freshRepo(server.url);
      const r = await grove(['pull', `--repo=${repo}`, 'origin', 'evil']);
      await server.close();
      assert.equal(r.code, 1, `name ${JSON.stringify(bad[0])}`);
      assert.match(r.stderr, /^error: .*dirtree object [0-9a-f]{64} from remote origin.*(invalid file name|both a file and a directory)/, r.stderr);
      await assert.rejects(fs.access(path.join(repo, 'refs/remotes/origin/evil')));
      await assert.rejects(fs.access(path.join(repo, 'objects', evilCommit.slice(0, 2), `${evilCommit.slice(2)}.commit`)));
    }
  });
});

/** Synchronous read inside a request handler: the test server answers one small file at a time. */
const require_ = (p: string): Buffer => fsSync.readFileSync(p);

async function listObjects(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fs.readdir(path.join(repo, 'objects'))) {
    for (const f of await fs.readdir(path.join(repo, 'objects', d))) out.push(`objects/${d}/${f}`);
  }
  return out.sort();
}
