import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { defaultCompressBackend, type CompressBackend } from '../format/compress.js';
import { defaultHashBackend } from '../format/hash.js';
import { compareNames, type DirMeta, type DirTree } from '../format/objects.js';
import { WorkerPool } from '../pool/pool.js';
import type { CheckoutResult, CheckoutTask, Overwrite } from '../pool/protocol.js';
import type { Repo } from '../repo/repo.js';
import { isLink } from '../format/mode.js';
import { openContent } from '../repo/content.js';
import { setXattrs } from '../xattr/xattrs.js';
import { resolvePath } from './resolve-path.js';

export interface CheckoutOptions {
  /** `-U`: no ownership, no setuid bits, and hardlinks from bare-user repositories. */
  userMode?: boolean;
  /** `-H`: fail rather than copy when a file cannot be hardlinked. */
  requireHardlink?: boolean;
  /** `-C`: always copy. */
  forceCopy?: boolean;
  /** `--union` replaces existing files, `--union-add` keeps them; default refuses. */
  overwrite?: Overwrite;
  /** Check out only this path of the commit (`--subpath`). */
  subpath?: string;
  /** `--whiteouts`: a file `.wh.NAME` deletes NAME instead of being checked out. */
  whiteouts?: boolean;
  pool?: WorkerPool;
  compress?: CompressBackend;
  /** Called as batches of files finish. */
  onProgress?: (p: { filesDone: number; filesQueued: number }) => void;
}

export interface CheckoutStats extends CheckoutResult {
  directories: number;
  seconds: number;
}

const WHITEOUT_PREFIX = '.wh.';
/** In a directory of the commit, empties the destination's directory first (Docker/OCI layers). */
const OPAQUE_WHITEOUT = '.wh..wh..opq';
/**
 * Files per pool task: large enough to amortise the thread hop, small enough that both threads
 * start early and finish together (a 6,000-file hardlink checkout was fastest at 256).
 */
const BATCH_FILES = 256;

interface PlannedDir { dest: string; meta: DirMeta; existed: boolean }

/**
 * Checks out commit `rev` (or its `subpath`) into `dest`: directories first, parents before
 * children, on the main thread; files in parallel batches in the pool; directory modes, owners
 * and times last, so read-only directories still receive their children.
 */
