import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { grove, groveOk, needsOstree, ostree, tempDir } from '../helpers.js';

/**
 * `admin init-fs` and `admin os-init` must leave the layout `ostree admin` leaves — same
 * directories, modes, symlinks and repository config — and each tool must accept the other's.
 */
async function layout(root: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(p);
      let line = `${r} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)}`;
      if (st.isSymbolicLink()) line += ` -> ${await fs.readlink(p)}`;
      if (st.isFile()) line += ` ${(await fs.readFile(p)).toString('hex')}`;
      lines.push(line);
      if (st.isDirectory()) await walk(p, r);
    }
  };
  await walk(root, '');
  return lines.join('\n');
}

describe('grove admin init-fs and os-init against ostree admin', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => { tmp = await tempDir(); });
  after(async () => { await tmp?.cleanup(); });

  let n = 0;
  const pair = async () => {
    const g = path.join(tmp.dir, `g${n}`);
    const o = path.join(tmp.dir, `o${n++}`);
    await fs.mkdir(g);
    await fs.mkdir(o);
    return { g, o };
  };

  for (const modern of [false, true]) {
    it(`init-fs${modern ? ' --modern' : ''} then os-init: the same layout as ostree's`, async () => {
      const { g, o } = await pair();
      const flag = modern ? ['--modern'] : [];
      groveOk(['admin', 'init-fs', ...flag, g]);
      ostree(['admin', 'init-fs', ...flag, o]);
      assert.equal(await layout(g), await layout(o));
      const out = groveOk(['admin', `--sysroot=${g}`, 'os-init', 'debian']);
      assert.equal(out, ostree(['admin', `--sysroot=${o}`, 'os-init', 'debian']).stdout);
      groveOk(['admin', 'stateroot-init', `--sysroot=${g}`, 'apertis']);
      ostree(['admin', `--sysroot=${o}`, 'os-init', 'apertis']);
      assert.equal(await layout(g), await layout(o));
      assert.equal(ostree(['admin', `--sysroot=${g}`, 'status']).stdout, 'No deployments.\n');
    });
  }

  it('each tool takes over what the other made', async () => {
    const { g, o } = await pair();
    ostree(['admin', 'init-fs', g]);
    groveOk(['admin', `--sysroot=${g}`, 'os-init', 'debian']);
    groveOk(['admin', 'init-fs', o]);
    ostree(['admin', `--sysroot=${o}`, 'os-init', 'debian']);
    assert.equal(await layout(g), await layout(o));
    // Re-running init-fs on an initialized sysroot keeps it as it is.
    groveOk(['admin', 'init-fs', g]);
    assert.equal(await layout(g), await layout(o));
  });

  it('bad input: an existing stateroot, a bad name, a missing or uninitialized sysroot', async () => {
    const { g } = await pair();
    groveOk(['admin', 'init-fs', g]);
    groveOk(['admin', `--sysroot=${g}`, 'os-init', 'debian']);
    const cases: Array<[string[], RegExp]> = [
      [['admin', `--sysroot=${g}`, 'os-init', 'debian'], /^error: stateroot debian already exists in /],
      [['admin', `--sysroot=${g}`, 'os-init', 'a/b'], /^error: invalid stateroot name 'a\/b'/],
      [['admin', `--sysroot=${g}`, 'os-init', '..'], /^error: invalid stateroot name '\.\.'/],
      [['admin', `--sysroot=${path.join(tmp.dir, 'missing')}`, 'os-init', 'x'], /^error: opendir\(.*missing\): No such file or directory\n$/],
      [['admin', `--sysroot=${tmp.dir}`, 'os-init', 'x'], /^error: loading sysroot: opendir\(ostree\/repo\): No such file or directory\n$/],
      [['admin', 'init-fs', path.join(tmp.dir, 'missing')], /^error: opendir\(.*missing\): No such file or directory\n$/],
    ];
    for (const [args, want] of cases) {
      const r = grove(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, want);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1);
    }
  });
});

describe('grove admin status reads deployments ostree made', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => { tmp = await tempDir(); });
  after(async () => {
    // ostree makes each deployment's root immutable (chattr +i); undo it so the test can clean up.
    spawnSync('sh', ['-c', `find ${JSON.stringify(tmp.dir)} -maxdepth 7 -path '*/ostree/deploy/*/deploy/*' -type d -prune -exec chattr -i {} +`]);
    await tmp?.cleanup();
  });

  it('lists them default first, with versions, pins and origins, as ostree admin status does', async () => {
    const sr = path.join(tmp.dir, 'sysroot');
    await fs.mkdir(sr);
    groveOk(['admin', 'init-fs', sr]);
    groveOk(['admin', `--sysroot=${sr}`, 'os-init', 'debian']);
    const repo = path.join(sr, 'ostree/repo');
    const tree = path.join(tmp.dir, 'tree');
    await fs.mkdir(path.join(tree, 'usr/lib/modules/6.1.0-test'), { recursive: true });
    await fs.mkdir(path.join(tree, 'usr/etc'), { recursive: true });
    await fs.writeFile(path.join(tree, 'usr/lib/modules/6.1.0-test/vmlinuz'), 'kernel\n');
    await fs.writeFile(path.join(tree, 'usr/lib/modules/6.1.0-test/initramfs.img'), 'initrd\n');
    await fs.writeFile(path.join(tree, 'usr/etc/os-release'), 'ID=test\n');
    for (const version of ['1.0', '2.0']) {
      await fs.writeFile(path.join(tree, 'usr/etc/version'), `${version}\n`);
      groveOk(['commit', `--repo=${repo}`, '-b', 'os/main', `--add-metadata-string=version=${version}`, `--tree=dir=${tree}`]);
      ostree(['admin', `--sysroot=${sr}`, 'deploy', '--os=debian', '--karg=root=LABEL=root', 'os/main']);
    }
    ostree(['admin', `--sysroot=${sr}`, 'pin', '1']);
    const ours = groveOk(['admin', `--sysroot=${sr}`, 'status']);
    assert.equal(ours, ostree(['admin', `--sysroot=${sr}`, 'status']).stdout);
    assert.match(ours, /Version: 2\.0\n[^]*Version: 1\.0\n {4}Pinned: yes/);
    const json = JSON.parse(groveOk(['admin', 'status', `--sysroot=${sr}`, '--json'])) as { deployments: Array<{ refspec: string; kargs: string[]; default: boolean }> };
    assert.equal(json.deployments.length, 2);
    assert.deepEqual(json.deployments.map((d) => d.default), [true, false]);
    assert.deepEqual(json.deployments[0]!.kargs, ['root=LABEL=root']);
  });
});
