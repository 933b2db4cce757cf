import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GroveError, isErrno } from '../errors.js';
import { readObjectFile } from '../store/object-file.js';
import { MAX_METADATA_SIZE, readMetadataSync } from '../store/read-metadata.js';
import { isChecksum } from '../format/checksum.js';
import { KeyFile } from '../format/keyfile.js';
import type { ObjectType } from '../format/objects.js';
import { parseRepoMode, type RepoMode } from '../repo/mode.js';
import { objectRelPath, objectExists } from '../store/paths.js';
import { listRefs, readRef } from '../repo/refs.js';
import { listCollectionRefs } from '../repo/collection-refs.js';
import { Repo } from '../repo/repo.js';
import type { ImportItem, RemoteFetch } from './import-task.js';
import { decodeSummary, type Summary } from '../format/summary.js';
import type { PullPolicy } from './pull.js';
import { Fetcher, type FetcherOptions } from './fetcher.js';
import { summaryThroughCache, type RawSummary, type SummaryCache } from './summary-cache.js';

/** The summary may list very many refs; ostree allows it the metadata limit too. */
export const MAX_SUMMARY_SIZE = 10 << 20;
/**
 * Where a pull reads objects from: an archive repository behind HTTP(S), or any repository on
 * a local path (`file://` URLs and `pull-local`). Nothing a source returns is trusted: the
 * caller checks every checksum before storing anything.
 */
export interface ObjectSource {
  /** For messages: "remote origin (http://…)" or the source path. */
  readonly description: string;
  /** The source repository, when content can be read from it directly (local pulls). */
  readonly local: { objectsDir: string; mode: RepoMode } | null;
  /** The server, when worker threads fetch content from it themselves (HTTP pulls). */
  readonly remote: RemoteFetch | null;
  /**
   * The collection ID its commits must be bound to (`ostree.collection-binding`): a remote's
   * configured `collection-id`, or a local source repository's own; null or absent for none.
   */
  readonly collectionId?: string | null;
  metadata(checksum: string, type: ObjectType): Promise<Uint8Array | null>;
  /**
   * A content object to hand to the import task, or null when the source is known to lack it.
   * For a `remote` source it is the checksum alone: the worker fetches it.
   */
  content(checksum: string): Promise<ImportItem | null>;
  /** `summary` and `summary.sig`, null when absent (through `summaryCache`, when set). */
  summary(): Promise<RawSummary | null>;
  /** ostree's summary cache for the remote this source serves, when it has one. */
  summaryCache?: SummaryCache | null;
  ref(name: string): Promise<string | null>;
  /** Collection ref (`collectionId`, `name`), for a pull by collection–ref from a source with no summary; null when absent. */
  collectionRef(collectionId: string, name: string): Promise<string | null>;
  /** Every ref, for sources that can list them without a summary (a local repository). */
  refs?(): Promise<Map<string, string>>;
  /**
   * Any other file of the repository (static delta superblocks and parts, delta indexes), at
   * most `maxBytes`; null when there is none. `what` names it in messages.
   */
  file(rel: string, maxBytes: number, what: string): Promise<Uint8Array | null>;
  readonly stats: { requests: number; bytes: number; retries: number };
  close(): void;
}

let sourcesOpened = 0;

export class HttpSource implements ObjectSource {
  readonly local = null;
  summaryCache: SummaryCache | null = null;
  readonly remote: RemoteFetch;
  private readonly fetcher: Fetcher;
  /** Where objects other than detached metadata come from: the remote's `contenturl`, else the URL. */
  private readonly contentFetcher: Fetcher;

  private constructor(readonly description: string, fetcher: Fetcher, contentFetcher: Fetcher, remote: RemoteFetch, readonly collectionId: string | null) {
    this.fetcher = fetcher;
    this.contentFetcher = contentFetcher;
    this.remote = remote;
  }

