import { GroveError } from '../errors.js';
import type { DirMeta, FileHeader } from '../format/objects.js';
import { isDir, isLink, isReg, S_IFDIR } from '../format/mode.js';
import type { Repo } from '../repo/repo.js';
import { openContent } from '../store/read-content.js';
import { applyFilters, type CommitFilters } from './filters.js';
import type { MTree } from './mtree.js';
import { readTar } from './tar.js';
import type { WalkDir } from './walk.js';

/**
 * Merging one `--tree=` layer into the commit's tree, with ostree's rules for each kind of layer:
 * a directory already walked and stored (dir=), a stored commit (ref=), a tar archive (tar=).
 */

export interface LayerContext {
  repo: Repo;
  filters: CommitFilters;
  /**
   * Whether ostree would run these files through a commit modifier: any option that changes
   * metadata (owners, statoverride, skip list, xattrs, canonical permissions, sizes, consume,
   * SELinux), and always in a bare-user-only repository. Without one, a ref= layer is reused as
   * stored; with one, every file of it is looked at again.
   */
  modifier: boolean;
  /** Record xattrs (not --no-xattrs, --canonical-permissions or bare-user-only). */
  xattrs: boolean;
  /** Stores a dirmeta (and counts it for --generate-sizes); returns its checksum. */
  writeDirMeta(meta: DirMeta): Promise<string>;
  /** Notes a content object as written by this layer (for --generate-sizes). */
  noteFile(checksum: string): void;
  /** Stores a content object whose bytes arrive in `chunks`; returns its checksum. */
  writeContent(header: FileHeader, size: number, chunks: AsyncIterable<Uint8Array>, where: string): Promise<string>;
}

const child = (rel: string, name: string): string => (rel === '/' ? `/${name}` : `${rel}/${name}`);

/** A walked and stored directory (dir=) into `t`: its metadata replaces, its entries merge. */
export async function mergeWalk(ctx: LayerContext, t: MTree, dir: WalkDir, checksums: string[]): Promise<void> {
  t.setMeta(await ctx.writeDirMeta(dir.meta));
  for (const [name, idx] of dir.files) {
    const csum = checksums[idx]!;
    ctx.noteFile(csum);
    await t.replaceFile(ctx.repo, name, csum);
  }
  for (const [name, sub] of dir.dirs) await mergeWalk(ctx, await t.ensureDir(ctx.repo, name), sub, checksums);
}

/**
 * A stored tree (ref=, at `rel` of the layer) into `t`. Without a modifier it is taken as it
 * is wherever `t` is still empty; otherwise its entries go through the rules one by one, and a
 * file whose metadata they change is stored again under its new header.
 */
export async function mergeStored(ctx: LayerContext, t: MTree, tree: string, meta: string, rel = '/'): Promise<void> {
  const { repo } = ctx;
  if (!ctx.modifier) {
    if (t.fillFromStored(tree, meta)) return;
    t.setMeta(meta);
  } else {
    const dm = await repo.loadDirMeta(meta);
    const fm = applyFilters(ctx.filters, rel, dm, { dropAdd: rel !== '/' });
    if (fm === null) return;
    t.setMeta(await ctx.writeDirMeta({ ...fm, xattrs: ctx.xattrs ? dm.xattrs : [] }));
  }
  const dt = await repo.loadDirTree(tree);
  for (const [name, csum] of dt.files) {
    let out = csum;
    if (ctx.modifier) {
      const obj = await openContent(repo, csum, { xattrs: true });
      const h = obj.header;
      const fm = applyFilters(ctx.filters, child(rel, name), h);
      if (fm === null) continue;
      const xattrs = ctx.xattrs ? h.xattrs : [];
      const same = fm.uid === h.uid && fm.gid === h.gid && fm.mode === h.mode && xattrs.length === h.xattrs.length;
      out = same ? csum : await ctx.writeContent({ ...h, ...fm, xattrs }, obj.size, obj.chunks(), `file object ${csum}`);
    }
    ctx.noteFile(out);
    await t.replaceFile(repo, name, out);
  }
  for (const [name, subTree, subMeta] of dt.dirs) {
    // ostree decides on a directory before going in with its own pass of the rules (which
    // consumes its +MODE line): only a skip matters here.
    if (ctx.modifier && applyFilters(ctx.filters, child(rel, name), await repo.loadDirMeta(subMeta)) === null) continue;
    await mergeStored(ctx, await t.ensureDir(repo, name), subTree, subMeta, child(rel, name));
  }
}

export interface TarOptions {
  /** `--tar-autocreate-parents`. */
  autocreateParents: boolean;
  /** `--tar-pathname-filter`: rewrites each (relative) path. */
  translate?: (p: string) => string;
  /** Keep the archive's xattrs (ostree drops them only for --no-xattrs and bare-user-only). */
  xattrs: boolean;
}

/**
 * ostree's relativising of an archive path: leading `/`, `/../`, `./` and empty components go,
 * a lone `.` is the root (the empty string), `.` or `..` left inside is an error.
 */
function relativePath(src: string): string {
  let s = src;
  while (s.startsWith('/')) {
    s = s.slice(1);
    if (s.startsWith('../')) s = s.slice(2);
  }
  for (;;) {
    if (s.startsWith('./')) s = s.slice(2);
    else if (s.startsWith('/')) s = s.slice(1);
    else break;
  }
  if (s === '.') s = '';
  const parts = splitPath(s);
  if (parts.some((p) => p === '.' || p === '..')) throw new GroveError('GROVE_BAD_ARCHIVE', `While making relative path "${s}":Invalid path component '${parts.find((p) => p === '.' || p === '..')}'`);
  return s;
}

