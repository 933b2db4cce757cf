import fs, { type FileHandle } from 'node:fs/promises';
import fsSync from 'node:fs';
import { objectPath } from '../store/paths.js';
import { readContentSync } from '../store/read-content.js';
import { getXattr } from '../xattr/xattrs.js';
import { decodeBareUserMeta, type FileHeader } from '../format/objects.js';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { isLink } from '../format/mode.js';
import { isUserMode } from '../repo/mode.js';
import { contentChecksum, contentChecksumOf, openContent, type ContentObject } from '../store/read-content.js';
import { sha256Factory } from '../format/hash.js';
import { readXattrs } from '../xattr/xattrs.js';
import { tempName } from '../repo/fsutil.js';
import { setXattrs } from '../xattr/xattrs.js';
import type { CheckoutTask } from './task.js';
import type { CatalogueReader } from '../index/catalogue.js';
import type { FileFacts } from '../index/tree-listing.js';

type Ctx = CheckoutTask['ctx'];

/** Whether files of this repository can be hardlinked in this checkout mode (ostree's rules). */
export function hardlinkable(ctx: Ctx): boolean {
  return !ctx.forceCopy && ((ctx.mode === 'bare' && !ctx.userMode) || (isUserMode(ctx.mode) && ctx.userMode));
}

/**
 * The refusal of `-H` when the modes cannot hardlink at all, or null when they can: in ostree's
 * words, which name only whether the repository is a user-mode one (so an archive repository
 * gets the bare one's). ostree says it at the first file, with the directories above it made;
 * grove says it before it makes anything.
 */
export function hardlinkRefusal(ctx: Ctx): GroveError | null {
  if (!ctx.requireHardlink || hardlinkable(ctx)) return null;
  return new GroveError('GROVE_NO_HARDLINK', isUserMode(ctx.mode)
    ? 'User repository mode requires user checkout mode to hardlink'
    : 'Bare repository mode cannot hardlink in user checkout mode');
}

type Outcome = 'linked' | 'copied' | 'skipped';

/** What placing files may consult and what it learns on the way, per task. */
export interface PlaceEnv {
  catalogue: CatalogueReader | null;
  /** [checksum, mode, size] of objects the catalogue did not know. */
  learned: Array<[string, number, number]>;
  /** Told the facts of each object placed, as far as placing it found them out (for tree listings). */
  seen?: (checksum: string, facts: FileFacts) => void;
}

/**
 * Puts content object `checksum` at `dest` knowing its facts from a tree listing: a hardlink, or
 * for a user-mode repository's symlink the symlink itself (what reading the object would make),
 * once the object is found still there. Anything else, and any failure, takes {@link placeOne},
 * which applies every rule and names what is wrong.
 */
export async function placeListed(ctx: Ctx, checksum: string, dest: string, facts: FileFacts, env: PlaceEnv): Promise<Outcome> {
  const p = objectPath(ctx.objectsDir, checksum, 'file', ctx.mode);
  if (linkAllowed(ctx, facts.mode, facts.size, true)) {
    try {
      fsSync.linkSync(p, dest);
      return 'linked';
    } catch {
      return placeOne(ctx, checksum, dest, true, env);
    }
  }
  if (isLink(facts.mode) && facts.target !== null && ctx.userMode && isUserMode(ctx.mode) && fsSync.existsSync(p)) {
    try {
      fsSync.symlinkSync(facts.target, dest);
      return 'copied';
    } catch {
      // placeOne says why
    }
  }
  return placeOne(ctx, checksum, dest, true, env);
}

/**
 * Puts content object `checksum` at `dest`, whose parent exists: by hardlink where the repository
 * and checkout modes allow it (ostree's rules), else by copying (inflating for archive).
 */
