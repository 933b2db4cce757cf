import { decodeCommit } from '../format/objects.js';
import { isReg } from '../format/mode.js';
import type { Repo } from '../repo/repo.js';
import { openContent } from '../store/read-content.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { walkDirtrees } from './walk-tree.js';

/**
 * Which new files of a delta are changed versions of old ones, worth a bsdiff: ostree 2022.7's
 * `_ostree_delta_compute_similar_objects`. A new regular file and an old one are paired when they
 * share a base name (or, failing any, the part of one before its first dot) and their sizes are
 * within 30% of each other; empty files and `.xz`/`.bz2` files (already compressed) are never
 * paired. Returns new checksum -> old checksum.
 */
const SIMILARITY = 0.3;

interface SizeNames { checksum: string; size: number; names: string[] }

export async function similarObjects(repo: Repo, from: string, to: string, newRegular: ReadonlyMap<string, number>): Promise<Map<string, string>> {
  const toSizes = await sizeNames(repo, to, (c) => newRegular.has(c), (c) => newRegular.get(c)!);
  // Only old files that share a name (or the part before the dot) with a new one can pair: their
  // headers alone are read (reading every old file's header was most of a small delta's time).
  const names = new Set<string>();
  const prefixes = new Set<string>();
  for (const t of toSizes) {
    for (const n of t.names) {
      names.add(n);
      const dot = n.indexOf('.');
      if (dot > 0) prefixes.add(n.slice(0, dot));
    }
  }
  const fromSizes = await sizeNames(repo, from, (_c, list) => list.some((n) => {
    const dot = n.indexOf('.');
    return names.has(n) || (dot > 0 && prefixes.has(n.slice(0, dot)));
  }));
  const out = new Map<string, string>();
  let lower = 0;
  const upper = fromSizes.length;
  for (const t of toSizes) {
    if (!candidate(t)) continue;
    const min = Math.trunc(t.size * (1 - SIMILARITY));
    const max = Math.trunc(t.size * (1 + SIMILARITY));
    let found = false;
    for (let fuzzy = 0; fuzzy < 2 && !found; fuzzy++) {
      for (let j = lower; j < upper; j++) {
        const f = fromSizes[j]!;
        if (!candidate(f)) continue;
        if (f.size < min) {
          lower++;
          continue;
        }
        if (f.size > max) break;
        if (!sharesName(f.names, t.names, fuzzy === 1)) continue;
        out.set(t.checksum, f.checksum);
        found = true;
        break;
      }
    }
  }
  return out;
}

/**
 * Regular files of the commit that `include` accepts (given a file's checksum and every base
 * name it has in the tree), with their size (from `sizeOf`, else from their header), by size.
 */
async function sizeNames(repo: Repo, commit: string, include: (checksum: string, names: readonly string[]) => boolean, sizeOf?: (checksum: string) => number): Promise<SizeNames[]> {
  const all = new Map<string, string[]>();
  walkFiles(repo, commit, (name, checksum) => {
    const list = all.get(checksum);
    if (list === undefined) all.set(checksum, [name]);
    else list.push(name);
  });
  const out: SizeNames[] = [];
  for (const [checksum, names] of all) {
    if (!include(checksum, names)) continue;
    if (sizeOf !== undefined) {
      out.push({ checksum, size: sizeOf(checksum), names });
      continue;
    }
    const obj = await openContent(repo, checksum, { xattrs: false });
    if (isReg(obj.header.mode)) out.push({ checksum, size: obj.size, names });
  }
  return out.sort((x, y) => x.size - y.size);
}

/** Every file entry of the commit's tree, each dirtree read once. */
function walkFiles(repo: Repo, commit: string, onFile: (name: string, checksum: string) => void): void {
  const c = decodeCommit(readMetadataSync(repo, commit, 'commit'), `commit ${commit}`);
  walkDirtrees(c.rootTree, (t) => readMetadataSync(repo, t, 'dirtree'), (_t, tree) => {
    for (const [name, checksum] of tree.files) onFile(name, checksum);
  });
}

function candidate(s: SizeNames): boolean {
  if (s.size === 0) return false;
  return !s.names.some((n) => {
    const dot = n.lastIndexOf('.');
    return dot >= 0 && (n.slice(dot + 1) === 'xz' || n.slice(dot + 1) === 'bz2');
  });
}

function sharesName(a: readonly string[], b: readonly string[], fuzzy: boolean): boolean {
  for (const x of a) {
    const xd = x.indexOf('.');
    for (const y of b) {
      const yd = y.indexOf('.');
      if (fuzzy && xd >= 0 && yd > 0 && yd === xd) {
        if (x.slice(0, xd) === y.slice(0, yd)) return true;
      } else if (x === y) return true;
    }
  }
  return false;
}
