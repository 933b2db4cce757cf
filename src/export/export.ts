import { GroveError } from '../errors.js';
import { isLink, isReg } from '../format/mode.js';
import type { Commit } from '../format/objects.js';
import type { Repo } from '../repo/repo.js';
import { openContent } from '../store/read-content.js';
import { BLOCK, END_OF_ARCHIVE, RECORD, dataPadding, entryHeaders } from './gnu-tar.js';

/** Where archive bytes go; the walk awaits each write, so a slow reader holds it back. */
export interface TarSink {
  write(bytes: Uint8Array): Promise<void>;
}

export interface ExportOptions {
  /** A directory of the commit to export instead of its root, resolved as ostree resolves it. */
  subpath?: string;
  /** Put in front of every name in the archive, as it is: `--prefix=foo` makes `foousr/`. */
  prefix?: string;
}

/** A path as libostree builds it: a child named `name` of `parent` (null: the commit root). */
interface PathNode { parent: PathNode | null; name: string }

/** What a `--subpath` names. */
export type ResolvedPath = { kind: 'dir'; tree: string; meta: string } | { kind: 'file'; checksum: string };

/**
 * Writes commit `checksum` (or its `subpath`) to `sink` as the GNU tar archive `ostree export`
 * writes: each directory, then its files in dirtree order, then its subdirectories; owners,
 * permission bits and the commit's timestamp as every entry's mtime; every regular file whole
 * (no hard links, even for files sharing an object); no xattrs. The end-of-archive records are
 * not written: see {@link finishArchive}, which also ends an archive a failure cut short, as
 * ostree does.
 */
export async function exportCommit(repo: Repo, checksum: string, commit: Commit, sink: TarSink, opts: ExportOptions = {}): Promise<void> {
  const start = opts.subpath === undefined ? ({ kind: 'dir', tree: commit.rootTree, meta: commit.rootMeta } as const) : await resolveSubpath(repo, commit, opts.subpath);
  if (start.kind !== 'dir') {
    // ostree 2022.7 aborts on an assertion here (exit 134); a directory is what it needs.
    throw new GroveError('GROVE_NOT_DIR', `--subpath ${opts.subpath}: not a directory in commit ${checksum}`);
  }
  const prefix = opts.prefix ?? '';
  await writeDir(repo, sink, start.tree, start.meta, '', prefix, commit.timestamp, []);
}

/**
 * The end of an archive of `written` bytes: two zero records, then zeros to the end of the block
 * — 10240 bytes when writing to stdout or anything but a regular file, one record otherwise,
 * which is how libarchive closes what `ostree export` opened.
 */
export function finishArchive(written: number, toRegularFile: boolean): Uint8Array {
  const block = toRegularFile ? RECORD : BLOCK;
  const total = written + END_OF_ARCHIVE.length;
  return new Uint8Array(END_OF_ARCHIVE.length + ((block - (total % block)) % block));
}

async function writeDir(repo: Repo, sink: TarSink, tree: string, meta: string, rel: string, prefix: string, mtime: bigint, above: string[]): Promise<void> {
  if (above.includes(tree)) throw new GroveError('GROVE_CORRUPT_OBJECT', `dirtree ${tree} contains itself (at /${rel})`);
  const m = await repo.loadDirMeta(meta);
  await sink.write(entryHeaders({ path: archivePath(prefix, rel), type: 'dir', mode: m.mode, uid: m.uid, gid: m.gid, size: 0, mtime }));
  const t = await repo.loadDirTree(tree);
  const child = (name: string) => (rel === '' ? name : `${rel}/${name}`);
  for (const [name, csum] of t.files) {
    const obj = await openContent(repo, csum, { xattrs: false });
    const h = obj.header;
    const path = archivePath(prefix, child(name));
    if (isLink(h.mode)) {
      await sink.write(entryHeaders({ path, type: 'symlink', mode: h.mode, uid: h.uid, gid: h.gid, size: 0, mtime, linkTarget: h.symlinkTarget }));
      continue;
    }
    if (!isReg(h.mode)) throw new GroveError('GROVE_CORRUPT_OBJECT', `file object ${csum} (/${child(name)}) is neither a regular file nor a symbolic link`);
    await sink.write(entryHeaders({ path, type: 'file', mode: h.mode, uid: h.uid, gid: h.gid, size: obj.size, mtime }));
    let n = 0;
    for await (const chunk of obj.chunks()) {
      n += chunk.length;
      await sink.write(chunk);
    }
    if (n !== obj.size) throw new GroveError('GROVE_CORRUPT_OBJECT', `file object ${csum}: ${n} bytes where its header says ${obj.size}`);
    await sink.write(dataPadding(n));
  }
  for (const [name, subtree, submeta] of t.dirs) {
    await writeDir(repo, sink, subtree, submeta, child(name), prefix, mtime, [...above, tree]);
  }
}

/** `--prefix` glued to the path inside the export; the export's own top is `.` without one. */
function archivePath(prefix: string, rel: string): string {
  const p = prefix + rel;
  return p === '' ? '.' : p;
}

/**
 * `--subpath` as libostree resolves it against the commit root, quirks included so that what
 * ostree refuses grove refuses with the same words: a leading `/` is dropped; each `NAME/` step
 * descends, so a trailing `/` asks for a child named "" ("No such file or directory: /usr/"); a
 * `//` inside the path starts again from the root (`usr//bin` is `/bin`).
 */
export async function resolveSubpath(repo: Repo, commit: Commit, subpath: string): Promise<ResolvedPath> {
  const root: PathNode = { parent: null, name: '' };
  const node = relative(root, root, subpath);
  const cache = new Map<PathNode, ResolvedPath>([[root, { kind: 'dir', tree: commit.rootTree, meta: commit.rootMeta }]]);
  const resolve = async (n: PathNode): Promise<ResolvedPath> => {
    const known = cache.get(n);
    if (known) return known;
    const parent = await resolve(n.parent!);
    if (parent.kind !== 'dir') throw new GroveError('GROVE_NOT_DIR', 'Not a directory');
    const t = await repo.loadDirTree(parent.tree);
    const f = t.files.find(([name]) => name === n.name);
    const d = f ? undefined : t.dirs.find(([name]) => name === n.name);
    if (!f && !d) throw new GroveError('GROVE_NOT_FOUND', `No such file or directory: ${nodePath(n)}`);
    const r: ResolvedPath = f ? { kind: 'file', checksum: f[1] } : { kind: 'dir', tree: d![1], meta: d![2] };
    cache.set(n, r);
    return r;
  };
  return resolve(node);
}

function relative(root: PathNode, from: PathNode, rel: string): PathNode {
  if (rel.startsWith('/')) {
    if (rel === '/') return root;
    if (from.parent !== null) return relative(root, root, rel.slice(1));
    rel = rel.slice(1);
  }
  const slash = rel.indexOf('/');
  if (slash < 0) return { parent: from, name: rel };
  return relative(root, { parent: from, name: rel.slice(0, slash) }, rel.slice(slash + 1));
}

/** How libostree names a path in its errors: `/a/b`, and `/` for the root. */
function nodePath(n: PathNode): string {
  const names: string[] = [];
  for (let p: PathNode | null = n; p !== null && p.parent !== null; p = p.parent) names.unshift(p.name);
  return `/${names.join('/')}`;
}