function splitPath(s: string): string[] {
  return s.split('/').filter((p) => p.length > 0);
}

const DEFAULT_DIRMODE = S_IFDIR | 0o755;

/** A tar archive (tar=, or '-' for standard input) into `root`, as ostree's libarchive import does. */
export async function importTar(ctx: LayerContext, root: MTree, file: string, opts: TarOptions): Promise<void> {
  const { repo } = ctx;
  const deferred = new Map<string, Array<{ parent: MTree; name: string; size: number }>>();
  const finalPath = (p: string): string => {
    let out = opts.translate ? opts.translate(relativePath(p)) : relativePath(p);
    // Trailing slashes (some archives put them on directories) go.
    while (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
    return out;
  };
  const ensureDefaultDir = async (parent: MTree, name: string | null, uid: number, gid: number): Promise<MTree> => {
    const dir = name === null ? parent : await parent.ensureDir(repo, name);
    dir.setMeta(await ctx.writeDirMeta({ uid, gid, mode: DEFAULT_DIRMODE, xattrs: [] }));
    return dir;
  };
  for await (const { entry, body } of readTar(file)) {
    const rel = finalPath(entry.path);
    const abs = `/${rel}`;
    const fm = applyFilters(ctx.filters, abs, { uid: entry.uid, gid: entry.gid, mode: entry.mode });
    if (fm === null) continue;
    const parts = splitPath(rel);
    let parent = root;
    if (parts.length > 0) {
      let cur: MTree | null = root;
      let missing: string | null = null;
      for (const part of parts.slice(0, -1)) {
        const found: { file: string } | { dir: MTree } | undefined = await (cur as MTree).lookup(repo, part);
        if (found === undefined || !('dir' in found)) {
          missing = part;
          cur = null;
          break;
        }
        cur = found.dir;
      }
      if (cur === null) {
        if (!opts.autocreateParents) throw new GroveError('GROVE_NOT_FOUND', `No such file or directory: ${missing}`);
        // ostree gives the root and every parent on the way the default metadata, owned like the entry.
        cur = await ensureDefaultDir(root, null, entry.uid, entry.gid);
        for (const part of parts.slice(0, -1)) cur = await ensureDefaultDir(cur, part, entry.uid, entry.gid);
      }
      parent = cur;
    }
    const name = parts.length > 0 ? parts[parts.length - 1]! : null;
    const xattrs = opts.xattrs ? entry.xattrs : [];
    if (isDir(fm.mode)) {
      const dir = name === null ? root : await parent.ensureDir(repo, name);
      dir.setMeta(await ctx.writeDirMeta({ ...fm, xattrs }));
      continue;
    }
    if (!isReg(fm.mode) && !isLink(fm.mode)) throw new GroveError('GROVE_UNSUPPORTED_FILE', `Unsupported file type for path "${rel}"`);
    if (name === null) throw new GroveError('GROVE_BAD_ARCHIVE', `${file}: the archive's root is not a directory`);
    // A hardlink entry with no bytes of its own takes its target's checksum at the end.
    if (entry.hardlink === null || entry.size > 0) {
      const header: FileHeader = { uid: fm.uid, gid: fm.gid, mode: fm.mode, rdev: 0, symlinkTarget: entry.symlink, xattrs };
      const csum = await ctx.writeContent(header, isReg(fm.mode) ? entry.size : 0, isReg(fm.mode) ? body() : empty(), `${rel} in ${file}`);
      ctx.noteFile(csum);
      await parent.replaceFile(repo, name, csum);
    }
    if (entry.hardlink !== null) {
      const target = finalPath(entry.hardlink);
      const list = deferred.get(target) ?? [];
      list.push({ parent, name, size: entry.size });
      deferred.set(target, list);
    }
  }
  for (const [target, links] of deferred) {
    const tparts = splitPath(target);
    const tname = tparts.pop();
    let tparent: MTree = root;
    for (const part of tparts) {
      const found = await tparent.lookup(repo, part);
      if (found === undefined || !('dir' in found)) throw new GroveError('GROVE_NOT_FOUND', `ostree-tar: Processing deferred hardlink ${target}: Failed to find object: No such file or directory: ${part}`);
      tparent = found.dir;
    }
    const payload = links.find((l) => l.size > 0);
    if (payload !== undefined && tname !== undefined) {
      const p = await payload.parent.lookup(repo, payload.name);
      if (p !== undefined && 'file' in p) await tparent.replaceFile(repo, tname, p.file);
    }
    const t = tname === undefined ? undefined : await tparent.lookup(repo, tname);
    if (t === undefined) throw new GroveError('GROVE_NOT_FOUND', `ostree-tar: Processing deferred hardlink ${target}: Failed to find object: No such file or directory: ${tname ?? target}`);
    if (!('file' in t)) throw new GroveError('GROVE_BAD_ARCHIVE', `ostree-tar: Processing deferred hardlink ${target}: Failed to find object: Expected hardlink file target at "${target}" but found a directory`);
    for (const l of links) if (l !== payload) await l.parent.replaceFile(repo, l.name, t.file);
  }
  if (opts.autocreateParents && root.meta === null) {
    const fm = applyFilters(ctx.filters, '/', { uid: 0, gid: 0, mode: DEFAULT_DIRMODE })!;
    root.setMeta(await ctx.writeDirMeta({ ...fm, xattrs: [] }));
  }
}

async function* empty(): AsyncGenerator<Uint8Array> {}
