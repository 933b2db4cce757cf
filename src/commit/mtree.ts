import { GroveError } from '../errors.js';
import { compareNames, encodeDirTree } from '../format/objects.js';
import { validateFileName } from '../format/names.js';
import type { Repo } from '../repo/repo.js';

/**
 * The tree a commit is built in when it has layers (`--base`, several `--tree=`): ostree's
 * OstreeMutableTree. Each layer is merged into it in turn (a file replaces a file of the same
 * name, a directory merges into a directory and gives it its own metadata), then it is written
 * bottom-up.
 *
 * A subtree taken from a stored commit stays lazy (only its dirtree and dirmeta checksums) until
 * a layer changes something in it, and a subtree whose stored dirtree it still equals is not
 * written again: which dirtrees a commit writes is visible in `--generate-sizes`, so this
 * follows ostree's rules for when that checksum is kept and when it is dropped.
 */
export class MTree {
  /** The dirmeta checksum, null until a layer sets one. */
  meta: string | null = null;
  /** The stored dirtree these contents equal, null once changed (or never written). */
  contents: string | null = null;
  private lazy = false;
  private readonly fileMap = new Map<string, string>();
  private readonly dirMap = new Map<string, MTree>();
  private parent: MTree | null = null;

  /** A tree that is, for now, the stored (dirtree, dirmeta) pair. */
  static fromStored(tree: string, meta: string): MTree {
    const t = new MTree();
    t.lazy = true;
    t.contents = tree;
    t.meta = meta;
    return t;
  }

  get isLazy(): boolean {
    return this.lazy;
  }

  /** Reads a lazy tree's dirtree, its subdirectories becoming lazy trees in turn. */
  async whole(repo: Repo): Promise<this> {
    if (!this.lazy) return this;
    const dt = await repo.loadDirTree(this.contents!);
    for (const [name, csum] of dt.files) this.fileMap.set(name, csum);
    for (const [name, tree, meta] of dt.dirs) this.adopt(name, MTree.fromStored(tree, meta));
    this.lazy = false;
    return this;
  }

  async files(repo: Repo): Promise<Map<string, string>> {
    return (await this.whole(repo)).fileMap;
  }

  async dirs(repo: Repo): Promise<Map<string, MTree>> {
    return (await this.whole(repo)).dirMap;
  }

  /** True when nothing has been put in it (and it is not a stored tree). */
  get isEmpty(): boolean {
    return !this.lazy && this.fileMap.size === 0 && this.dirMap.size === 0;
  }

  /**
   * Becomes the stored tree (tree, meta) if it holds nothing else: empty, the same tree, or the
   * empty tree (ostree's fill_empty_from_dirtree); false when the two would have to be merged.
   */
  fillFromStored(tree: string, meta: string): boolean {
    if (this.lazy) {
      if (tree === EMPTY_DIRTREE) tree = this.contents!;
      else if (this.contents !== tree && this.contents !== EMPTY_DIRTREE) return false;
    } else if (!this.isEmpty) {
      return false;
    }
    this.lazy = true;
    this.setMeta(meta);
    if (this.contents !== tree) {
      this.invalidate();
      this.contents = tree;
    }
    return true;
  }

  /** Sets the dirmeta; a different one means the parent's dirtree changes. */
  setMeta(meta: string): void {
    if (meta === this.meta) return;
    this.parent?.invalidate();
    this.meta = meta;
  }

  /** Puts a file at `name`; an existing directory there is an error, in ostree's words. */
  async replaceFile(repo: Repo, name: string, checksum: string): Promise<void> {
    validateFileName(name, 'commit');
    await this.whole(repo);
    if (this.dirMap.has(name)) throw new GroveError('GROVE_CONFLICT', `Can't replace directory with file: ${name}`);
    this.invalidate();
    this.fileMap.set(name, checksum);
  }

  /** The subdirectory `name`, made empty if absent; an existing file there is an error. */
  async ensureDir(repo: Repo, name: string): Promise<MTree> {
    validateFileName(name, 'commit');
    await this.whole(repo);
    if (this.fileMap.has(name)) throw new GroveError('GROVE_CONFLICT', `Can't replace file with directory: ${name}`);
    let d = this.dirMap.get(name);
    if (d === undefined) {
      d = new MTree();
      this.invalidate();
      this.adopt(name, d);
    }
    return d;
  }

  /** The file checksum or subdirectory at `name`, or undefined. */
  async lookup(repo: Repo, name: string): Promise<{ file: string } | { dir: MTree } | undefined> {
    await this.whole(repo);
    const d = this.dirMap.get(name);
    if (d !== undefined) return { dir: d };
    const f = this.fileMap.get(name);
    return f === undefined ? undefined : { file: f };
  }

  private adopt(name: string, child: MTree): void {
    child.parent = this;
    this.dirMap.set(name, child);
  }

  /** Drops the stored checksum of this tree and of every tree above it. */
  private invalidate(): void {
    for (let t: MTree | null = this; t !== null && t.contents !== null; t = t.parent) t.contents = null;
  }
}

/** The dirtree of an empty directory. */
export const EMPTY_DIRTREE = '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d';

/**
 * Writes the tree's dirtrees bottom-up (a tree still equal to a stored one is not written) and
 * returns the root's (dirtree, dirmeta). `write` stores one dirtree and returns its checksum.
 */
export async function writeMTree(repo: Repo, t: MTree, write: (bytes: Uint8Array) => Promise<string>): Promise<[string, string]> {
  if (t.meta === null) throw new GroveError('GROVE_EMPTY_TREE', "Can't commit an empty tree");
  if (t.contents !== null) return [t.contents, t.meta];
  const dirs: Array<[string, string, string]> = [];
  const byName = <T>(a: [string, T], b: [string, T]) => compareNames(a[0], b[0]);
  for (const [name, sub] of [...(await t.dirs(repo))].sort(byName)) {
    const [tree, meta] = await writeMTree(repo, sub, write);
    dirs.push([name, tree, meta]);
  }
  const files = [...(await t.files(repo))].sort(byName);
  t.contents = await write(encodeDirTree({ files, dirs }));
  return [t.contents, t.meta];
}