  /**
   * Connects and checks the remote is an archive repository (the only kind served over HTTP).
   * `description` goes into messages: it must not carry the URL's credentials (see redactUrl).
   */
  static async open(url: string, description: string, opts: FetcherOptions, collectionId: string | null = null, contentUrl: string | null = null): Promise<HttpSource> {
    const fetcher = new Fetcher(url, opts);
    const contentFetcher = contentUrl === null ? fetcher : new Fetcher(contentUrl, opts);
    const src = new HttpSource(description, fetcher, contentFetcher, { id: `${process.pid}-${++sourcesOpened}`, url: contentFetcher.url, options: opts }, collectionId);
    try {
      const config = await src.fetcher.get('config', { maxBytes: 1 << 20, what: `the config of ${description}` });
      if (config === null) throw new GroveError('GROVE_NO_REPO', `${description} has no config: not an ostree repository`);
      const kf = KeyFile.parse(config.toString('utf8'), `${description}/config`);
      const mode = kf.get('core', 'mode') ?? 'bare';
      if (parseRepoMode(mode, `mode in the config of ${description}`) !== 'archive') {
        throw new GroveError('GROVE_BAD_REMOTE', `${description} is a ${mode} repository; only archive repositories can be pulled over HTTP`);
      }
    } catch (e) {
      src.close();
      throw e;
    }
    return src;
  }

  get stats() {
    if (this.contentFetcher === this.fetcher) return this.fetcher.stats;
    const [a, b] = [this.fetcher.stats, this.contentFetcher.stats];
    return { requests: a.requests + b.requests, bytes: a.bytes + b.bytes, retries: a.retries + b.retries };
  }

  metadata(checksum: string, type: ObjectType): Promise<Uint8Array | null> {
    // As ostree: detached metadata comes from the remote's URL, every other object from its content URL.
    return (type === 'commitmeta' ? this.fetcher : this.contentFetcher).get(`objects/${objectRelPath(checksum, type, 'archive')}`, { maxBytes: MAX_METADATA_SIZE, what: `${type} object ${checksum}`, pipeline: type !== 'commitmeta' });
  }

  /** Deltas and delta indexes come from the content URL, as ostree fetches them. */
  file(rel: string, maxBytes: number, what: string): Promise<Uint8Array | null> {
    return this.contentFetcher.get(rel, { maxBytes, what });
  }

  /** The worker threads fetch content themselves (see `remote`): the bodies never pass through this thread. */
  async content(checksum: string): Promise<ImportItem | null> {
    return { checksum };
  }

  summary(): Promise<RawSummary | null> {
    return summaryThroughCache(
      this.summaryCache ?? null,
      () => this.fetcher.get('summary', { maxBytes: MAX_SUMMARY_SIZE, what: 'summary' }),
      () => this.fetcher.get('summary.sig', { maxBytes: MAX_METADATA_SIZE, what: 'summary.sig' }),
    );
  }

  async ref(name: string): Promise<string | null> {
    return this.refFile(`refs/heads/${name}`, `ref ${name}`);
  }

  /**
   * Without a summary nothing says which collection is the server's own, so ostree looks for
   * every collection ref under refs/mirrors; so does grove.
   */
  collectionRef(collectionId: string, name: string): Promise<string | null> {
    return this.refFile(`refs/mirrors/${collectionId}/${name}`, `ref (${collectionId}, ${name})`);
  }

  private async refFile(file: string, what: string): Promise<string | null> {
    const b = await this.fetcher.get(file, { maxBytes: 4096, what });
    if (b === null) return null;
    const c = b.toString('utf8').trim();
    if (!isChecksum(c)) throw new GroveError('GROVE_BAD_REMOTE', `${this.description}: ${what} does not hold a checksum`);
    return c;
  }

  close(): void {
    this.fetcher.close();
    if (this.contentFetcher !== this.fetcher) this.contentFetcher.close();
  }
}

/** Another repository on this machine, of any mode. */
export class LocalSource implements ObjectSource {
  summaryCache: SummaryCache | null = null;
  readonly stats = { requests: 0, bytes: 0, retries: 0 };
  readonly local: { objectsDir: string; mode: RepoMode };
  readonly remote = null;
  readonly collectionId: string | null;

  private constructor(readonly repo: Repo, readonly description: string) {
    this.local = { objectsDir: repo.objectsDir, mode: repo.mode };
    const c = repo.config.get('core', 'collection-id');
    this.collectionId = c === undefined || c === '' ? null : c;
  }

