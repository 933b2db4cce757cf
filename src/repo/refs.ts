import fs from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import fsSync from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { CHECKSUM_RE, validateChecksum } from '../format/checksum.js';
import { isValidRef, parseRefspec, validateRemoteName } from '../format/names.js';
import { ensureDir, fsyncDir, writeFileAtomic } from './fsutil.js';
import type { Repo } from './repo.js';

/**
 * Refs are files under `refs/heads/`, `refs/remotes/REMOTE/` and `refs/mirrors/`, each holding a
 * checksum and a newline. A refspec `REMOTE:REF` names a remote ref; a plain `REF` a local one.
 */
export interface RefLocation { remote: string | null; ref: string }

export function refFilePath(repoPath: string, loc: RefLocation): string {
  return loc.remote === null
    ? path.join(repoPath, 'refs', 'heads', loc.ref)
    : path.join(repoPath, 'refs', 'remotes', loc.remote, loc.ref);
}

export function formatRefspec(loc: RefLocation): string {
  return loc.remote === null ? loc.ref : `${loc.remote}:${loc.ref}`;
}

async function readRefFile(file: string, name: string): Promise<string | null> {
  let text: string;
  try {
    text = fsSync.readFileSync(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR', 'EISDIR')) return null;
    throw e;
  }
  const csum = text.trim();
  if (!CHECKSUM_RE.test(csum)) {
    throw new GroveError('GROVE_CORRUPT_REF', `ref '${name}' (${file}) does not hold a checksum`);
  }
  return csum;
}

/** The checksum a ref points to, or null when it does not exist. */
export async function readRef(repoPath: string, refspec: string): Promise<string | null> {
  const loc = parseRefspec(refspec);
  return readRefFile(refFilePath(repoPath, loc), refspec);
}

/**
 * Resolves a revision as ostree does: a full checksum stands for itself; `REV^` is REV's parent
 * (handled by the caller, who can read commits); a ref is looked up in heads, then remotes
 * (`REMOTE/REF` or `REMOTE:REF`), then mirrors.
 */
export async function lookupRef(repoPath: string, rev: string): Promise<string | null> {
  if (CHECKSUM_RE.test(rev)) return rev;
  const loc = parseRefspec(rev);
  if (loc.remote !== null) return readRefFile(refFilePath(repoPath, loc), rev);
  for (const base of ['heads', 'remotes', 'mirrors']) {
    const c = await readRefFile(path.join(repoPath, 'refs', base, loc.ref), rev);
    if (c !== null) return c;
  }
  return null;
}

/**
 * The kinds of ref: `head` (refs/heads/REF), `remote` (refs/remotes/REMOTE/REF) and `mirror`
 * (refs/mirrors/COLLECTION-ID/REF, what a pull with collection IDs writes). Anything that decides
 * what to keep or check (prune, fsck) lists all three, as libostree's traversal of reachable
 * refs does.
 */
export type RefKind = 'head' | 'remote' | 'mirror';
export const ALL_REF_KINDS: readonly RefKind[] = ['head', 'remote', 'mirror'];

export interface RefEntry {
  kind: RefKind;
  /** The remote of a `remote` ref, else null. */
  remote: string | null;
  /** The collection ID of a `mirror` ref, else null. */
  collectionId: string | null;
  ref: string;
  /** As `ostree refs` prints it: `REF`, `REMOTE:REF`, or `(COLLECTION-ID, REF)` for a mirror. */
  name: string;
  checksum: string;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The one listing of refs: every ref of the `kinds` asked for (ostree's aliases, symlinks
 * between refs, included), heads first, then remotes, then mirrors, each sorted by name; with
 * `prefix`, only those whose name is the prefix or lies below it.
 */
export async function listRefEntries(repoPath: string, opts: { kinds: readonly RefKind[]; prefix?: string }): Promise<RefEntry[]> {
  const out: RefEntry[] = [];
  const collect = async (kind: RefKind, base: string, owner: string | null) => {
    const found: RefEntry[] = [];
    await walkRefs(base, '', async (ref, file) => {
      const name = kind === 'head' ? ref : kind === 'remote' ? `${owner}:${ref}` : `(${owner}, ${ref})`;
      const checksum = await readRefFile(file, name);
      if (checksum === null) return;
      found.push({ kind, remote: kind === 'remote' ? owner : null, collectionId: kind === 'mirror' ? owner : null, ref, name, checksum });
    });
    out.push(...found.sort((a, b) => byName(a.name, b.name)));
  };
  if (opts.kinds.includes('head')) await collect('head', path.join(repoPath, 'refs', 'heads'), null);
  for (const [kind, dir] of [['remote', 'remotes'], ['mirror', 'mirrors']] as const) {
    if (!opts.kinds.includes(kind)) continue;
    for (const owner of await refSubdirs(path.join(repoPath, 'refs', dir))) await collect(kind, path.join(repoPath, 'refs', dir, owner), owner);
  }
  if (opts.prefix === undefined) return out;
  const p = opts.prefix;
  const below = p.endsWith('/') ? p : `${p}/`;
  return out.filter((e) => e.name === p || e.name.startsWith(below));
}

/**
 * Heads and (unless `remotes: false`) remote refs by refspec, sorted: the view `ostree refs`
 * prints. Mirror refs have no refspec; whatever must see every ref uses {@link listRefEntries}.
 */
export async function listRefs(repoPath: string, opts: { prefix?: string; remotes?: boolean } = {}): Promise<Map<string, string>> {
  const kinds: RefKind[] = opts.remotes === false ? ['head'] : ['head', 'remote'];
  const entries = await listRefEntries(repoPath, { kinds, ...(opts.prefix !== undefined && { prefix: opts.prefix }) });
  return new Map(entries.map((e) => [e.name, e.checksum] as const).sort(([a], [b]) => byName(a, b)));
}

/** The directories in `dir` (remotes under `refs/remotes`, collections under `refs/mirrors`), sorted; none if it is missing. */
export async function refSubdirs(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort(byName);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}

/**
 * The one walk of a refs directory (`refs/heads`, a remote's, a collection's): every file or
 * symlink below `dir` whose path, after `prefix`, is a valid ref name, with its directory entry
 * (aliases are the symlinks among them).
 */
export async function walkRefs(dir: string, prefix: string, visit: (name: string, file: string, entry: Dirent) => Promise<void>): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return;
    throw e;
  }
  for (const e of entries) {
    const name = prefix + e.name;
    if (e.isDirectory()) await walkRefs(path.join(dir, e.name), `${name}/`, visit);
    else if ((e.isFile() || e.isSymbolicLink()) && isValidRef(name)) await visit(name, path.join(dir, e.name), e);
  }
}

