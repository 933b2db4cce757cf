import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { grove, groveOk, needsOstree } from '../helpers.js';
import { commitBoth, describeSysroot, makeTwins, sysrootTemp, type Twins, unlockDeployments, writeTree } from './fixture.js';

/**
 * The /etc merge never reaches outside the new deployment's /etc through a symlink: not one the
 * new tree ships in usr/etc (absolute, or relative with enough `..` to leave the sysroot), not one
 * the old deployment has where the merge reads. ostree 2022.7 follows such links and edits what
 * is behind them; grove refuses, or treats the link as the entry it is.
 */

/** Everything under `dir` with content, mode and times, the directory itself included. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string) => {
    const st = fs.lstatSync(p);
    let line = `${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} mtime=${st.mtimeMs} ctime=${st.ctimeMs}`;
    if (st.isSymbolicLink()) line += ` -> ${fs.readlinkSync(p)}`;
    else if (st.isFile()) line += ` ${JSON.stringify(fs.readFileSync(p, 'utf8'))}`;
    out.push(line);
    if (st.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name), `${rel}/${name}`);
  };
  walk(dir, '.');
  return out;
}

/** A directory outside the sysroot holding canaries named like the files the admin touched. */
function victimDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const name of ['sshd_config', 'gone', 'canary']) fs.writeFileSync(path.join(dir, name), `outside ${name}\n`);
  // Old times, so that a touch of any kind shows in the snapshot.
  for (const name of [...fs.readdirSync(dir), '.']) fs.utimesSync(path.join(dir, name), 1_000_000, 1_000_000);
  return dir;
}

function etcOf(root: string): string {
  const s = JSON.parse(groveOk(['admin', 'status', '--json', `--sysroot=${root}`])) as { deployments: Array<{ osname: string; checksum: string; serial: number }> };
  const d = s.deployments[0]!;
  return path.join(root, 'ostree/deploy', d.osname, 'deploy', `${d.checksum}.${d.serial}`, 'etc');
}

describe('/etc merge and symlinks: nothing outside the new /etc is read, written, created or deleted', needsOstree(), () => {
  const tmp = sysrootTemp('grove-etc-symlink-');
  let n = 0;

  /**
   * Version 1 with a real etc/ssh deployed by grove, in which the admin then modified
   * sshd_config, added added.conf and removed gone (or only some of these); version 2 of the
   * tree ships usr/etc/ssh as a symlink to `target`.
   */
  const setup = (target: (t: Twins) => string, edits: Array<'modify' | 'add' | 'remove'>): { t: Twins; etc1: string } => {
    const t = makeTwins(path.join(tmp.dir, `case${n++}`));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { etc: { hostname: 'box\n', 'ssh/sshd_config': 'Port 22\n', 'ssh/gone': 'default\n', 'ssh/kept': 'default\n' } });
    commitBoth(t, tree, 'os/main', '1');
    groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
    const etc1 = etcOf(t.g);
    if (edits.includes('modify')) fs.writeFileSync(path.join(etc1, 'ssh/sshd_config'), 'Port 2222\n');
    if (edits.includes('add')) fs.writeFileSync(path.join(etc1, 'ssh/added.conf'), 'admin added\n');
    if (edits.includes('remove')) fs.rmSync(path.join(etc1, 'ssh/gone'));
    fs.writeFileSync(path.join(etc1, 'hostname'), 'admin host\n');
    writeTree(tree, { etc: { hostname: 'box\n' } });
    fs.symlinkSync(target(t), path.join(tree, 'usr/etc/ssh'));
    commitBoth(t, tree, 'os/main', '2');
    return { t, etc1 };
  };

  /** Deploying version 2 is refused with one line naming the paths, the sysroot as it was. */
  const refusedOverLink = (t: Twins) => {
    const before = describeSysroot(t.g);
    const r = grove(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: \/etc merge: \/etc\/ssh\/sshd_config was changed locally, but the new defaults make \/etc\/ssh a symlink; cannot merge\n$/);
    assert.deepEqual(describeSysroot(t.g), before, 'the refused deploy changed the sysroot');
  };

  it('usr/etc/ssh -> a directory outside: modified, added and removed files under ssh are refused, the outside untouched', () => {
    const victim = victimDir(path.join(tmp.dir, 'victim-dir'));
    const { t } = setup(() => victim, ['modify', 'add', 'remove']);
    const outside = snapshot(victim);
    refusedOverLink(t);
    assert.deepEqual(snapshot(victim), outside);
  });

  it('usr/etc/ssh -> a file outside: refused the same way, the file untouched', () => {
    const dir = victimDir(path.join(tmp.dir, 'victim-file'));
    const { t } = setup(() => path.join(dir, 'canary'), ['modify', 'add', 'remove']);
    const outside = snapshot(dir);
    refusedOverLink(t);
    assert.deepEqual(snapshot(dir), outside);
  });

  it('usr/etc/ssh -> ../../../…/victim, relative, climbing out of the sysroot: refused, the outside untouched', () => {
    const victim = victimDir(path.join(tmp.dir, 'victim-relative'));
    // More `..` than the new /etc is deep reaches /, whatever the deployment's path.
    const { t } = setup(() => `${'../'.repeat(32)}${victim.slice(1)}`, ['modify', 'add', 'remove']);
    const outside = snapshot(victim);
    refusedOverLink(t);
    assert.deepEqual(snapshot(victim), outside);
  });

  it('only a removal under the new symlink: nothing of that name is inside /etc, so the deploy goes through', () => {
    const victim = victimDir(path.join(tmp.dir, 'victim-removed'));
    const { t } = setup(() => victim, ['remove']);
    const outside = snapshot(victim);
    const out = groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
    assert.match(out, /^Copying \/etc changes: 1 modified, 1 removed, 0 added$/m);
    assert.deepEqual(snapshot(victim), outside);
    const etc2 = etcOf(t.g);
    assert.equal(fs.readlinkSync(path.join(etc2, 'ssh')), victim, 'the new default link stays as shipped');
    assert.equal(fs.readFileSync(path.join(etc2, 'hostname'), 'utf8'), 'admin host\n', 'the rest of the merge happened');
  });

  it('the old deployment\'s /etc or usr/etc a symlink out of it: refused before anything is read from there', () => {
    for (const which of ['etc', 'usr/etc']) {
      const victim = path.join(tmp.dir, `victim-old-${which.replace('/', '-')}`);
      fs.mkdirSync(victim);
      fs.writeFileSync(path.join(victim, 'hostname'), 'outside\n');
      fs.writeFileSync(path.join(victim, 'secret'), 'outside secret\n');
      const t = makeTwins(path.join(tmp.dir, `case${n++}`));
      const tree = path.join(t.work, 'tree');
      writeTree(tree, { etc: { hostname: 'box\n' } });
      commitBoth(t, tree, 'os/main', '1');
      groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
      const old = path.dirname(etcOf(t.g));
      unlockDeployments(t.g);
      fs.rmSync(path.join(old, which), { recursive: true });
      fs.symlinkSync(victim, path.join(old, which));
      writeTree(tree, { etc: { hostname: 'box v2\n' } });
      commitBoth(t, tree, 'os/main', '2');
      const outside = snapshot(victim);
      const before = describeSysroot(t.g);
      const r = grove(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `error: /etc merge: ${path.join(old, which)} is a symlink, not a directory\n`);
      assert.deepEqual(describeSysroot(t.g), before, `${which}: the refused deploy changed the sysroot`);
      assert.deepEqual(snapshot(victim), outside);
    }
  });
});
