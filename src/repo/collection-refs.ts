import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { CHECKSUM_RE } from '../format/checksum.js';
import { refSubdirs, walkRefs } from './refs.js';
import type { Repo } from './repo.js';

/**
 * Refs by collection ID, as `ostree refs --collections` sees them: the repository's own refs
 * under its `core.collection-id` (when it has one), `refs/mirrors/COLLECTION-ID/…`, and the refs
 * of each remote whose config gives a `collection-id`.
 */
export interface CollectionRef { collectionId: string; ref: string; checksum: string; file: string }

/** A collection ID has the form of a D-Bus interface name (as libostree checks it). */
export function validateCollectionId(id: string): string {
  if (id.length > 255 || !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(id)) {
    throw new GroveError('GROVE_BAD_COLLECTION_ID', `Invalid collection ID ${id}`);
  }
  return id;
}

export function repoCollectionId(repo: Repo): string | null {
  return repo.config.get('core', 'collection-id') ?? null;
}

/**
 * Every collection ref, or those of collection `match`. Remotes without a valid collection ID
 * are skipped, as ostree skips them.
 */
export async function listCollectionRefs(repo: Repo, opts: { match?: string; remotes?: boolean } = {}): Promise<CollectionRef[]> {
  const { match } = opts;
  if (match !== undefined) {
    try {
      validateCollectionId(match);
    } catch (e) {
      // As libostree words it: the listing names itself.
      if (e instanceof GroveError) throw new GroveError(e.code, `Listing refs: ${e.message}`);
      throw e;
    }
  }
  const out: CollectionRef[] = [];
  const main = repoCollectionId(repo);
  if (main !== null && (match === undefined || match === main)) await walk(path.join(repo.path, 'refs', 'heads'), '', main, out);
  for (const id of await refSubdirs(path.join(repo.path, 'refs', 'mirrors'))) {
    if (match === undefined || match === id) await walk(path.join(repo.path, 'refs', 'mirrors', id), '', id, out);
  }
  if (opts.remotes !== false) {
    for (const remote of await refSubdirs(path.join(repo.path, 'refs', 'remotes'))) {
      const id = repo.config.get(`remote "${remote}"`, 'collection-id');
      if (id === undefined) continue;
      try {
        validateCollectionId(id);
      } catch {
        continue;
      }
      if (match === undefined || match === id) await walk(path.join(repo.path, 'refs', 'remotes', remote), '', id, out);
    }
  }
  return out;
}

/** Where a collection ref lives: the repository's own collection in refs/heads, others in refs/mirrors. */
export function collectionRefFile(repo: Repo, collectionId: string, ref: string): string {
  return collectionId === repoCollectionId(repo)
    ? path.join(repo.path, 'refs', 'heads', ref)
    : path.join(repo.path, 'refs', 'mirrors', collectionId, ref);
}

async function walk(dir: string, prefix: string, collectionId: string, out: CollectionRef[]): Promise<void> {
  await walkRefs(dir, prefix, async (ref, file) => {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    const checksum = text.trim();
    if (!CHECKSUM_RE.test(checksum)) throw new GroveError('GROVE_CORRUPT_REF', `ref (${collectionId}, ${ref}) (${file}) does not hold a checksum`);
    out.push({ collectionId, ref, checksum, file });
  });
}

