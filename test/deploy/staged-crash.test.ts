import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { grove, ostree } from '../helpers.js';
import { boot, bootedUnsupported, rebootRun, runBooted, writeBootableTree } from './booted.js';
import { commitBoth, makeTwins, sysrootTemp } from './fixture.js';

/**
 * finalize-staged killed (SIGKILL, GROVE_TEST_CRASH_AT) at each step in turn, on a booted
 * system: the boot configuration is always the old one or the whole new one, both tools can
 * read the sysroot, a new deployment in it is finalized (its /etc merged, sealed), and after the
 * reboot a cleanup leaves no deployment that no boot entry names.
 */
describe('finalize-staged killed at any step leaves a bootable sysroot, old or new', { skip: bootedUnsupported() }, () => {
  const tmp = sysrootTemp('grove-staged-crash-');

  it('every crash point of a finalization', () => {
    // One machine with a deployment staged and /etc edited after, copied afresh for each trial.
    const t = makeTwins(path.join(tmp.dir, 'template'));
    const tree = path.join(t.work, 'tree');
    writeBootableTree(tree, { etc: { hostname: 'box\n', motd: '1\n' } });
    const v1 = commitBoth(t, tree, 'os/main', '1.0');
    assert.equal(grove(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']).code, 0);
    const machine = (dir: string) => boot(path.join(dir, 'g'), path.join(dir, 'g/ostree/deploy/debian/deploy', `${v1}.0`), path.join(dir, 'work/run'));
    const template = machine(path.dirname(t.g));
    writeBootableTree(tree, { etc: { hostname: 'box\n', motd: '2\n' } });
    const v2 = commitBoth(t, tree, 'os/main', '2.0');
    assert.equal(runBooted(template, 'grove', ['admin', 'deploy', '--stage', 'os/main']).code, 0);
    fs.writeFileSync(path.join(template.deployment, 'etc/hostname'), 'edited\n');

    let completed = false;
    let point = 1;
    for (; !completed; point++) {
      assert.ok(point < 200, 'finalize-staged never completed');
      const dir = path.join(tmp.dir, `p${point}`);
      fs.mkdirSync(path.join(dir, 'work'), { recursive: true });
      for (const part of ['g', 'work/run']) assert.equal(spawnSync('cp', ['-a', path.join(path.dirname(t.g), part), path.join(dir, part)]).status, 0);
      const m = machine(dir);
      const r = runBooted(m, 'grove', ['admin', 'finalize-staged'], { GROVE_TEST_CRASH_AT: String(point) });
      completed = r.code === 0;
      if (!completed) assert.equal(r.code, 128 + 9, `point ${point}: killed, not failed: ${r.stderr}`);

      const entries = fs.readdirSync(path.join(m.sysroot, 'boot/loader/entries'));
      for (const tool of ['grove', 'ostree'] as const) {
        assert.equal(runBooted(m, tool, ['admin', 'status']).code, 0, `point ${point}: ${tool} admin status`);
      }
      const status = runBooted(m, 'grove', ['admin', 'status']).stdout;
      if (entries.length === 2) {
        assert.match(status, new RegExp(`^  debian ${v2}\\.0 \\(pending\\)$`, 'm'), `point ${point}`);
        const next = path.join(m.sysroot, 'ostree/deploy/debian/deploy', `${v2}.0`);
        assert.equal(fs.readFileSync(path.join(next, 'etc/hostname'), 'utf8'), 'edited\n', `point ${point}: /etc merged`);
      } else {
        assert.equal(entries.length, 1, `point ${point}: ${entries.join(' ')}`);
        assert.doesNotMatch(status, /pending/, `point ${point}`);
      }
      rebootRun(m);
      assert.equal(runBooted(m, 'grove', ['admin', 'cleanup']).code, 0, `point ${point}: cleanup`);
      const deployed = fs.readdirSync(path.join(m.sysroot, 'ostree/deploy/debian/deploy')).filter((n) => !n.endsWith('.origin'));
      assert.equal(deployed.length, entries.length, `point ${point}: ${deployed.join(' ')}`);
      assert.equal(ostree(['fsck', `--repo=${path.join(m.sysroot, 'ostree/repo')}`], { allowFail: true }).code, 0, `point ${point}: fsck`);
    }
    assert.ok(point > 8, `only ${point - 1} crash points reached`);
  });
});