/** Ref moves for {@link updateRefs}: refspec (`REF` or `REMOTE:REF`) to a commit, or null to delete. */
export type RefUpdates = Iterable<readonly [refspec: string, checksum: string | null]>;

/**
 * The one way refs move. Under the repository's shared lock (prune takes it exclusive and reads
 * refs under it, so no ref can come to name a commit that prune is deleting), checks every
 * update first — a ref to delete exists, a commit to point at is in the store at this moment —
 * then writes each ref atomically (temp file, fsync, rename) and syncs their directories. The
 * caller has made each commit and everything it reaches durable first.
 * @throws GroveError GROVE_BAD_REF, GROVE_NO_REF (deleting a missing ref) or GROVE_NO_COMMIT
 *   (the commit object is not there), before anything is written.
 */
export async function updateRefs(repo: Repo, updates: RefUpdates): Promise<void> {
  await moveRefFiles(repo, [...updates].map(([refspec, checksum]) => ({ refspec, checksum, file: refFilePath(repo.path, parseRefspec(refspec)) })));
}

/**
 * {@link updateRefs} for refs named by their file (`refs/mirrors/COLLECTION-ID/REF`, which no
 * refspec names); `refspec` is what messages call it. Same lock, checks and durability.
 */
export async function moveRefFiles(repo: Repo, updates: Array<{ refspec: string; file: string; checksum: string | null }>): Promise<void> {
  const moves = updates.map((u) => ({ ...u, checksum: u.checksum === null ? null : validateChecksum(u.checksum) }));
  if (moves.length === 0) return;
  // Loaded here: listing refs (refs, rev-parse, every Repo) needs none of the locking code.
  const { RepoLock } = await import('./lock.js');
  const lock = await RepoLock.acquire(repo, 'shared');
  try {
    for (const m of moves) {
      if (m.checksum === null) {
        if (fsSync.lstatSync(m.file, { throwIfNoEntry: false }) === undefined) throw new GroveError('GROVE_NO_REF', `ref '${m.refspec}' not found`);
      } else if (!(await repo.hasObject(m.checksum, 'commit'))) {
        throw new GroveError('GROVE_NO_COMMIT', `cannot point ref '${m.refspec}' at commit ${m.checksum}: it is not in ${repo.path}`);
      }
    }
    const dirs = new Set<string>();
    for (const m of moves) {
      if (m.checksum === null) {
        try {
          await fs.unlink(m.file);
        } catch (e) {
          if (!isErrno(e, 'ENOENT')) throw e; // another writer deleted it meanwhile, as asked
        }
      } else {
        await ensureDir(path.dirname(m.file));
        await writeFileAtomic(m.file, `${m.checksum}\n`, repo.tmpDir);
      }
      dirs.add(path.dirname(m.file));
    }
    await Promise.all([...dirs].map((d) => fsyncDir(d)));
  } finally {
    await lock.release();
  }
}

