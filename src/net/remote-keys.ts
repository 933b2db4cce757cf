import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { writeFileAtomic } from '../repo/fsutil.js';
import type { Repo } from '../repo/repo.js';
import { importKeys, listKeys, type GpgKey } from '../sign/gpg-keys.js';
import type { GpgKeySet } from '../sign/gpg.js';
import { getRemote, trustedKeysPath, type Remote } from './remotes.js';

/**
 * The GPG keys a remote trusts, where ostree keeps and finds them: `REPO/REMOTE.trustedkeys.gpg`,
 * the remote's `gpgkeypath` (armored key files, or directories of them), and, for no remote in
 * particular, the global keyring directory (`$OSTREE_GPG_HOME`, else
 * /usr/share/ostree/trusted.gpg.d).
 */

/** The bytes of the named key files, one after the other (ostree chains the `--keyring` files into one stream). */
export async function readKeySource(files: readonly string[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const f of files) {
    try {
      parts.push(await fsp.readFile(f));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `Error opening file ${f}: No such file or directory`, { path: f });
      if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_NOT_FOUND', `Error opening file ${f}: Permission denied`, { path: f });
      throw e;
    }
  }
  return Buffer.concat(parts);
}

/** Everything on standard input (`gpg-import --stdin`). */
export async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/**
 * `ostree remote gpg-import`: adds the keys in `source` (only those `keyIds` name, when given)
 * to the remote's keyring. Returns how many were new to it.
 */
export async function importRemoteGpgKeys(repo: Repo, name: string, source: Uint8Array, keyIds: readonly string[] | null = null): Promise<number> {
  try {
    getRemote(repo, name);
  } catch (e) {
    if (e instanceof GroveError && e.code === 'GROVE_NO_REMOTE') throw new GroveError(e.code, `GPG: ${e.message}`);
    throw e;
  }
  const p = trustedKeysPath(repo, name);
  const old = await fsp.readFile(p).catch((e: unknown) => {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  });
  const { ring, imported } = await importKeys(source, keyIds, old);
  await writeFileAtomic(p, ring, repo.tmpDir);
  return imported;
}

/** The global keyring directory's `*.gpg` files (not trustdb.gpg or secring.gpg), in directory order as ostree reads them. */
export function globalKeyrings(): Buffer[] {
  const dir = process.env['OSTREE_GPG_HOME'] ?? '/usr/share/ostree/trusted.gpg.d/';
  if (fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() !== true) return [];
  return regularFiles(dir).filter((n) => n.endsWith('.gpg') && n !== 'trustdb.gpg' && n !== 'secring.gpg').map((n) => fs.readFileSync(path.join(dir, n)));
}

/** The regular files of `dir`, in the order the directory lists them (fs.readdir would sort them). */
function regularFiles(dir: string): string[] {
  const d = fs.opendirSync(dir);
  const out: string[] = [];
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) if (e.isFile()) out.push(e.name);
  } finally {
    d.closeSync();
  }
  return out;
}

/** `gpgkeypath` entries: a directory stands for the regular files in it, anything else for itself. */
function keyFiles(entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of entries) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (st === undefined) throw new GroveError('GROVE_NOT_FOUND', `opendir(${p}): No such file or directory`, { path: p });
    if (st.isDirectory()) out.push(...regularFiles(p).map((n) => path.join(p, n)));
    else out.push(p);
  }
  return out;
}

/**
 * The keys ostree's verifier trusts for `remote`: its own keyring `REMOTE.trustedkeys.gpg` or,
 * when it has none and `withGlobal`, the global keyrings; and its `gpgkeypath` files. Signature
 * checks use the global keyrings, `gpg-list-keys NAME` does not.
 */
export function remoteGpgKeySources(repo: Repo, remote: Remote, withGlobal: boolean): GpgKeySet {
  let own: Buffer | null = null;
  try {
    own = fs.readFileSync(trustedKeysPath(repo, remote.name));
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  const gpgkeypath = (remote.options.get('gpgkeypath') ?? '').split(/[;,]/).map((x) => x.trim()).filter((x) => x !== '');
  return { rings: own !== null ? [own] : withGlobal ? globalKeyrings() : [], files: keyFiles(gpgkeypath) };
}

/**
 * `ostree remote gpg-list-keys [NAME]`: the keys the remote trusts, or with no name those of the
 * global keyring directory. A remote with a keyring of its own does not add the global ones,
 * as in ostree.
 */
export async function listRemoteGpgKeys(repo: Repo, name: string | null): Promise<GpgKey[]> {
  if (name === null) return listKeys(globalKeyrings());
  const { rings, files } = remoteGpgKeySources(repo, getRemote(repo, name), false);
  return listKeys(rings, files);
}
