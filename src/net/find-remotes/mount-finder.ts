import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../../errors.js';
import { listCollectionRefs } from '../../repo/collection-refs.js';
import { Repo } from '../../repo/repo.js';
import { keyringRemoteFor, pairKey } from './config-finder.js';
import { userMounts } from './mounts.js';
import { mountRemoteName, refTable, type FinderResult, type RefPair } from './result.js';

/** ostree's: "arbitrarily chosen". */
const PRIORITY = 50;

/** Where ostree looks on a volume after `.ostree/repos.d/*`, in this order (create-usb writes the first by default). */
const WELL_KNOWN = ['.ostree/repo', 'ostree/repo', 'var/lib/flatpak/repo'];

interface Scanned { repo: Repo; refs: Map<string, string> }

/**
 * A repository on the volume the finder may offer: one that opens, lies on the volume itself (a
 * link in repos.d must not lead off it), is not the repository being resolved for, and whose
 * collection refs (its own collection's heads and its mirrors, not its remotes') list.
 */
async function scan(p: string, mountDev: number, parent: fs.Stats): Promise<Scanned | null> {
  try {
    const repo = await Repo.open(p);
    const st = fs.statSync(repo.path);
    if (st.dev !== mountDev) return null;
    if (st.dev === parent.dev && st.ino === parent.ino) return null;
    const refs = new Map<string, string>();
    for (const r of await listCollectionRefs(repo, { remotes: false })) refs.set(pairKey({ id: r.collectionId, ref: r.ref }), r.checksum);
    return { repo, refs };
  } catch (e) {
    if (e instanceof GroveError || e instanceof Error && 'code' in e) return null;
    throw e;
  }
}

/** The names in `dir` (none when it cannot be read), as ostree would then sort them: strcmp. */
function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  } catch {
    return [];
  }
}

/**
 * ostree's mount finder: on each user-visible mounted volume (see mounts.ts), the repositories
 * linked from `.ostree/repos.d` (by name) and then the well-known ones. Each requested ref is
 * offered by the first of them that has it, provided a configured remote of its collection
 * gives the keys to verify it; refs offered by the same repository (by real path) under the
 * same keyring make one result, a remote with a name made up from both.
 */
export async function mountFinder(repo: Repo, refs: readonly RefPair[]): Promise<FinderResult[]> {
  const results: FinderResult[] = [];
  const parent = fs.statSync(repo.path);
  for (const mount of userMounts()) {
    let root: fs.Stats;
    try {
      root = fs.statSync(mount);
      if (!root.isDirectory()) continue;
    } catch {
      continue;
    }
    const repos: Scanned[] = [];
    const reposD = path.join(mount, '.ostree', 'repos.d');
    for (const name of entries(reposD)) {
      const s = await scan(path.join(reposD, name), root.dev, parent);
      if (s !== null) repos.push(s);
    }
    for (const rel of WELL_KNOWN) {
      const s = await scan(path.join(mount, rel), root.dev, parent);
      if (s !== null) repos.push(s);
    }
    const byRepo = new Map<string, FinderResult>();
    for (const r of refs) {
      for (const s of repos) {
        const checksum = s.refs.get(pairKey(r));
        if (checksum === undefined) continue;
        const keyringRemote = keyringRemoteFor(repo, r.id);
        if (keyringRemote === null) continue;
        const uri = `file://${fs.realpathSync(s.repo.path)}`;
        const keyring = `${keyringRemote}.trustedkeys.gpg`;
        const key = `${uri}\0${keyring}`;
        let result = byRepo.get(key);
        if (result === undefined) {
          result = {
            remote: { name: mountRemoteName(uri, keyring), url: uri, keyringRemote, dynamic: true },
            finder: 'mount',
            priority: PRIORITY,
            refs: refTable<string | null>(),
            summaryLastModified: 0n,
          };
          byRepo.set(key, result);
        }
        result.refs.insert(r, checksum);
        // One repository per ref and volume: pulling from several on one volume gains nothing.
        break;
      }
    }
    results.push(...byRepo.values());
  }
  return results;
}
