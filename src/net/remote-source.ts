import fs from 'node:fs';
import { GroveError } from '../errors.js';
import path from 'node:path';
import { parsePublicKey, readKeyLines, systemKeys } from '../sign/ed25519.js';
import { decodeDict, requireSignature, type TrustedKeys } from '../sign/signatures.js';
import type { Repo } from '../repo/repo.js';
import type { FetcherOptions } from './fetcher.js';
import type { TlsOptions } from './http/client.js';
import type { PullPolicy } from './pull.js';
import { getRemote, type Remote } from './remotes.js';
import { redactUrl } from './redact-url.js';
import { HttpSource, LocalSource, fetchedSummary, type ObjectSource } from './sources.js';
import { remoteCookies } from './cookies.js';
import { remoteGpgKeySources } from './remote-keys.js';
import { SummaryCache } from './summary-cache.js';
import type { Summary } from '../format/summary.js';

/**
 * The object source behind a configured remote: HTTP(S), or a repository on disk for file://
 * URLs. `opts` (the pull's command line) overrides what the remote's config says. HTTP requests
 * carry the remote's cookies (`REPO/REMOTE.cookies.txt`) and fetch objects from its
 * `contenturl` when it has one; the summary goes through ostree's summary cache (the
 * repository's `tmp/cache`, or `cacheDir`).
 */
export async function openSource(repo: Repo, remote: Remote, opts: FetcherOptions, where: { cacheDir?: string } = {}): Promise<ObjectSource> {
  checkFetchUrl(remote.name, remote.url);
  const cache = summaryCacheFor(repo, remote.name, where.cacheDir);
  const description = `remote ${remote.name}`;
  if (remote.url.startsWith('file:')) {
    const local = await LocalSource.open(remote.url, description);
    local.summaryCache = cache;
    return local;
  }
  const tls = remoteTls(remote);
  const collectionId = remote.options.get('collection-id');
  const contentUrl = remote.options.get('contenturl');
  if (contentUrl !== undefined) checkFetchUrl(remote.name, contentUrl, 'contenturl');
  const cookies = remoteCookies(repo.path, remote.name);
  const source = await HttpSource.open(
    remote.url,
    `${description} (${redactUrl(remote.url)})`,
    { ...remoteFetcherOptions(remote), ...opts, ...(tls && { tls }), ...(cookies.length > 0 && { cookies }) },
    collectionId === undefined || collectionId === '' ? null : collectionId,
    contentUrl ?? null,
  );
  source.summaryCache = cache;
  return source;
}

/**
 * A remote's URL (or content URL) grove can fetch: http(s) or, as the URL only, file. A
 * mirrorlist or a file: content URL is refused in grove's words, another scheme in ostree's.
 */
function checkFetchUrl(name: string, url: string, key: 'url' | 'contenturl' = 'url'): void {
  if (url.startsWith('mirrorlist=')) throw new GroveError('GROVE_UNSUPPORTED', `remote "${name}": its ${key} is a mirrorlist, which grove does not fetch`);
  if (/^https?:\/\//i.test(url) || (key === 'url' && url.startsWith('file:'))) return;
  if (url.startsWith('file:')) throw new GroveError('GROVE_UNSUPPORTED', `remote "${name}": grove fetches a contenturl over http(s) only`);
  throw new GroveError('GROVE_UNSUPPORTED', `Invalid URI scheme in ${redactUrl(url)}`);
}

/** ostree caches summaries in `tmp/cache` of a repository it can write (unless $OSTREE_SKIP_CACHE), or in the directory it is told. */
function summaryCacheFor(repo: Repo, remote: string, cacheDir: string | undefined): SummaryCache | null {
  if (cacheDir !== undefined) return SummaryCache.open(cacheDir, remote, true);
  if (process.env['OSTREE_SKIP_CACHE'] !== undefined) return null;
  try {
    fs.accessSync(repo.path, fs.constants.W_OK);
  } catch {
    return null;
  }
  return SummaryCache.open(path.join(repo.path, 'tmp', 'cache'), remote, false);
}

/**
 * `low-speed-limit-bytes` and `low-speed-time-seconds` from the remote's config. ostree (2023.7
 * and later) takes them as pull options only (`ostree pull --low-speed-…`, which grove has too);
 * grove also reads them here, so that a remote known to be slow (or one that must not be waited
 * on) can say so once. ostree ignores the keys.
 */
function remoteFetcherOptions(remote: Remote): FetcherOptions {
  const out: FetcherOptions = {};
  const uint = (key: string): number | undefined => {
    const v = remote.options.get(key);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v.trim()) || Number(v) > 0xffffffff) throw new GroveError('GROVE_BAD_CONFIG', `remote ${remote.name}: ${key} '${v}' is not a non-negative 32-bit integer`);
    return Number(v);
  };
  const limit = uint('low-speed-limit-bytes');
  const time = uint('low-speed-time-seconds');
  if (limit !== undefined) out.lowSpeedLimitBytes = limit;
  if (time !== undefined) out.lowSpeedTimeSeconds = time;
  return out;
}

/**
 * The remote's TLS options, under ostree's names: `tls-ca-path` (PEM certificates trusted
 * instead of the system's), `tls-permissive` (no certificate checks), and
 * `tls-client-cert-path` with `tls-client-key-path`.
 */
