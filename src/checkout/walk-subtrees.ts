import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { isLink } from '../format/mode.js';
import { compareNames, decodeDirMeta, decodeDirTree, type DirMeta, type DirTree } from '../format/objects.js';
import type { CheckoutResult, CheckoutRoot, CheckoutTask, UnfinishedDir } from './task.js';
import { openContent } from '../store/read-content.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { finishDir, makeDir } from './make-dir.js';
import { hardlinkable, placeListed, placeOne, type PlaceEnv } from './place-files.js';
import { setXattrs } from '../xattr/xattrs.js';
import type { CatalogueReader } from '../index/catalogue.js';
import { encodeTreeListing, type FileFacts, type TreeListing } from '../index/tree-listing.js';
import { objectPath } from '../store/paths.js';

/**
 * Worker side of a checkout. The worker walks the subtrees it was given, depth first in the
 * commit's order: for each directory it reads the dirtree, makes the directory, places its files
 * (hardlink or copy, see place-files.ts), and goes on into its subdirectories. When the task's
 * time budget is spent it stops at a directory boundary and hands the subdirectories not
 * yet started back to the main thread, which gives them to whichever worker is free; so large
 * trees spread over all threads without the main thread reading the tree first.
 *
 * A directory gets its final mode, owner and time as soon as everything under it is placed (a
 * read-only directory would refuse its children otherwise); one with deferred subdirectories is
 * returned as unfinished and finished by the main thread at the end.
 *
 * A plain hardlink checkout with grove's index reads each directory from its tree listing (see
 * tree-listing.ts) when there is one: the dirtree's entries with the mode, size and symlink
 * target of every file, in one index read. The dirtree object must still be there (as when it is
 * read); the files are checked as they are linked. Where there is none, the directory is read
 * as usual and its listing learnt from what placing its files found out, for the main thread
 * to record.
 */

const WHITEOUT_PREFIX = '.wh.';
/** `--process-passthrough-whiteouts`: a regular file `.ostree-wh.NAME` stands for an overlayfs whiteout NAME. */
const PASSTHROUGH_PREFIX = '.ostree-wh.';
/** In a directory of the commit, empties the destination's directory first (Docker/OCI layers). */
const OPAQUE_WHITEOUT = '.wh..wh..opq';

interface Frame { dir: string; meta: DirMeta; parent: Frame | null; pendingDirs: number; made: boolean; done: boolean }

type Ctx = CheckoutTask['ctx'];