export async function checkoutTree(repo: Repo, rev: string, dest: string, opts: CheckoutOptions = {}): Promise<CheckoutStats> {
  const started = process.hrtime.bigint();
  const commitId = (await repo.resolveRev(rev))!;
  const commit = await repo.loadCommit(commitId);
  const overwrite = opts.overwrite ?? 'none';
  const target = await resolvePath(repo, commit, opts.subpath ?? '/');

  const treeCache = new Map<string, DirTree>();
  const metaCache = new Map<string, DirMeta>();
  const loadTree = async (c: string) => treeCache.get(c) ?? treeCache.set(c, await repo.loadDirTree(c)).get(c)!;
  const loadMeta = async (c: string) => metaCache.get(c) ?? metaCache.set(c, await repo.loadDirMeta(c)).get(c)!;

  const pool = opts.pool ?? new WorkerPool();
  const ctx: CheckoutTask['ctx'] = {
    repoMode: repo.mode,
    objectsDir: repo.objectsDir,
    hash: defaultHashBackend(),
    compress: opts.compress ?? defaultCompressBackend(),
    userMode: opts.userMode === true,
    requireHardlink: opts.requireHardlink === true,
    forceCopy: opts.forceCopy === true,
    overwrite,
    tmpDir: repo.tmpDir,
  };
  const stats: CheckoutStats = { linked: 0, copied: 0, skipped: 0, directories: 0, seconds: 0 };
  const planned: PlannedDir[] = [];
  const running: Array<Promise<void>> = [];
  let batch: CheckoutTask['items'] = [];
  let filesQueued = 0;
  const submit = () => {
    if (batch.length === 0) return;
    const items = batch;
    batch = [];
    turnPending = true;
    filesQueued += items.length;
    running.push(pool.run({ kind: 'checkout', ctx, items }).then((r) => {
      opts.onProgress?.({ filesDone: stats.linked + stats.copied + stats.skipped + r.linked + r.copied + r.skipped, filesQueued });
      stats.linked += r.linked;
      stats.copied += r.copied;
      stats.skipped += r.skipped;
    }));
  };
  // After handing the pool a task, let the event loop turn once so Piscina dispatches it while
  // planning goes on.
  let turnPending = false;
  const addFile = async (checksum: string, to: string) => {
    batch.push({ checksum, dest: to });
    if (batch.length >= BATCH_FILES) submit();
    if (turnPending) {
      turnPending = false;
      await new Promise((r) => setImmediate(r));
    }
  };

  const makeDir = async (to: string, meta: DirMeta): Promise<void> => {
    const existed = await mkdirChecked(to, overwrite);
    if (!existed && !ctx.userMode && meta.xattrs.length > 0) setXattrs(to, meta.xattrs);
    planned.push({ dest: to, meta, existed });
    stats.directories++;
  };

  /** Whether `name` is a whiteout to process: ostree treats only regular files as whiteouts. */
  const isWhiteout = async (name: string, csum: string): Promise<boolean> => {
    if (!opts.whiteouts || !name.startsWith(WHITEOUT_PREFIX)) return false;
    const obj = await openContent(repo.objectsDir, repo.mode, csum, { xattrs: false, compress: ctx.compress });
    return !isLink(obj.header.mode);
  };

  const walk = async (treeCsum: string, to: string): Promise<void> => {
    const tree = await loadTree(treeCsum);
    const whiteouts = new Set<string>();
    for (const [name, csum] of tree.files) if (await isWhiteout(name, csum)) whiteouts.add(name);
    for (const [name, csum] of tree.files) {
      // ostree goes in name order, so a whiteout sorting after a file of this same directory
      // (`-x` before `.wh.-x`) removes it again; the pool places files out of order, so such a
      // file is left out instead.
      if (whiteouts.has(WHITEOUT_PREFIX + name) && compareNames(name, WHITEOUT_PREFIX + name) < 0) continue;
      if (whiteouts.has(name)) {
        const victim = name.slice(WHITEOUT_PREFIX.length);
        // `.wh..` and `.wh...` would name the directory itself or its parent.
        if (victim.length === 0 || victim === '.' || victim === '..') {
          throw new GroveError('GROVE_CORRUPT_OBJECT', `invalid whiteout '${name}' in ${to}`, { path: to });
        }
        await fs.rm(path.join(to, victim), { recursive: true, force: true });
        continue;
      }
      await addFile(csum, path.join(to, name));
    }
    for (const [name, t, m] of tree.dirs) await enterDir(t, m, path.join(to, name));
  };

  const enterDir = async (treeCsum: string, metaCsum: string, to: string): Promise<void> => {
    // An opaque whiteout replaces whatever the destination had there, as in ostree.
    if (opts.whiteouts && (await loadTree(treeCsum)).files.some(([n]) => n === OPAQUE_WHITEOUT)) {
      await fs.rm(to, { recursive: true, force: true });
    }
    await makeDir(to, await loadMeta(metaCsum));
    await walk(treeCsum, to);
  };

  try {
    if (target.kind === 'file') {
      // ostree makes DEST a directory holding the one file.
      await mkdirChecked(dest, overwrite, 0o700);
      await addFile(target.checksum, path.join(dest, target.name));
    } else {
      await enterDir(target.tree, target.meta, dest);
    }
    submit();
    const settled = await Promise.allSettled(running);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    // Deepest first, so a read-only parent is locked only after its children are finished.
    for (const d of planned.reverse()) await finishDir(d, ctx, repo.mode === 'bare-user-only');
  } finally {
    if (!opts.pool) await pool.close();
  }
  stats.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return stats;
}

/** Creates `dir`; returns true when it already existed (allowed only with a union mode). */
async function mkdirChecked(dir: string, overwrite: Overwrite, mode = 0o700): Promise<boolean> {
  try {
    fsSync.mkdirSync(dir, { mode });
    return false;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) {
      if (overwrite === 'none') {
        throw new GroveError('GROVE_EXISTS', `${dir} already exists`, { path: dir, hint: 'check out into a new directory, or use --union / --union-add' });
      }
      const st = await fs.lstat(dir);
      if (!st.isDirectory()) throw new GroveError('GROVE_EXISTS', `${dir} exists and is not a directory`, { path: dir });
      return true;
    }
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `parent directory of ${dir} does not exist`, { path: dir });
    if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `permission denied creating ${dir}`, { path: dir });
    if (isErrno(e, 'ENOSPC')) throw new GroveError('GROVE_NO_SPACE', `no space left on device creating ${dir}`, { path: dir });
    throw e;
  }
}

async function finishDir(d: PlannedDir, ctx: CheckoutTask['ctx'], bareUserOnly: boolean): Promise<void> {
  if (d.existed) return;
  const mode = bareUserOnly ? d.meta.mode & 0o775 : d.meta.mode & 0o7777;
  if (!ctx.userMode) await fs.chown(d.dest, d.meta.uid, d.meta.gid);
  await fs.chmod(d.dest, mode);
  // A constant mtime makes every checkout of a commit identical, as ostree does (not for -C).
  if (!ctx.forceCopy) await fs.utimes(d.dest, 0, 0);
}

