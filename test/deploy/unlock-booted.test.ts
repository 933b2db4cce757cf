import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { grove, ostree } from '../helpers.js';
import { boot, bootedUnsupported, describeRun, runBooted, scriptBooted, writeBootableTree, type Booted } from './booted.js';
import { commitBoth, describeSysroot, makeTwins, sysrootTemp, type Twins } from './fixture.js';

/**
 * `admin unlock` on a booted system (booted.ts), grove against ostree 2022.7: the overlay each
 * mounts on /usr, what a write to /usr then lands in, and what each records in the sysroot and
 * in /run. Each unlock runs in a mount namespace of its own, not PID 1's: ostree 2022.7 moves
 * into a new namespace when it shares PID 1's, and its overlay is then gone when it exits.
 * Once /usr is the overlay (of the test tree's usr) the host's tools are gone, so the script
 * reads the mount table and writes with shell builtins only.
 */
const SCRIPT = `"$@" admin unlock $UNLOCK || exit $?
while read -r dev dir type opts rest; do [ "$dir" = /usr ] && echo "/usr: $type \${opts%%,*}"; done < /proc/self/mounts
if echo written > /usr/written 2>/dev/null; then echo "/usr is writable"; else echo "/usr is read-only"; fi
[ -e /usr/lib/os-release ] && echo "the deployment's /usr is below"
exit 0`;

describe('admin unlock on a booted system mounts the overlay ostree does', { skip: bootedUnsupported() }, () => {
  const tmp = sysrootTemp('grove-unlock-booted-');
  let n = 0;

  const booted = (): { t: Twins; g: Booted; o: Booted; v1: string } => {
    const t = makeTwins(path.join(tmp.dir, `case${n++}`));
    const tree = path.join(t.work, 'tree');
    writeBootableTree(tree, { etc: { hostname: 'box\n' } });
    const v1 = commitBoth(t, tree, 'os/main', '1.0');
    assert.equal(grove(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']).code, 0);
    ostree(['admin', `--sysroot=${t.o}`, 'deploy', '--os=debian', 'os/main']);
    const dir = (root: string) => path.join(root, 'ostree/deploy/debian/deploy', `${v1}.0`);
    return { t, g: boot(t.g, dir(t.g), path.join(t.work, 'run-g')), o: boot(t.o, dir(t.o), path.join(t.work, 'run-o')), v1 };
  };

  /** Names ostree makes with mkdtemp (`ostree-unlock-ovl.XXXXXX`) as one. */
  const norm = (lines: string[]) => lines.map((l) => l.replace(/ostree-unlock-ovl\.[A-Za-z0-9]{6}/g, 'ostree-unlock-ovl.XXXXXX'));
  for (const mode of ['', '--hotfix', '--transient']) {
    it(`unlock ${mode || '(development)'}: the same overlay, messages, sysroot and /run`, () => {
      const m = booted();
      const script = SCRIPT.replace('$UNLOCK', mode);
      const g = scriptBooted(m.g, 'grove', script);
      const o = scriptBooted(m.o, 'ostree', script);
      assert.equal(g.code, o.code, `exit status (grove: ${g.stderr}; ostree: ${o.stderr})`);
      assert.equal(o.code, 0, o.stderr);
      assert.equal(g.stdout, o.stdout);
      assert.equal(g.stderr, o.stderr);
      assert.match(o.stdout, /^\/usr: overlay /m);
      assert.deepEqual(norm(describeSysroot(m.t.g)), norm(describeSysroot(m.t.o)));
      const run = (b: Booted) => describeRun(b, { text: true, normalise: (l) => norm([l])[0]! });
      assert.deepEqual(run(m.g), run(m.o));
      const status = (b: Booted, tool: 'grove' | 'ostree') => runBooted(b, tool, ['admin', 'status']).stdout;
      assert.equal(status(m.g, 'grove'), status(m.o, 'ostree'));
    });
  }
});
