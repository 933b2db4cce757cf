import fs from 'node:fs';
import path from 'node:path';
import { openEnvironment, type ObjectFacts, type RepoIndex } from './index.js';
import { openContent } from '../store/read-content.js';
import type { Repo } from '../repo/repo.js';

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
}

export function recordObject(index: RepoIndex, checksum: string, mode: number, size: number): void {
  index.put(index.objects, checksum, [mode, size]);
}

/** Reads the catalogue of the index at `indexDir` from any thread; null when there is none. */
export function openCatalogueReader(indexDir: string): CatalogueReader | null {
  if (!fs.existsSync(path.join(indexDir, 'data.mdb'))) return null;
  try {
    const { objects } = openEnvironment(indexDir);
    return { get: (c) => objects.get(c) };
  } catch {
    return null;
  }
}

/**
 * Fills the catalogue from the object store: every content object's mode and size, read from
 * its header (archive) or its stat and `user.ostreemeta` (bare modes). For `grove index rebuild`,
 * and for repositories that ostree wrote.
 */
export async function fillCatalogue(index: RepoIndex, repo: Repo): Promise<number> {
  let n = 0;
  let batch: Array<[string, number, number]> = [];
  // One transaction per 1,000 objects: each object's read is a turn of the event loop, which
  // would otherwise commit one transaction per object.
  const commit = () => {
    const facts = batch;
    batch = [];
    index.write(() => { for (const [c, mode, size] of facts) recordObject(index, c, mode, size); });
  };
  for await (const o of repo.looseObjects()) {
    if (o.type !== 'file') continue;
    const obj = await openContent(repo, o.checksum, { xattrs: false });
    batch.push([o.checksum, obj.header.mode, obj.size]);
    if (batch.length >= 1000) commit();
    n++;
  }
  commit();
  await index.flush();
  return n;
}
