import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree, type Entry } from '../../fixtures/trees/build.js';
import { tempDir } from '../helpers.js';
import { TIMESTAMP, commitBoth, initRepos, needsOstreeAsRoot, treeState } from './support.js';
import { both, assertSame, sameFailure, type Twins } from './dropin-support.js';

/**
 * Drop-in: the options of `ostree checkout` that grove lacked. Each tool checks out from its
 * own twin repository (same commit) into a destination of the same relative name in its own
 * directory; status, stdout, stderr and the resulting trees must be the same.
 */

const TREE: Entry[] = [
  { path: 'usr/bin/tool', type: 'file', content: 'tool\n', mode: 0o755 },
  { path: 'usr/bin/link', type: 'symlink', target: 'tool' },
  { path: 'usr/lib/empty', type: 'file', content: '' },
  { path: 'usr/share/doc/readme', type: 'file', content: 'doc\n' },
  { path: 'usr/share/doc/other', type: 'file', content: 'other\n' },
  { path: 'var/tmp', type: 'dir', mode: 0o1777 },
  { path: 'srv/setgid', type: 'dir', mode: 0o2775 },
  { path: 'etc/conf', type: 'file', content: 'a=1\n', mode: 0o640 },
  { path: 'layer/.ostree-wh.gone', type: 'file', content: '', mode: 0o600 },
  { path: 'layer/kept', type: 'file', content: 'kept\n' },
];

interface Setup { dir: string; repos: Twins; cwd: Twins; cleanup: () => Promise<void> }

async function setup(mode: string): Promise<Setup> {
  const { dir, cleanup } = await tempDir('grove-dropin-checkout-');
  const tree = path.join(dir, 'tree');
  await buildTree(tree, TREE);
  const repos = initRepos(dir, mode);
  const c = await commitBoth(repos, ['-b', 'main', `--timestamp=${TIMESTAMP}`, tree]);
  assert.equal(c.g, c.o);
  const cwd = { g: path.join(dir, 'wd-g'), o: path.join(dir, 'wd-o') };
  await Promise.all([fs.mkdir(cwd.g), fs.mkdir(cwd.o)]);
  return { dir, repos, cwd, cleanup };
}

/**
 * Both check out with `flags`, whose last is the destination (relative to each tool's
 * directory); same outcome, same tree.
 */
async function sameCheckout(s: Setup, flags: string[], opts: { owners?: boolean; input?: string } = {}): Promise<void> {
  const dest = flags[flags.length - 1]!;
  const r = await both(s.repos, (repo) => ['checkout', `--repo=${repo}`, ...flags], { cwd: s.cwd, ...(opts.input !== undefined && { input: opts.input }) });
  assertSame(r, s.repos, `checkout ${flags.join(' ')}`);
  assert.equal(r.o.code, 0, r.o.stderr);
  const exists = async (p: string) => fs.lstat(p).then(() => true, () => false);
  const [eg, eo] = await Promise.all([exists(path.join(s.cwd.g, dest)), exists(path.join(s.cwd.o, dest))]);
  assert.equal(eg, eo, `checkout ${flags.join(' ')}: ${dest} exists for one tool only`);
  if (!eo) return;
  const st = { owners: opts.owners !== false, links: false };
  assert.equal(await treeState(path.join(s.cwd.g, dest), st), await treeState(path.join(s.cwd.o, dest), st), `checkout ${flags.join(' ')}: trees differ`);
}

