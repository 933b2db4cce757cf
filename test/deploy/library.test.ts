import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { deploy, loadSysroot, setDefault, undeploy, KernelArgs } from '../../src/index.js';
import { needsOstree, ostree } from '../helpers.js';
import { commitBoth, makeTwins, sysrootTemp, writeTree } from './fixture.js';

/** The README's library example, run: deploy twice through the package entry, then roll back. */
describe('deploy API from the package entry', needsOstree(), () => {
  const tmp = sysrootTemp('grove-deploy-api-');

  it('deploy, setDefault and undeploy as the README shows them', async () => {
    const t = makeTwins(path.join(tmp.dir, 'twins'));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    const a = commitBoth(t, tree, 'os/x86_64/main', '1');
    writeTree(tree, { kernel: 'k2\n' });
    const b = commitBoth(t, tree, 'os/x86_64/main', '2');
    const first = await deploy(t.g, a, { osname: 'debian', karg: ['root=LABEL=root'] });
    assert.equal(first.deployment.checksum, a);
    assert.equal(first.etc, null, 'nothing to merge on the first deployment');
    assert.deepEqual(first.deployment.kargs, ['root=LABEL=root']);
    const second = await deploy(t.g, 'os/x86_64/main', { osname: 'debian' });
    assert.deepEqual(second.etc, { modified: [], removed: [], added: [] });
    assert.deepEqual(second.deployment.kargs, ['root=LABEL=root'], 'inherited, without the old ostree= argument');
    assert.match(second.transaction, /^Bootloader updated; bootconfig swap: yes; bootversion: boot\.0\.1, deployment count change: 1$/);
    assert.deepEqual(loadSysroot(t.g).deployments.map((d) => d.checksum), [b, a]);
    await setDefault(t.g, 1);
    const s = loadSysroot(t.g);
    assert.deepEqual(s.deployments.map((d) => d.checksum), [a, b]);
    assert.deepEqual(s.deployments.map((d) => d.kargs), [['root=LABEL=root'], ['root=LABEL=root']]);
    await assert.rejects(undeploy(t.g, 2), /Out of range deployment index 2, expected < 2/);
    const removed = await undeploy(t.g, 1);
    assert.equal(removed.removed.checksum, b);
    assert.match(ostree(['admin', 'status', `--sysroot=${t.g}`]).stdout, new RegExp(`^  debian ${a}\\.0\\n`));
    assert.equal(KernelArgs.parse('a=1 b a=2').replace('a=3').toString(), 'a=3 b');
  });
});
