import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadSysroot } from '../../src/deploy/deployments.js';
import { describeStatus } from '../../src/deploy/status.js';
import { GROVE_BIN, groveOk, needsOstree, ostree } from '../helpers.js';
import { commitBoth, KVER, makeTwins, sysrootTemp, writeTree } from './fixture.js';

/**
 * kill -9 of `grove admin deploy` at every step, then at random moments: afterwards the default
 * boot entry (every entry, in fact) must be complete and boot a complete deployment, the old or
 * the new, and grove and the real ostree must read the same deployments.
 */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const r = `${rel}/${name}`;
      const st = fs.lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(p, r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${fs.readlinkSync(p)}`);
      else out.push(`${r} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir, '');
  return out;
}

interface Status { deployments: Array<{ checksum: string; serial: number; osname: string }> }

describe('kill -9 during admin deploy never leaves an unbootable sysroot', needsOstree(), () => {
  const tmp = sysrootTemp('grove-crash-');

  it('at each crash point in turn, then at random moments', async () => {
    const t = makeTwins(path.join(tmp.dir, 'twins'));
    const root = t.g;
    const tree = path.join(t.work, 'tree');
    const files: Record<string, string> = {};
    for (let i = 0; i < 120; i++) files[`usr/share/data/d${i % 10}/f${i}`] = `${i}\n`.repeat(i);
    const commits: string[] = [];
    const usrOf = new Map<string, string[]>();
    for (const k of ['A', 'B']) {
      writeTree(tree, { etc: { hostname: `${k}\n`, [`only-${k}`]: k }, kernel: `kernel ${k}\n`, files });
      const c = commitBoth(t, tree, `os/${k}`, k);
      commits.push(c);
      usrOf.set(c, listing(path.join(tree, 'usr')));
    }
    groveOk(['admin', `--sysroot=${root}`, 'deploy', '--os=debian', '--karg=root=/dev/vda2', commits[0]!]);

    const verify = async (what: string) => {
      // grove's status in-process (the code behind `grove admin status`), ostree's as a command.
      const state = loadSysroot(root);
      const theirs = ostree(['admin', 'status', `--sysroot=${root}`], { allowFail: true });
      assert.equal(theirs.code, 0, `${what}: ostree admin status: ${theirs.stderr}`);
      assert.equal(await describeStatus(state), theirs.stdout, `${what}: grove and ostree disagree`);
      const entriesDir = path.join(root, 'boot/loader/entries');
      const entries = fs.readdirSync(entriesDir).map((n) => fs.readFileSync(path.join(entriesDir, n), 'utf8'));
      assert.ok(entries.length >= 1, `${what}: no boot entries`);
      assert.equal(state.deployments.length, entries.length);
      for (const entry of entries) {
        for (const key of ['title', 'version', 'options', 'linux', 'initrd']) assert.match(entry, new RegExp(`^${key} .+$`, 'm'), `${what}: entry lacks ${key}`);
        const ostreeArg = /ostree=(\S+)/.exec(entry)![1]!;
        const deployment = fs.realpathSync(path.join(root, ostreeArg));
        const [checksum] = path.basename(deployment).split('.');
        assert.ok(usrOf.has(checksum!), `${what}: ${ostreeArg} leads to ${deployment}`);
        assert.deepEqual(listing(path.join(deployment, 'usr')), usrOf.get(checksum!), `${what}: deployment ${deployment} is incomplete`);
        assert.ok(fs.existsSync(`${deployment}.origin`), `${what}: ${deployment} has no origin`);
        assert.ok(fs.existsSync(path.join(deployment, 'etc/hostname')), `${what}: ${deployment} has no /etc`);
        const linux = /^linux (.*)$/m.exec(entry)![1]!;
        assert.deepEqual(fs.readFileSync(path.join(root, 'boot', linux)), fs.readFileSync(path.join(deployment, `usr/lib/modules/${KVER}/vmlinuz`)), `${what}: kernel of ${linux}`);
        const initrd = /^initrd (.*)$/m.exec(entry)![1]!;
        assert.equal(fs.readFileSync(path.join(root, 'boot', initrd), 'utf8'), 'initrd\n', `${what}: ${initrd}`);
      }
    };

    let point = 1;
    for (; point < 200; point++) {
      const target = commits[point % 2]!;
      const r = spawnSync(process.execPath, [GROVE_BIN, 'admin', `--sysroot=${root}`, 'deploy', '--os=debian', target], {
        env: { ...process.env, GROVE_TEST_CRASH_AT: String(point) }, encoding: 'utf8',
      });
      if (r.status === 0) break;
      assert.equal(r.signal, 'SIGKILL', `crash point ${point}: ${r.stderr}`);
      await verify(`after a kill at crash point ${point}`);
    }
    assert.ok(point > 25 && point < 200, `deploy passed ${point - 1} crash points`);

    // Random moments: in the checkout, the /etc copy, the syncs, between crash points.
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 5; i++) {
      const child = spawn(process.execPath, [GROVE_BIN, 'admin', `--sysroot=${root}`, 'deploy', '--os=debian', commits[i % 2]!], { stdio: 'ignore' });
      const delay = 100 + Math.floor(random() * 700);
      const timer = setTimeout(() => child.kill('SIGKILL'), delay);
      await new Promise((resolve) => child.once('exit', resolve));
      clearTimeout(timer);
      await verify(`after a kill ${delay} ms into a deploy`);
    }

    // Whatever the kills left behind, the next deploy and cleanup leave exactly what is in use.
    groveOk(['admin', `--sysroot=${root}`, 'deploy', '--os=debian', commits[0]!]);
    groveOk(['admin', `--sysroot=${root}`, 'cleanup']);
    await verify('after a last deploy');
    const status = JSON.parse(groveOk(['admin', 'status', '--json', `--sysroot=${root}`])) as Status;
    const expected = status.deployments.flatMap((d) => [`${d.checksum}.${d.serial}`, `${d.checksum}.${d.serial}.origin`]).sort();
    assert.deepEqual(fs.readdirSync(path.join(root, 'ostree/deploy/debian/deploy')).sort(), expected);
    const v = fs.readlinkSync(path.join(root, 'boot/loader')).slice(-1);
    assert.deepEqual(fs.readdirSync(path.join(root, 'boot')).sort(), ['boot', 'loader', `loader.${v}`, 'ostree']);
    assert.deepEqual(fs.readdirSync(path.join(root, 'ostree')).sort(), [`boot.${v}`, fs.readlinkSync(path.join(root, `ostree/boot.${v}`)), 'deploy', 'repo']);
    ostree(['admin', `--sysroot=${root}`, 'status']);
  });
});
