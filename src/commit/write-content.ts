import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { createDeflater, deflateRaw } from '../format/compress.js';
import type { Sha256Factory } from '../format/hash.js';
import { archiveHeader, encodeBareUserMeta, fileHeaderPrefix, type FileHeader } from '../format/objects.js';
import { isLink } from '../format/mode.js';
import { CHUNK_SIZE } from '../repo/content.js';
import { tempName } from '../repo/fsutil.js';
import { objectPath } from '../repo/paths.js';
import { readXattrs, setXattr, setXattrs } from '../xattr/xattrs.js';
import type { CommitItem, WriteContentResult, WriteContentTask } from '../pool/protocol.js';

/** Files up to this size are read whole; larger ones are streamed in CHUNK_SIZE pieces. */
export const WHOLE_FILE_LIMIT = 4 << 20;

type Ctx = WriteContentTask['ctx'];

/**
 * Worker side of a commit: hash each file as a content object and write the object into the
 * transaction's staging directory unless the repository already has it.
 */
export async function writeContentBatch(task: WriteContentTask, sha: Sha256Factory): Promise<WriteContentResult> {
  const result: WriteContentResult = { checksums: [], written: 0, bytesWritten: 0 };
  for (const item of task.items) {
    const r = await writeOne(task.ctx, item, sha);
    result.checksums.push(r.checksum);
    if (r.written) {
      result.written++;
      result.bytesWritten += r.bytes;
    }
  }
  return result;
}

interface One { checksum: string; written: boolean; bytes: number }

async function writeOne(ctx: Ctx, item: CommitItem, sha: Sha256Factory): Promise<One> {
  const xattrs = item.readXattrs ? readXattrs(item.path) : [];
  if (isLink(item.mode)) {
    const target = await withPath(item.path, () => fs.readlink(item.path));
    const header: FileHeader = { uid: item.uid, gid: item.gid, mode: item.mode, rdev: 0, symlinkTarget: target, xattrs };
    const h = sha();
    h.update(fileHeaderPrefix(header));
    const checksum = toHex(h.digest());
    if (await exists(ctx, checksum)) return { checksum, written: false, bytes: 0 };
    const written = await writeSymlinkObject(ctx, checksum, header);
    return { checksum, written, bytes: 0 };
  }
  const header: FileHeader = { uid: item.uid, gid: item.gid, mode: item.mode, rdev: 0, symlinkTarget: '', xattrs };
  if (item.size <= WHOLE_FILE_LIMIT) {
    const data = await withPath(item.path, () => fs.readFile(item.path));
    const h = sha();
    h.update(fileHeaderPrefix(header));
    h.update(data);
    const checksum = toHex(h.digest());
    if (await exists(ctx, checksum)) return { checksum, written: false, bytes: 0 };
    const written = await writeRegularObject(ctx, checksum, header, data);
    return { checksum, written, bytes: data.length };
  }
  return streamLargeFile(ctx, item, header, sha);
}

/** Runs `fn`, turning errno failures into a one-line GroveError naming `p`. */
async function withPath<T>(p: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isErrno(e, 'EACCES', 'EPERM')) throw new GroveError('GROVE_PERMISSION', `cannot read ${p}: permission denied`, { path: p });
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `${p} disappeared during the commit`, { path: p });
    if (isErrno(e, 'ENOSPC')) throw new GroveError('GROVE_NO_SPACE', `no space left on device while writing ${p}`, { path: p });
    throw e;
  }
}

