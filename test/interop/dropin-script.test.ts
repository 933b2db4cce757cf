import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { groveOstreeLink, needsOstree, ostree, tempDir } from '../helpers.js';
import { runEnv } from './dropin-support.js';

/**
 * The Drop-in issue's own example: a shell script written for ostree, run unchanged once with
 * the real ostree and once with grove first on PATH under the name `ostree`. Options sit before,
 * between and after the verbs, as scripts write them. The two runs must print the same, exit the
 * same, and leave the same repositories (`ls -R -C` and `refs`, by the real ostree), the same
 * tar export and the same detached metadata.
 */
const SCRIPT = String.raw`
set -eu
W=$1
R=$W/repo
T=$W/tree
mkdir -p $T/usr/lib/modules/6.1.0 $T/usr/share/doc $T/usr/etc
echo kernel > $T/usr/lib/modules/6.1.0/vmlinuz
echo initrd > $T/usr/lib/modules/6.1.0/initramfs.img
echo one > $T/usr/share/doc/a
echo host > $T/usr/etc/hostname
ostree --repo=$R init --mode=bare-user
ostree commit --repo=$R -b os/main --bootable --add-detached-metadata-string=build=1 -s one --timestamp=2024-01-01T00:00:00Z $T
echo two >> $T/usr/share/doc/a
echo new > $T/usr/share/doc/b
ostree --repo=$R commit --bootable -b os/main --add-detached-metadata-string=build=2 --subject=two --timestamp=2024-01-02T00:00:00Z $T
rm $T/usr/share/doc/a
ln -s b $T/usr/share/doc/c
ostree commit -b os/main --repo $R --bootable --add-detached-metadata-string build=3 -s three --timestamp 2024-01-03T00:00:00Z $T
ostree log --repo=$R os/main
ostree --repo=$R show --print-detached-metadata-key=build os/main
ostree reset --repo=$R os/main os/main^
ostree rev-parse --repo=$R os/main
ostree --repo=$R prune --refs-only --depth=1
ostree export --repo=$R --output=$W/os.tar os/main
ostree diff --repo=$R os/main^ os/main
ostree --repo=$W/mirror init --mode=archive
ostree pull-local --repo=$W/mirror $R os/main
ostree fsck --repo=$W/mirror
ostree refs --repo=$R
ostree --repo=$W/mirror refs
if ostree --repo=$R rev-parse os/nosuch 2>/dev/null; then echo unexpected; else echo "no such ref: $?"; fi
`;

describe('an ostree shell script runs unchanged with grove as ostree on PATH', needsOstree(), () => {
  it('init, three --bootable commits with detached metadata, reset, prune --depth=1, export, diff, pull-local, fsck', async () => {
    const tmp = await tempDir('grove-dropin-script-');
    try {
      // `ostree` on PATH that is grove: a wrapper running grove's entry point under that name.
      const bin = path.join(tmp.dir, 'bin');
      fs.mkdirSync(bin);
      fs.writeFileSync(path.join(bin, 'ostree'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(groveOstreeLink())} "$@"\n`, { mode: 0o755 });
      const script = path.join(tmp.dir, 'script.sh');
      fs.writeFileSync(script, SCRIPT);
      const run = async (name: 'g' | 'o') => {
        const work = path.join(tmp.dir, name);
        fs.mkdirSync(work);
        const env = { PATH: name === 'g' ? `${bin}:${process.env['PATH']}` : process.env['PATH'], GROVE_NO_PROGRESS: '1', TZ: 'UTC' };
        const r = await runEnv('sh', [script, work], env);
        return { work, r, norm: (s: string) => s.split(work).join('W') };
      };
      const [g, o] = await Promise.all([run('g'), run('o')]);
      // The wrapper really ran grove: its help names ostree, but its --version is grove's.
      assert.match((await runEnv(path.join(bin, 'ostree'), ['--version'])).stdout, /^grove:/);
      assert.equal(g.r.code, o.r.code, `exit status (grove: ${g.r.stderr}; ostree: ${o.r.stderr})`);
      assert.equal(o.r.code, 0, o.r.stderr);
      assert.equal(g.norm(g.r.stdout), o.norm(o.r.stdout), 'stdout');
      assert.equal(g.norm(g.r.stderr), o.norm(o.r.stderr), 'stderr');
      assert.match(o.r.stdout, /no such ref: 1/);

      const state = (work: string) => {
        const repos = [path.join(work, 'repo'), path.join(work, 'mirror')];
        return {
          refs: repos.map((r) => ostree(['refs', `--repo=${r}`]).stdout),
          ls: repos.map((r) => ostree(['ls', `--repo=${r}`, '-R', '-C', 'os/main']).stdout),
          log: ostree(['log', `--repo=${repos[0]}`, 'os/main']).stdout,
          detached: ostree(['show', `--repo=${repos[0]}`, '--print-detached-metadata-key=build', 'os/main']).stdout,
          objects: ostree(['fsck', `--repo=${repos[0]}`]).stdout,
          tar: createHash('sha256').update(fs.readFileSync(path.join(work, 'os.tar'))).digest('hex'),
        };
      };
      assert.deepEqual(state(g.work), state(o.work));
    } finally {
      await tmp.cleanup();
    }
  });
});