export async function runCheckoutTask(task: CheckoutTask, catalogue: CatalogueReader | null): Promise<CheckoutResult> {
  // checkoutTree has refused -H for modes that cannot hardlink before any task starts.
  const { ctx } = task;
  const res: CheckoutResult = { linked: 0, copied: 0, skipped: 0, directories: 0, deferred: [], unfinished: [], learned: [], learnedTrees: [] };
  const canHardlink = hardlinkable(ctx);
  const listings = catalogue !== null && usesListings(ctx) ? catalogue : null;
  /** The facts of this directory's files as placing them finds them out, when learning its listing. */
  let seen: Map<string, FileFacts> | null = null;
  const env: PlaceEnv = { catalogue, learned: res.learned, seen: (c, f) => seen?.set(c, f) };
  const finishOpts = { userMode: ctx.userMode, forceCopy: ctx.forceCopy, bareUserOnly: ctx.bareUserOnlyDirs };
  const skip = ctx.skip === null ? null : new Set(ctx.skip);
  /** The path the skip list names a directory by: `/` for the root, else `/a/b/`. */
  const relDir = (dest: string) => (dest === ctx.top ? '/' : `/${dest.slice(ctx.top.length + 1)}/`);
  const metas = new Map<string, DirMeta>();
  const loadMeta = (c: string) => metas.get(c) ?? metas.set(c, decodeDirMeta(readMetadataSync(ctx, c, 'dirmeta'), `dirmeta ${c}`)).get(c)!;

  for (const f of task.files) res[await placeOne(ctx, f.checksum, f.dest, canHardlink, env)]++;

  const frames: Frame[] = [];
  const complete = (f: Frame) => {
    for (let cur: Frame | null = f; cur && cur.pendingDirs === 0 && !cur.done; cur = cur.parent) {
      cur.done = true;
      if (cur.made) finishDir(cur, finishOpts);
      if (cur.parent) cur.parent.pendingDirs--;
    }
  };

  // Roots are taken from the end: pushed in reverse, so the commit's order is kept.
  const stack: Array<{ root: CheckoutRoot; parent: Frame | null }> = task.roots.map((root) => ({ root, parent: null })).reverse();
  const deadline = performance.now() + task.budgetMs;
  while (stack.length > 0 && performance.now() < deadline) {
    const { root, parent } = stack.pop()!;
    // A dirtree that contains itself would make directories until the path is too long.
    if (root.above.includes(root.tree)) throw new GroveError('GROVE_CORRUPT_OBJECT', `dirtree ${root.tree} contains itself (at ${root.dest})`, { path: root.dest });
    const listing = listings?.tree(root.tree) ?? null;
    // A listing stands for the dirtree's bytes, not for the object: without it the read fails.
    const tree: DirTree | TreeListing = listing !== null && fs.existsSync(objectPath(ctx.objectsDir, root.tree, 'dirtree', ctx.mode))
      ? listing
      : decodeDirTree(readMetadataSync(ctx, root.tree, 'dirtree'), `dirtree ${root.tree}`);
    seen = listings !== null && tree !== listing ? new Map() : null;
    // An opaque whiteout replaces whatever the destination had there, as in ostree.
    if (ctx.whiteouts && tree.files.some(([n]) => n === OPAQUE_WHITEOUT)) fs.rmSync(root.dest, { recursive: true, force: true });
    const meta = loadMeta(root.meta);
    const made = !makeDir(root.dest, meta, ctx.overwrite, ctx.userMode);
    if (made) res.directories++;
    const rel = skip && relDir(root.dest);
    const dirs = skip ? tree.dirs.filter(([name]) => !skip.has(`${rel}${name}/`)) : tree.dirs;
    const frame: Frame = { dir: root.dest, meta, parent, pendingDirs: dirs.length, made, done: false };
    frames.push(frame);
    if (tree === listing) {
      for (const [name, csum, facts] of listing.files) {
        if (skip?.has(`${rel}${name}`)) continue;
        res[await placeListed(ctx, csum, `${root.dest}/${name}`, facts, env)]++;
      }
    } else for (const [name, csum] of await filesToPlace(ctx, tree as DirTree, root.dest)) {
      if (skip?.has(`${rel}${name}`)) continue;
      // Names were validated when the dirtree was decoded (no '/', '.', '..'): concatenation is safe.
      if (ctx.passthroughWhiteouts && name.startsWith(PASSTHROUGH_PREFIX)) {
        const done = await passthroughWhiteout(ctx, csum, root.dest, name);
        if (done !== null) {
          res[done]++;
          continue;
        }
      }
      res[await placeOne(ctx, csum, `${root.dest}/${name}`, canHardlink, env)]++;
    }
    if (seen !== null) {
      const learnt = encodeTreeListing(tree as DirTree, (c) => seen!.get(c));
      if (learnt !== null) res.learnedTrees.push([root.tree, learnt]);
    }
    const above = [...root.above, root.tree];
    for (let i = dirs.length - 1; i >= 0; i--) {
      const [name, t, m] = dirs[i]!;
      stack.push({ root: { tree: t, meta: m, dest: `${root.dest}/${name}`, above }, parent: frame });
    }
    complete(frame);
  }
  res.deferred = stack.reverse().map((s) => s.root);
  res.unfinished = frames.filter((f) => !f.done && f.made).map((f): UnfinishedDir => ({ dir: f.dir, meta: f.meta }));
  return res;
}

/**
 * Whether this checkout reads tree listings: a hardlink checkout into a new tree, which is what
 * they describe. Unions, whiteouts and copies go the general way, which looks at every file.
 */
function usesListings(ctx: Ctx): boolean {
  return hardlinkable(ctx) && ctx.overwrite === 'none' && !ctx.whiteouts && !ctx.passthroughWhiteouts;
}

