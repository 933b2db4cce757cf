import path from 'node:path';
import { GroveError } from '../errors.js';
import { diffSide, diffTrees, formatDiff } from '../inspect/diff.js';
import { loadSysroot } from './deployments.js';
import { mergeDeployment } from './operations.js';

/** ostree's words when a verb needs a booted deployment or a stateroot named with --os. */
export const NOT_BOOTED_NO_OS = 'Not currently booted into an OSTree system and no --os= argument given';

/**
 * `ostree admin config-diff [--os=OS]`: how a deployment's /etc differs from the defaults its
 * commit ships in /usr/etc, as `M`, `D` and `A` lines (ostree_diff_dirs without xattrs). The
 * deployment is the booted one, or with --os the merge deployment of that stateroot.
 */
export async function configDiff(sysroot: string, osname?: string): Promise<string> {
  const state = loadSysroot(sysroot);
  if (!state.booted && osname === undefined) throw new GroveError('GROVE_NOT_BOOTED', NOT_BOOTED_NO_OS);
  const d = osname === undefined ? state.booted! : mergeDeployment(state, osname);
  if (!d) throw new GroveError('GROVE_NO_DEPLOYMENT', `No deployment for OS '${osname}'`);
  const a = await diffSide(null, path.join(d.path, 'usr/etc'));
  const b = await diffSide(null, path.join(d.path, 'etc'));
  return formatDiff(a, b, await diffTrees(null, a, b, { xattrs: false }));
}