export async function placeOne(ctx: Ctx, checksum: string, dest: string, hardlinkable: boolean, env: PlaceEnv): Promise<Outcome> {
  if (hardlinkable && linkFast(ctx, checksum, dest, env)) return 'linked';
  const readOpts = { xattrs: !ctx.userMode, compress: ctx.compress };
  if (ctx.overwrite === 'none') {
    // Small objects that are not to be linked are copied in synchronous calls.
    const small = readContentSync(ctx, checksum, readOpts);
    if (small !== null && !linkAllowed(ctx, small.header.mode, small.data.length, hardlinkable)) {
      const placed = copySmallSync(ctx, small, dest, checksum);
      env.seen?.(checksum, factsOf(small.header, small.data.length));
      return placed;
    }
  }
  const obj = await openContent(ctx, checksum, readOpts);
  env.seen?.(checksum, factsOf(obj.header, obj.size));
  if (linkAllowed(ctx, obj.header.mode, obj.size, hardlinkable)) {
    const linked = await tryHardlink(ctx, obj.path, dest, checksum);
    if (linked !== 'unsupported') return linked;
    if (ctx.requireHardlink) throw new GroveError('GROVE_NO_HARDLINK', `cannot hardlink ${obj.path} to ${dest}`, { path: dest });
  }
  return copyOut(ctx, obj, dest, checksum);
}

function factsOf(h: FileHeader, size: number): FileFacts {
  const link = isLink(h.mode);
  return { mode: h.mode, size: link ? 0 : size, target: link ? h.symlinkTarget : null };
}

/** ostree's rules for hardlinking one object, given that the modes allow hardlinks at all. */
function linkAllowed(ctx: Ctx, mode: number, size: number, hardlinkable: boolean): boolean {
  if (!hardlinkable) return false;
  const link = isLink(mode);
  // bare-user keeps symlinks as regular files: a link would not be a symlink.
  if (link) return !isUserMode(ctx.mode);
  // Zero-size files are always copied (ostree does this to avoid EMLINK on the one empty object
  // that thousands of files share); in user mode, so is a file its owner cannot read, which the
  // copy makes readable (a hardlink would carry the object's mode).
  return size > 0 && !(ctx.userMode && (mode & 0o400) === 0);
}

/**
 * The common case of a copying checkout (archive, or -C): a small object written in synchronous
 * calls, with the same rules as {@link copyOut} for a destination that must not exist yet.
 */
function copySmallSync(ctx: Ctx, obj: { header: FileHeader; data: Uint8Array }, dest: string, checksum: string): Outcome {
  const h = obj.header;
  try {
    if (isLink(h.mode)) {
      fsSync.symlinkSync(h.symlinkTarget, dest);
      if (!ctx.userMode) {
        fsSync.lchownSync(dest, h.uid, h.gid);
        setXattrs(dest, h.xattrs);
      }
      return 'copied';
    }
    const fd = fsSync.openSync(dest, 'wx', 0o600);
    try {
      for (let off = 0; off < obj.data.length;) off += fsSync.writeSync(fd, obj.data, off, obj.data.length - off);
      if (!ctx.userMode) fsSync.fchownSync(fd, h.uid, h.gid);
      fsSync.fchmodSync(fd, copyMode(ctx, h.mode));
    } finally {
      fsSync.closeSync(fd);
    }
    if (!ctx.userMode) setXattrs(dest, h.xattrs);
    return 'copied';
  } catch (e) {
    if (isErrno(e, 'EEXIST')) throw copyExistsError(dest, checksum, h.mode);
    // Whatever we created is incomplete: take it away rather than leave a wrong file.
    fsSync.rmSync(dest, { force: true });
    throw checkoutError(e, dest);
  }
}

/**
 * The common case of a hardlink checkout, in synchronous calls: true when the file was linked.
 * The object's mode and size come from the catalogue, or else from an lstat (and, for bare-user,
 * the `user.ostreemeta` xattr), and are then passed on to be recorded. Anything unusual — a
 * symlink in a user-mode repository, an empty or unreadable file, an existing destination, a
 * missing object, a link error — returns false and takes the general path, which applies every
 * rule and names what is wrong.
 */
function linkFast(ctx: Ctx, checksum: string, dest: string, env: PlaceEnv): boolean {
  const p = objectPath(ctx.objectsDir, checksum, 'file', ctx.mode);
  let facts = env.catalogue?.get(checksum);
  if (facts === undefined) {
    const st = fsSync.lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined) return false;
    let mode = st.mode;
    if (ctx.mode === 'bare-user') {
      const meta = getXattr(p, 'user.ostreemeta');
      if (meta === null) return false;
      mode = decodeBareUserMeta(meta, `file object ${checksum}`).mode;
    }
    facts = [mode, isLink(mode) ? 0 : st.size];
    env.learned.push([checksum, facts[0], facts[1]]);
  }
  if (!linkAllowed(ctx, facts[0], facts[1], true)) return false;
  // A symlink's target is not known here: one that is linked needs none.
  env.seen?.(checksum, { mode: facts[0], size: facts[1], target: null });
  try {
    fsSync.linkSync(p, dest);
    return true;
  } catch {
    return false;
  }
}

