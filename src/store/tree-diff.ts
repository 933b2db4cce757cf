import { decodeCommit, decodeDirTree, type DirTree } from '../format/objects.js';

/** Reads a dirtree's bytes, or null when there is none to read. */
export type DirtreeReader = (checksum: string) => Uint8Array | null;

/**
 * The objects the commit in `commitBytes` reaches that `base` (the bytes of another commit,
 * usually its parent) does not, as `CHECKSUM.TYPE` keys: the tree is walked beside the base's
 * by path, and a subtree whose dirtree checksum is the base's at that path is not entered at
 * all — it holds the same objects. So an update that changes 1% of the files reads the
 * dirtrees on the paths to them, not the whole tree. Objects the base has elsewhere (a file
 * moved) are listed all the same; callers ask about them. Without a base every object is
 * listed. The commit itself is not.
 *
 * `read` gives dirtrees of the new tree; `readBase` of the base's (they may live apart). A
 * dirtree that cannot be read is listed, and its subtree skipped: the caller finds it missing.
 */
export function changedObjects(read: DirtreeReader, commitBytes: Uint8Array, where: string, base: { bytes: Uint8Array; read: DirtreeReader } | null): Set<string> {
  const out = new Set<string>();
  const commit = decodeCommit(commitBytes, where);
  const old = base === null ? null : decodeCommit(base.bytes, `base of ${where}`);
  if (old === null || old.rootMeta !== commit.rootMeta) out.add(`${commit.rootMeta}.dirmeta`);
  if (old !== null && old.rootTree === commit.rootTree) return out;
  /** Pairs of (dirtree, the base's dirtree at the same path, or null). */
  const stack: Array<[string, string | null]> = [[commit.rootTree, old?.rootTree ?? null]];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const [tree, baseTree] = stack.pop()!;
    // A dirtree met twice (two identical directories) is walked once; against another base it would list nothing new.
    if (seen.has(tree)) continue;
    seen.add(tree);
    out.add(`${tree}.dirtree`);
    const bytes = read(tree);
    if (bytes === null) continue;
    const t = decodeDirTree(bytes, `dirtree ${tree}`);
    let b: DirTree | null = null;
    if (baseTree !== null) {
      const bb = base!.read(baseTree);
      if (bb !== null) b = decodeDirTree(bb, `dirtree ${baseTree}`);
    }
    const baseFiles = new Map(b?.files ?? []);
    const baseDirs = new Map((b?.dirs ?? []).map(([n, st, m]) => [n, { tree: st, meta: m }]));
    for (const [name, c] of t.files) if (baseFiles.get(name) !== c) out.add(`${c}.file`);
    for (const [name, sub, meta] of t.dirs) {
      const was = baseDirs.get(name);
      if (was?.meta !== meta) out.add(`${meta}.dirmeta`);
      if (was?.tree === sub) continue;
      stack.push([sub, was?.tree ?? null]);
    }
  }
  return out;
}