/** One ref move through {@link updateRefs}, for callers that hold only the repository's path. */
export async function writeRef(repoPath: string, refspec: string, checksum: string | null): Promise<void> {
  const { Repo: RepoClass } = await import('./repo.js');
  await updateRefs(await RepoClass.open(repoPath), [[refspec, checksum]]);
}

/**
 * Refs under a prefix, as `ostree refs PREFIX` lists them: PREFIX is `REF-PREFIX`,
 * `REMOTE:` or `REMOTE:REF-PREFIX`. A prefix naming a ref exactly yields that ref; a prefix
 * naming a directory yields the refs below it, named relative to it unless `keepPrefix`
 * (`--list`). Returns display name -> (full refspec, checksum).
 */
export async function listRefsUnder(repoPath: string, prefix: string, opts: { keepPrefix?: boolean } = {}): Promise<Map<string, { refspec: string; checksum: string }>> {
  const out = new Map<string, { refspec: string; checksum: string }>();
  const colon = prefix.indexOf(':');
  const remote = colon >= 0 ? prefix.slice(0, colon) : null;
  const rest = colon >= 0 ? prefix.slice(colon + 1) : prefix;
  if (remote !== null) validateRemoteName(remote);
  if (rest !== '' && !isValidRef(rest)) throw new GroveError('GROVE_BAD_REF', `invalid refspec '${prefix}'`);
  const base = remote === null ? path.join(repoPath, 'refs', 'heads') : path.join(repoPath, 'refs', 'remotes', remote);
  const spec = (name: string) => (remote === null ? name : `${remote}:${name}`);
  const exact = rest === '' ? null : await readRefFile(path.join(base, rest), prefix).catch((e: unknown) => {
    if (e instanceof GroveError) throw e;
    return null;
  });
  if (exact !== null) {
    out.set(spec(rest), { refspec: spec(rest), checksum: exact });
    return out;
  }
  const dir = rest === '' ? base : path.join(base, rest);
  await walkRefs(dir, '', async (name, file) => {
    const c = await readRefFile(file, name);
    if (c === null) return;
    const full = rest === '' ? name : `${rest}/${name}`;
    out.set(spec(opts.keepPrefix || rest === '' ? full : name), { refspec: spec(full), checksum: c });
  });
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
