import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadSysroot } from '../../src/deploy/deployments.js';
import { describeStatus } from '../../src/deploy/status.js';
import { GROVE_BIN, groveOk, needsOstree, ostree } from '../helpers.js';
import { commitBoth, describeSysroot, makeTwins, sysrootTemp, writeTree } from './fixture.js';

/**
 * kill -9 of `grove admin deploy --overlay-initrd` at each crash point in turn: every entry
 * afterwards lists only overlays that are in /boot whole (their bytes hash to their names), ostree
 * reads the same deployments, and once a deploy completes, /boot holds exactly the overlays the
 * entries list, which `ostree admin cleanup` then leaves as they are.
 */
describe('kill -9 during admin deploy --overlay-initrd', needsOstree(), () => {
  const tmp = sysrootTemp('grove-overlay-crash-');
  const staged: string[] = [];
  after(() => {
    for (const c of staged) fs.rmSync(path.join('/run/ostree/staged-initrds', c), { force: true });
  });

  it('never leaves an entry naming a missing or partial overlay', async () => {
    const t = makeTwins(path.join(tmp.dir, 'twins'));
    const root = t.g;
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/main', '1');
    const token = randomUUID();
    const images = ['a', 'b', 'c'].map((name) => {
      const p = path.join(t.work, `${name}.img`);
      // Big enough that a copy is not one write; unique to this run, so the /run names are ours.
      const data = `${name} ${token}\n`.repeat(20000);
      fs.writeFileSync(p, data);
      staged.push(createHash('sha256').update(data).digest('hex'));
      return p;
    });
    groveOk(['admin', `--sysroot=${root}`, 'deploy', '--os=debian', `--overlay-initrd=${images[0]}`, 'os/main']);

    const overlaysDir = path.join(root, 'boot/ostree/initramfs-overlays');
    const listed = () => {
      const dir = path.join(root, 'boot/loader/entries');
      return fs.readdirSync(dir).flatMap((n) => fs.readFileSync(path.join(dir, n), 'utf8').split('\n'))
        .filter((l) => l.startsWith('initrd /ostree/initramfs-overlays/')).map((l) => path.posix.basename(l.slice('initrd '.length)));
    };
    const verify = async (what: string) => {
      const theirs = ostree(['admin', 'status', `--sysroot=${root}`], { allowFail: true });
      assert.equal(theirs.code, 0, `${what}: ostree admin status: ${theirs.stderr}`);
      assert.equal(await describeStatus(loadSysroot(root)), theirs.stdout, `${what}: grove and ostree disagree`);
      const names = listed();
      assert.ok(names.length >= 1, `${what}: no entry lists an overlay`);
      for (const name of names) {
        const data = fs.readFileSync(path.join(overlaysDir, name));
        assert.equal(`${createHash('sha256').update(data).digest('hex')}.img`, name, `${what}: ${name} is not whole`);
      }
    };

    let point = 1;
    for (; point < 200; point++) {
      const r = spawnSync(process.execPath, [GROVE_BIN, 'admin', `--sysroot=${root}`, 'deploy', '--os=debian', `--overlay-initrd=${images[1 + (point % 2)]}`, 'os/main'], {
        env: { ...process.env, GROVE_TEST_CRASH_AT: String(point) }, encoding: 'utf8',
      });
      if (r.status === 0) break;
      assert.equal(r.signal, 'SIGKILL', `crash point ${point}: ${r.stderr}`);
      await verify(`after a kill at crash point ${point}`);
    }
    assert.ok(point > 10 && point < 200, `deploy passed ${point - 1} crash points`);
    await verify('after the deploy that completed');

    // Whatever the kills left in /boot, a completed deploy keeps exactly what the entries list.
    groveOk(['admin', `--sysroot=${root}`, 'deploy', '--os=debian', `--overlay-initrd=${images[0]}`, 'os/main']);
    await verify('after a last deploy');
    assert.deepEqual(fs.readdirSync(overlaysDir).sort(), [...new Set(listed())].sort());
    const before = describeSysroot(root);
    ostree(['admin', `--sysroot=${root}`, 'cleanup']);
    assert.deepEqual(describeSysroot(root), before, 'ostree admin cleanup finds nothing more to remove');
  });
});
