import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { existsSync, lstatSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { groveOk, isRoot, needsOstree, ostree, tempDir } from '../helpers.js';
import { DeviceIdentities, parseMountinfo, splitDev, type SystemView } from '../../src/index/fs-identity.js';
import { RepoIndex } from '../../src/index/index.js';
import { lookup, probe, record } from '../../src/index/stat-cache.js';

/**
 * The stat cache keys files by (device, inode). A device number is a slot: the next image
 * mounted on the same loop device brings files with the same inode numbers, and whatever sizes
 * and times it holds. These images are made so that their one file has the same stat signature
 * (inode, size, mode, owner, mtime, ctime) and different bytes; the second commit must hold the
 * second image's bytes.
 */
const rootSkip = !isRoot ? 'needs root for loop devices and mounts' : needsOstree().skip;

describe('the stat cache and file system instances', { skip: rootSkip }, () => {
  test('another image attached to the same loop device is not taken for the first', async (ctx) => {
    const t = await tempDir();
    const a = path.join(t.dir, 'a.img');
    const b = path.join(t.dir, 'b.img');
    // Even the roots' birth times are made equal: only the attachment tells the images apart.
    await makeImage(a, 'first image\n', '20200101000000');
    await makeImage(b, 'other image\n', '20200101000000');
    const loop = new Loop(a);
    try {
      if (!existsSync(`/sys/class/block/${path.basename(loop.dev)}/diskseq`)) {
        ctx.skip('this kernel has no diskseq (Linux 5.15+)');
        return;
      }
      await checkSecondCommit(t.dir, loop, () => loop.reattach(b));
    } finally {
      await loop.close();
      await t.cleanup();
    }
  });

  test('a file system rewritten in place on the same device is not taken for the old one', async () => {
    const t = await tempDir();
    const a = path.join(t.dir, 'a.img');
    const b = path.join(t.dir, 'b.img');
    // Same attachment (diskseq) throughout: the roots' birth times tell the file systems apart.
    await makeImage(a, 'first image\n', '20200101000000');
    await makeImage(b, 'other image\n', '20210101000000');
    const loop = new Loop(a);
    try {
      await checkSecondCommit(t.dir, loop, () => run('dd', `if=${b}`, `of=${loop.dev}`, 'bs=1M', 'conv=fsync', 'status=none'));
    } finally {
      await loop.close();
      await t.cleanup();
    }
  });
});

/** Commits the mounted image, swaps what the device holds, commits again; checks the bytes. */
async function checkSecondCommit(dir: string, loop: Loop, swap: () => void | Promise<void>): Promise<void> {
  const mnt = path.join(dir, 'mnt');
  const repo = path.join(dir, 'repo');
  await fs.mkdir(mnt);
  groveOk(['init', `--repo=${repo}`, '--mode=archive']);
  const first = await withMount(loop.dev, mnt, () => {
    groveOk(['commit', `--repo=${repo}`, '-b', 'main', mnt]);
    return signature(lstatSync(path.join(mnt, 'f'), { bigint: true }));
  });
  assert.equal(ostree(['cat', `--repo=${repo}`, 'main', '/f']).stdout, 'first image\n');
  await swap();
  const second = await withMount(loop.dev, mnt, () => {
    groveOk(['commit', `--repo=${repo}`, '-b', 'main', mnt]);
    return signature(lstatSync(path.join(mnt, 'f'), { bigint: true }));
  });
  assert.equal(second, first, 'the two files have the same stat signature, or this test proves nothing');
  assert.equal(ostree(['cat', `--repo=${repo}`, 'main', '/f']).stdout, 'other image\n');
  ostree(['fsck', `--repo=${repo}`]);
}

/** What the stat cache compares, and the device. */
function signature(st: BigIntStats): string {
  return [st.dev, st.ino, st.size, st.mode, st.uid, st.gid, st.mtimeNs, st.ctimeNs].join(':');
}

/**
 * An 8 MiB ext4 image holding one file `f` (the first inode after lost+found on every image),
 * its times and its root's birth time set with debugfs to fixed values.
 */
async function makeImage(img: string, content: string, rootBirth: string): Promise<void> {
  run('truncate', '-s', '8M', img);
  run('mkfs.ext4', '-q', '-F', img);
  const src = `${img}.f`;
  await fs.writeFile(src, content);
  debugfs(img, `write ${src} f`);
  for (const [field, value] of [['mtime', '20190101000000'], ['ctime', '20190101000000'], ['atime', '20190101000000'],
    ['mtime_extra', '0'], ['ctime_extra', '0'], ['mode', '0100644'], ['uid', '0'], ['gid', '0']]) {
    debugfs(img, `set_inode_field /f ${field} ${value}`);
  }
  debugfs(img, `set_inode_field / crtime ${rootBirth}`);
  debugfs(img, 'set_inode_field / crtime_extra 0');
}

function debugfs(img: string, request: string): void {
  const r = spawnSync('debugfs', ['-w', '-R', request, img], { encoding: 'utf8' });
  // debugfs exits 0 even when the request fails; its banner goes to stderr.
  const complaint = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('debugfs '));
  if (r.status !== 0 || complaint.length > 0) throw new Error(`debugfs -R '${request}' ${img}: ${r.stderr}`);
}

/** A loop device, reattached to another image under the same name. */
class Loop {
  readonly dev: string;
  private attached = true;

  constructor(img: string) {
    this.dev = capture('losetup', '-f', '--show', img).trim();
  }

