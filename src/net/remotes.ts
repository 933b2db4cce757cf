import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { validateRemoteName } from '../format/names.js';
import type { Repo } from '../repo/repo.js';

/**
 * Remotes as ostree keeps them: `[remote "NAME"]` groups in the repository's config, with `url`,
 * `branches` (`a;b;`), `gpg-verify`, `sign-verify` and whatever else the user `--set`s.
 */
export interface Remote {
  name: string;
  url: string;
  branches: string[];
  /** ostree's default is true: a remote verifies GPG signatures unless told not to. */
  gpgVerify: boolean;
  gpgVerifySummary: boolean;
  /**
   * Signature kinds (`ostree.sign.KIND`) a commit must carry a valid signature of: none when
   * sign-verify is false, every kind grove knows when it is true, or the kinds it lists.
   */
  signVerify: string[];
  signVerifySummary: boolean;
  /** Every key of the group, for options grove does not interpret itself. */
  options: Map<string, string>;
}

export const remoteGroup = (name: string): string => `remote "${name}"`;

const GROUP_RE = /^remote "(.*)"$/;

export function listRemotes(repo: Repo): string[] {
  return repo.config.groups().map((g) => GROUP_RE.exec(g)?.[1]).filter((n): n is string => n !== undefined).sort();
}

export function getRemote(repo: Repo, name: string): Remote {
  validateRemoteName(name);
  const g = remoteGroup(name);
  if (!repo.config.groups().includes(g)) throw new GroveError('GROVE_NO_REMOTE', `Remote "${name}" not found`);
  const url = repo.config.get(g, 'url');
  if (url === undefined) throw new GroveError('GROVE_BAD_CONFIG', `No "url" option in remote "${name}"`, { path: `${repo.path}/config` });
  const bool = (key: string, dflt: boolean) => repo.config.getBoolean(g, key) ?? dflt;
  const gpgVerify = bool('gpg-verify', true);
  const sv = repo.config.get(g, 'sign-verify');
  const signVerify = sv === undefined || /^(false|0|no)$/i.test(sv) ? [] : /^(true|1|yes)$/i.test(sv) ? [...SIGN_TYPES] : sv.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const options = new Map(repo.config.keys(g).map((k) => [k, repo.config.get(g, k)!]));
  return {
    name,
    url,
    branches: (repo.config.get(g, 'branches') ?? '').split(';').filter((b) => b !== ''),
    gpgVerify,
    gpgVerifySummary: bool('gpg-verify-summary', false),
    signVerify,
    signVerifySummary: bool('sign-verify-summary', false),
    options,
  };
}

export interface AddRemoteOptions {
  branches?: string[];
  /** `--no-gpg-verify`: writes gpg-verify=false. */
  noGpgVerify?: boolean;
  /** `--no-sign-verify`: writes gpg-verify=false and sign-verify=false, as ostree does. */
  noSignVerify?: boolean;
  /** `--sign-verify=KEYTYPE=inline:KEY` or `KEYTYPE=file:PATH`, repeatable. */
  signVerify?: string[];
  /** `--set=KEY=VALUE` pairs, in order. */
  set?: Array<[string, string]>;
  ifNotExists?: boolean;
  /** Replace an existing remote of the same name. */
  force?: boolean;
  /** `--contenturl=URL`: where objects are fetched from (the summary and refs still come from the URL). */
  contentUrl?: string;
  /** `--custom-backend=NAME`: content not fetched by ostree (the URL may then be absent). */
  customBackend?: string;
  /** `--collection-id=ID`, written as given (ostree does not check it here either). */
  collectionId?: string;
}

/** Signature kinds grove can verify (`ostree.sign.KIND` in detached metadata). */
export const SIGN_TYPES = ['ed25519'] as const;

/** `--sign-verify=KEYTYPE=inline:KEY|file:PATH` -> the config key and value ostree writes for it. */
function verifyOption(spec: string): { type: string; key: string; value: string } {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new GroveError('GROVE_BAD_OPTION', `--sign-verify: failed to parse KEYTYPE=[inline|file]:DATA in ${spec}`);
  const type = spec.slice(0, eq);
  if (!(SIGN_TYPES as readonly string[]).includes(type)) throw new GroveError('GROVE_BAD_OPTION', `--sign-verify: unknown signature type '${type}' (grove knows ${SIGN_TYPES.join(', ')})`);
  const rest = spec.slice(eq + 1);
  const colon = rest.indexOf(':');
  const ref = colon < 0 ? rest : rest.slice(0, colon);
  if ((ref !== 'inline' && ref !== 'file') || colon < 0) throw new GroveError('GROVE_BAD_OPTION', `--sign-verify: invalid key reference ${ref}, expected inline|file`);
  return { type, key: `verification-${type}-${ref === 'inline' ? 'key' : 'file'}`, value: rest.slice(colon + 1) };
}

