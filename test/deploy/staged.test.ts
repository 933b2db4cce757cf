import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { grove, ostree } from '../helpers.js';
import { boot, bootedUnsupported, describeRun, rebootRun, runBooted, writeBootableTree, type Booted } from './booted.js';
import { commitBoth, describeSysroot, makeTwins, ostreeStdout, sysrootTemp, type Twins } from './fixture.js';
import { decodeStaged, encodeStaged } from '../../src/deploy/runstate.js';

/**
 * Staged deployments on a booted system (see booted.ts for how a sysroot is booted here), grove
 * against ostree 2022.7 on twin sysroots: each admin line runs on both, and the exit status,
 * stdout, stderr, the sysroots and the machines' /run must come out the same.
 */
describe('admin deploy --stage, finalize-staged and boot-complete behave as ostree on a booted system', { skip: bootedUnsupported() }, () => {
  const tmp = sysrootTemp('grove-staged-');
  let n = 0;

  interface Machines { t: Twins; g: Booted; o: Booted; v1: string; commit: (version: string, etc?: Record<string, string>) => string }

  /** Twins with os/main 1.0 deployed by each tool and booted. */
  const booted = (): Machines => {
    const t = makeTwins(path.join(tmp.dir, `case${n++}`));
    const tree = path.join(t.work, 'tree');
    const commit = (version: string, etc: Record<string, string> = { hostname: 'box\n', motd: `${version}\n` }) => {
      writeBootableTree(tree, { etc });
      return commitBoth(t, tree, 'os/main', version);
    };
    const v1 = commit('1.0');
    assert.equal(grove(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', '--karg=root=LABEL=os', 'os/main']).code, 0);
    ostree(['admin', `--sysroot=${t.o}`, 'deploy', '--os=debian', '--karg=root=LABEL=os', 'os/main']);
    const dir = (root: string) => path.join(root, 'ostree/deploy/debian/deploy', `${v1}.0`);
    return { t, g: boot(t.g, dir(t.g), path.join(t.work, 'run-g')), o: boot(t.o, dir(t.o), path.join(t.work, 'run-o')), v1, commit };
  };

  /** The same admin line on both machines; everything must match. */
  const both = (m: Machines, args: string[], env: Record<string, string> = {}) => {
    const g = runBooted(m.g, 'grove', ['admin', ...args], env);
    const o = runBooted(m.o, 'ostree', ['admin', ...args], env);
    const what = `admin ${args.join(' ')}`;
    assert.equal(g.code, o.code, `${what}: exit status (grove: ${g.stderr}; ostree: ${o.stderr})`);
    assert.equal(g.stdout, ostreeStdout(o.stdout), `${what}: stdout`);
    assert.equal(g.stderr, o.stderr, `${what}: stderr`);
    assert.deepEqual(describeSysroot(m.t.g), describeSysroot(m.t.o), `${what}: sysroots`);
    assert.deepEqual(describeRun(m.g), describeRun(m.o), `${what}: /run`);
    return g;
  };

  /** The same edit of the running system's /etc on both machines. */
  const editEtc = (m: Machines, rel: string, text: string | null) => {
    for (const b of [m.g, m.o]) {
      const f = path.join(b.deployment, 'etc', rel);
      if (text === null) fs.rmSync(f);
      else fs.writeFileSync(f, text);
    }
  };

  const immutable = (dir: string) => /^[^ ]*i[^ ]* /.test(spawnLsattr(dir));

  it('stages a deployment (state in /run, no boot entry), then finalize-staged merges /etc as it is at shutdown and makes it the default', () => {
    const m = booted();
    editEtc(m, 'hostname', 'before-staging\n');
    const v2 = m.commit('2.0');
    assert.equal(both(m, ['status']).stdout.split('\n')[0], `* debian ${m.v1}.0`);
    both(m, ['deploy', '--stage', '--karg-append=quiet', 'os/main']);
    const status = both(m, ['status']).stdout;
    assert.match(status, new RegExp(`^  debian ${v2}\\.0 \\(staged\\)$`, 'm'));
    const staged = decodeStaged(fs.readFileSync(path.join(m.g.run, 'ostree/staged-deployment')));
    assert.equal(staged?.target.checksum, v2);
    assert.equal(staged?.merge?.checksum, m.v1);
    assert.ok(staged?.kargs?.includes('quiet'));
    // Staged, not finalized: mutable, /etc not merged yet, no boot entry names it.
    const dir = path.join(m.t.g, 'ostree/deploy/debian/deploy', `${v2}.0`);
    assert.equal(immutable(dir), false);
    assert.equal(fs.readFileSync(path.join(dir, 'etc/hostname'), 'utf8'), 'box\n');
    assert.equal(fs.readdirSync(path.join(m.t.g, 'boot/loader/entries')).length, 1);

    // A change made after staging still carries over: the merge happens at shutdown.
    editEtc(m, 'motd', 'after staging\n');
    const fin = both(m, ['finalize-staged']).stdout;
    assert.match(fin, /^Copying \/etc changes: 2 modified, 0 removed, 0 added$/m);
    assert.match(fin, /^Bootloader updated; bootconfig swap: yes; bootversion: boot\.0\.1, deployment count change: 1$/m);
    assert.equal(fs.readFileSync(path.join(dir, 'etc/motd'), 'utf8'), 'after staging\n');
    assert.equal(immutable(dir), true);
    assert.match(both(m, ['status']).stdout, new RegExp(`^  debian ${v2}\\.0 \\(pending\\)$`, 'm'));
    const entries = fs.readdirSync(path.join(m.t.g, 'boot/loader/entries')).map((e) => fs.readFileSync(path.join(m.t.g, 'boot/loader/entries', e), 'utf8'));
    assert.ok(entries.some((e) => /^title Test OS 2\.0 /m.test(e) && /^options root=LABEL=os ostree=\S+ quiet$/m.test(e)), entries.join('\n'));
    // Nothing left to finalize: a second run does nothing.
    both(m, ['finalize-staged']);
  });

  it('a second staging replaces the first; a plain deploy (even with --retain) or undeploy drops what is staged, cleanup keeps it; a staged deployment cannot be pinned', () => {
    const m = booted();
    m.commit('2.0');
    both(m, ['deploy', '--stage', 'os/main']);
    m.commit('3.0');
    both(m, ['deploy', '--stage', '--karg=console=ttyS0', 'os/main']);
    both(m, ['pin', '0']);
    both(m, ['undeploy', '0']);
    assert.equal(fs.existsSync(path.join(m.g.run, 'ostree/staged-deployment')), false);
    both(m, ['deploy', '--stage', 'os/main']);
    both(m, ['deploy', '--os=debian', m.v1]);
    both(m, ['status']);
    both(m, ['deploy', '--stage', 'os/main']);
    // cleanup keeps what is staged; a deploy that keeps everything drops it all the same.
    both(m, ['cleanup']);
    both(m, ['deploy', '--retain', '--os=debian', m.v1]);
    both(m, ['status']);
  });

  it('--lock-finalization: finalize-staged leaves the deployment staged until the lock goes', () => {
    const m = booted();
    m.commit('2.0');
    both(m, ['deploy', '--stage', '--lock-finalization', 'os/main']);
    both(m, ['finalize-staged']);
    assert.match(both(m, ['status']).stdout, /\(staged\)/);
    for (const b of [m.g, m.o]) fs.rmSync(path.join(b.run, 'ostree/staged-deployment-locked'));
    assert.match(both(m, ['finalize-staged']).stdout, /^Bootloader updated/m);
  });

  it('upgrade --stage stages the new commit of the origin; refusals are ostree\'s', () => {
    const m = booted();
    both(m, ['deploy', '--os=debian', 'os/main']);
    m.commit('2.0');
    both(m, ['upgrade', '--stage']);
    assert.match(both(m, ['status']).stdout, /\(staged\)/);
    both(m, ['deploy', '--stage', '--retain-pending', 'os/main']);
    both(m, ['deploy', '--stage', '--not-as-default', 'os/main']);
    both(m, ['finalize-staged']);
  });

  it('a finalization that fails is logged in /boot and reported once by boot-complete at the next boot; the boot configuration stays', () => {
    const m = booted();
    const v2 = m.commit('2.0');
    both(m, ['deploy', '--stage', 'os/main']);
    // The merge deployment the state names is gone (serial 7 never existed).
    for (const b of [m.g, m.o]) {
      const file = path.join(b.run, 'ostree/staged-deployment');
      const s = decodeStaged(fs.readFileSync(file))!;
      fs.writeFileSync(file, encodeStaged({ ...s, merge: { ...s.merge!, serial: 7 } }));
    }
    const r = both(m, ['finalize-staged']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: Failed to find merge deployment ${m.v1}\\.7 for staged$`, 'm'));
    assert.equal(fs.readFileSync(path.join(m.t.g, 'boot/ostree/finalize-failure.stamp'), 'utf8'), `Failed to find merge deployment ${m.v1}.7 for staged`);
    // The boot configuration is as it was; the state is kept (the lookup failed before it went).
    assert.match(both(m, ['status']).stdout, new RegExp(`^  debian ${v2}\\.0 \\(staged\\)$`, 'm'));
    assert.equal(fs.readdirSync(path.join(m.t.g, 'boot/loader/entries')).length, 1);
    for (const b of [m.g, m.o]) rebootRun(b);
    // ostree asserts it runs under systemd (INVOCATION_ID); grove needs no such variable.
    const env = { INVOCATION_ID: 'test' };
    const report = both(m, ['boot-complete'], env);
    assert.equal(report.code, 1);
    assert.match(report.stderr, /^error: ostree-finalize-staged\.service failed on previous boot: Failed to find merge deployment/m);
    assert.equal(both(m, ['boot-complete'], env).code, 0);
  });

  it('not booted: finalize-staged and boot-complete do nothing, as ostree', () => {
    const m = booted();
    for (const args of [['finalize-staged'], ['finalize-staged', '--hold'], ['boot-complete']]) {
      const g = grove(['admin', `--sysroot=${m.t.g}`, ...args]);
      const o = ostree(['admin', `--sysroot=${m.t.o}`, ...args], { allowFail: true });
      assert.deepEqual([g.code, g.stdout, g.stderr], [o.code, o.stdout, o.stderr], args.join(' '));
    }
  });
});

function spawnLsattr(dir: string): string {
  return spawnSync('lsattr', ['-d', dir], { encoding: 'utf8' }).stdout;
}
