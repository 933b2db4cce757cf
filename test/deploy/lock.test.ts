import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RepoLock } from '../../src/repo/lock.js';
import { GROVE_BIN, groveOk, needsOstree, ostree } from '../helpers.js';
import { commitBoth, makeTwins, sysrootTemp, writeTree } from './fixture.js';

/** The sysroot lock excludes grove and ostree admin from each other, both ways. */
function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function stillRunningAfter(child: ReturnType<typeof spawn>, ms: number): Promise<boolean> {
  const exited = exitOf(child).then(() => false);
  return Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(true), ms))]);
}

describe('the sysroot lock (ostree/lock) is the one ostree admin takes', needsOstree(), () => {
  const tmp = sysrootTemp('grove-lock-');

  it('grove admin deploy waits while ostree\'s kind of lock is held, ostree admin cleanup while grove\'s is', async () => {
    const t = makeTwins(path.join(tmp.dir, 'twins'));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/main', '1');
    const lockFile = path.join(t.g, 'ostree/lock');

    // What libglnx does for ostree admin, held here through the same OFD mechanism.
    let lock = await RepoLock.acquireOfd(lockFile, 'exclusive');
    const deploy = spawn(process.execPath, [GROVE_BIN, 'admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main'], { stdio: 'ignore' });
    const deployed = exitOf(deploy);
    assert.equal(await stillRunningAfter(deploy, 1500), true, 'grove deployed while the sysroot was locked');
    assert.equal(fs.existsSync(path.join(t.g, 'boot/loader')), false);
    await lock.release();
    assert.equal(await deployed, 0);
    assert.equal(fs.readdirSync(path.join(t.g, 'boot/loader/entries')).length, 1);
    // Released by an exclusive holder, the file is gone, as libglnx leaves it.
    assert.equal(fs.existsSync(lockFile), false);

    // And the real ostree waits for grove's lock.
    lock = await RepoLock.acquireOfd(lockFile, 'exclusive');
    const cleanup = spawn('ostree', ['admin', `--sysroot=${t.g}`, 'cleanup'], { stdio: 'ignore' });
    const cleaned = exitOf(cleanup);
    assert.equal(await stillRunningAfter(cleanup, 1500), true, 'ostree admin cleanup ran while grove held the lock');
    await lock.release();
    assert.equal(await cleaned, 0);
    assert.match(groveOk(['admin', 'status', `--sysroot=${t.g}`]), /Version: 1/);
    ostree(['admin', 'status', `--sysroot=${t.g}`]);
  });
});
