import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { isLink } from '../format/mode.js';
import { compareNames, decodeDirMeta, decodeDirTree, type DirMeta, type DirTree } from '../format/objects.js';
import type { CheckoutResult, CheckoutRoot, CheckoutTask, UnfinishedDir } from './task.js';
import { openContent } from '../store/read-content.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { finishDir, makeDir } from './make-dir.js';
import { hardlinkable, placeOne, type PlaceEnv } from './place-files.js';
import type { CatalogueReader } from '../index/catalogue.js';

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
 */

const WHITEOUT_PREFIX = '.wh.';
/** In a directory of the commit, empties the destination's directory first (Docker/OCI layers). */
const OPAQUE_WHITEOUT = '.wh..wh..opq';

interface Frame { dir: string; meta: DirMeta; parent: Frame | null; pendingDirs: number; made: boolean; done: boolean }

type Ctx = CheckoutTask['ctx'];

export async function runCheckoutTask(task: CheckoutTask, catalogue: CatalogueReader | null): Promise<CheckoutResult> {
  // checkoutTree has refused -H for modes that cannot hardlink before any task starts.
  const { ctx } = task;
  const res: CheckoutResult = { linked: 0, copied: 0, skipped: 0, directories: 0, deferred: [], unfinished: [], learned: [] };
  const env: PlaceEnv = { catalogue, learned: res.learned };
  const canHardlink = hardlinkable(ctx);
  const finishOpts = { userMode: ctx.userMode, forceCopy: ctx.forceCopy, bareUserOnly: ctx.mode === 'bare-user-only' };
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
    const tree = decodeDirTree(readMetadataSync(ctx, root.tree, 'dirtree'), `dirtree ${root.tree}`);
    // An opaque whiteout replaces whatever the destination had there, as in ostree.
    if (ctx.whiteouts && tree.files.some(([n]) => n === OPAQUE_WHITEOUT)) fs.rmSync(root.dest, { recursive: true, force: true });
    const meta = loadMeta(root.meta);
    const made = !makeDir(root.dest, meta, ctx.overwrite, ctx.userMode);
    if (made) res.directories++;
    const frame: Frame = { dir: root.dest, meta, parent, pendingDirs: tree.dirs.length, made, done: false };
    frames.push(frame);
    for (const [name, csum] of await filesToPlace(ctx, tree, root.dest)) {
      // Names were validated when the dirtree was decoded (no '/', '.', '..'): concatenation is safe.
      res[await placeOne(ctx, csum, `${root.dest}/${name}`, canHardlink, env)]++;
    }
    const above = [...root.above, root.tree];
    for (let i = tree.dirs.length - 1; i >= 0; i--) {
      const [name, t, m] = tree.dirs[i]!;
      stack.push({ root: { tree: t, meta: m, dest: `${root.dest}/${name}`, above }, parent: frame });
    }
    complete(frame);
  }
  res.deferred = stack.reverse().map((s) => s.root);
  res.unfinished = frames.filter((f) => !f.done && f.made).map((f): UnfinishedDir => ({ dir: f.dir, meta: f.meta }));
  return res;
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
