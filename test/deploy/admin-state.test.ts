import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { grove, groveOk, makeGpgKey, needsOstree, ostree } from '../helpers.js';
import { commitBoth, describeSysroot, makeTwins, ostreeStdout, sysrootTemp, type Twins, writeTree } from './fixture.js';

/**
 * config-diff, set-origin, unlock, status's unlocked and signature lines, and --stage,
 * --verify and --reboot, against ostree admin on twin sysroots. This machine is not booted into
 * an OSTree system, so what ostree does then (its refusals, word for word) is what is compared
 * for the verbs that need a booted deployment.
 */
describe('admin config-diff, set-origin, unlock, --stage, --verify, --reboot behave as ostree admin', needsOstree(), () => {
  const tmp = sysrootTemp('grove-admin-state-');
  let n = 0;

  /** Twins with one deployment of os/main (made by each tool), /etc edited the same way in both. */
  const deployed = (): { t: Twins; checksum: string } => {
    const t = makeTwins(path.join(tmp.dir, `case${n++}`));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { etc: { hostname: 'box\n', motd: 'hi\n', 'ssh/sshd_config': 'Port 22\n', 'keep/same': 's\n' } });
    const checksum = commitBoth(t, tree, 'os/main', '1.0');
    groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
    ostree(['admin', `--sysroot=${t.o}`, 'deploy', '--os=debian', 'os/main']);
    return { t, checksum };
  };

  /** The same admin line through both tools: exit status, stdout and stderr must match, then the sysroots. */
  const both = (t: Twins, args: string[], opts: { lastLine?: boolean; unordered?: boolean } = {}) => {
    const g = grove(['admin', `--sysroot=${t.g}`, ...args]);
    const o = ostree(['admin', `--sysroot=${t.o}`, ...args], { allowFail: true });
    const what = `admin ${args.join(' ')}`;
    assert.equal(g.code, o.code, `${what}: exit status (grove: ${g.stderr}; ostree: ${o.stderr})`);
    // config-diff lists entries in readdir order, which follows the order each tool created its
    // own deployment's files in (grove's checkout threads create them in no fixed order).
    const lines = (x: string) => (opts.unordered ? x.split('\n').sort().join('\n') : x);
    assert.equal(lines(g.stdout), lines(ostreeStdout(o.stdout)), `${what}: stdout`);
    // A usage error starts with the verb's help, which names the program: compare the error itself.
    const err = (s: string) => (opts.lastLine ? s.trimEnd().split('\n').at(-1)! : s);
    assert.equal(err(g.stderr), err(o.stderr), `${what}: stderr`);
    assert.deepEqual(describeSysroot(t.g), describeSysroot(t.o), `${what}: sysroots`);
    return g;
  };

  const deploymentDir = (root: string, checksum: string, serial = 0) => path.join(root, 'ostree/deploy/debian/deploy', `${checksum}.${serial}`);

  it('config-diff: M, D and A lines of /etc against /usr/etc, with --os; refused without it when not booted', () => {
    const { t, checksum } = deployed();
    for (const root of [t.g, t.o]) {
      const etc = path.join(deploymentDir(root, checksum), 'etc');
      fs.writeFileSync(path.join(etc, 'hostname'), 'mybox\n');
      fs.rmSync(path.join(etc, 'motd'));
      fs.chmodSync(path.join(etc, 'ssh/sshd_config'), 0o600);
      fs.mkdirSync(path.join(etc, 'new/deeper'), { recursive: true });
      fs.writeFileSync(path.join(etc, 'new/deeper/f'), 'f\n');
      fs.symlinkSync('hostname', path.join(etc, 'link'));
    }
    const out = both(t, ['config-diff', '--os=debian'], { unordered: true }).stdout;
    assert.match(out, /^M {4}hostname$/m);
    assert.match(out, /^D {4}motd$/m);
    assert.match(out, /^A {4}new\/deeper\/f$/m);
    both(t, ['config-diff'], { unordered: true });
    both(t, ['config-diff', '--os=nope']);
  });

  it('set-origin: adds the remote, rewrites the origin, keeps a remote it has; its refusals', () => {
    const { t } = deployed();
    both(t, ['set-origin', '--index=0', 'vendor', 'http://example.com/repo']);
    // The new remote verifies GPG signatures and the commit has none: ostree's status fails on it.
    both(t, ['status']);
    both(t, ['set-origin', '--index=0', '--set=gpg-verify=false', '-s', 'branches=a;', 'other', 'http://example.org/', 'os/next']);
    both(t, ['status']);
    // An existing remote is kept as it is, options and all.
    both(t, ['set-origin', '--index=0', '--set=gpg-verify=true', 'other', 'http://elsewhere/']);
    both(t, ['status']);
    both(t, ['set-origin', 'vendor', 'http://example.com/repo']);
    both(t, ['set-origin', '--index=-1', 'vendor', 'http://example.com/repo']);
    both(t, ['set-origin', '--index=1', 'vendor', 'http://example.com/repo']);
    both(t, ['set-origin', '--index=-2', 'vendor', 'http://example.com/repo']);
    both(t, ['set-origin', '--index=0', '--set=novalue', 'third', 'http://example.com/repo']);
    both(t, ['set-origin', '--index=x', 'vendor', 'http://x/']);
    both(t, ['set-origin', '--index=0', 'vendor'], { lastLine: true });
  });

  it('status --verify: ostree\'s errors for an origin without remote, without signatures, with verification off', () => {
    const { t } = deployed();
    both(t, ['status', '--verify']);
    both(t, ['set-origin', '--index=0', '--set=gpg-verify=false', 'plain', 'http://example.com/']);
    both(t, ['status', '-V']);
    both(t, ['set-origin', '--index=0', 'signed', 'http://example.com/']);
    both(t, ['status', '--verify']);
  });

  it('status and status --verify: gpgme\'s account of each GPG signature, from a key not trusted, then trusted, then a bad signature', () => {
    const { t, checksum } = deployed();
    const home = path.join(t.work, 'gnupg');
    fs.mkdirSync(home, { mode: 0o700 });
    const key = makeGpgKey(home, 'Signer');
    // One signature, the same bytes in both sysroots (a second signing would differ in its time).
    const rel = `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.commitmeta`;
    ostree(['gpg-sign', `--repo=${t.g}/ostree/repo`, `--gpg-homedir=${home}`, checksum, key.id]);
    fs.copyFileSync(path.join(t.g, 'ostree/repo', rel), path.join(t.o, 'ostree/repo', rel));
    // ostree's status checks signatures with the keys of the remote named like the stateroot,
    // and prints nothing when there is none; --verify uses the origin's remote.
    both(t, ['set-origin', '--index=0', 'vendor', 'http://example.com/repo']);
    assert.doesNotMatch(both(t, ['status']).stdout, /GPG:/);
    both(t, ['status', '--verify']);
    both(t, ['set-origin', '--index=0', 'debian', 'http://example.com/repo']);
    assert.match(both(t, ['status']).stdout, /^ {4}GPG: Can't check signature: public key not found$/m);
    both(t, ['status', '--verify']);
    for (const root of [t.g, t.o]) ostree(['remote', 'gpg-import', `--repo=${root}/ostree/repo`, 'debian', '-k', key.pub]);
    assert.match(both(t, ['status']).stdout, /^ {4}GPG: Good signature from "Signer <Signer@grove\.test>"$/m);
    assert.match(both(t, ['status', '--verify']).stdout, /^GPG: Good signature from "Signer <Signer@grove\.test>"\n\n/m);
    // A signature of other bytes: gpgme calls it BAD; status shows it, --verify fails on it.
    const forged = path.join(t.work, 'forged.commitmeta');
    const r = ostree(['commit', `--repo=${t.g}/ostree/repo`, '--orphan', `--gpg-sign=${key.id}`, `--gpg-homedir=${home}`, '-s', 'other', `--tree=ref=${checksum}`]);
    const otherCommit = r.stdout.trim();
    fs.copyFileSync(path.join(t.g, 'ostree/repo', `objects/${otherCommit.slice(0, 2)}/${otherCommit.slice(2)}.commitmeta`), forged);
    for (const root of [t.g, t.o]) fs.copyFileSync(forged, path.join(root, 'ostree/repo', rel));
    assert.match(both(t, ['status']).stdout, /^ {4}GPG: BAD signature from "Signer <Signer@grove\.test>"$/m);
    both(t, ['status', '--verify']);
  });

  it('status --verify by the sign API (ostree\'s dummy engine): verified, a wrong key, no key, a key file, every engine, an unknown type', () => {
    const { t, checksum } = deployed();
    const saved = process.env['OSTREE_DUMMY_SIGN_ENABLED'];
    process.env['OSTREE_DUMMY_SIGN_ENABLED'] = '1';
    try {
      // The dummy engine's "signature" is its key's text: the same bytes in both sysroots.
      const rel = `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.commitmeta`;
      ostree(['sign', `--repo=${t.g}/ostree/repo`, '--sign-type=dummy', checksum, 'sekrit']);
      fs.copyFileSync(path.join(t.g, 'ostree/repo', rel), path.join(t.o, 'ostree/repo', rel));
      both(t, ['set-origin', '--index=0', '--set=gpg-verify=false', '--set=sign-verify=dummy', '--set=verification-dummy-key=sekrit', 'vendor', 'http://example.com/']);
      const set = (key: string, value: string | null) => {
        for (const root of [t.g, t.o]) {
          if (value === null) ostree(['config', `--repo=${root}/ostree/repo`, 'unset', `remote "vendor".${key}`]);
          else ostree(['config', `--repo=${root}/ostree/repo`, 'set', `remote "vendor".${key}`, value]);
        }
      };
      assert.match(both(t, ['status', '--verify']).stdout, /^dummy: Signature verified$/m);
      set('verification-dummy-key', 'other');
      assert.match(both(t, ['status', '--verify']).stderr, /^error: Can't verify commit: signature: dummy: incorrect signatures found: 1$/m);
      set('verification-dummy-key', null);
      assert.match(both(t, ['status', '--verify']).stderr, /No keys found for required signapi type dummy/);
      set('verification-dummy-file', path.join(t.work, 'keys'));
      assert.match(both(t, ['status', '--verify']).stderr, /Failed loading 'dummy' keys from '/);
      set('verification-dummy-file', null);
      // Every engine, keys optional: with none, the dummy engine matches no signature; with its key, it verifies.
      set('sign-verify', 'true');
      both(t, ['status', '--verify']);
      set('verification-dummy-key', 'sekrit');
      assert.match(both(t, ['status', '--verify']).stdout, /^dummy: Signature verified$/m);
      // With GPG verification too, GPG's account comes first (here: there are no GPG signatures).
      set('gpg-verify', 'true');
      both(t, ['status', '--verify']);
      set('gpg-verify', 'false');
      set('sign-verify', 'nosuch');
      assert.match(both(t, ['status', '--verify']).stderr, /Requested signature type is not implemented/);
    } finally {
      if (saved === undefined) delete process.env['OSTREE_DUMMY_SIGN_ENABLED'];
      else process.env['OSTREE_DUMMY_SIGN_ENABLED'] = saved;
    }
  });

  it('unlock: refused word for word when not booted; status shows the unlocked states ostree records', () => {
    const { t, checksum } = deployed();
    for (const args of [['unlock'], ['unlock', '--hotfix'], ['unlock', '--transient'], ['unlock', '--hotfix', '--transient']]) both(t, args);
    both(t, ['unlock', 'extra'], { lastLine: true });
    // A hotfix unlock is recorded in the origin; development and transient ones by a flag in /run.
    for (const root of [t.g, t.o]) fs.appendFileSync(`${deploymentDir(root, checksum)}.origin`, 'unlocked=hotfix\n');
    assert.match(both(t, ['status']).stdout, /^ {4}Unlocked: hotfix$/m);
    const flagDir = path.join('/run/ostree/deployment-state', `${checksum}.0`);
    fs.mkdirSync(flagDir, { recursive: true });
    try {
      for (const state of ['transient', 'development']) {
        fs.writeFileSync(path.join(flagDir, `unlocked-${state}`), '/var/tmp/ostree-unlock-ovl.XXXXXX');
        assert.match(both(t, ['status']).stdout, new RegExp(`^ {4}Unlocked: ${state}$`, 'm'));
      }
    } finally {
      fs.rmSync(flagDir, { recursive: true, force: true });
    }
  });

  it('deploy --stage and upgrade --stage: refused as ostree refuses them when not booted', () => {
    const { t } = deployed();
    both(t, ['deploy', '--stage', '--os=debian', 'os/main']);
    both(t, ['deploy', '--stage', 'os/main']);
    both(t, ['deploy', '--stage', '--retain-rollback', '--os=debian', 'os/main']);
    both(t, ['deploy', '--stage', '--not-as-default', '--os=debian', 'os/main']);
    both(t, ['upgrade', '--stage', '--os=debian']);
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { etc: { hostname: 'box2\n' } });
    commitBoth(t, tree, 'os/main', '2.0');
    both(t, ['upgrade', '--stage', '--os=debian']);
  });

  it('--reboot: nothing to reboot when not booted; upgrade and switch go on as without it', () => {
    const { t } = deployed();
    both(t, ['upgrade', '--reboot', '--os=debian']);
    both(t, ['upgrade', '--reboot', '--pull-only', '--os=debian']);
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { etc: { hostname: 'box2\n' } });
    commitBoth(t, tree, 'os/main', '2.0');
    both(t, ['upgrade', '-r', '--os=debian']);
    writeTree(tree, { etc: { hostname: 'box3\n' } });
    commitBoth(t, tree, 'os/other', '3.0');
    both(t, ['switch', '--reboot', '--os=debian', 'os/other']);
    both(t, ['status']);
  });
});
