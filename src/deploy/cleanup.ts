import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { GroveError, isErrno } from '../errors.js';
import { ATOMIC_TEMP_PREFIX } from '../repo/fsutil.js';
import { pruneRepo, type PruneResult } from '../repo/prune.js';
import { Repo } from '../repo/repo.js';
import { listRefEntries, updateRefs } from '../repo/refs.js';
import { setImmutable } from './copy.js';
import { crashPoint } from './crash-point.js';
import { deploymentDir, parseDeploymentName, type SysrootState } from './deployments.js';
import { removeUnusedOverlays } from './overlay-initrd.js';
import { LINK_TEMP_SUFFIX } from './write-deployments.js';

/**
 * What a sysroot no longer needs once its boot configuration has moved on, removed as
 * `ostree admin cleanup` removes it:
 * - the other boot version's entries and links, and the other sub-version's links;
 * - deployment directories (and their `.origin` files) no boot entry names, which includes
 *   those of a deploy that was interrupted;
 * - kernel directories `boot/ostree/OS-BOOTCSUM` no deployment uses, and overlay initrds in
 *   `boot/ostree/initramfs-overlays` no boot entry lists;
 * - then the refs `ostree/N/M/I` that keep each deployment's commit in the repository are
 *   rewritten, and with `prune`, objects nothing reaches any more are deleted.
 */
export interface CleanupResult { deploymentsRemoved: number; prune: PruneResult | null }

function listDir(p: string): fs.Dirent[] {
  try {
    return fs.readdirSync(p, { withFileTypes: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}

export function removeDeploymentDir(dir: string): void {
  if (beginRemoval(dir)) removeTree(dir);
}

/**
 * Takes a deployment's `.origin` away (a directory without one is a leftover to any later
 * cleanup) and unseals the directory; false when there is no directory to remove.
 */
function beginRemoval(dir: string): boolean {
  fs.rmSync(`${dir}.origin`, { force: true });
  if (!fs.existsSync(dir)) return false;
  setImmutable(dir, false);
  return true;
}

/**
 * rm -rf: coreutils' rm takes 0.22 s on the minbase tree where Node's recursive rmSync takes
 * 0.45 s, and a deploy removes a whole deployment each time. `--one-file-system` keeps it off
 * anything mounted inside a deployment. Without rm(1), Node's removal does the same, slower.
 */
function removeTree(dir: string): void {
  const r = spawnSync('rm', RM_ARGS(dir), { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  }
  if (r.error) throw r.error;
  if (r.status !== 0) throw removeError(dir, r.stderr);
}

const RM_ARGS = (dir: string) => ['-rf', '--one-file-system', '--', dir];
const removeError = (dir: string, stderr: string) => new GroveError('GROVE_IO', `cannot remove ${dir}: ${stderr.trim().split('\n')[0]}`, { path: dir });

/**
 * {@link removeTree} in the background: rm(1) runs on another core while this thread goes on
 * (cleanup prunes the repository meanwhile; removing minbase's old deployment took 75 ms of a
 * 600 ms deploy in the foreground). The deployment is out of the boot configuration already and
 * its `.origin` gone, so what is left of it if the process dies is what `cleanup` removes.
 */
function removeTreeInBackground(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const child = spawn('rm', RM_ARGS(dir), { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return reject(e);
      fs.promises.rm(dir, { recursive: true, force: true }).then(resolve, reject);
    });
    child.on('close', (status) => (status === 0 ? resolve() : reject(removeError(dir, stderr))));
  });
}

/** Waits for every removal, then throws the first failure. */
async function settle(removals: Array<Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(removals.splice(0));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export async function cleanupSysroot(state: SysrootState, opts: { prune: boolean }): Promise<CleanupResult> {
  const { root, bootVersion: v, subBootVersion: sub } = state;
  const other = 1 - v;
  for (const rel of [`boot/loader.${other}`, `ostree/boot.${other}`, `ostree/boot.${other}.0`, `ostree/boot.${other}.1`, `ostree/boot.${v}.${1 - sub}`]) {
    fs.rmSync(path.join(root, rel), { recursive: true, force: true });
    crashPoint();
  }

  for (const dir of ['boot', 'ostree']) {
    for (const e of listDir(path.join(root, dir))) if (e.name.endsWith(LINK_TEMP_SUFFIX)) fs.rmSync(path.join(root, dir, e.name), { force: true });
  }

  const active = new Set(state.deployments.map((d) => d.path));
  let deploymentsRemoved = 0;
  const removals: Array<Promise<void>> = [];
  let prune: PruneResult | null = null;
  try {
    for (const os of listDir(path.join(root, 'ostree/deploy'))) {
      if (!os.isDirectory()) continue;
      for (const d of listDir(path.join(root, 'ostree/deploy', os.name, 'deploy'))) {
        // An origin rewrite that was interrupted leaves its temp file here.
        if (d.isFile() && d.name.startsWith(ATOMIC_TEMP_PREFIX)) {
          fs.rmSync(path.join(root, 'ostree/deploy', os.name, 'deploy', d.name), { force: true });
          continue;
        }
        const name = parseDeploymentName(d.name);
        if (!d.isDirectory() || !name) continue;
        const dir = deploymentDir(root, os.name, name.checksum, name.serial);
        if (active.has(dir) || dir === state.booted?.path) continue;
        if (beginRemoval(dir)) removals.push(removeTreeInBackground(dir));
        crashPoint();
        deploymentsRemoved++;
      }
    }
    const bootcsums = new Set(state.deployments.map((d) => d.bootChecksum));
    for (const b of listDir(path.join(root, 'boot/ostree'))) {
      const m = /-([0-9a-f]{64})$/.exec(b.name);
      if (b.isDirectory() && m && !bootcsums.has(m[1]!)) {
        fs.rmSync(path.join(root, 'boot/ostree', b.name), { recursive: true, force: true });
        crashPoint();
      }
    }

    removeUnusedOverlays(root, state.deployments);
    crashPoint();

    const repo = await Repo.open(path.join(root, 'ostree/repo'));
    // One batch through the repository lock: the stale refs go, each deployment's ref names its
    // commit (which must still be in the store).
    const moves = new Map<string, string | null>();
    for (const [bv, sv] of [[other, 0], [other, 1], [v, 1 - sub]] as const) {
      for (const e of await listRefEntries(repo.path, { kinds: ['head'], prefix: `ostree/${bv}/${sv}` })) moves.set(e.name, null);
    }
    // Refs of the live prefix past the deployment count stay, as ostree leaves them: the list
    // shrinks within one prefix only when a staged deployment goes, and what such a ref names
    // is then still deployed (the last deployment); the next boot version's cleanup drops it.
    const want = new Map(state.deployments.map((d, i) => [`ostree/${v}/${sub}/${i}`, d.checksum]));
    for (const e of await listRefEntries(repo.path, { kinds: ['head'], prefix: `ostree/${v}/${sub}` })) {
      if (want.get(e.name) === e.checksum) want.delete(e.name);
    }
    for (const [ref, checksum] of want) moves.set(ref, checksum);
    await updateRefs(repo, moves);
    crashPoint();

    if (opts.prune) {
      // Depth 0, as ostree prunes a system repository: a ref keeps its commit, not the history.
      prune = await pruneRepo(repo, { depth: 0, commits: state.deployments.map((d) => d.checksum) });
    }
  } catch (e) {
    // No removal is left running behind the error.
    await Promise.allSettled(removals);
    throw e;
  }
  await settle(removals);
  return { deploymentsRemoved, prune };
}
