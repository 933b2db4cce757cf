import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { isValidRef, parseRefspec, validateRemoteName } from '../format/names.js';
import { ensureDir, fsyncDir, tempName, ATOMIC_TEMP_PREFIX } from './fsutil.js';
import { RepoLock } from './lock.js';
import { readRef, refSubdirs, walkRefs } from './refs.js';
import type { Repo } from './repo.js';

/**
 * Ref aliases as ostree keeps them: a symlink among the refs, `refs/heads/ALIAS -> TARGET`,
 * relative (`../` once per `/` in ALIAS), so that reading ALIAS reads TARGET's checksum.
 */

const FRAGMENT_RE = /^[A-Za-z0-9_][-._A-Za-z0-9]*$/;

/**
 * What `ostree refs --alias [PREFIX]` lists: alias name -> target ref (the link's text with its
 * leading `../` dropped). Without a prefix: every symlink under refs/heads and under each remote
 * (named without the remote, as ostree names them). With one naming a directory, the aliases
 * below it, by full name; with one naming a ref, that ref and its checksum, as ostree does.
 */
export async function listAliases(repoPath: string, prefix?: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (prefix === undefined) {
    await walkAliases(path.join(repoPath, 'refs', 'heads'), '', out);
    for (const remote of await refSubdirs(path.join(repoPath, 'refs', 'remotes'))) {
      await walkAliases(path.join(repoPath, 'refs', 'remotes', remote), '', out);
    }
    return out;
  }
  let remote: string | null;
  let ref: string;
  const m = /^(.*):\.?$/.exec(prefix);
  if (m && FRAGMENT_RE.test(m[1]!)) {
    remote = validateRemoteName(m[1]!);
    ref = '.';
  } else {
    ({ remote, ref } = parseRefspec(prefix));
  }
  const dir = remote === null ? path.join(repoPath, 'refs', 'heads', ref) : path.join(repoPath, 'refs', 'remotes', remote, ref);
  let st;
  try {
    st = await fs.stat(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return out;
    throw e;
  }
  if (st.isDirectory()) {
    await walkAliases(dir, `${ref}/`, out);
  } else {
    const spec = remote === null ? ref : `${remote}:${ref}`;
    const csum = await readRef(repoPath, spec);
    if (csum !== null) out.set(spec, csum);
  }
  return out;
}

async function walkAliases(dir: string, prefix: string, out: Map<string, string>): Promise<void> {
  await walkRefs(dir, prefix, async (name, file, e) => {
    if (e.isSymbolicLink()) out.set(name, (await fs.readlink(file)).replace(/^(\.\.\/)+/, ''));
  });
}

/**
 * Points alias `name` (a local ref name) at ref `target`: a relative symlink made in `tmp/`
 * and renamed into place (replacing whatever ref or alias was there), under the repository's
 * shared lock, its directory synced.
 */
export async function writeAlias(repo: Repo, name: string, target: string): Promise<void> {
  if (!isValidRef(name)) throw new GroveError('GROVE_BAD_REF', `Invalid ref name ${name}`);
  const file = path.join(repo.path, 'refs', 'heads', name);
  const link = '../'.repeat(name.split('/').length - 1) + target;
  await RepoLock.with(repo, 'shared', async () => {
    await ensureDir(path.dirname(file));
    const tmp = path.join(repo.tmpDir, tempName(ATOMIC_TEMP_PREFIX));
    await fs.symlink(link, tmp);
    try {
      await fs.rename(tmp, file);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
    await fsyncDir(path.dirname(file));
  });
}
