import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { S_IFMT, S_IFDIR, S_IFLNK, S_IFREG } from '../format/mode.js';
import { checksumStat, lstatLikeOstree } from '../commit/checksum-path.js';
import { isCommitPartial } from '../repo/partial.js';
import type { Repo } from '../repo/repo.js';
import { loadCommitAsOstree, resolveRevAsOstree } from '../repo/resolve-rev.js';
import { openContent } from '../store/read-content.js';
import { objectExists, objectPath } from '../store/paths.js';
import { traverse } from '../store/traverse.js';
import type { ObjectType } from '../format/objects.js';

/**
 * `ostree diff`: what differs between two trees, each a commit or a directory on disk, in
 * libostree's order and with its rules (`ostree_diff_dirs_with_options`). A path present on
 * both sides is modified when its type differs or its checksum does (a directory's checksum is
 * its dirmeta's: owner, mode, xattrs); a directory of the same type is compared inside. Entries
 * come in each side's own order: a commit's files, then its directories, each by name; a
 * directory on disk as GLib lists it, read in chunks of 1000 entries each sorted by inode. A
 * removed directory is one entry; an added one is followed by everything below it.
 */
export type FileType = 'regular' | 'symlink' | 'directory' | 'special';

export type DiffNode =
  | { kind: 'repo'; path: string; type: FileType; checksum: string; tree?: string }
  | { kind: 'local'; abs: string; type: FileType; st: fs.Stats };

export interface DiffResult { modified: DiffNode[]; removed: DiffNode[]; added: DiffNode[] }

export interface DiffOptions {
  /** Compare xattrs of files on disk (default true; never for a bare-user-only repository or one with `core.disable-xattrs`). */
  xattrs?: boolean;
  /** Owner given to the second tree's files on disk in place of their own (`--owner-uid/--owner-gid`). */
  ownerUid?: number;
  ownerGid?: number;
}

const typeOf = (mode: number): FileType => {
  const t = mode & S_IFMT;
  return t === S_IFREG ? 'regular' : t === S_IFLNK ? 'symlink' : t === S_IFDIR ? 'directory' : 'special';
};

/**
 * One side of a diff as `ostree diff` reads its argument: a path when it starts with `/` or
 * `./`, else a revision of `repo` (its commit's root).
 */
export async function diffSide(repo: Repo | null, arg: string): Promise<DiffNode> {
  if (arg.startsWith('/') || arg.startsWith('./')) {
    const abs = path.resolve(arg);
    const st = lstatLikeOstree(abs);
    return { kind: 'local', abs, type: typeOf(st.mode), st };
  }
  if (repo === null) throw new GroveError('GROVE_NO_REPO', `no repository to resolve '${arg}' in`);
  const commit = loadCommitAsOstree(repo, await resolveRevAsOstree(repo, arg));
  return { kind: 'repo', path: '/', type: 'directory', checksum: commit.rootMeta, tree: commit.rootTree };
}

export async function diffTrees(repo: Repo | null, a: DiffNode, b: DiffNode, opts: DiffOptions = {}): Promise<DiffResult> {
  const out: DiffResult = { modified: [], removed: [], added: [] };
  const repoIgnoresXattrs = repo !== null && (repo.mode === 'bare-user-only' || repo.config.getBoolean('core', 'disable-xattrs') === true);
  const xattrs = opts.xattrs !== false && !((a.kind === 'repo' || b.kind === 'repo') && repoIgnoresXattrs);
  const children = (n: DiffNode) => listChildren(repo, n);

  const checksum = async (n: DiffNode, owners: boolean): Promise<string> => {
    if (n.kind === 'repo') return n.checksum;
    return checksumStat(n.abs, n.st, {
      xattrs,
      ...(owners && opts.ownerUid !== undefined && { uid: opts.ownerUid }),
      ...(owners && opts.ownerGid !== undefined && { gid: opts.ownerGid }),
    });
  };
  const addAll = async (dir: DiffNode): Promise<void> => {
    for await (const c of children(dir)) {
      out.added.push(c);
      if (c.type === 'directory') await addAll(c);
    }
  };
  const compare = async (da: DiffNode, db: DiffNode): Promise<void> => {
    if (da.kind === 'repo' && db.kind === 'repo' && da.tree !== undefined && da.tree === db.tree) return;
    const inB = await childLookup(repo, db);
    for await (const ca of children(da)) {
      const cb = await inB(baseName(ca));
      if (cb === null) {
        out.removed.push(ca);
      } else if (ca.type !== cb.type) {
        out.modified.push(ca);
      } else {
        if ((await checksum(ca, false)) !== (await checksum(cb, true))) out.modified.push(ca);
        if (ca.type === 'directory') await compare(ca, cb);
      }
    }
    const inA = await childLookup(repo, da);
    for await (const cb of children(db)) {
      if ((await inA(baseName(cb))) !== null) continue;
      out.added.push(cb);
      if (cb.type === 'directory') await addAll(cb);
    }
  };
  await compare(a, b);
  return out;
}