  reattach(img: string): void {
    run('losetup', '-d', this.dev);
    this.attached = false;
    run('losetup', this.dev, img);
    this.attached = true;
  }

  async close(): Promise<void> {
    if (this.attached) run('losetup', '-d', this.dev);
    this.attached = false;
  }
}

async function withMount<T>(dev: string, mnt: string, fn: () => T): Promise<T> {
  run('mount', '-o', 'ro', dev, mnt);
  try {
    return fn();
  } finally {
    await unmount(mnt);
  }
}

/** Unmounts, waiting a little while the file system is busy, lazily as a last resort. */
async function unmount(dir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (spawnSync('umount', [dir]).status === 0) return;
    await sleep(100);
  }
  spawnSync('umount', ['-l', dir]);
}

function run(cmd: string, ...args: string[]): void {
  capture(cmd, ...args);
}

function capture(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Identification rules, on a made-up system. */
describe('file system identity', () => {
  const DEV = (8n << 8n) | 1n; // 8:1
  const view = (over: Partial<SystemView> & { lines: string[] }): SystemView => ({
    mountinfo: () => over.lines.join('\n') + '\n',
    stat: over.stat ?? (() => ({ dev: DEV, birthtimeNs: 1_600_000_000_123_456_789n })),
    diskseq: over.diskseq ?? (() => '7'),
  });
  const line = (id: number, root: string, point: string) => `${id} 1 8:1 ${root} ${point} rw,relatime shared:1 - ext4 /dev/sda1 rw`;

  test('a device whose instance cannot be told is not cached', async () => {
    const t = await tempDir();
    const index = await RepoIndex.open(t.dir);
    try {
      const st = lstatSync(t.dir, { bigint: true });
      const [major, minor] = splitDev(st.dev);
      const listed = () => new DeviceIdentities(view({
        lines: [`20 1 ${major}:${minor} / / rw - ext4 /dev/x rw`],
        stat: () => ({ dev: st.dev, birthtimeNs: 1n }),
      }));
      const unlisted = () => new DeviceIdentities(view({ lines: [] }));
      // Long after the file's times, so that it is not too young to record.
      const later = 1n << 62n;
      record(index, probe(st, 'r', later, listed()), 'a'.repeat(64));
      record(index, probe(st, 'r', later, unlisted()), 'b'.repeat(64));
      await index.flush();
      assert.equal(lookup(index, probe(st, 'r', later, listed())), 'a'.repeat(64));
      assert.equal(lookup(index, probe(st, 'r', later, unlisted())), null, 'no mount listed: no identity, no cache');
    } finally {
      await index.close();
      await t.cleanup();
    }
  });

  test('neither a birth time nor a diskseq: no identity', () => {
    assert.equal(new DeviceIdentities(view({ lines: [line(20, '/', '/m')], stat: () => ({ dev: DEV, birthtimeNs: 0n }), diskseq: () => null })).of(DEV), null);
    assert.notEqual(new DeviceIdentities(view({ lines: [line(20, '/', '/m')], stat: () => ({ dev: DEV, birthtimeNs: 0n }) })).of(DEV), null);
  });

  test('the same mount point, mount ID and source with another diskseq or root birth time is another instance', () => {
    const base = new DeviceIdentities(view({ lines: [line(44, '/', '/m')] })).of(DEV);
    assert.notEqual(base, null);
    assert.notEqual(new DeviceIdentities(view({ lines: [line(44, '/', '/m')], diskseq: () => '8' })).of(DEV), base);
    assert.notEqual(new DeviceIdentities(view({ lines: [line(44, '/', '/m')], stat: () => ({ dev: DEV, birthtimeNs: 5n }) })).of(DEV), base);
    // A new mount of the same file system elsewhere (a fresh container's bind mount) is the same.
    assert.equal(new DeviceIdentities(view({ lines: [line(97, '/', '/elsewhere')] })).of(DEV), base);
  });

  test('a hidden mount point is passed over; the root mount is preferred to a bind mount', () => {
    const stat = (p: string) => ({ dev: p === '/hidden' ? 99n : DEV, birthtimeNs: p === '/bind' ? 2n : 1n });
    const bindFirst = view({ lines: [line(30, '/sub', '/bind'), line(31, '/', '/hidden'), line(32, '/', '/m')], stat });
    const rootOnly = view({ lines: [line(32, '/', '/m')], stat });
    assert.equal(new DeviceIdentities(bindFirst).of(DEV), new DeviceIdentities(rootOnly).of(DEV));
    assert.equal(new DeviceIdentities(view({ lines: [line(31, '/', '/hidden')], stat })).of(DEV), null);
  });

  test('a mount point whose name mountinfo escapes is found', () => {
    const [e] = parseMountinfo('36 35 98:0 /mnt\\0401 /mnt/a\\134b rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n');
    assert.deepEqual(e, { mountId: 36, major: 98, minor: 0, root: '/mnt 1', mountPoint: '/mnt/a\\b', fsType: 'ext3', source: '/dev/root' });
    const statted: string[] = [];
    const ids = new DeviceIdentities(view({
      lines: ['20 1 8:1 / /media/my\\040disk rw - ext4 /dev/sda1 rw'],
      stat: (p) => { statted.push(p); return { dev: DEV, birthtimeNs: 1n }; },
    }));
    assert.notEqual(ids.of(DEV), null);
    assert.notEqual(ids.of(DEV), null);
    assert.deepEqual(statted, ['/media/my disk'], 'stat once per device, at the unescaped path');
  });
});
