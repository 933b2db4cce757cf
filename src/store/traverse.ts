import { GroveError } from '../errors.js';
import { decodeCommit, decodeDirMeta, decodeDirTree, type Commit, type DirTree, type ObjectType } from '../format/objects.js';
import { objectExists, type StoreRef } from './paths.js';
import { readMetadataSync } from './read-metadata.js';

/**
 * The one walk of the object graph: every object reachable from a set of commits, each commit's
 * ancestors up to a depth, each object once. prune keeps what it finds, fsck checks it, deploy
 * cleanup prunes with it. What is on disk is not trusted: a dirtree that contains itself is
 * refused (a walk would never end), an object that cannot be read or decoded is reported (fsck)
 * or stops the walk (prune, which must not delete on a partial picture).
 */

export interface TraverseOptions {
  /** Parents to follow from each root: 0 none (default), -1 all. */
  depth?: number;
  /** Check each metadata object's checksum as it is read (fsck). */
  verify?: boolean;
  /** Commits whose trees are not walked at all (fsck checks only a partial commit's own object). */
  skipTree?: (commit: string) => boolean;
  /**
   * Commits whose trees may lack objects (partial commits, from a `--subpath` or
   * `--commit-metadata-only` pull): what is missing below them is no problem, what is there is
   * found (prune keeps it).
   */
  mayLack?: (commit: string) => boolean;
  /**
   * Hears of every object found, metadata once it has been read and decoded (with the bytes
   * read, so that fsck hashes them without reading them again), content by name alone (it is
   * not read). May return a promise, which the walk waits for (fsck hands content to its workers
   * in batches).
   */
  onObject?: (checksum: string, type: ObjectType, bytes?: Uint8Array) => void | Promise<void>;
  /**
   * A metadata object that is missing, unreadable or malformed, or a dirtree that contains
   * itself: without this the walk throws; with it the walk reports and goes on without what is
   * below (fsck names every problem in one run).
   */
  onProblem?: (checksum: string, type: ObjectType, error: GroveError) => void;
  /** Objects found by earlier walks, not walked again; the new ones are added to it. */
  into?: Reachable;
  /**
   * Hears of every edge of the graph walked, `CHECKSUM.TYPE` keys of parent (a commit or a
   * dirtree) and child, also when the child was found before: fsck names the commits an object
   * belongs to from these, as ostree's traversal with parents does.
   */
  onEdge?: (parent: string, child: string) => void;
}

/** What a walk found: `CHECKSUM.TYPE` keys (content objects as `.file`). */
export type Reachable = Set<string>;

export const objectKey = (checksum: string, type: ObjectType): string => `${checksum}.${type}`;

export async function traverse(store: StoreRef, roots: Iterable<string>, opts: TraverseOptions = {}): Promise<Reachable> {
  const found: Reachable = opts.into ?? new Set();
  const problem = (checksum: string, type: ObjectType, e: unknown): void => {
    if (!(e instanceof GroveError) || !opts.onProblem) throw e;
    opts.onProblem(checksum, type, e);
  };
  /** Whether the tree being walked may lack objects (see `mayLack`). */
  let lacking = false;
  /** The bytes of the object `load` read last, handed to `onObject` with it. */
  let loaded: Uint8Array | undefined;
  /** Reads and decodes a metadata object; null once a problem was reported, or when it may be missing and is. */
  const load = <T>(checksum: string, type: ObjectType, decode: (b: Uint8Array, where: string) => T): T | null => {
    try {
      loaded = readMetadataSync(store, checksum, type, { verify: opts.verify === true });
      return decode(loaded, `${type} ${checksum}`);
    } catch (e) {
      if (!(lacking && e instanceof GroveError && e.code === 'GROVE_MISSING_OBJECT')) problem(checksum, type, e);
      return null;
    }
  };
  // Synchronous unless onObject hands back a promise: an await per object was a quarter of a
  // prune walk of minbase (13k objects), where nothing listens.
  const onObject = opts.onObject;
  const see = (checksum: string, type: ObjectType, bytes?: Uint8Array): void | Promise<void> => {
    const key = objectKey(checksum, type);
    if (found.has(key)) return;
    found.add(key);
    return onObject?.(checksum, type, bytes);
  };
  const edge = opts.onEdge ?? (() => undefined);
  const walkTree = async (commitKey: string, root: string, rootMeta: string): Promise<void> => {
    edge(commitKey, objectKey(rootMeta, 'dirmeta'));
    edge(commitKey, objectKey(root, 'dirtree'));
    if (!found.has(objectKey(rootMeta, 'dirmeta')) && load(rootMeta, 'dirmeta', decodeDirMeta) !== null) await see(rootMeta, 'dirmeta', loaded);
    // Depth first with an explicit stack; `open` holds the dirtrees on the current path, so a
    // dirtree met again while it is open contains itself.
    const open = new Set<string>();
    const stack: Array<{ tree: string; entered: boolean }> = [{ tree: root, entered: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.entered) {
        open.delete(top.tree);
        stack.pop();
        continue;
      }
      top.entered = true;
      if (open.has(top.tree)) {
        problem(top.tree, 'dirtree', new GroveError('GROVE_CORRUPT_OBJECT', `dirtree ${top.tree} contains itself`));
        stack.pop();
        continue;
      }
      if (found.has(objectKey(top.tree, 'dirtree'))) {
        stack.pop();
        continue;
      }
      const tree: DirTree | null = load(top.tree, 'dirtree', decodeDirTree);
      if (tree === null) {
        stack.pop();
        continue;
      }
      const seen = see(top.tree, 'dirtree', loaded);
      if (seen) await seen;
      open.add(top.tree);
      const treeKey = objectKey(top.tree, 'dirtree');
      for (const [, c] of tree.files) {
        if (opts.onEdge) edge(treeKey, objectKey(c, 'file'));
        const p = see(c, 'file');
        if (p) await p;
      }
      for (let i = tree.dirs.length - 1; i >= 0; i--) {
        const [, sub, meta] = tree.dirs[i]!;
        edge(treeKey, objectKey(meta, 'dirmeta'));
        edge(treeKey, objectKey(sub, 'dirtree'));
        if (!found.has(objectKey(meta, 'dirmeta')) && load(meta, 'dirmeta', decodeDirMeta) !== null) {
          const p = see(meta, 'dirmeta', loaded);
          if (p) await p;
        }
        if (open.has(sub)) problem(sub, 'dirtree', new GroveError('GROVE_CORRUPT_OBJECT', `dirtree ${sub} contains itself`));
        else stack.push({ tree: sub, entered: false });
      }
    }
  };
  const depth = opts.depth ?? 0;
  for (const root of roots) {
    // A commit's parent chain is followed until the depth is spent, a commit already walked
    // (which also ends a chain that loops back on itself), or a parent that is not here.
    let left = depth;
    for (let c: string | null = root; c !== null; left--) {
      if (found.has(objectKey(c, 'commit'))) break;
      if (c !== root && !objectExists(store.objectsDir, c, 'commit', store.mode)) break;
      const commit: Commit | null = load(c, 'commit', decodeCommit);
      if (commit === null) break;
      await see(c, 'commit', loaded);
      lacking = opts.mayLack?.(c) === true;
      if (!opts.skipTree?.(c)) await walkTree(objectKey(c, 'commit'), commit.rootTree, commit.rootMeta);
      if (left === 0) break;
      c = commit.parent;
    }
  }
  return found;
}
