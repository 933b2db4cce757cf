import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree, type Entry } from '../../fixtures/trees/build.js';
import { needsOstree, ostree, tempDir } from '../helpers.js';
import { TIMESTAMP, commitBoth, groveAsync, initRepos, lsRC, ostreeAsync } from './support.js';

/**
 * A file over 4 GiB (sparse in the source tree): sizes past 32 bits in archive headers, streamed
 * hashing, compression and checkout. Archive and bare-user only, to keep the time down: ostree
 * writes the full 4 GiB in bare modes and hashes at about 200 MB/s here, so each ostree pass over
 * the file costs 20-30 s. The checks are chosen so that each tool reads the other's object once.
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

async function setup(mode: 'archive' | 'bare-user') {
  const { dir, cleanup } = await tempDir('grove-large-');
  const tree = path.join(dir, 'tree');
  await buildTree(tree, ENTRIES);
  const repos = initRepos(dir, mode);
  if (mode === 'archive') {
    // The compression level is free (checksums cover the uncompressed bytes); level 1 spares
    // both tools some 15 s each on 4 GiB of zeros.
    for (const r of [repos.g, repos.o]) ostree(['config', `--repo=${r}`, 'set', 'archive.zlib-level', '1']);
  }
  const c = await commitBoth(repos, ['-b', 'big', '-s', 'over 4 GiB', `--timestamp=${TIMESTAMP}`, tree]);
  assert.equal(c.g, c.o, `${mode}: grove and ostree disagree on the commit checksum`);
  const listing = lsRC(repos.g, 'big');
  assert.equal(listing, lsRC(repos.o, 'big'));
  assert.match(listing, new RegExp(`^-00600 0 0 ${SIZE} [0-9a-f]{64} /${BIG}$`, 'm'));
  return { dir, cleanup, repos };
}

// The two modes run at once: each is mostly one single-threaded ostree pass over the file.
describe('a file over 4 GiB', { ...needsOstree(), concurrency: 2 }, () => {
  const expected = expectedDigest();

  test('archive: same commit; ostree reads grove\'s object, grove checks out ostree\'s', async () => {
    const { dir, cleanup, repos } = await setup('archive');
    try {
      const dest = path.join(dir, 'checkout');
      const [fromOstree] = await Promise.all([
        // ostree inflates grove's object: the 64-bit size in its header and the deflate stream.
        digestOutput('ostree', ['cat', `--repo=${repos.g}`, 'big', `/${BIG}`]),
        // grove checks out ostree's object (copy with inflate), then the bytes are checked.
        groveAsync(['checkout', `--repo=${repos.o}`, 'big', dest]).then(async () => {
          const st = await fs.stat(path.join(dest, BIG));
          assert.equal(st.size, SIZE);
          assert.equal(st.mode & 0o7777, 0o600);
          assert.equal(await digestFile(path.join(dest, BIG)), expected);
        }),
      ]);
      assert.equal(fromOstree.code, 0);
      assert.equal(fromOstree.size, SIZE);
      assert.equal(fromOstree.digest, expected);
    } finally {
      await cleanup();
    }
  });

  test('bare-user: same commit; ostree hardlinks grove\'s object, grove fsck and checkout of ostree\'s', async () => {
    const { dir, cleanup, repos } = await setup('bare-user');
    try {
      const oDest = path.join(dir, 'ostree-checkout');
      const gDest = path.join(dir, 'grove-checkout');
      await Promise.all([
        // ostree reads grove's user.ostreemeta and hardlinks the object; its bytes must be right.
        ostreeAsync(['checkout', `--repo=${repos.g}`, '-U', '-H', 'big', oDest]).then(async () => {
          const st = await fs.stat(path.join(oDest, BIG));
          assert.equal(st.size, SIZE);
          assert.ok(st.nlink > 1, 'ostree did not hardlink grove\'s object');
          assert.equal(st.mode & 0o7777, 0o600 | 0o400);
          assert.equal(await digestFile(path.join(oDest, BIG)), expected);
        }),
        groveAsync(['fsck', `--repo=${repos.o}`]).then((out) => assert.match(out, /no errors found/)),
        groveAsync(['checkout', `--repo=${repos.o}`, '-U', '-H', 'big', gDest]).then(async () => {
          const st = await fs.stat(path.join(gDest, BIG));
          assert.equal(st.size, SIZE);
          assert.ok(st.nlink > 1, 'grove did not hardlink ostree\'s object');
        }),
      ]);
    } finally {
      await cleanup();
    }
  });
});
