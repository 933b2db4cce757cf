import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { isLink } from '../format/mode.js';
import { openContent, type ContentObject } from '../repo/content.js';
import { tempName } from '../repo/fsutil.js';
import { setXattrs } from '../xattr/xattrs.js';
import type { CheckoutResult, CheckoutTask } from '../pool/protocol.js';

type Ctx = CheckoutTask['ctx'];

/**
 * Worker side of a checkout: put each content object at its destination, by hardlink where the
 * repository mode and checkout mode allow it (ostree's rules), else by copying (inflating for
 * archive). Parent directories exist already; the planner made them.
 */
export async function placeFiles(task: CheckoutTask): Promise<CheckoutResult> {
  const res: CheckoutResult = { linked: 0, copied: 0, skipped: 0 };
  const { ctx } = task;
  const repoIsUserMode = ctx.repoMode === 'bare-user' || ctx.repoMode === 'bare-user-only';
  const hardlinkable = !ctx.forceCopy && ((ctx.repoMode === 'bare' && !ctx.userMode) || (repoIsUserMode && ctx.userMode));
  if (ctx.requireHardlink && !hardlinkable) {
    throw new GroveError('GROVE_NO_HARDLINK', repoIsUserMode
      ? `a ${ctx.repoMode} repository needs user checkout mode (-U) to hardlink`
      : `a ${ctx.repoMode} repository cannot hardlink in ${ctx.userMode ? 'user' : 'this'} checkout mode`);
  }
  for (const { checksum, dest } of task.items) {
    const outcome = await placeOne(ctx, checksum, dest, hardlinkable, repoIsUserMode);
    res[outcome]++;
  }
  return res;
}

type Outcome = 'linked' | 'copied' | 'skipped';

async function placeOne(ctx: Ctx, checksum: string, dest: string, hardlinkable: boolean, repoIsUserMode: boolean): Promise<Outcome> {
  const obj = await openContent(ctx.objectsDir, ctx.repoMode, checksum, { xattrs: !ctx.userMode, compress: ctx.compress });
  const link = isLink(obj.header.mode);
  // bare-user keeps symlinks as files, and zero-size files are always copied (ostree does this
  // to avoid EMLINK on the one empty object that thousands of files share).
  const canLink = hardlinkable && !(repoIsUserMode && link) && !(!link && obj.size === 0);
  if (canLink) {
    const linked = await tryHardlink(ctx, obj.path, dest);
    if (linked !== 'unsupported') return linked;
    if (ctx.requireHardlink) throw new GroveError('GROVE_NO_HARDLINK', `cannot hardlink ${obj.path} to ${dest}`, { path: dest });
  }
  return copyOut(ctx, obj, dest);
}

async function tryHardlink(ctx: Ctx, src: string, dest: string): Promise<Outcome | 'unsupported'> {
  try {
    await fs.link(src, dest);
    return 'linked';
  } catch (e) {
    if (isErrno(e, 'EMLINK', 'EXDEV', 'EPERM')) return 'unsupported';
    if (!isErrno(e, 'EEXIST')) throw checkoutError(e, dest);
  }
  if (ctx.overwrite === 'add') return 'skipped';
  if (ctx.overwrite === 'none') throw existsError(dest);
  const [a, b] = await Promise.all([fs.lstat(src), fs.lstat(dest)]);
  if (a.dev === b.dev && a.ino === b.ino) return 'skipped';
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

function existsError(dest: string): GroveError {
  return new GroveError('GROVE_EXISTS', `${dest} already exists`, { path: dest, hint: 'use --union or --union-add to check out over existing files' });
}

function checkoutError(e: unknown, dest: string): unknown {
  if (isErrno(e, 'ENOSPC')) return new GroveError('GROVE_NO_SPACE', `no space left on device writing ${dest}`, { path: dest });
  if (isErrno(e, 'EACCES')) return new GroveError('GROVE_PERMISSION', `permission denied writing ${dest}`, { path: dest });
  if (isErrno(e, 'EISDIR')) return new GroveError('GROVE_EXISTS', `${dest} is a directory in the destination`, { path: dest });
  return e;
}

async function copyOut(ctx: Ctx, obj: ContentObject, dest: string): Promise<Outcome> {
  const h = obj.header;
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
        for await (const chunk of obj.chunks()) await fh.write(chunk);
        if (!ctx.userMode) await fh.chown(h.uid, h.gid);
        // Never create setuid files in user mode, as ostree.
        const mode = ctx.userMode ? h.mode & 0o7777 & ~0o6000 : h.mode & 0o7777;
        await fh.chmod(mode);
      } finally {
        await fh.close();
      }
      if (!ctx.userMode) setXattrs(target, h.xattrs);
    }
  } catch (e) {
    if (union) await fs.rm(target, { force: true });
    if (isErrno(e, 'EEXIST')) {
      if (ctx.overwrite === 'add') return 'skipped';
      throw existsError(dest);
    }
    if (!union && !isErrno(e, 'EEXIST')) await fs.rm(target, { force: true }).catch(() => undefined);
    throw checkoutError(e, dest);
  }
  if (union) await renameOver(target, dest);
  return 'copied';
}

