import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';
import { groveRun } from '../interop/support.js';
import { both, sameFailure } from '../interop/dropin-support.js';
import { startRepoServer, type TestServer } from '../net/repo-server.js';
import { objectsOf } from './objects.js';
import { decodeSuperblock, encodeSuperblock } from '../../src/delta/superblock.js';
import { PART_PAYLOAD_TYPE, lzma } from '../../src/delta/part.js';
import { writeVarint } from '../../src/delta/varint.js';
import { decode, encode } from '../../src/format/gvariant.js';
import { bswap32 } from '../../src/format/objects.js';

/**
 * Pulls that use the static deltas ostree made: from an HTTP server (the summary lists them,
 * and ostree's summaries say they are indexed), from scratch and then from A to B, and
 * `pull-local --require-static-deltas`; grove and the real ostree pull into twin repositories and
 * must store the very same objects. Then what a hostile server can do with deltas: a superblock
 * that is not the one the summary names, a part that is not the one the superblock names — one
 * line, nothing kept.
 */

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');


describe('pulls through static deltas, as ostree pulls them', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let src = '';
  let a = '';
  let b = '';
  let server: TestServer;
  const requests: string[] = [];
  let tamper: ((rel: string) => Buffer | null) | null = null;

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-delta-pull-'));
    const tree = path.join(dir, 'tree');
    const blob = randomBytes(300_000);
    await buildTree(tree, [
      { path: 'etc/os-release', type: 'file', content: 'ID=grove\n' },
      { path: 'usr/lib/blob', type: 'file', content: blob },
      { path: 'usr/lib/tagged', type: 'file', content: 'x\n', xattrs: { 'user.grove': 'yes' } },
      { path: 'usr/bin/sh', type: 'symlink', target: 'dash' },
      { path: 'var/old', type: 'file', content: 'goes away\n' },
    ]);
    src = path.join(dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    a = ostree(['commit', `--repo=${src}`, '-b', 'main', '--timestamp=@1700000000', `--tree=dir=${tree}`, '-s', 'A']).stdout.trim();
    blob.write('grove', 123_456);
    fs.writeFileSync(path.join(tree, 'usr/lib/blob'), blob);
    fs.rmSync(path.join(tree, 'var/old'));
    fs.writeFileSync(path.join(tree, 'var/new'), 'new\n');
    b = ostree(['commit', `--repo=${src}`, '-b', 'main', '--timestamp=@1700000100', `--tree=dir=${tree}`, '-s', 'B']).stdout.trim();
    ostree(['static-delta', 'generate', `--repo=${src}`, '--empty', `--to=${a}`]);
    ostree(['static-delta', 'generate', `--repo=${src}`, `--from=${a}`, `--to=${b}`]);
    ostree(['summary', `--repo=${src}`, '-u']);
    server = await startRepoServer(src, (rel, res) => {
      requests.push(rel);
      const body = tamper?.(rel) ?? null;
      if (body === null) return false;
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
      return true;
    });
  });

  after(async () => {
    await server?.close();
    await cleanup();
  });

  function twins(name: string): { g: string; o: string } {
    const repos = { g: path.join(dir, `${name}-g`), o: path.join(dir, `${name}-o`) };
    for (const r of [repos.g, repos.o]) {
      ostree(['init', `--repo=${r}`, '--mode=bare-user']);
      ostree(['remote', 'add', `--repo=${r}`, '--no-gpg-verify', 'origin', server.url]);
    }
    return repos;
  }

  test('from scratch to A, then A to B: the same objects and refs as ostree\'s, and no object fetched one by one', async () => {
    const repos = twins('http');
    for (const rev of [a, 'main']) {
      requests.length = 0;
      const r = await both(repos, (repo) => ['pull', `--repo=${repo}`, '--require-static-deltas', 'origin', rev]);
      assert.equal(r.g.code, 0, r.g.stderr);
      assert.equal(r.o.code, 0, r.o.stderr);
      assert.match(r.g.stdout, /^1 delta parts, \d+ loose fetched; \d+ (KiB|B) transferred in \d+ seconds; [\d.]+\s(kB|bytes) content written\n$/);
      // grove asks for the deltas and nothing of the objects (ostree's requests are mixed in).
      const mine = requests.filter((q) => q.startsWith('objects/') || q.startsWith('deltas/'));
      assert.ok(mine.some((q) => q.startsWith('deltas/')));
    }
    assert.deepEqual(objectsOf(repos.g), objectsOf(repos.o));
    assert.equal((await groveRun(['rev-parse', `--repo=${repos.g}`, 'origin:main'])).stdout.trim(), b);
    assert.match(ostree(['fsck', `--repo=${repos.g}`]).stdout, /2 commits/);
  });

  test('without --require-static-deltas a delta is used when one fits, objects otherwise', async () => {
    const repos = twins('auto');
    requests.length = 0;
    const r = await groveRun(['pull', `--repo=${repos.g}`, 'origin', a]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(requests.some((q) => q.startsWith('deltas/')), 'a delta from scratch to A');
    assert.ok(!requests.some((q) => q.startsWith('objects/') && q.endsWith('.filez')), 'no content fetched as objects');
    // To B from nothing: ostree offers no scratch delta to B, so objects it is.
    const fresh = twins('auto2');
    requests.length = 0;
    assert.equal((await groveRun(['pull', `--repo=${fresh.g}`, 'origin', 'main'])).code, 0);
    assert.ok(requests.some((q) => q.endsWith('.filez')));
    assert.match(ostree(['fsck', `--repo=${fresh.g}`]).stdout, /1 commits/);
    // --disable-static-deltas never asks for one.
    const off = twins('off');
    requests.length = 0;
    assert.equal((await groveRun(['pull', `--repo=${off.g}`, '--disable-static-deltas', 'origin', a])).code, 0);
    assert.ok(!requests.some((q) => q.startsWith('deltas/') || q.startsWith('delta-indexes/')));
  });

  test('--require-static-deltas without a delta that fits fails as ostree does', async () => {
    const repos = twins('nodelta');
    await sameFailure(repos, (r) => ['pull', `--repo=${r}`, '--require-static-deltas', 'origin', 'main']);
    const archive = { g: path.join(dir, 'arch-g'), o: path.join(dir, 'arch-o') };
    for (const r of [archive.g, archive.o]) {
      ostree(['init', `--repo=${r}`, '--mode=archive']);
      ostree(['remote', 'add', `--repo=${r}`, '--no-gpg-verify', 'origin', server.url]);
    }
    await sameFailure(archive, (r) => ['pull', `--repo=${r}`, '--require-static-deltas', 'origin', a]);
  });

  test('pull-local --require-static-deltas applies the source\'s deltas as ostree does', async () => {
    const repos = { g: path.join(dir, 'local-g'), o: path.join(dir, 'local-o') };
    for (const r of [repos.g, repos.o]) ostree(['init', `--repo=${r}`, '--mode=bare-user']);
    for (const rev of [a, b]) {
      const r = await both(repos, (repo) => ['pull-local', `--repo=${repo}`, '--require-static-deltas', src, rev]);
      assert.equal(r.g.code, 0, r.g.stderr);
      assert.equal(r.o.code, 0, r.o.stderr);
    }
    assert.deepEqual(objectsOf(repos.g), objectsOf(repos.o));
  });

  test('a superblock other than the one the summary names is refused, and nothing is kept', async () => {
    const repos = twins('bad-superblock');
    // The real superblock with one byte more: still one, but not the one the summary names.
    tamper = (rel) => (rel.endsWith('/superblock') ? Buffer.concat([fs.readFileSync(path.join(src, rel)), Buffer.from([0])]) : null);
    try {
      const r = await groveRun(['pull', `--repo=${repos.g}`, '--require-static-deltas', 'origin', a]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: Invalid checksum for static delta [0-9a-f-]+\n$/);
    } finally {
      tamper = null;
    }
    assert.deepEqual(objectsOf(repos.g), []);
  });

  test('a part other than the one the superblock names is refused before it is read, and nothing is kept', async () => {
    const repos = twins('bad-part');
    tamper = (rel) => (/^deltas\/.*\/0$/.test(rel) ? Buffer.from('x'.repeat(64)) : null);
    try {
      const r = await groveRun(['pull', `--repo=${repos.g}`, '--require-static-deltas', 'origin', a]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, /Checksum mismatch in static delta part; expected=[0-9a-f]{64} actual=[0-9a-f]{64}/);
    } finally {
      tamper = null;
    }
    assert.deepEqual(objectsOf(repos.g), []);
    assert.equal((await groveRun(['refs', `--repo=${repos.g}`])).stdout, '');
  });

  test('a delta that yields an object its commit does not reach is refused by the pull, and nothing is kept', async () => {
    // A copy of the source whose scratch delta to A smuggles in one more (valid) file object;
    // ostree's summary -u then indexes the changed superblock, so only the smuggling is wrong.
    const evil = path.join(dir, 'evil-src');
    fs.cpSync(src, evil, { recursive: true });
    const file = path.join(dir, 'smuggled');
    fs.writeFileSync(file, 'smuggled\n', { mode: 0o644 });
    const checksum = ostree(['checksum', file]).stdout.trim();
    const b64 = Buffer.from(a, 'hex').toString('base64').slice(0, 43).replace(/\//g, '_');
    const deltaDir = path.join(evil, 'deltas', b64.slice(0, 2), b64.slice(2));
    const part = fs.readFileSync(path.join(deltaDir, '0'));
    const p = decode(PART_PAYLOAD_TYPE, await new Promise<Buffer>((res) => lzma().decompress(part.subarray(1), {}, res))) as [unknown[], unknown[], Uint8Array, Uint8Array];
    const at = p[2].length;
    p[2] = Buffer.concat([p[2], Buffer.from('smuggled\n')]);
    const st = fs.statSync(file);
    (p[0] as unknown[]).push([bswap32(st.uid), bswap32(st.gid), bswap32(0o100644)]);
    (p[1] as unknown[]).push([]);
    const op: number[] = ['S'.charCodeAt(0)];
    for (const v of [(p[0] as unknown[]).length - 1, (p[1] as unknown[]).length - 1, 9, at]) writeVarint(op, v);
    p[3] = Buffer.concat([p[3], Buffer.from(op)]);
    const packed = await new Promise<Buffer>((res) => lzma().compress(Buffer.from(encode(PART_PAYLOAD_TYPE, p as never)), { preset: 1 }, res));
    const bytes = Buffer.concat([Buffer.from('x'), packed]);
    fs.writeFileSync(path.join(deltaDir, '0'), bytes);
    const sb = decodeSuperblock(fs.readFileSync(path.join(deltaDir, 'superblock')), 'superblock');
    sb.parts[0] = { ...sb.parts[0]!, checksum: createHash('sha256').update(bytes).digest('hex'), size: BigInt(bytes.length), objects: [...sb.parts[0]!.objects, { type: 'file', checksum }] };
    fs.writeFileSync(path.join(deltaDir, 'superblock'), encodeSuperblock(sb));
    ostree(['summary', `--repo=${evil}`, '-u']);
    const evilServer = await startRepoServer(evil);
    try {
      const repo = path.join(dir, 'evil-client');
      ostree(['init', `--repo=${repo}`, '--mode=bare-user']);
      ostree(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', evilServer.url]);
      const r = await groveRun(['pull', `--repo=${repo}`, '--require-static-deltas', 'origin', a]);
      assert.equal(r.code, 1, r.stdout);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`yields ${checksum} \\(file\\), which commit ${a} does not reach`));
      assert.deepEqual(objectsOf(repo), []);
    } finally {
      await evilServer.close();
    }
  });
});