/**
 * The files of `tree` to place at `dest`. With whiteouts on, `.wh.NAME` files (regular files
 * only, as in ostree) delete NAME from the destination before anything of this directory is
 * placed, and are not checked out themselves.
 */
async function filesToPlace(ctx: Ctx, tree: DirTree, dest: string): Promise<DirTree['files']> {
  if (!ctx.whiteouts) return tree.files;
  const whiteouts = new Set<string>();
  for (const [name, csum] of tree.files) if (name.startsWith(WHITEOUT_PREFIX) && !isLink((await openContent(ctx, csum, { xattrs: false, compress: ctx.compress })).header.mode)) whiteouts.add(name);
  if (whiteouts.size === 0) return tree.files;
  for (const name of whiteouts) {
    const victim = name.slice(WHITEOUT_PREFIX.length);
    // `.wh..` and `.wh...` would name the directory itself or its parent.
    if (victim.length === 0 || victim === '.' || victim === '..') {
      throw new GroveError('GROVE_CORRUPT_OBJECT', `invalid whiteout '${name}' in ${dest}`, { path: dest });
    }
    fs.rmSync(path.join(dest, victim), { recursive: true, force: true });
  }
  // ostree goes in name order, so a whiteout sorting after a file of the same directory
  // (`-x` before `.wh.-x`) removes that file again: such a file is left out.
  return tree.files.filter(([name]) => !whiteouts.has(name)
    && !(whiteouts.has(WHITEOUT_PREFIX + name) && compareNames(name, WHITEOUT_PREFIX + name) < 0));
}

/**
 * Makes the overlayfs whiteout that `.ostree-wh.NAME` (object `csum`) stands for: a character
 * device 0:0 named NAME with the file's permission bits and, in system mode, its owner and
 * xattrs. Null when the object is a symlink (which ostree checks out as it is). Node has no
 * mknod, so coreutils' does it (this is rare: container layers).
 */
async function passthroughWhiteout(ctx: Ctx, csum: string, dir: string, name: string): Promise<'copied' | 'skipped' | null> {
  const { header } = await openContent(ctx, csum, { xattrs: !ctx.userMode, compress: ctx.compress });
  if (isLink(header.mode)) return null;
  const target = name.slice(PASSTHROUGH_PREFIX.length);
  if (target.length === 0) throw new GroveError('GROVE_CORRUPT_OBJECT', `Invalid empty overlayfs whiteout '${target}'`, { path: dir });
  const dest = `${dir}/${target}`;
  const perms = header.mode & 0o7777;
  const exists = fs.lstatSync(dest, { throwIfNoEntry: false });
  if (exists !== undefined) {
    switch (ctx.overwrite) {
      case 'add':
        return 'skipped';
      case 'union':
        fs.rmSync(dest, { force: true });
        break;
      case 'identical': {
        if (!ctx.userMode) {
          if (header.gid !== exists.gid) throw new GroveError('GROVE_EXISTS', `existing destination file ${target} does not match gid ${header.gid}`, { path: dest });
          if (header.uid !== exists.uid) throw new GroveError('GROVE_EXISTS', `existing destination file ${target} does not match uid ${header.uid}`, { path: dest });
          if ((header.mode & 0o7777) !== (exists.mode & 0o7777)) throw new GroveError('GROVE_EXISTS', `existing destination file ${target} does not match mode ${header.mode.toString(8)}`, { path: dest });
        }
        return 'skipped';
      }
      default:
        throw new GroveError('GROVE_EXISTS', `${dest} already exists`, { path: dest });
    }
  }
  const mode = ctx.userMode ? perms & ~ctx.umask : perms;
  const r = spawnSync('mknod', ['-m', mode.toString(8), dest, 'c', '0', '0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new GroveError('GROVE_PERMISSION', `Creating whiteout char device: ${(r.stderr || r.error?.message || 'mknod failed').trim()}`, { path: dest });
  if (!ctx.userMode) {
    if (header.xattrs.length > 0) setXattrs(dest, header.xattrs);
    fs.lchownSync(dest, header.uid, header.gid);
    fs.chmodSync(dest, perms);
  }
  return 'copied';
}
