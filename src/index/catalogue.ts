import fs from 'node:fs';
import path from 'node:path';
import { openEnvironment, type ObjectFacts, type RepoIndex } from './index.js';
import { openContent } from '../store/read-content.js';
import type { Repo } from '../repo/repo.js';
import { decodeTreeListing, encodeTreeListing, type FileFacts, type TreeListing } from './tree-listing.js';
import { decodeDirTree } from '../format/objects.js';
import { isLink } from '../format/mode.js';

/**
 * The object catalogue: content checksum -> (mode, size). A content object's checksum covers its
 * header, so these facts never change for a checksum; what can change is whether the object is
 * still there (the real ostree may prune it). The catalogue is therefore trusted for the facts
 * and never for existence: a checkout that takes a mode from it still links the object itself,
 * and a missing object fails that link and takes the general path, which reports it.
 *
 * Recorded from the main thread by commit (for every file it stores or hashes) and by checkout
 * (facts workers learned the slow way); `grove index rebuild` fills it from the object store.
 */

export interface CatalogueReader {
  get(checksum: string): ObjectFacts | undefined;
  /** The listing of dirtree `checksum` (see tree-listing.ts); null when there is none or it is malformed. */
  tree(checksum: string): TreeListing | null;
}

export function recordObject(index: RepoIndex, checksum: string, mode: number, size: number): void {
  index.put(index.objects, checksum, [mode, size]);
}

export function recordTree(index: RepoIndex, checksum: string, listing: Uint8Array): void {
  index.put(index.trees, checksum, Buffer.from(listing.buffer, listing.byteOffset, listing.byteLength));
}

/** The reader of an open environment's catalogue, for this thread. */
export function catalogueReader(dbs: Pick<RepoIndex, 'objects' | 'trees'>): CatalogueReader {
  return {
    get: (c) => dbs.objects.get(c),
    // getBinaryFast: lmdb-js's buffer, reused by the next read, so decoded at once.
    tree: (c) => {
      const b = dbs.trees.getBinaryFast(c);
      return b === undefined ? null : decodeTreeListing(b);
    },
  };
}

/** Reads the catalogue of the index at `indexDir` from any thread; null when there is none. */
export function openCatalogueReader(indexDir: string): CatalogueReader | null {
  if (!fs.existsSync(path.join(indexDir, 'data.mdb'))) return null;
  try {
    return catalogueReader(openEnvironment(indexDir));
  } catch {
    return null;
  }
}

/**
 * Fills the catalogue from the object store: every content object's mode and size, read from
 * its header (archive) or its stat and `user.ostreemeta` (bare modes), and then the listing of
 * every dirtree whose files are all there (see tree-listing.ts). For `grove index rebuild`, and
 * for repositories that ostree wrote. The facts of every object are held until the listings are
 * written: some 30 MB for the 117k files of a /usr.
 */
export async function fillCatalogue(index: RepoIndex, repo: Repo): Promise<{ objects: number; trees: number }> {
  const facts = new Map<string, FileFacts>();
  let batch: Array<() => void> = [];
  // One transaction per 1,000 entries: each object's read is a turn of the event loop, which
  // would otherwise commit one transaction per object.
  const commit = () => {
    const puts = batch;
    batch = [];
    index.write(() => { for (const put of puts) put(); });
  };
  const queue = (put: () => void) => {
    batch.push(put);
    if (batch.length >= 1000) commit();
  };
  const dirtrees: string[] = [];
  for await (const o of repo.looseObjects()) {
    if (o.type === 'dirtree') dirtrees.push(o.checksum);
    if (o.type !== 'file') continue;
    const obj = await openContent(repo, o.checksum, { xattrs: false });
    const link = isLink(obj.header.mode);
    facts.set(o.checksum, { mode: obj.header.mode, size: link ? 0 : obj.size, target: link ? obj.header.symlinkTarget : null });
    queue(() => recordObject(index, o.checksum, obj.header.mode, obj.size));
  }
  let trees = 0;
  // Only hardlink checkouts read listings, and an archive repository has none.
  for (const c of repo.mode === 'archive' ? [] : dirtrees) {
    let listing: Uint8Array | null;
    try {
      listing = encodeTreeListing(decodeDirTree(await repo.readMetadata(c, 'dirtree'), `dirtree ${c}`), (f) => facts.get(f));
    } catch {
      listing = null; // a damaged dirtree is fsck's to report; a checkout reading it fails on it
    }
    if (listing === null) continue;
    queue(() => recordTree(index, c, listing));
    trees++;
  }
  commit();
  await index.flush();
  return { objects: facts.size, trees };
}