describe('checkout drop-in options against ostree', needsOstreeAsRoot(), () => {
  test('-H where the modes cannot hardlink: ostree\'s refusal, for a user-mode repository and for the others', async () => {
    for (const [mode, flags] of [['bare-user', ['-H']], ['archive', ['-H']], ['archive', ['-U', '-H']]] as const) {
      const s = await setup(mode);
      try {
        await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, ...flags, 'main', 'co'], { cwd: s.cwd });
      } finally {
        await s.cleanup();
      }
    }
  });

  test('--union-identical (needs -H): identical files pass, a different one fails; option conflicts', async () => {
    const s = await setup('bare');
    try {
      await sameCheckout(s, ['main', 'co']);
      await sameCheckout(s, ['-H', '--union-identical', 'main', 'co']);
      await Promise.all([s.cwd.g, s.cwd.o].map((d) => fs.writeFile(path.join(d, 'co/usr/share/doc/new'), 'new\n')));
      await sameCheckout(s, ['-H', '--union-identical', 'main', 'co']);
      await Promise.all([s.cwd.g, s.cwd.o].map(async (d) => {
        await fs.rm(path.join(d, 'co/usr/share/doc/readme'));
        await fs.writeFile(path.join(d, 'co/usr/share/doc/readme'), 'changed\n');
      }));
      const r = await both(s.repos, (repo) => ['checkout', `--repo=${repo}`, '-H', '--union-identical', 'main', 'co'], { cwd: s.cwd });
      assert.notEqual(r.o.code, 0);
      assert.equal(r.g.code, r.o.code, r.g.stderr);
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--union-identical', 'main', 'co2'], { cwd: s.cwd });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--union', '--union-identical', 'main', 'co2'], { cwd: s.cwd });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--union-add', '--union-identical', 'main', 'co2'], { cwd: s.cwd });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--union', '--union-add', 'main', 'co2'], { cwd: s.cwd });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '-H', '-C', 'main', 'co2'], { cwd: s.cwd });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--selinux-prefix=/x', 'main', 'co2'], { cwd: s.cwd });
    } finally {
      await s.cleanup();
    }
  });

  test('--allow-noent: a missing subpath is success in plain checkouts, an error with the newer options', async () => {
    const s = await setup('bare');
    try {
      await sameCheckout(s, ['--allow-noent', '--subpath=/no/such', 'main', 'noent']);
      await sameCheckout(s, ['--allow-noent', '--subpath=/usr/bin', 'main', 'bin']);
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--subpath=/no/such', 'main', 'x'], { cwd: s.cwd });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--allow-noent', '-C', '--subpath=no/such', 'main', 'x'], { cwd: s.cwd });
    } finally {
      await s.cleanup();
    }
  });

  test('--skip-list (a directory by its trailing slash), -M/--bareuseronly-dirs, --disable-cache, -z, --fsync', async () => {
    const s = await setup('bare');
    try {
      for (const d of [s.cwd.g, s.cwd.o]) await fs.writeFile(path.join(d, 'skip'), '/usr/share/doc/\n/etc/conf\n/usr/bin\n/not/there\n');
      await sameCheckout(s, ['--skip-list=skip', 'main', 'skipped']);
      await sameCheckout(s, ['--skip-list=skip', '--subpath=/usr', 'main', 'skipped-sub']);
      await sameCheckout(s, ['-M', 'main', 'buo']);
      await sameCheckout(s, ['--disable-cache', '-z', 'main', 'nocache']);
      await sameCheckout(s, ['--fsync=false', 'main', 'nofsync']);
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--fsync=perhaps', 'main', 'x'], { cwd: s.cwd });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--skip-list=absent', 'main', 'x'], { cwd: s.cwd });
    } finally {
      await s.cleanup();
    }
  });

  test('--process-passthrough-whiteouts makes .ostree-wh.NAME a 0:0 character device NAME', async () => {
    const s = await setup('bare');
    try {
      await sameCheckout(s, ['--process-passthrough-whiteouts', 'main', 'wh']);
      const st = await fs.lstat(path.join(s.cwd.g, 'wh/layer/gone'));
      assert.ok(st.isCharacterDevice() && st.rdev === 0, 'no whiteout device');
      await sameCheckout(s, ['--process-passthrough-whiteouts', '--union', 'main', 'wh']);
      await sameCheckout(s, ['main', 'plain']);
    } finally {
      await s.cleanup();
    }
  });

  test('--from-file and --from-stdin: NUL-separated REV SUBPATH pairs into one destination', async () => {
    const s = await setup('bare');
    try {
      const pairs = 'main\0/usr/bin\0main\0/etc\0';
      for (const d of [s.cwd.g, s.cwd.o]) await fs.writeFile(path.join(d, 'list'), pairs);
      await sameCheckout(s, ['--union', '--from-file=list', 'many'], {});
      await sameCheckout(s, ['--union', '--from-stdin', 'many2'], { input: pairs });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--from-file=list', 'many'], { cwd: s.cwd, stderr: false });
      for (const d of [s.cwd.g, s.cwd.o]) await fs.writeFile(path.join(d, 'bad'), 'no-such-ref\0\0');
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '--from-file=bad', 'many3'], { cwd: s.cwd, stderr: false });
    } finally {
      await s.cleanup();
    }
  });

  test('--selinux-policy of a root without a policy, in user mode: a copying checkout', async () => {
    const s = await setup('bare-user');
    try {
      await fs.mkdir(path.join(s.dir, 'nopolicy'));
      await sameCheckout(s, ['-U', `--selinux-policy=${path.join(s.dir, 'nopolicy')}`, 'main', 'se'], { owners: false });
      await sameFailure(s.repos, (repo) => ['checkout', `--repo=${repo}`, '-U', '-H', `--selinux-policy=${path.join(s.dir, 'nopolicy')}`, 'main', 'x'], { cwd: s.cwd });
    } finally {
      await s.cleanup();
    }
  });
});