async function exists(ctx: Ctx, checksum: string): Promise<boolean> {
  try {
    await fs.lstat(objectPath(ctx.objectsDir, checksum, 'file', ctx.repoMode));
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

async function stagedPath(ctx: Ctx, checksum: string): Promise<string> {
  const p = objectPath(ctx.stagingDir, checksum, 'file', ctx.repoMode);
  await fs.mkdir(path.dirname(p), { recursive: true });
  return p;
}

/** Bare modes: ownership, mode, xattrs and the epoch mtime, as ostree leaves its objects. */
async function finishBareFile(ctx: Ctx, p: string, header: FileHeader): Promise<void> {
  switch (ctx.repoMode) {
    case 'bare':
      await fs.chown(p, header.uid, header.gid);
      await fs.chmod(p, header.mode & 0o7777);
      setXattrs(p, header.xattrs);
      break;
    case 'bare-user':
      // The object keeps read permission for its owner whatever the file's mode (ostree#907).
      await fs.chmod(p, (header.mode & 0o775) | 0o400);
      setXattr(p, 'user.ostreemeta', encodeBareUserMeta(header));
      break;
    case 'bare-user-only':
      await fs.chmod(p, header.mode & 0o7777);
      break;
    default:
      return;
  }
  await fs.utimes(p, 0, 0);
}

/** Creates `dest` exclusively; false when another writer of this transaction got there first. */
async function createExclusive(dest: string, data: Uint8Array): Promise<boolean> {
  try {
    await fs.writeFile(dest, data, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    if (isErrno(e, 'ENOSPC')) throw new GroveError('GROVE_NO_SPACE', `no space left on device writing ${dest}`, { path: dest });
    throw e;
  }
}

async function writeRegularObject(ctx: Ctx, checksum: string, header: FileHeader, data: Uint8Array): Promise<boolean> {
  const dest = await stagedPath(ctx, checksum);
  if (ctx.repoMode === 'archive') {
    const head = archiveHeader(header, BigInt(data.length));
    const body = deflateRaw(data, ctx.zlibLevel, ctx.compress);
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    return createExclusive(dest, out);
  }
  // Write under a temp name and finish its metadata before it takes the object's name, so a
  // concurrent writer of the same object never sees it half-made.
  const tmp = path.join(ctx.stagingDir, tempName('tmp-'));
  await fs.writeFile(tmp, data, { flag: 'wx', mode: 0o644 });
  await finishBareFile(ctx, tmp, header);
  return publishTemp(tmp, dest);
}

/** Links `tmp` in as `dest` unless it already exists; removes `tmp` either way. */
async function publishTemp(tmp: string, dest: string): Promise<boolean> {
  try {
    await fs.link(tmp, dest);
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

async function writeSymlinkObject(ctx: Ctx, checksum: string, header: FileHeader): Promise<boolean> {
  const dest = await stagedPath(ctx, checksum);
  switch (ctx.repoMode) {
    case 'archive':
      return createExclusive(dest, archiveHeader(header, 0n));
    case 'bare-user': {
      // bare-user keeps symlinks as regular files holding the target and a NUL, as ostree
      // writes them (an unprivileged user cannot put user.* xattrs on a symlink).
      const tmp = path.join(ctx.stagingDir, tempName('tmp-'));
      await fs.writeFile(tmp, `${header.symlinkTarget}\0`, { flag: 'wx', mode: 0o644 });
      setXattr(tmp, 'user.ostreemeta', encodeBareUserMeta(header));
      await fs.utimes(tmp, 0, 0);
      return publishTemp(tmp, dest);
    }
    default: {
      const tmp = path.join(ctx.stagingDir, tempName('tmp-'));
      await fs.symlink(header.symlinkTarget, tmp);
      if (ctx.repoMode === 'bare') {
        await fs.lchown(tmp, header.uid, header.gid);
        setXattrs(tmp, header.xattrs);
      }
      try {
        await fs.rename(tmp, dest);
      } catch (e) {
        await fs.rm(tmp, { force: true });
        throw e;
      }
      return true;
    }
  }
}

/** A file too large to hold in memory: hash and write it in one pass, chunk by chunk. */
async function streamLargeFile(ctx: Ctx, item: CommitItem, header: FileHeader, sha: Sha256Factory): Promise<One> {
  const src = await withPath(item.path, () => fs.open(item.path, 'r'));
  const tmp = path.join(ctx.stagingDir, tempName('tmp-'));
  const out = await fs.open(tmp, 'wx', 0o644);
  let size = 0;
  const h = sha();
  try {
    size = (await src.stat()).size;
    h.update(fileHeaderPrefix(header));
    const deflater = ctx.repoMode === 'archive' ? createDeflater(ctx.zlibLevel, ctx.compress) : null;
    if (deflater) await out.write(archiveHeader(header, BigInt(size)));
    let pos = 0;
    const buf = Buffer.allocUnsafe(CHUNK_SIZE);
    while (pos < size) {
      const { bytesRead } = await src.read(buf, 0, Math.min(CHUNK_SIZE, size - pos), pos);
      if (bytesRead === 0) throw new GroveError('GROVE_CHANGED', `${item.path} shrank while it was being committed`, { path: item.path });
      const chunk = buf.subarray(0, bytesRead);
      h.update(chunk);
      pos += bytesRead;
      if (deflater) {
        for (const c of await deflater.push(Uint8Array.from(chunk), pos >= size)) await out.write(c);
      } else {
        await out.write(chunk);
      }
    }
    if (deflater && size === 0) for (const c of await deflater.push(new Uint8Array(0), true)) await out.write(c);
  } catch (e) {
    await out.close();
    await src.close();
    await fs.rm(tmp, { force: true });
    if (isErrno(e, 'ENOSPC')) throw new GroveError('GROVE_NO_SPACE', `no space left on device committing ${item.path}`, { path: item.path });
    throw e;
  }
  await out.close();
  await src.close();
  const checksum = toHex(h.digest());
  if (await exists(ctx, checksum)) {
    await fs.rm(tmp, { force: true });
    return { checksum, written: false, bytes: 0 };
  }
  if (ctx.repoMode !== 'archive') await finishBareFile(ctx, tmp, header);
  const written = await publishTemp(tmp, await stagedPath(ctx, checksum));
  return { checksum, written, bytes: size };
}
