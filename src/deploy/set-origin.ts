import path from 'node:path';
import { GroveError } from '../errors.js';
import { parseRefspec } from '../format/names.js';
import { Repo } from '../repo/repo.js';
import { fsyncDir, writeFileAtomic } from '../repo/fsutil.js';
import { NOT_BOOTED } from './unlock.js';
import { originForRefspec, withSysroot } from './operations.js';
import { bumpMtime } from './sysroot.js';

export interface SetOriginOptions {
  /** The deployment to change; default the booted one. */
  index?: number;
  /** `--set=KEY=VALUE` options of the remote, used only when it is added. */
  set?: Array<[string, string]>;
}

/**
 * `ostree admin set-origin REMOTE URL [BRANCH]`: adds REMOTE (unless the repository has it) and
 * gives the deployment a new origin, `REMOTE:BRANCH`, BRANCH defaulting to the ref it follows
 * now. The new origin holds only that refspec, as ostree writes it (a pin does not carry over).
 */
export async function setOrigin(sysroot: string, remote: string, url: string, branch: string | undefined, opts: SetOriginOptions = {}): Promise<string> {
  return withSysroot(sysroot, async (state) => {
    const repo = await Repo.open(path.join(state.root, 'ostree/repo'));
    let d;
    if (opts.index === undefined) {
      if (!state.booted) throw new GroveError('GROVE_NOT_BOOTED', NOT_BOOTED);
      d = state.booted;
    } else {
      if (opts.index < 0) throw new GroveError('GROVE_BAD_INDEX', `Invalid index ${opts.index}`);
      if (opts.index >= state.deployments.length) throw new GroveError('GROVE_BAD_INDEX', `Out of range deployment index ${opts.index}, expected < ${state.deployments.length}`);
      d = state.deployments[opts.index]!;
    }
    const { addRemote } = await import('../net/remotes.js');
    await addRemote(repo, remote, url, { set: opts.set ?? [], ifNotExists: true });
    const old = d.origin?.get('origin', 'refspec');
    if (old === undefined) throw new GroveError('GROVE_NO_ORIGIN', `deployment ${d.checksum}.${d.deploySerial} has no origin refspec`);
    const refspec = `${remote}:${branch ?? parseRefspec(old).ref}`;
    const file = `${d.path}.origin`;
    await writeFileAtomic(file, originForRefspec(refspec).toString(), path.dirname(file));
    await fsyncDir(path.dirname(file));
    bumpMtime(state.root);
    return refspec;
  });
}