/** `ostree diff`'s lines: `M`, `D` relative to the first tree, `A` to the second; a commit's paths absolute. */
export function formatDiff(a: DiffNode, b: DiffNode, r: DiffResult): string {
  const show = (base: DiffNode, n: DiffNode) => (n.kind === 'repo' ? n.path : path.relative((base as { abs: string }).abs, n.abs));
  return [
    ...r.modified.map((n) => `M    ${show(a, n)}\n`),
    ...r.removed.map((n) => `D    ${show(a, n)}\n`),
    ...r.added.map((n) => `A    ${show(b, n)}\n`),
  ].join('');
}

const baseName = (n: DiffNode): string => (n.kind === 'repo' ? path.posix.basename(n.path) : path.basename(n.abs));

async function* listChildren(repo: Repo | null, dir: DiffNode): AsyncGenerator<DiffNode> {
  if (dir.kind === 'repo') {
    const tree = await repo!.loadDirTree(dir.tree!);
    for (const [name, c] of tree.files) yield await repoFile(repo!, path.posix.join(dir.path, name), c);
    for (const [name, t, m] of tree.dirs) yield { kind: 'repo', path: path.posix.join(dir.path, name), type: 'directory', checksum: m, tree: t };
    return;
  }
  for (const chunk of localEntries(dir.abs)) {
    for (const name of chunk) {
      const abs = path.join(dir.abs, name);
      const st = fs.lstatSync(abs, { throwIfNoEntry: false });
      // GLib skips an entry that went between readdir and stat.
      if (st !== undefined) yield { kind: 'local', abs, type: typeOf(st.mode), st };
    }
  }
}

/**
 * A directory's names in GLib's order: readdir's, 1000 at a time, each thousand sorted by inode
 * (GLib compares `long` inode numbers by subtracting them into an `int`; so does this).
 */
function* localEntries(dir: string): Generator<string[]> {
  let d: fs.Dir;
  try {
    d = fs.opendirSync(dir);
  } catch (e) {
    if (!(e as NodeJS.ErrnoException).code) throw e;
    throw new GroveError('GROVE_IO', `Error opening directory '${dir}': ${strerror(e)}`, { cause: e });
  }
  try {
    for (let done = false; !done;) {
      const chunk: Array<{ name: string; ino: bigint }> = [];
      while (chunk.length < 1000) {
        const e = d.readSync();
        if (e === null) {
          done = true;
          break;
        }
        const st = fs.lstatSync(path.join(dir, e.name), { bigint: true, throwIfNoEntry: false });
        chunk.push({ name: e.name, ino: st?.ino ?? 0n });
      }
      chunk.sort((x, y) => Number(BigInt.asIntN(32, BigInt.asIntN(64, x.ino - y.ino))));
      yield chunk.map((c) => c.name);
    }
  } finally {
    d.closeSync();
  }
}

async function repoFile(repo: Repo, p: string, checksum: string): Promise<DiffNode> {
  const { header } = await openContent(repo, checksum, { xattrs: false });
  return { kind: 'repo', path: p, type: typeOf(header.mode), checksum };
}

/** Looks children of `dir` up by name; a commit's directory is read once for all of them. */
async function childLookup(repo: Repo | null, dir: DiffNode): Promise<(name: string) => Promise<DiffNode | null>> {
  if (dir.kind === 'repo') {
    const tree = await repo!.loadDirTree(dir.tree!);
    const files = new Map(tree.files);
    const dirs = new Map(tree.dirs.map(([n, t, m]) => [n, [t, m] as const]));
    return async (name) => {
      const p = path.posix.join(dir.path, name);
      const f = files.get(name);
      if (f !== undefined) return repoFile(repo!, p, f);
      const d = dirs.get(name);
      return d ? { kind: 'repo', path: p, type: 'directory', checksum: d[1], tree: d[0] } : null;
    };
  }
  return async (name) => {
    const abs = path.join(dir.abs, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return null;
      throw lstatLikeOstreeError(abs, e);
    }
    return { kind: 'local', abs, type: typeOf(st.mode), st };
  };
}

function lstatLikeOstreeError(abs: string, e: unknown): unknown {
  if (!(e as NodeJS.ErrnoException).code) return e;
  return new GroveError('GROVE_IO', `Error when getting information for file \u201c${abs}\u201d: ${strerror(e)}`, { cause: e });
}

/** `ostree diff --stats`: objects each commit reaches (no parents), those both reach, and their size on disk. */
export async function diffStats(repo: Repo, revA: string, revB: string): Promise<{ a: number; b: number; common: number; commonBytes: number }> {
  const a = await resolveRevAsOstree(repo, revA);
  const b = await resolveRevAsOstree(repo, revB);
  const reach = (c: string) => traverse(repo, objectExists(repo.objectsDir, c, 'commit', repo.mode) ? [c] : [], { depth: 0, mayLack: (x) => isCommitPartial(repo.path, x) });
  const ra = await reach(a);
  const rb = await reach(b);
  let common = 0;
  let commonBytes = 0;
  for (const key of ra) {
    if (!rb.has(key)) continue;
    common++;
    const dot = key.indexOf('.');
    commonBytes += fs.lstatSync(objectPath(repo.objectsDir, key.slice(0, dot), key.slice(dot + 1) as ObjectType, repo.mode)).size;
  }
  return { a: ra.size, b: rb.size, common, commonBytes };
}