/**
 * `ostree remote add`: the same keys in the same order as ostree writes them. `url` is null only
 * for a remote with a custom backend.
 */
export async function addRemote(repo: Repo, name: string, url: string | null, opts: AddRemoteOptions = {}): Promise<void> {
  validateRemoteName(name);
  if (url === null && opts.customBackend === undefined) throw new GroveError('GROVE_BAD_OPTION', 'a remote needs a URL unless it has a custom backend');
  // The URL, content URL and branches are written as given, as ostree writes them: what grove
  // cannot fetch (mirrorlists, metalinks, other schemes) is refused by the pull that needs it.
  if (opts.noSignVerify && opts.signVerify?.length) throw new GroveError('GROVE_BAD_OPTION', 'cannot specify both --sign-verify and --no-sign-verify');
  const verify = (opts.signVerify ?? []).map(verifyOption);
  const g = remoteGroup(name);
  if (repo.config.groups().includes(g)) {
    if (opts.ifNotExists) return;
    if (!opts.force) throw new GroveError('GROVE_EXISTS', `Remote configuration for "${name}" already exists: (in config)`);
    repo.config.removeGroup(g);
  }
  if (url !== null) repo.config.set(g, url.startsWith(METALINK) ? 'metalink' : 'url', url.startsWith(METALINK) ? url.slice(METALINK.length) : url);
  if (opts.branches && opts.branches.length > 0) repo.config.set(g, 'branches', opts.branches.map((b) => `${b};`).join(''));
  if (opts.contentUrl !== undefined) repo.config.set(g, 'contenturl', opts.contentUrl);
  if (opts.customBackend !== undefined) repo.config.set(g, 'custom-backend', opts.customBackend);
  for (const [k, v] of opts.set ?? []) repo.config.set(g, k, v);
  if (opts.noGpgVerify || opts.noSignVerify) repo.config.set(g, 'gpg-verify', 'false');
  if (opts.noSignVerify) repo.config.set(g, 'sign-verify', 'false');
  for (const v of verify) repo.config.set(g, v.key, v.value);
  if (verify.length > 0) repo.config.set(g, 'sign-verify', verify.map((v) => v.type).join(','));
  if (opts.collectionId !== undefined) repo.config.set(g, 'collection-id', opts.collectionId);
  await repo.saveConfig();
}

/** `metalink=URL` as a remote's URL: ostree keeps it under the key `metalink`, not `url`. */
const METALINK = 'metalink=';

/**
 * Refuses, before anything is fetched, a pull from a remote that grove or ostree cannot fetch:
 * one with a custom backend (in ostree's words; ostree checks it before it needs a URL) or one
 * found through a metalink (which ostree fetches in preference to its url; grove fetches none).
 */
export function checkPullable(repo: Repo, name: string): void {
  validateRemoteName(name);
  const g = remoteGroup(name);
  if (!repo.config.groups().includes(g)) return;
  const backend = repo.config.get(g, 'custom-backend');
  if (backend !== undefined) throw new GroveError('GROVE_UNSUPPORTED', `Cannot fetch via libostree - remote '${name}' uses custom backend '${backend}'`);
  if (repo.config.get(g, 'metalink') !== undefined) {
    throw new GroveError('GROVE_UNSUPPORTED', `remote "${name}" is found through a metalink, which grove does not fetch`);
  }
}

/** `ostree remote delete`; with `ifExists` a missing remote is not an error. */
export async function deleteRemote(repo: Repo, name: string, opts: { ifExists?: boolean } = {}): Promise<void> {
  validateRemoteName(name);
  if (!repo.config.removeGroup(remoteGroup(name))) {
    if (opts.ifExists) return;
    throw new GroveError('GROVE_NO_REMOTE', `Remote "${name}" not found`);
  }
  await repo.saveConfig();
  await fs.rm(trustedKeysPath(repo, name), { force: true });
}

/** Where ostree keeps the GPG keys a remote's signatures must verify with. */
export const trustedKeysPath = (repo: Repo, name: string): string => path.join(repo.path, `${name}.trustedkeys.gpg`);
