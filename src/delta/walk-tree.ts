import { decodeDirTree, type DirTree } from '../format/objects.js';

/**
 * Visits every dirtree below `rootTree` once, depth first: `read` gives a dirtree's bytes (null
 * when there is none to read: its subtree is skipped), `visit` hears each decoded one. The delta
 * code walks trees through its own readers (a transaction's staged objects, say), which the
 * store's traversal does not see.
 */
export function walkDirtrees(rootTree: string, read: (checksum: string) => Uint8Array | null, visit: (checksum: string, tree: DirTree) => void): void {
  const stack = [rootTree];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const checksum = stack.pop()!;
    if (seen.has(checksum)) continue;
    seen.add(checksum);
    const bytes = read(checksum);
    if (bytes === null) continue;
    const tree = decodeDirTree(bytes, `dirtree ${checksum}`);
    visit(checksum, tree);
    for (const [, sub] of tree.dirs) stack.push(sub);
  }
}