function remoteTls(remote: Remote): TlsOptions | null {
  const read = (key: string): Buffer | undefined => {
    const p = remote.options.get(key);
    if (p === undefined) return undefined;
    try {
      return fs.readFileSync(p);
    } catch (e) {
      throw new GroveError('GROVE_BAD_CONFIG', `remote ${remote.name}: cannot read ${key} '${p}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { path: p });
    }
  };
  const tls: TlsOptions = {};
  const ca = read('tls-ca-path');
  const cert = read('tls-client-cert-path');
  const key = read('tls-client-key-path');
  if (ca) tls.ca = ca;
  if ((cert === undefined) !== (key === undefined)) {
    throw new GroveError('GROVE_BAD_CONFIG', `remote ${remote.name}: tls-client-cert-path and tls-client-key-path go together`);
  }
  if (cert && key) Object.assign(tls, { cert, key });
  if (/^(true|1|yes)$/i.test(remote.options.get('tls-permissive') ?? '')) tls.rejectUnauthorized = false;
  return Object.keys(tls).length > 0 ? tls : null;
}

/** A remote's summary, fetched (or taken from the summary cache) and checked against what the remote requires of it; `bytes` as served. `noSummary`: the message when the remote has none. */
export async function fetchRemoteSummary(repo: Repo, remote: Remote, where: { cacheDir?: string; noSummary?: string } = {}): Promise<{ summary: Summary; bytes: Uint8Array; sig: Uint8Array | null }> {
  const source = await openSource(repo, remote, {}, where);
  try {
    const s = await fetchedSummary(source, remotePolicy(repo, remote));
    // ostree's words differ by verb: `remote refs` gives its own (noSummary).
    if (s === null) throw new GroveError('GROVE_NO_SUMMARY', where.noSummary ?? 'Remote server has no summary file');
    return s;
  } finally {
    source.close();
  }
}

/**
 * What a remote's configuration requires of what is pulled from it: GPG signatures unless
 * `gpg-verify=false` (ostree's default is to require them), and ed25519 signatures when
 * `sign-verify` asks for them; the same for the summary with `gpg-verify-summary` and
 * `sign-verify-summary`. Keys come from where ostree looks: `verification-ed25519-key` or
 * `-file` (else the system's trusted.ed25519 files), and `REPO/REMOTE.trustedkeys.gpg`,
 * `gpgkeypath` and /usr/share/ostree/trusted.gpg.d for GPG.
 */
export function remotePolicy(repo: Repo, remote: Remote): PullPolicy {
  const ed25519 = remote.signVerify.includes('ed25519');
  const req = { gpg: remote.gpgVerify, ed25519 };
  const reqSummary = { gpg: remote.gpgVerifySummary, ed25519: ed25519 && remote.signVerifySummary };
  if (!req.gpg && !req.ed25519 && !reqSummary.gpg && !reqSummary.ed25519) return {};
  let keys: TrustedKeys | undefined;
  const trusted = (): TrustedKeys => (keys ??= loadKeys(repo, remote, req.ed25519 || reqSummary.ed25519, req.gpg || reqSummary.gpg));
  return {
    async verifyCommit(checksum, commit, detached) {
      if (!req.gpg && !req.ed25519) return;
      const d = detached === null ? null : decodeDict(detached, `detached metadata of commit ${checksum}`);
      await requireSignature(commit, d, `commit ${checksum} from remote ${remote.name}`, req, trusted(), {
        prefix: `Commit ${checksum}`, noSignatures: 'GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)',
      });
    },
    async verifySummary(summary, sig) {
      if (!reqSummary.gpg && !reqSummary.ed25519) return;
      if (summary === null) {
        if (reqSummary.gpg) throw new GroveError('GROVE_NO_SUMMARY', 'GPG verification enabled, but no summary found (use gpg-verify-summary=false in remote config to disable)');
        return;
      }
      if (sig === null && reqSummary.gpg && !reqSummary.ed25519) throw new GroveError('GROVE_BAD_SIGNATURE', 'GPG verification enabled, but no summary.sig found (use gpg-verify-summary=false in remote config to disable)');
      const d = sig === null ? null : decodeDict(sig, `summary.sig of remote ${remote.name}`);
      await requireSignature(summary, d, `the summary of remote ${remote.name}`, reqSummary, trusted(), {
        noSignatures: 'GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)',
      });
    },
  };
}

function loadKeys(repo: Repo, remote: Remote, ed25519: boolean, gpg: boolean): TrustedKeys {
  const keys: TrustedKeys = {};
  if (ed25519) {
    const inline = remote.options.get('verification-ed25519-key');
    const file = remote.options.get('verification-ed25519-file');
    const trusted: Buffer[] = [];
    if (inline !== undefined) trusted.push(parsePublicKey(inline, `verification-ed25519-key of remote ${remote.name}`));
    if (file !== undefined) for (const l of readKeyLines(file)) trusted.push(parsePublicKey(l, `key in ${file}`));
    keys.ed25519 = { trusted: inline === undefined && file === undefined ? systemKeys('trusted') : trusted, revoked: systemKeys('revoked') };
  }
  if (gpg) keys.gpg = remoteGpgKeySources(repo, remote, true);
  return keys;
}

/**
 * What a local pull checks (`pull-local --remote=NAME --gpg-verify`): ostree takes GPG
 * verification of file:// pulls from the command line only, never from the remote's config, and
 * checks no ed25519 signatures there. The keys are NAME's (its trusted keyring, its `gpgkeypath`,
 * the system's); NAME need not be configured, as in ostree.
 */
export function localPullPolicy(repo: Repo, name: string, url: string, verify: { commits: boolean; summary: boolean }): PullPolicy {
  let configured: Remote | null = null;
  try {
    configured = getRemote(repo, name);
  } catch (e) {
    if (!(e instanceof GroveError && e.code === 'GROVE_NO_REMOTE')) throw e;
  }
  return remotePolicy(repo, {
    name,
    url,
    branches: [],
    gpgVerify: verify.commits,
    gpgVerifySummary: verify.summary,
    signVerify: [],
    signVerifySummary: false,
    options: configured?.options ?? new Map(),
  });
}
