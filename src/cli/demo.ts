import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repo } from '../repo/repo.js';
import { commitTree } from '../commit/commit.js';
import { checkoutTree } from '../checkout/checkout.js';
import { fsckRepo } from '../fsck/fsck.js';
import { WorkerPool } from '../pool/pool.js';
import { GroveError } from '../errors.js';
import { buildTree, rootfsEntries } from '../../fixtures/trees/build.js';
import { generateTree } from '../../fixtures/trees/generate.js';

/**
 * `npm start`: the main job on a bundled default. Generates the sample root filesystem from
 * fixtures/, commits it into a new bare-user repository, checks it out with hardlinks, runs
 * fsck, and prints what it did and what to try next.
 */
async function demo(): Promise<void> {
  const work = process.argv[2] ?? await fs.mkdtemp(path.join(os.tmpdir(), 'grove-demo-'));
  const tree = path.join(work, 'rootfs');
  const repoPath = path.join(work, 'repo');
  const dest = path.join(work, 'checkout');
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const s = (n: number) => `${n.toFixed(2)} s`;

  console.log(`grove demo in ${work}\n`);
  let t = process.hrtime.bigint();
  await buildTree(tree, rootfsEntries());
  const gen = await generateTree(path.join(tree, 'usr/share/generated'), { files: 3000, seed: 1 });
  console.log(`generated sample rootfs: ${gen.files} generated files + special cases, ${mb(gen.bytes)} (${s(elapsed(t))})`);

  const repo = await Repo.init(repoPath, { mode: 'bare-user' });
  const pool = new WorkerPool();
  try {
    t = process.hrtime.bigint();
    const c = await commitTree(repo, { tree, branch: 'demo/rootfs', subject: 'Sample root filesystem', pool });
    console.log(`committed ${c.stats.files} files, ${mb(c.stats.bytes)} with ${pool.threads} worker threads in ${s(c.stats.seconds)}`);
    console.log(`  commit ${c.checksum}`);
    const again = await commitTree(repo, { tree, branch: 'demo/rootfs', subject: 'unchanged', skipIfUnchanged: true, pool });
    console.log(`re-commit of the unchanged tree with --skip-if-unchanged: ${again.skipped ? 'skipped' : 'committed'} in ${s(again.stats.seconds)}`);

    const co = await checkoutTree(repo, 'demo/rootfs', dest, { userMode: true, requireHardlink: false, pool });
    console.log(`checked out with hardlinks (-U): ${co.linked} linked, ${co.copied} copied, ${co.directories} directories in ${s(co.seconds)}`);

    t = process.hrtime.bigint();
    const f = await fsckRepo(repo, { pool });
    if (f.problems.length > 0) throw new GroveError('GROVE_FSCK_FAILED', `fsck found problems: ${f.problems.map((p) => p.message).join('; ')}`);
    console.log(`fsck: ${f.objects} objects of ${f.commits} commit(s) verified, no errors (${s(elapsed(t))})`);
  } finally {
    await pool.close();
  }
  const bin = `node ${path.relative(process.cwd(), fileURLToPath(new URL('./grove.cjs', import.meta.url)))}`;
  console.log(`
Next, try:
  ${bin} log --repo=${repoPath} demo/rootfs
  ${bin} ls --repo=${repoPath} -R -C demo/rootfs /usr/bin
  ${bin} cat --repo=${repoPath} demo/rootfs /usr/lib/os-release
  ostree ls --repo=${repoPath} -R demo/rootfs | head     # the real ostree reads the same repository
  ${bin} commit --repo=${repoPath} -b demo/rootfs -s 'my change' ${tree}
  ${bin} --help`);
}

function elapsed(t: bigint): number {
  return Number(process.hrtime.bigint() - t) / 1e9;
}

demo().catch((e: unknown) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
