import path from 'node:path';
import { GroveError } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import { Repo } from '../repo/repo.js';
import { parseRefspec } from '../format/names.js';
import { updateRefs } from '../repo/refs.js';
import { loadSysroot, type Deployment } from './deployments.js';
import { deploy, mergeDeployment, originForRefspec, parseOrigin, type DeployResult } from './operations.js';

/**
 * `admin upgrade` and `admin switch`: follow a deployment's origin. The origin's refspec
 * (`REMOTE:REF`, or a local `REF`) is pulled into the sysroot's repository, and when it names a
 * different commit than the merge deployment runs, that commit is deployed with the same origin,
 * kernel arguments and /etc carried over. `switch` first points the origin at another ref.
 */
export interface UpgradeOptions {
  osname?: string;
  allowDowngrade?: boolean;
  pullOnly?: boolean;
  /** Deploy what the repository already has, without pulling. */
  deployOnly?: boolean;
  /** Deploy this commit of the origin's ref instead of its head. */
  overrideCommit?: string;
  /** `--stage`: see DeployOptions.stage. */
  stage?: boolean;
  onProgress?: (text: string) => void;
}

export interface UpgradeResult { changed: boolean; checksum: string; deployed: DeployResult | null; deletedRef?: string }

function originOf(sysroot: string, osname: string | undefined): { root: string; merge: Deployment; origin: KeyFile; osname: string } {
  const state = loadSysroot(sysroot);
  const os = osname ?? state.booted?.osname;
  if (os === undefined) throw new GroveError('GROVE_NOT_BOOTED', 'Not currently booted into an OSTree system and no OS specified');
  const merge = mergeDeployment(state, os);
  if (!merge) throw new GroveError('GROVE_NO_DEPLOYMENT', `No previous deployment for OS '${os}'`);
  if (!merge.origin) throw new GroveError('GROVE_NO_ORIGIN', `No origin known for deployment ${merge.checksum}.${merge.deploySerial}`);
  const unconfigured = merge.origin.get('origin', 'unconfigured-state');
  if (unconfigured !== undefined) throw new GroveError('GROVE_NO_ORIGIN', `origin unconfigured-state: ${unconfigured}`);
  const origin = parseOrigin(merge.origin.toString(), `${merge.path}.origin`);
  // ostree_deployment_origin_remove_transient_state: the pin and a hotfix unlock stay with the old deployment.
  origin.removeGroup('libostree-transient');
  origin.remove('origin', 'unlocked');
  return { root: state.root, merge, origin, osname: os };
}

/** Pulls `refspec` (remote or local) and returns the commit it now names. */
async function fetchRefspec(repo: Repo, refspec: string, opts: UpgradeOptions): Promise<string> {
  const loc = parseRefspec(refspec);
  if (loc.remote !== null && !opts.deployOnly) {
    const [{ pullInto }, { checkPullable, getRemote }, { openSource, remotePolicy }] = await Promise.all([
      import('../net/pull.js'), import('../net/remotes.js'), import('../net/remote-source.js'),
    ]);
    checkPullable(repo, loc.remote);
    const remote = getRemote(repo, loc.remote);
    const source = await openSource(repo, remote, {});
    try {
      const from = opts.overrideCommit ?? loc.ref;
      await pullInto(repo, source, [{ from, to: opts.overrideCommit ? null : refspec }], { policy: remotePolicy(repo, remote) });
    } finally {
      source.close();
    }
  }
  const checksum = opts.overrideCommit ?? (await repo.resolveRev(refspec));
  if (!checksum) throw new GroveError('GROVE_NO_REF', `refspec ${refspec} not found in ${repo.path}`);
  if (!(await repo.hasObject(checksum, 'commit'))) throw new GroveError('GROVE_NO_COMMIT', `commit ${checksum} is not in ${repo.path}`);
  return checksum;
}

async function refuseOlder(repo: Repo, current: string, next: string): Promise<void> {
  const [a, b] = [await repo.loadCommit(current), await repo.loadCommit(next)];
  if (b.timestamp < a.timestamp) {
    const iso = (t: bigint) => new Date(Number(t) * 1000).toISOString().replace('.000Z', 'Z');
    throw new GroveError('GROVE_DOWNGRADE', `upgrade target revision '${next}' with timestamp '${iso(b.timestamp)}' is chronologically older than current revision '${current}' with timestamp '${iso(a.timestamp)}'`, {
      hint: 'use --allow-downgrade to permit',
    });
  }
}

export async function upgrade(sysroot: string, opts: UpgradeOptions = {}): Promise<UpgradeResult> {
  const { root, merge, origin, osname } = originOf(sysroot, opts.osname);
  const refspec = origin.get('origin', 'refspec');
  if (refspec === undefined) throw new GroveError('GROVE_NO_ORIGIN', `${merge.path}.origin has no refspec`);
  if (opts.overrideCommit) origin.set('origin', 'override-commit', opts.overrideCommit);
  const repo = await Repo.open(path.join(root, 'ostree/repo'));
  const checksum = await fetchRefspec(repo, refspec, opts);
  if (checksum === merge.checksum) return { changed: false, checksum, deployed: null };
  if (!opts.allowDowngrade) await refuseOlder(repo, merge.checksum, checksum);
  if (opts.pullOnly) return { changed: true, checksum, deployed: null };
  const deployed = await deploy(sysroot, checksum, { osname, origin, stage: opts.stage === true });
  return { changed: true, checksum, deployed };
}

/** `admin switch REFSPEC`: `REMOTE:REF`, `REF` (same remote), or `REMOTE:` (same ref). */
export async function switchRef(sysroot: string, newRefspec: string, opts: UpgradeOptions = {}): Promise<UpgradeResult> {
  const { root, origin, osname } = originOf(sysroot, opts.osname);
  const old = origin.get('origin', 'refspec');
  if (old === undefined) throw new GroveError('GROVE_NO_ORIGIN', 'the merge deployment\'s origin has no refspec');
  const oldLoc = parseRefspec(old);
  let remote: string | null;
  let ref: string;
  if (newRefspec.endsWith(':')) {
    remote = newRefspec.slice(0, -1);
    ref = oldLoc.ref;
  } else {
    const loc = parseRefspec(newRefspec);
    remote = loc.remote ?? oldLoc.remote;
    ref = loc.ref;
  }
  const next = remote === null ? ref : `${remote}:${ref}`;
  if (next === old) throw new GroveError('GROVE_BAD_OPTION', `old and new refs are equal: ${next}`);
  const repo = await Repo.open(path.join(root, 'ostree/repo'));
  const checksum = await fetchRefspec(repo, next, opts);
  const deployed = await deploy(sysroot, checksum, { osname, origin: originForRefspec(next) });
  // The old ref is no longer followed; ostree drops it (a local one too, printed as `(null):REF`, its
  // printf of the missing remote) so that prune can reclaim what only it kept.
  if (await repo.resolveRev(old, { allowMissing: true })) await updateRefs(repo, [[old, null]]);
  const deletedRef = `${oldLoc.remote ?? '(null)'}:${oldLoc.ref}`;
  return { changed: true, checksum, deployed, deletedRef };
}
