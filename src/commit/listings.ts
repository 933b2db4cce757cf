import { isLink } from '../format/mode.js';
import type { DirTree } from '../format/objects.js';
import { recordTree } from '../index/catalogue.js';
import type { RepoIndex } from '../index/index.js';
import { encodeTreeListing, type FileFacts } from '../index/tree-listing.js';
import { isUserMode } from '../repo/mode.js';
import { readContentSync } from '../store/read-content.js';
import type { StoreRef } from '../store/paths.js';

/**
 * What a commit knows of each file it walked (by the walk's item index): the committed mode and
 * size, and the targets of the symlinks it read (by checksum). Twelve bytes per file in typed
 * arrays, not an object each: a /usr has 117k of them (see commit.ts on what holding per-file
 * objects cost).
 */
export class FileFactsTable {
  private modes = new Uint32Array(1024);
  private sizes = new Float64Array(1024);
  private readonly targets = new Map<string, string>();

  /** The item at `index` is committed with this mode and size. */
  note(index: number, mode: number, size: number): void {
    if (index >= this.modes.length) {
      let n = this.modes.length;
      while (n <= index) n *= 2;
      const modes = new Uint32Array(n);
      modes.set(this.modes);
      const sizes = new Float64Array(n);
      sizes.set(this.sizes);
      this.modes = modes;
      this.sizes = sizes;
    }
    this.modes[index] = mode;
    this.sizes[index] = size;
  }

  /** The symlink object `checksum` holds `target` (a worker read it and hashed it so). */
  target(checksum: string, target: string): void {
    this.targets.set(checksum, target);
  }

  /** Mode and size of item `index`, or undefined when the commit did not learn them (mode 0). */
  modeAndSize(index: number): [number, number] | undefined {
    const mode = index < this.modes.length ? this.modes[index]! : 0;
    return mode === 0 ? undefined : [mode, this.sizes[index]!];
  }

  targetOf(checksum: string): string | undefined {
    return this.targets.get(checksum);
  }
}

/** Listings held before they are written: a few transactions for a /usr, as a checkout does. */
const FLUSH_BYTES = 8 << 20;

/**
 * Records the tree listing (see tree-listing.ts) of every directory a commit writes, so that the
 * first hardlink checkout after a commit reads listings instead of learning them: on /usr that
 * run took 5.0 s, against 3.0-3.3 s once the listings are there.
 *
 * A directory whose listing the index has (an unchanged one, on a re-commit) costs one lookup.
 * A file's facts come from the commit itself, else from the catalogue (a file taken by device
 * and inode, `--link-checkout-speedup`); a symlink's target, in a bare-user repository where a
 * checkout needs it, from the worker that read it, else from its object, which the stat cache
 * found in the repository. Whatever is not known leaves that directory without a listing (the
 * checkout then reads its dirtree, and learns it). Archive repositories get none: only hardlink
 * checkouts read listings.
 *
 * Written through the index's transactions before the commit publishes anything, like the stat
 * entries (index.ts says why a failure there ends the commit). A listing of a dirtree that a
 * failed commit never published is harmless: a checkout reads a listing only for a dirtree
 * object it found in the repository.
 */
export class ListingRecorder {
  private queued: Array<[string, Uint8Array]> = [];
  private bytes = 0;
  private readonly userMode: boolean;

  constructor(private readonly index: RepoIndex, private readonly store: StoreRef, private readonly facts: FileFactsTable) {
    this.userMode = isUserMode(store.mode);
  }

  static wanted(store: StoreRef): boolean {
    return store.mode !== 'archive';
  }

  /** Directory `checksum`, whose files are the walk's `items` ([name, item index], in `tree.files`' order). */
  tree(checksum: string, tree: DirTree, items: ReadonlyArray<readonly [string, number]>): void {
    if (this.index.trees.doesExist(checksum)) return;
    const byChecksum = new Map<string, FileFacts>();
    for (let j = 0; j < tree.files.length; j++) {
      const c = tree.files[j]![1];
      if (byChecksum.has(c)) continue;
      const f = this.factsOf(c, items[j]![1]);
      if (f === undefined) return;
      byChecksum.set(c, f);
    }
    const listing = encodeTreeListing(tree, (c) => byChecksum.get(c));
    if (listing === null) return;
    this.queued.push([checksum, listing]);
    this.bytes += listing.length;
    if (this.bytes >= FLUSH_BYTES) this.flush();
  }

  /** Writes what is queued; throws as {@link RepoIndex.write} does. */
  flush(): void {
    const puts = this.queued;
    this.queued = [];
    this.bytes = 0;
    if (puts.length > 0) this.index.write(() => { for (const [c, l] of puts) recordTree(this.index, c, l); });
  }

  private factsOf(checksum: string, item: number): FileFacts | undefined {
    const known = this.facts.modeAndSize(item) ?? this.index.objects.get(checksum);
    if (known === undefined) return undefined;
    const [mode, size] = known;
    if (!isLink(mode)) return { mode, size, target: null };
    // A bare repository's symlinks are hardlinked by a checkout: no target needed.
    if (!this.userMode) return { mode, size: 0, target: this.facts.targetOf(checksum) ?? null };
    const target = this.facts.targetOf(checksum) ?? this.storedTarget(checksum);
    return target === undefined ? undefined : { mode, size: 0, target };
  }

  /** The target a symlink object in the repository holds, read as a checkout reads it. */
  private storedTarget(checksum: string): string | undefined {
    try {
      const o = readContentSync(this.store, checksum, { xattrs: false });
      return o !== null && isLink(o.header.mode) ? o.header.symlinkTarget : undefined;
    } catch {
      return undefined;
    }
  }
}