async function tryHardlink(ctx: Ctx, src: string, dest: string, checksum: string): Promise<Outcome | 'unsupported'> {
  try {
    await fs.link(src, dest);
    return 'linked';
  } catch (e) {
    if (isErrno(e, 'EMLINK', 'EXDEV', 'EPERM')) return 'unsupported';
    if (!isErrno(e, 'EEXIST')) throw checkoutError(e, dest);
  }
  if (ctx.overwrite === 'add') return 'skipped';
  if (ctx.overwrite === 'none') throw new GroveError('GROVE_EXISTS', `Hardlinking ${path.relative(ctx.objectsDir, src)} to ${path.basename(dest)}: File exists`, { path: dest, subject: dest });
  const [a, b] = await Promise.all([fs.lstat(src), fs.lstat(dest)]);
  if (a.dev === b.dev && a.ino === b.ino) return 'skipped';
  if (ctx.overwrite === 'identical') {
    // As ostree: a file of the same type, size and owner is compared by checksum.
    const alike = a.mode === b.mode && (!b.isFile() || a.size === b.size) && a.uid === b.uid && a.gid === b.gid;
    if (alike && (await checksumAt(ctx, dest)) === checksum) return 'skipped';
    throw differsError(dest);
  }
  const tmp = path.join(path.dirname(dest), tempName('.grove-union-'));
  await fs.link(src, tmp);
  await renameOver(tmp, dest);
  return 'linked';
}

async function renameOver(tmp: string, dest: string): Promise<void> {
  try {
    await fs.rename(tmp, dest);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw checkoutError(e, dest);
  }
}

/**
 * The mode of a copied file. In user mode, as ostree: never setuid or setgid, and always readable
 * by its owner, so that the user can read what they checked out.
 */
function copyMode(ctx: Ctx, mode: number): number {
  return ctx.userMode ? (mode & 0o7777 & ~0o6000) | 0o400 : mode & 0o7777;
}

/** `--union-identical` found another file where the commit has one. */
function differsError(dest: string): GroveError {
  return new GroveError('GROVE_EXISTS', `${dest} already exists and differs from the commit's (--union-identical)`, { path: dest });
}

/**
 * The content checksum of the file at `p` as it is on disk (ostree_checksum_file_at): owner and
 * mode from lstat, xattrs unless bare-user-only (which also canonicalises permissions).
 */
async function checksumAt(ctx: Ctx, p: string): Promise<string> {
  const st = await fs.lstat(p);
  const buo = ctx.mode === 'bare-user-only';
  let mode = st.mode;
  if (buo && st.isFile()) mode &= 0o100755;
  const header: FileHeader = {
    uid: buo ? 0 : st.uid,
    gid: buo ? 0 : st.gid,
    mode,
    rdev: 0,
    symlinkTarget: st.isSymbolicLink() ? await fs.readlink(p) : '',
    xattrs: buo ? [] : readXattrs(p),
  };
  const sha = await sha256Factory('node');
  if (!st.isFile()) return contentChecksum(sha, header);
  const fh = await fs.open(p, 'r');
  try {
    const chunks = (async function* () {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) return;
        yield buf.subarray(0, bytesRead);
      }
    })();
    return (await contentChecksumOf(sha, header, chunks)).checksum;
  } finally {
    await fh.close();
  }
}

/**
 * A file in the way of a copying checkout, in ostree's words (it copies into an unnamed file and
 * links that in, or makes the symlink, under the name); the command line adds the path.
 */
function copyExistsError(dest: string, checksum: string, mode: number): GroveError {
  const call = isLink(mode) ? 'symlinkat' : 'linkat';
  return new GroveError('GROVE_EXISTS', `Copy checkout of ${checksum} to ${path.basename(dest)}: ${call}: File exists`, { path: dest, subject: dest });
}

