import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { grove, groveOk, isRoot, needsOstree, ostree, tempDir } from '../helpers.js';
import { RACY_WINDOW_NS } from '../../src/index/stat-cache.js';

/**
 * A disk that fills up while the LMDB index is written: the commit ends in one line naming the
 * index, and the repository is as valid as before. The index is what fills the disk here: the
 * files all hold the same bytes, so the objects take a page or two while every file has its own
 * stat-cache entry.
 */
const DIRS = 5;
const FILES_PER_DIR = 600;
/** Free bytes left on the file system before the commit: less than the index needs. */
const LEFT_FREE = 200 << 10;

const skip = !isRoot ? 'needs root to mount a tmpfs' : needsOstree().skip;

test('a full disk while the index is written: one line naming the index, no ref moved, fsck clean', { skip }, async () => {
  const t = await tempDir();
  const mnt = path.join(t.dir, 'mnt');
  const tree = path.join(t.dir, 'tree');
  let mounted = false;
  try {
    for (let d = 0; d < DIRS; d++) {
      await fs.mkdir(path.join(tree, `d${d}`), { recursive: true });
      for (let f = 0; f < FILES_PER_DIR; f++) await fs.writeFile(path.join(tree, `d${d}`, `f${f}`), 'the same bytes\n');
    }
    const built = Date.now();
    await fs.mkdir(mnt);
    run('mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt);
    mounted = true;
    const repo = path.join(mnt, 'repo');
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    const st = await fs.statfs(mnt);
    await fs.writeFile(path.join(mnt, 'filler'), Buffer.alloc(st.bavail * st.bsize - LEFT_FREE));
    // Files younger than the racy window are not recorded: let the tree age so that they are.
    const racyMs = Number(RACY_WINDOW_NS / 1_000_000n) + 200;
    await sleep(Math.max(0, built + racyMs - Date.now()));

    const r = grove(['commit', `--repo=${repo}`, '-b', 'main', tree]);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
    // liblmdb itself writes `Write error: … position N, size N` to stderr, without a newline, when
    // its pwrite fails outright (a short write it reports silently): which of the two happens
    // depends on how much room is left at that moment, so that text may precede grove's line.
    assert.match(lines[0]!, /^(Write error: .+? position \d+, size \d+)?error: \S*grove\/index\S*: no space left on device/);
    assert.equal(r.code, 1);
    assert.deepEqual(await fs.readdir(path.join(repo, 'refs/heads')), [], 'no ref moved');
    ostree(['fsck', `--repo=${repo}`]);

    // With room again, the same commit goes through and the index takes its entries.
    await fs.rm(path.join(mnt, 'filler'));
    groveOk(['commit', `--repo=${repo}`, '-b', 'main', tree]);
    ostree(['fsck', `--repo=${repo}`]);
    const listed = ostree(['ls', `--repo=${repo}`, '-R', 'main']).stdout;
    assert.equal(listed.split('\n').filter((l) => /\/f\d+$/.test(l)).length, DIRS * FILES_PER_DIR);
  } finally {
    if (mounted) await unmount(mnt);
    await t.cleanup();
  }
});

test('a disk already full when the index would be made: one line naming it, no crash', { skip }, async () => {
  const t = await tempDir();
  const mnt = path.join(t.dir, 'mnt');
  const tree = path.join(t.dir, 'tree');
  let mounted = false;
  try {
    await fs.mkdir(tree);
    await fs.writeFile(path.join(tree, 'a'), 'a file\n');
    await fs.mkdir(mnt);
    run('mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt);
    mounted = true;
    const repo = path.join(mnt, 'repo');
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    const st = await fs.statfs(mnt);
    await fs.writeFile(path.join(mnt, 'filler'), Buffer.alloc(st.bavail * st.bsize));
    const r = grove(['commit', `--repo=${repo}`, '-b', 'main', tree]);
    // LMDB writes its new lock file through a mapping: on a full tmpfs that was SIGBUS.
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
    // liblmdb itself writes `Write error: … position N, size N` to stderr, without a newline, when
    // its pwrite fails outright (a short write it reports silently): which of the two happens
    // depends on how much room is left at that moment, so that text may precede grove's line.
    assert.match(lines[0]!, /^(Write error: .+? position \d+, size \d+)?error: \S*grove\/index\S*: no space left on device/);
    assert.equal(r.code, 1);
    assert.deepEqual(await fs.readdir(path.join(repo, 'refs/heads')), []);
    ostree(['fsck', `--repo=${repo}`]);
  } finally {
    if (mounted) await unmount(mnt);
    await t.cleanup();
  }
});

function run(cmd: string, ...args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/**
 * Unmounts, waiting a little while the file system is busy (a child of a process that just
 * died may still hold it), and detaches it lazily as a last resort so nothing stays mounted.
 */
async function unmount(dir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (spawnSync('umount', [dir]).status === 0) return;
    await sleep(100);
  }
  spawnSync('umount', ['-l', dir]);
}