  static async open(location: string, description?: string): Promise<LocalSource> {
    const p = location.startsWith('file:') ? fileURLToPath(location) : location;
    const repo = await Repo.open(p);
    return new LocalSource(repo, description ?? repo.path);
  }

  async metadata(checksum: string, type: ObjectType): Promise<Uint8Array | null> {
    this.stats.requests++;
    try {
      // Through the store's reader: never through a symlink, never a FIFO, at most MAX_METADATA_SIZE.
      const b = readMetadataSync(this.repo, checksum, type);
      this.stats.bytes += b.length;
      return b;
    } catch (e) {
      if (e instanceof GroveError && e.code === 'GROVE_MISSING_OBJECT') return null;
      throw e;
    }
  }

  async file(rel: string, maxBytes: number, what: string): Promise<Uint8Array | null> {
    this.stats.requests++;
    try {
      // Never through a symlink, never from a FIFO, bounded: the source may be anyone's directory.
      const b = readObjectFile(path.join(this.repo.path, rel), `${what} of ${this.description}`, maxBytes);
      this.stats.bytes += b.length;
      return b;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return null;
      throw e;
    }
  }

  async content(checksum: string): Promise<ImportItem | null> {
    this.stats.requests++;
    return objectExists(this.repo.objectsDir, checksum, 'file', this.repo.mode) ? { checksum } : null;
  }

  summary(): Promise<RawSummary | null> {
    // Bounded, and never through a symlink or from a FIFO: the source may be anyone's directory.
    const read = (n: string, max: number): Buffer | null => {
      try {
        return readObjectFile(path.join(this.repo.path, n), `${n} of ${this.description}`, max);
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return null;
        throw e;
      }
    };
    return summaryThroughCache(this.summaryCache ?? null, async () => read('summary', MAX_SUMMARY_SIZE), async () => read('summary.sig', MAX_METADATA_SIZE));
  }

  ref(name: string): Promise<string | null> {
    return readRef(this.repo.path, name);
  }

  /** As ostree resolves a collection ref in a repository: its own collection in refs/heads, mirrors, remotes with that collection-id. */
  async collectionRef(collectionId: string, name: string): Promise<string | null> {
    const refs = await listCollectionRefs(this.repo, { match: collectionId });
    // Several places may hold it (refs/heads and a remote's); the last listed wins, as in ostree's table.
    return refs.filter((r) => r.ref === name).at(-1)?.checksum ?? null;
  }

  /** Every local ref of the source, for pull-local without refs. */
  refs(): Promise<Map<string, string>> {
    return listRefs(this.repo.path, { remotes: false });
  }

  close(): void { /* nothing held */ }
}

type FetchedSummary = { summary: Summary; bytes: Uint8Array; sig: Uint8Array | null };
const summaries = new WeakMap<ObjectSource, Map<PullPolicy | undefined, Promise<FetchedSummary | null>>>();

/**
 * The source's summary, checked by `policy` and decoded; null when it has none. Fetched once per
 * source and policy: listing the refs to pull and resolving them read the same summary.
 */
export async function sourceSummary(source: ObjectSource, policy?: PullPolicy): Promise<Summary | null> {
  return (await fetchedSummary(source, policy))?.summary ?? null;
}

/**
 * The bytes {@link sourceSummary} decoded, as the source served them, and its signatures: for
 * a mirror to keep as they came, and for `remote summary --raw`.
 */
export function fetchedSummary(source: ObjectSource, policy?: PullPolicy): Promise<FetchedSummary | null> {
  let byPolicy = summaries.get(source);
  if (!byPolicy) summaries.set(source, (byPolicy = new Map()));
  let s = byPolicy.get(policy);
  if (!s) {
    s = (async () => {
      const raw = await source.summary();
      await policy?.verifySummary?.(raw?.bytes ?? null, raw?.sig ?? null);
      if (raw === null) return null;
      const summary = decodeSummary(raw.bytes, `summary of ${source.description}`);
      // Cached once checked, as ostree caches only what verified.
      if (raw.sig !== null && raw.cached !== true) source.summaryCache?.save(raw.bytes, raw.sig);
      return { summary, bytes: raw.bytes, sig: raw.sig };
    })();
    byPolicy.set(policy, s);
  }
  return s;
}
