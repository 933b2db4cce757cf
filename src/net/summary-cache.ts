import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { tempName } from '../repo/fsutil.js';

/**
 * ostree's cache of remotes' signed summaries: `CACHE/summaries/REMOTE` and `REMOTE.sig`, where
 * CACHE is the repository's `tmp/cache` or the directory `--cache-dir` names. Only a signed
 * summary is cached (the signature tells whether it changed): when the remote's `summary.sig`
 * is the one cached, the cached summary is used and the remote's is not fetched.
 */
export class SummaryCache {
  private constructor(private readonly dir: string, private readonly remote: string) {}

  /**
   * The cache in `dir` (created as needed) for `remote`; `explicit` when the user named the
   * directory, which must then exist, as ostree opens it before anything else.
   */
  static open(dir: string, remote: string, explicit: boolean): SummaryCache {
    if (explicit) {
      const st = fs.statSync(dir, { throwIfNoEntry: false });
      if (st === undefined) throw new GroveError('GROVE_NOT_FOUND', `opendir(${dir}): No such file or directory`, { path: dir });
      if (!st.isDirectory()) throw new GroveError('GROVE_NOT_DIRECTORY', `opendir(${dir}): Not a directory`, { path: dir });
    }
    return new SummaryCache(dir, remote);
  }

  private file(ext: '' | '.sig'): string {
    return path.join(this.dir, 'summaries', `${this.remote}${ext}`);
  }

  private read(ext: '' | '.sig'): Buffer | null {
    try {
      return fs.readFileSync(this.file(ext));
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return null;
      throw e;
    }
  }

  /** The cached summary when `sig` is the cached signature; a signature cached without its summary is dropped. */
  match(sig: Uint8Array): Buffer | null {
    const old = this.read('.sig');
    if (old === null || !old.equals(sig)) return null;
    const summary = this.read('');
    if (summary === null) fs.rmSync(this.file('.sig'), { force: true });
    return summary;
  }

  /** Caches a summary and its signature. A cache that cannot be written (a read-only repository) is skipped, as in ostree. */
  save(summary: Uint8Array, sig: Uint8Array): void {
    try {
      fs.mkdirSync(path.join(this.dir, 'summaries'), { recursive: true, mode: 0o775 });
      for (const [ext, bytes] of [['', summary], ['.sig', sig]] as const) {
        const tmp = path.join(this.dir, 'summaries', tempName('.tmp-'));
        fs.writeFileSync(tmp, bytes, { mode: 0o644 });
        fs.renameSync(tmp, this.file(ext));
      }
    } catch (e) {
      if (!isErrno(e, 'EACCES', 'EPERM', 'EROFS')) throw e;
    }
  }
}

/** What a source's summary() gives: `cached` when the bytes came from the cache (and need not be cached again). */
export interface RawSummary { bytes: Uint8Array; sig: Uint8Array | null; cached?: boolean }

/**
 * A summary and its signature through `cache`: the signature first, then the summary from the
 * cache when the signature is the cached one, else from the source. Caching what was fetched is
 * the caller's, once it has checked it (see sourceSummary).
 */
export async function summaryThroughCache(
  cache: SummaryCache | null,
  fetchSummary: () => Promise<Uint8Array | null>,
  fetchSig: () => Promise<Uint8Array | null>,
): Promise<RawSummary | null> {
  if (cache === null) {
    const bytes = await fetchSummary();
    return bytes === null ? null : { bytes, sig: await fetchSig() };
  }
  const sig = await fetchSig();
  const cached = sig === null ? null : cache.match(sig);
  if (cached !== null) return { bytes: cached, sig, cached: true };
  const bytes = await fetchSummary();
  return bytes === null ? null : { bytes, sig };
}
