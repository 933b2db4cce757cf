import { GroveError } from '../errors.js';
import { S_IFMT, isDir, isLink, isReg } from '../format/mode.js';
import type { Xattr } from '../format/objects.js';
import { resolvePath, type TreeEntry } from '../checkout/resolve-path.js';
import { openContent } from '../store/read-content.js';
import { resolveSubpath } from '../export/export.js';
import type { Repo } from '../repo/repo.js';

export interface LsOptions {
  recursive?: boolean;
  checksums?: boolean;
  dirOnly?: boolean;
  /** Called with each entry's xattrs when set (`-X`); its result is printed before the path. */
  formatXattrs?: (xattrs: Xattr[]) => string;
  /** Only the path of each entry (`--nul-filenames-only`, which ends each with a NUL). */
  pathsOnly?: boolean;
}

interface Info { mode: number; uid: number; gid: number; size: number; target: string; xattrs: Xattr[] }

/**
 * `ostree ls` output for `paths` of commit `rev`, one line per entry:
 * `TYPE0MODE UID GID SIZE [CHECKSUMS] PATH [-> TARGET]`, files before subdirectories in
 * each directory, as ostree 2022.7 prints them.
 */
export async function* lsLines(repo: Repo, rev: string, paths: string[], opts: LsOptions = {}): AsyncGenerator<string> {
  const commit = await repo.loadCommit((await repo.resolveRev(rev))!);
  for (const arg of paths.length > 0 ? paths : ['/']) {
    const norm = '/' + arg.split('/').filter((s) => s.length > 0).join('/');
    let entry: TreeEntry;
    try {
      entry = await resolvePath(repo, commit, norm);
    } catch (e) {
      if (!(e instanceof GroveError) || e.code !== 'GROVE_NOT_FOUND') throw e;
      // ostree's words: libostree's own resolution of the path names what is missing.
      let why = e.message;
      try {
        await resolveSubpath(repo, commit, arg);
      } catch (quirk) {
        if (!(quirk instanceof GroveError)) throw quirk;
        why = quirk.message;
      }
      throw new GroveError('GROVE_NOT_FOUND', `Inspecting path '${arg}': ${why}`, { cause: e });
    }
    yield await line(repo, entry, norm, opts);
    if (entry.kind === 'dir') {
      if (opts.recursive) yield* listDir(repo, entry, norm, -1, opts, []);
      else if (!opts.dirOnly) yield* listDir(repo, entry, norm, 1, opts, []);
    }
  }
}

/** `above`: the dirtrees on the way down here, for refusing a tree that contains itself. */
async function* listDir(repo: Repo, dir: Extract<TreeEntry, { kind: 'dir' }>, p: string, depth: number, opts: LsOptions, above: string[]): AsyncGenerator<string> {
  if (depth === 0) return;
  if (above.includes(dir.tree)) throw new GroveError('GROVE_CORRUPT_OBJECT', `dirtree ${dir.tree} contains itself (at ${p})`);
  const tree = await repo.loadDirTree(dir.tree);
  const path = [...above, dir.tree];
  const child = (name: string) => (p === '/' ? `/${name}` : `${p}/${name}`);
  for (const [name, checksum] of tree.files) {
    yield await line(repo, { kind: 'file', name, checksum }, child(name), opts);
  }
  for (const [name, t, m] of tree.dirs) {
    const e: TreeEntry = { kind: 'dir', name, tree: t, meta: m };
    yield await line(repo, e, child(name), opts);
    yield* listDir(repo, e, child(name), depth > 0 ? depth - 1 : -1, opts, path);
  }
}

async function info(repo: Repo, e: TreeEntry, wantXattrs: boolean): Promise<Info> {
  if (e.kind === 'dir') {
    const m = await repo.loadDirMeta(e.meta);
    return { mode: m.mode, uid: m.uid, gid: m.gid, size: 0, target: '', xattrs: m.xattrs };
  }
  const obj = await openContent(repo, e.checksum, { xattrs: wantXattrs });
  const h = obj.header;
  return { mode: h.mode, uid: h.uid, gid: h.gid, size: isReg(h.mode) ? obj.size : 0, target: h.symlinkTarget, xattrs: h.xattrs };
}

async function line(repo: Repo, e: TreeEntry, p: string, opts: LsOptions): Promise<string> {
  if (opts.pathsOnly) return p;
  const i = await info(repo, e, opts.formatXattrs !== undefined);
  const type = isDir(i.mode) ? 'd' : isLink(i.mode) ? 'l' : isReg(i.mode) ? '-' : '?';
  let s = `${type}0${(i.mode & ~S_IFMT).toString(8).padStart(4, '0')} ${i.uid} ${i.gid} ${String(i.size).padStart(6)} `;
  if (opts.checksums) s += e.kind === 'dir' ? `${e.tree} ${e.meta} ` : `${e.checksum} `;
  if (opts.formatXattrs) s += `{ ${opts.formatXattrs(i.xattrs)} } `;
  s += p;
  if (isLink(i.mode)) s += ` -> ${i.target}`;
  return s;
}
