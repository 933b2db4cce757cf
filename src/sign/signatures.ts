import fs from 'node:fs/promises';
import path from 'node:path';
import { glibDictOrder } from '../format/glib-dict.js';
import { GroveError, isErrno } from '../errors.js';
import { decode, encode, Variant } from '../format/gvariant.js';
import type { Repo } from '../repo/repo.js';
import { ensureDir, fsyncDir, writeFileAtomic } from '../repo/fsutil.js';
import { RepoLock } from '../repo/lock.js';
import { ED25519_KEY, ED25519_TYPE, parseSecretKey, signEd25519, verifyEd25519 } from './ed25519.js';
import { signEngine } from './engines.js';
import type { SignWith } from './sign-with.js';
import { GPG_KEY, GPG_TYPE, gpgSign, gpgVerify, type GpgKeySet } from './gpg.js';
import { gpgVerifyResult, requireValidGpg } from './gpg-verify-result.js';

/**
 * Signatures live in an `a{sv}` beside what they sign: a commit's detached metadata
 * (`objects/XX/…​.commitmeta`, named by the commit's checksum, rewritable) or the repository's
 * `summary.sig`. Each kind keeps an array of signatures under its key; signing appends.
 */
export type Dict = Array<[string, Variant]>;

export const DETACHED_TYPE = 'a{sv}';

export function decodeDict(bytes: Uint8Array, where: string): Dict {
  try {
    return decode(DETACHED_TYPE, bytes) as Dict;
  } catch (e) {
    throw new GroveError('GROVE_BAD_SIGNATURE', `${where} is corrupt: ${(e as Error).message}`);
  }
}

export const encodeDict = (d: Dict): Uint8Array => encode(DETACHED_TYPE, d);

/** The signatures of one kind in a dict (an absent or mistyped entry has none). */
export function signaturesOf(d: Dict | null, key: string): Uint8Array[] {
  const v = d?.find(([k]) => k === key)?.[1];
  return v && v.type === 'aay' ? (v.value as Uint8Array[]) : [];
}

/**
 * `d` with `sig` appended under `key`. ostree adds each signature through a GVariantDict, so the
 * result is in that dict's hash order (which matters once detached metadata holds other keys,
 * as `commit --add-detached-metadata-string` makes it).
 */
export function withSignature(d: Dict | null, key: string, type: 'aay', sig: Uint8Array): Dict {
  const sigs = [...signaturesOf(d, key), sig];
  return glibDictOrder<Variant>([...(d ?? []), [key, new Variant(type, sigs)]]);
}

export type { SignWith } from './sign-with.js';
export { signsAnything } from './sign-with.js';

/** Adds a signature of `data` for every key in `keys` to `d`. */
export async function addSignatures(d: Dict | null, data: Uint8Array, keys: SignWith): Promise<Dict> {
  let out = d;
  for (const [i, k] of (keys.ed25519 ?? []).entries()) out = withSignature(out, ED25519_KEY, ED25519_TYPE, signEd25519(data, parseSecretKey(k, `ed25519 secret key #${i + 1}`)));
  const dummy = signEngine('dummy');
  for (const k of keys.dummy ?? []) out = withSignature(out, dummy.metadataKey, 'aay', dummy.sign(data, k));
  for (const id of keys.gpg ?? []) out = withSignature(out, GPG_KEY, GPG_TYPE, await gpgSign(data, id, keys.gpgHomedir));
  return out ?? [];
}

export interface TrustedKeys {
  ed25519?: { trusted: Buffer[]; revoked: Buffer[] };
  /** Binary keyrings (concatenated) and key files (armored or binary, imported), as ostree's verifier takes them. */
  gpg?: GpgKeySet;
}

/**
 * Throws unless `data` carries a good signature of some required kind: GPG when `requireGpg`,
 * ed25519 when `requireEd25519`; when both are required either suffices, as in ostree's pull.
 * With GPG alone and `words`, a refusal reads as ostree's (its gpgme account of each signature).
 */
export interface GpgWords {
  /** Before ostree's message (`Commit CSUM`); none for a summary. */
  prefix?: string;
  /** ostree's message when there are no GPG signatures at all. */
  noSignatures: string;
}