function checkoutError(e: unknown, dest: string): unknown {
  if (isErrno(e, 'ENOSPC')) return new GroveError('GROVE_NO_SPACE', `no space left on device writing ${dest}`, { path: dest });
  if (isErrno(e, 'EACCES')) return new GroveError('GROVE_PERMISSION', `permission denied writing ${dest}`, { path: dest });
  if (isErrno(e, 'EISDIR')) return new GroveError('GROVE_EXISTS', `${dest} is a directory in the destination`, { path: dest });
  return e;
}

async function copyOut(ctx: Ctx, obj: ContentObject, dest: string, checksum: string): Promise<Outcome> {
  const h = obj.header;
  if (ctx.overwrite === 'identical') {
    const st = await fs.lstat(dest).catch((e: unknown) => { if (isErrno(e, 'ENOENT')) return null; throw e; });
    if (st !== null) {
      if (isLink(h.mode) ? st.isSymbolicLink() && (await fs.readlink(dest)) === h.symlinkTarget : (await checksumAt(ctx, dest)) === checksum) return 'skipped';
      throw differsError(dest);
    }
  }
  // Union writes go to a temp name and are renamed over the old file.
  const union = ctx.overwrite === 'union';
  const target = union ? path.join(path.dirname(dest), tempName('.grove-union-')) : dest;
  try {
    if (isLink(h.mode)) {
      await fs.symlink(h.symlinkTarget, target);
      if (!ctx.userMode) {
        await fs.lchown(target, h.uid, h.gid);
        setXattrs(target, h.xattrs);
      }
    } else {
      const fh = await fs.open(target, 'wx', 0o600);
      try {
        await writeSparse(fh, obj.chunks());
        if (!ctx.userMode) await fh.chown(h.uid, h.gid);
        await fh.chmod(copyMode(ctx, h.mode));
      } finally {
        await fh.close();
      }
      if (!ctx.userMode) setXattrs(target, h.xattrs);
    }
  } catch (e) {
    if (union) await fs.rm(target, { force: true });
    if (isErrno(e, 'EEXIST')) {
      if (ctx.overwrite === 'add') return 'skipped';
      throw copyExistsError(dest, checksum, h.mode);
    }
    if (!union && !isErrno(e, 'EEXIST')) await fs.rm(target, { force: true }).catch(() => undefined);
    throw checkoutError(e, dest);
  }
  if (union) await renameOver(target, dest);
  return 'copied';
}

/**
 * Bytes per write when copying out. Inflate hands out 16 KiB pieces: writing each on its own, a
 * 4 GiB checkout took 40 s (25 s of it system time); in 1 MiB blocks, holes for zero blocks, 9 s.
 */
const WRITE_BLOCK = 1 << 20;
const ZERO_BLOCK = Buffer.alloc(WRITE_BLOCK);

/**
 * Writes `chunks` to the new file `fh` in WRITE_BLOCK blocks, leaving a hole wherever a whole
 * block is zero, as `cp --sparse=auto` does: disk images and preallocated files stay sparse and
 * are not written in full. The content read back is the same.
 */
async function writeSparse(fh: FileHandle, chunks: AsyncGenerator<Uint8Array>): Promise<void> {
  const block = Buffer.allocUnsafe(WRITE_BLOCK);
  let fill = 0;
  let pos = 0;
  let endsInHole = false;
  const put = async (data: Uint8Array) => {
    endsInHole = data.length === WRITE_BLOCK && ZERO_BLOCK.equals(data);
    if (!endsInHole) {
      for (let off = 0; off < data.length;) {
        const { bytesWritten } = await fh.write(data, off, data.length - off, pos + off);
        off += bytesWritten;
      }
    }
    pos += data.length;
  };
  for await (const chunk of chunks) {
    if (fill === 0 && chunk.length === WRITE_BLOCK) {
      await put(chunk);
      continue;
    }
    for (let off = 0; off < chunk.length;) {
      const n = Math.min(chunk.length - off, WRITE_BLOCK - fill);
      block.set(chunk.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === WRITE_BLOCK) {
        await put(block);
        fill = 0;
      }
    }
  }
  if (fill > 0) await put(block.subarray(0, fill));
  // A trailing hole is not written: setting the size makes it.
  if (endsInHole) await fh.truncate(pos);
}
