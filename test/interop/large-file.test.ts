import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree, type Entry } from '../../fixtures/trees/build.js';
import { groveOk, haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';
import { TIMESTAMP, groveAsync, lsRC, ostreeAsync } from './support.js';

/**
 * A file over 4 GiB (sparse in the source tree): sizes past 32 bits in archive headers, streamed
 * hashing, compression and checkout. ostree hashes at about 200 MB/s here, so each ostree pass
 * over the file costs 20-30 s: ostree commits once (archive), and each tool then reads what the
 * other wrote once. grove commits the same tree into archive and bare-user; all three commits
 * must be the same checksum (a commit's checksum does not depend on the repository mode).
 */

const SIZE = 4 * 1024 ** 3 + 4096;
const TAIL = 'tail of huge img';
const BIG = 'var/lib/huge.img';

/** Just the big file and a few neighbours: the rootfs cases are covered by the other suites. */
const ENTRIES: Entry[] = [
  { path: BIG, type: 'file', sparseSize: SIZE, content: TAIL, mode: 0o600 },
  { path: 'var/lib/small', type: 'file', content: 'small\n' },
  { path: 'etc/empty', type: 'file', content: '' },
];

/** SHA-256 of the big file's bytes, computed without touching the disk. */
function expectedDigest(): string {
  const h = createHash('sha256');
  const zeros = Buffer.alloc(1 << 20);
  let left = SIZE - TAIL.length;
  while (left > 0) {
    const n = Math.min(left, zeros.length);
    h.update(n === zeros.length ? zeros : zeros.subarray(0, n));
    left -= n;
  }
  h.update(TAIL);
  return h.digest('hex');
}

/** SHA-256 of a file, read into one reused buffer (a fresh buffer per read doubles the time). */
async function digestFile(p: string): Promise<string> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  const fh = await fs.open(p, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** SHA-256 and length of what `cmd args` prints. */
function digestOutput(cmd: string, args: string[]): Promise<{ code: number; digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const h = createHash('sha256');
    let size = 0;
    child.stdout.on('data', (d: Buffer) => { h.update(d); size += d.length; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, digest: h.digest('hex'), size }));
  });
}

// The three commits run at once, and so do the two reading tests: each is mostly one
// single-threaded pass over the file.
describe('a file over 4 GiB', { ...needsOstree(), concurrency: 2 }, () => {
  const expected = expectedDigest();
  let dir = '';
  let cleanup = async () => undefined as void;
  const repo = { grove: '', ostree: '', groveBareUser: '' };

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-large-'));
    const tree = path.join(dir, 'tree');
    await buildTree(tree, ENTRIES);
    repo.grove = path.join(dir, 'grove-archive');
    repo.ostree = path.join(dir, 'ostree-archive');
    repo.groveBareUser = path.join(dir, 'grove-bare-user');
    groveOk(['init', `--repo=${repo.grove}`, '--mode=archive']);
    groveOk(['init', `--repo=${repo.groveBareUser}`, '--mode=bare-user']);
    ostree(['init', `--repo=${repo.ostree}`, '--mode=archive']);
    // The compression level is free (checksums cover the uncompressed bytes); level 1 spares
    // both tools some 15 s each on 4 GiB of zeros.
    for (const r of [repo.grove, repo.ostree]) ostree(['config', `--repo=${r}`, 'set', 'archive.zlib-level', '1']);
    const args = ['-b', 'big', '-s', 'over 4 GiB', `--timestamp=${TIMESTAMP}`, tree];
    const [o, g, gb] = await Promise.all([
      ostreeAsync(['commit', `--repo=${repo.ostree}`, ...args]),
      groveAsync(['commit', `--repo=${repo.grove}`, ...args]),
      groveAsync(['commit', `--repo=${repo.groveBareUser}`, ...args]),
    ]);
    assert.equal(g.trim(), o.trim(), 'archive: grove and ostree disagree on the commit checksum');
    assert.equal(gb.trim(), o.trim(), 'bare-user: grove\'s commit differs from ostree\'s archive commit');
    const listing = lsRC(repo.ostree, 'big');
    assert.equal(lsRC(repo.grove, 'big'), listing);
    assert.equal(lsRC(repo.groveBareUser, 'big'), listing);
    assert.match(listing, new RegExp(`^-00600 0 0 ${SIZE} [0-9a-f]{64} /${BIG}$`, 'm'));
  });
  after(async () => cleanup());

  test('archive: ostree reads grove\'s object; grove checks out and verifies ostree\'s', async () => {
    const dest = path.join(dir, 'checkout');
    const [fromOstree] = await Promise.all([
      // ostree inflates grove's object: the 64-bit size in its header and the deflate stream.
      digestOutput('ostree', ['cat', `--repo=${repo.grove}`, 'big', `/${BIG}`]),
      // grove checks out ostree's object (copy with inflate), then the bytes are checked.
      groveAsync(['checkout', `--repo=${repo.ostree}`, 'big', dest]).then(async () => {
        const st = await fs.stat(path.join(dest, BIG));
        assert.equal(st.size, SIZE);
        assert.equal(st.mode & 0o7777, 0o600);
        assert.equal(await digestFile(path.join(dest, BIG)), expected);
      }),
      // grove's streamed hash of ostree's 64-bit header and inflated bytes.
      groveAsync(['fsck', `--repo=${repo.ostree}`]).then((out) => assert.match(out, /no errors found/)),
    ]);
    assert.equal(fromOstree.code, 0);
    assert.equal(fromOstree.size, SIZE);
    assert.equal(fromOstree.digest, expected);
  });

  test('bare-user: ostree hardlinks grove\'s object, and its bytes are the file\'s', async () => {
    const oDest = path.join(dir, 'ostree-checkout');
    // ostree reads grove's user.ostreemeta and hardlinks the object; its bytes must be right.
    await ostreeAsync(['checkout', `--repo=${repo.groveBareUser}`, '-U', '-H', 'big', oDest]);
    const st = await fs.stat(path.join(oDest, BIG));
    assert.equal(st.size, SIZE);
    assert.ok(st.nlink > 1, 'ostree did not hardlink grove\'s object');
    assert.equal(st.mode & 0o7777, 0o600 | 0o400);
    assert.equal(await digestFile(path.join(oDest, BIG)), expected);
  });
});