export async function requireSignature(data: Uint8Array, d: Dict | null, what: string, req: { gpg: boolean; ed25519: boolean }, keys: TrustedKeys, words?: GpgWords): Promise<string> {
  const tried: string[] = [];
  if (req.ed25519) {
    const sigs = signaturesOf(d, ED25519_KEY);
    const trusted = keys.ed25519?.trusted ?? [];
    if (sigs.length > 0 && trusted.length > 0) {
      const key = verifyEd25519(data, sigs, trusted, keys.ed25519?.revoked ?? []);
      if (key !== null) return `ed25519 signature by ${key}`;
    }
    tried.push(sigs.length === 0 ? 'no ed25519 signature' : trusted.length === 0 ? 'no trusted ed25519 keys configured' : `none of its ${sigs.length} ed25519 signature(s) is by a trusted key`);
  }
  if (req.gpg) {
    const sigs = signaturesOf(d, GPG_KEY);
    const set = keys.gpg ?? { rings: [], files: [] };
    const none = set.rings.length === 0 && set.files.length === 0;
    // GPG alone: ostree's gpgme account of what was wrong with each signature.
    if (!req.ed25519 && words !== undefined) {
      const withPrefix = (m: string) => (words.prefix === undefined ? m : `${words.prefix}: ${m}`);
      if (sigs.length === 0) throw new GroveError('GROVE_BAD_SIGNATURE', withPrefix(words.noSignatures));
      const results = await gpgVerifyResult(data, sigs, set);
      try {
        requireValidGpg(results);
      } catch (e) {
        if (e instanceof GroveError) throw new GroveError(e.code, withPrefix(e.message));
        throw e;
      }
      const good = results.find((s) => s.valid)!;
      return `Good signature from "${good.userName} <${good.userEmail}>"`;
    }
    if (sigs.length > 0 && !none) {
      const who = await gpgVerify(data, sigs, set);
      if (who !== null) return who;
    }
    tried.push(sigs.length === 0 ? 'no GPG signature' : none ? 'no trusted GPG keys for it' : `none of its ${sigs.length} GPG signature(s) verifies with the trusted keys`);
  }
  throw new GroveError('GROVE_BAD_SIGNATURE', `${what} is not signed as required: ${tried.join('; ')}`);
}

/** A commit's detached metadata, or null when it has none. */
export async function readDetached(repo: Repo, commit: string): Promise<Dict | null> {
  try {
    const bytes = await fs.readFile(repo.objectPath(commit, 'commitmeta'));
    return decodeDict(bytes, `detached metadata of ${commit}`);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  }
}

/**
 * Replaces a commit's detached metadata (it is not content-addressed), durably and under the
 * repository's shared lock, so that prune cannot be deleting the commit meanwhile: temp file in
 * `tmp/`, fsync, rename into `objects/XX/`, that directory synced.
 * @throws GroveError GROVE_NO_COMMIT when the commit is not in the store.
 */
export async function writeDetached(repo: Repo, commit: string, d: Dict): Promise<void> {
  await RepoLock.with(repo, 'shared', async () => {
    if (!(await repo.hasObject(commit, 'commit'))) throw new GroveError('GROVE_NO_COMMIT', `commit ${commit} is not in ${repo.path}`);
    const p = repo.objectPath(commit, 'commitmeta');
    await ensureDir(path.dirname(p));
    await writeFileAtomic(p, encodeDict(d), repo.tmpDir);
    await fsyncDir(path.dirname(p));
  });
}

/**
 * Signs an existing commit (`grove sign`, `grove gpg-sign`): reads the commit and its detached
 * metadata, adds the signatures and writes it back, all under one shared lock.
 */
export async function signCommit(repo: Repo, commit: string, keys: SignWith): Promise<void> {
  await RepoLock.with(repo, 'shared', async () => {
    const bytes = await repo.readMetadata(commit, 'commit');
    await writeDetached(repo, commit, await addSignatures(await readDetached(repo, commit), bytes, keys));
  });
}

/** Signs the repository's summary into `summary.sig` (adding to signatures already there). */
export async function signSummary(repo: Repo, keys: SignWith): Promise<void> {
  const summary = await fs.readFile(path.join(repo.path, 'summary'));
  const sigPath = path.join(repo.path, 'summary.sig');
  const old = await fs.readFile(sigPath).then((b) => decodeDict(b, sigPath), (e: unknown) => {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  });
  await writeFileAtomic(sigPath, encodeDict(await addSignatures(old, summary, keys)), repo.tmpDir);
}
