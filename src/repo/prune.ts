import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { CHECKSUM_RE } from '../format/checksum.js';
import { parseDateTime } from '../format/datetime.js';
import { encode, Variant } from '../format/gvariant.js';
import { ALL_REF_KINDS, listRefEntries } from './refs.js';
import { RepoLock } from './lock.js';
import type { Repo } from './repo.js';
import { objectExists, objectPath, sideFilePath } from '../store/paths.js';
import { objectKey, traverse, type Reachable } from '../store/traverse.js';
import { clearCommitPartial, isCommitPartial } from './partial.js';
import { loadCommitAsOstree, resolveRevAsOstree } from './resolve-rev.js';
import { pruneStaticDeltas } from './static-deltas.js';
import { writeFileAtomic } from './fsutil.js';

/**
 * `ostree prune`, option for option (libostree's `ostree_repo_prune` and
 * `ostree_repo_prune_from_reachable`, and the builtin's own selective modes). Everything runs
 * under the repository's exclusive lock, so no transaction writes objects that a commit about
 * to land would reach. Messages for bad input are ostree's, word for word.
 */
export interface PruneOptions {
  /**
   * Keep only what refs (heads, remotes and mirrors) and `commits` reach; false keeps what any
   * commit in the store reaches, as plain `ostree prune` does. Default true: the library's
   * callers (deploy cleanup) prune history away.
   */
  refsOnly?: boolean;
  /** Parents kept below each kept commit: -1 all (default), 0 none. Below -1 counts as 0, as in ostree. */
  depth?: number;
  /** Commits kept besides the refs' (a sysroot's deployments). */
  commits?: string[];
  /** Count what would go, delete nothing (`--no-prune`). */
  noPrune?: boolean;
  /** Walk and delete commit objects only; trees and content stay (`--commit-only`). */
  commitOnly?: boolean;
  /** Delete this commit first, refused while a head or mirror ref names it (`--delete-commit`). */
  deleteCommit?: string;
  /** With deleteCommit: delete only the static deltas that lead to it (`--static-deltas-only`). */
  staticDeltasOnly?: boolean;
  /** A date as `date -d` reads it: keep each ref's commits from this time on (`--keep-younger-than`). */
  keepYoungerThan?: string;
  /**
   * `BRANCH=DEPTH` strings: that ref keeps DEPTH parents (`--retain-branch-depth`). As in
   * ostree, DEPTH 0 counts as not given (the ref gets `depth`, or `keepYoungerThan`), except
   * that `onlyBranches` then leaves it to be pruned.
   */
  retainBranchDepth?: string[];
  /** Prune only these refs' history; every other ref keeps all of its (`--only-branch`). */
  onlyBranches?: string[];
}

/** What a prune found and did: every object it considered, the unreachable ones, their bytes. */
export interface PruneResult { total: number; pruned: number; freedBytes: number }

type Listed = { checksum: string; type: 'commit' | 'dirtree' | 'dirmeta' | 'file' | 'payload-link' };

/**
 * Prunes `repo` as `ostree prune` with the same options does: first `deleteCommit`, then every
 * listed object the walk does not keep is deleted (a commit with its detached metadata and its
 * partial mark), then static deltas to commits no longer here. The counts are ostree's (its
 * `Total objects`, `Deleted N objects, SIZE freed`): detached metadata and tombstones are not
 * objects, `freedBytes` is the objects' sizes on disk.
 * @throws GroveError with ostree's message for a bad option value, a `deleteCommit` a ref still
 *   names, or an object the walk must read but cannot.
 */
export async function pruneRepo(repo: Repo, opts: PruneOptions = {}): Promise<PruneResult> {
  const lock = await RepoLock.acquire(repo, 'exclusive');
  try {
    if (opts.deleteCommit !== undefined) {
      if (opts.noPrune) throw bad('Cannot specify both --delete-commit and --no-prune');
      if (opts.staticDeltasOnly) pruneStaticDeltas(repo, opts.deleteCommit);
      else await deleteCommit(repo, opts.deleteCommit);
    } else if (opts.staticDeltasOnly) {
      throw bad('--static-deltas-only requires --delete-commit; see https://github.com/ostreedev/ostree/issues/1479');
    }
    const keep = await reachable(repo, opts);
    const result: PruneResult = { total: 0, pruned: 0, freedBytes: 0 };
    for (const o of listObjects(repo, opts.commitOnly === true)) {
      result.total++;
      // Payload links are never reached by a walk; whether one stays is decided below.
      if (o.type !== 'payload-link' && keep.has(objectKey(o.checksum, o.type))) continue;
      const p = o.type === 'payload-link' ? sideFilePath(repo.objectsDir, o.checksum, o.type) : objectPath(repo.objectsDir, o.checksum, o.type, repo.mode);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) throw new GroveError('GROVE_MISSING_OBJECT', `Querying object ${o.checksum}.${o.type}: No such file or directory`);
      result.freedBytes += st.size;
      if (!opts.noPrune) {
        if (o.type === 'payload-link' && payloadLinkKept(repo, p, keep)) continue;
        if (o.type === 'commit') await clearCommitPartial(repo.path, o.checksum);
        await deleteObject(repo, o.checksum, o.type);
      }
      result.pruned++;
    }
    // As ostree, with --no-prune too: deltas to commits no longer here, and cached summaries
    // of remotes no longer configured.
    pruneStaticDeltas(repo, null);
    pruneSummaryCache(repo);
    return result;
  } finally {
    await lock.release();
  }
}

const bad = (message: string): GroveError => new GroveError('GROVE_BAD_OPTION', message);

/**
 * What the prune keeps, by the store's one traversal. ostree's plain prune walks the refs
 * (`refsOnly`) or every commit in the store; with `--keep-younger-than`, `--retain-branch-depth`
 * or `--only-branch` it walks each head and remote ref by its own rule, and mirror refs keep
 * nothing there (ostree lists only heads and remotes in that mode). A commit that is not here
 * keeps nothing; below a partial commit, what is missing is simply not kept.
 */
async function reachable(repo: Repo, opts: PruneOptions): Promise<Reachable> {
  const keep: Reachable = new Set();
  const mayLack = (c: string) => isCommitPartial(repo.path, c);
  const skipTree = opts.commitOnly ? () => true : undefined;
  const walk = async (roots: string[], depth: number): Promise<void> => {
    const present = roots.filter((c) => CHECKSUM_RE.test(c) && objectExists(repo.objectsDir, c, 'commit', repo.mode));
    await traverse(repo, present, { depth: depth < -1 ? 0 : depth, into: keep, mayLack, ...(skipTree && { skipTree }) });
  };
  const depth = opts.depth ?? -1;
  const extra = opts.commits ?? [];
  const selective = opts.retainBranchDepth !== undefined || opts.keepYoungerThan !== undefined || opts.onlyBranches !== undefined;
  if (!selective) {
    if (opts.refsOnly === false) {
      await walk(listObjects(repo, true).map((o) => o.checksum), depth);
    } else {
      const refs = await listRefEntries(repo.path, { kinds: ALL_REF_KINDS });
      for (const r of refs) await walk([r.checksum], depth);
    }
    for (const c of extra) await walk([c], depth);
    return keep;
  }

  let cutoff: bigint | null = null;
  if (opts.keepYoungerThan !== undefined) {
    cutoff = parseDateTime(opts.keepYoungerThan);
    if (cutoff === null) throw bad(`Could not parse '${opts.keepYoungerThan}'`);
  }
  const retain = new Map<string, number>();
  for (const bd of opts.retainBranchDepth ?? []) {
    const eq = bd.indexOf('=');
    if (eq < 0) throw bad(`Invalid value ${bd}, must specify BRANCH=DEPTH`);
    const d = strtollAsInt(bd.slice(eq + 1));
    if (d === null) throw bad(`Invalid depth ${bd.slice(eq + 1)}`);
    retain.set(bd.slice(0, eq), d);
  }
  const refs = await listRefEntries(repo.path, { kinds: ['head', 'remote'] });
  if (opts.onlyBranches !== undefined) {
    for (const b of opts.onlyBranches) await resolveRevAsOstree(repo, b);
    const only = new Set(opts.onlyBranches);
    for (const r of refs) if (!only.has(r.name) && !retain.has(r.name)) retain.set(r.name, -1);
  }
  for (const r of refs) {
    // ostree keeps these depths as pointers in a hash table, where 0 is NULL, which its lookup
    // cannot tell from absent: BRANCH=0 walks as if no depth were given for BRANCH.
    const given = retain.get(r.name);
    const d = given === 0 ? undefined : given;
    if (d === undefined && cutoff !== null) {
      // The ref's own commit always stays; then its history while it is young enough.
      await walk([r.checksum], 0);
      for (let c: string | null = r.checksum; c !== null && objectExists(repo.objectsDir, c, 'commit', repo.mode);) {
        const commit = loadCommitAsOstree(repo, c);
        if (commit.timestamp < cutoff) break;
        await walk([c], 0);
        c = commit.parent;
      }
      continue;
    }
    await walk([r.checksum], d ?? depth);
  }
  for (const c of extra) await walk([c], depth);
  return keep;
}

/**
 * DEPTH of `BRANCH=DEPTH` as ostree reads it: g_ascii_strtoll (leading blanks, a sign, digits,
 * anything after ignored; out of range clamps), then cast to a C int. Null when no digit
 * starts it.
 */
function strtollAsInt(s: string): number | null {
  const m = /^[\t\n\v\f\r ]*([+-]?\d+)/.exec(s);
  if (!m) return null;
  let n = BigInt(m[1]!);
  const max = (1n << 63n) - 1n;
  if (n > max) n = max;
  if (n < -max - 1n) n = -max - 1n;
  return Number(BigInt.asIntN(32, n));
}

/**
 * The objects ostree's prune considers: loose commits, dirtrees, dirmetas, content of the
 * repository's mode (`.filez` in archive, `.file` otherwise) and payload links; only commits
 * with `commitOnly`. Detached metadata and tombstones are not objects here: detached metadata
 * goes with its commit, tombstones stay.
 */
function listObjects(repo: Repo, commitOnly: boolean): Listed[] {
  const fileExt = repo.mode === 'archive' ? 'filez' : 'file';
  const out: Listed[] = [];
  for (const d of readdirOrEmpty(repo.objectsDir).filter((n) => /^[0-9a-f]{2}$/.test(n)).sort()) {
    for (const n of readdirOrEmpty(path.join(repo.objectsDir, d)).sort()) {
      const m = /^([0-9a-f]{62})\.([a-z-]+)$/.exec(n);
      if (!m) continue;
      const ext = m[2]!;
      const type = ext === fileExt ? 'file' : ext === 'commit' || ext === 'dirtree' || ext === 'dirmeta' || ext === 'payload-link' ? ext : null;
      if (type === null || (commitOnly && type !== 'commit')) continue;
      out.push({ checksum: d + m[1]!, type });
    }
  }
  return out;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}

/**
 * ostree keeps a payload link whose target file is kept and at least `core.payload-link-threshold`
 * bytes (default: no size is, so links go).
 */
function payloadLinkKept(repo: Repo, linkPath: string, keep: Reachable): boolean {
  const target = fs.readlinkSync(linkPath);
  // The link reads `../XX/REST.file`.
  const m = /^\.\.\/([0-9a-f]{2})\/([0-9a-f]{62})\.file$/.exec(target);
  if (!m || !keep.has(objectKey(m[1]! + m[2]!, 'file'))) return false;
  const threshold = BigInt(/^\d+/.exec(repo.config.get('core', 'payload-link-threshold') ?? '')?.[0] ?? (1n << 64n) - 1n);
  const st = fs.lstatSync(objectPath(repo.objectsDir, m[1]! + m[2]!, 'file', repo.mode), { throwIfNoEntry: false });
  return st !== undefined && BigInt(st.size) >= threshold;
}

/**
 * `ostree prune --delete-commit`: refused while a head, remote or mirror ref names the commit;
 * switches the repository to tombstone commits (as ostree does, for good), then deletes it.
 */
async function deleteCommit(repo: Repo, commit: string): Promise<void> {
  for (const r of await listRefEntries(repo.path, { kinds: ALL_REF_KINDS })) {
    if (r.checksum !== commit) continue;
    throw new GroveError('GROVE_REF_IN_USE', `Commit '${commit}' is referenced by ${r.kind === 'mirror' ? r.name : `'${r.name}'`}`);
  }
  if (repo.config.getBoolean('core', 'tombstone-commits') !== true) {
    repo.config.setBoolean('core', 'tombstone-commits', true);
    await repo.saveConfig();
  }
  await deleteObject(repo, commit, 'commit');
}

/**
 * Deletes one object as `ostree_repo_delete_object` does: a commit takes its detached metadata
 * with it and, with `core.tombstone-commits`, leaves a tombstone naming it.
 */
async function deleteObject(repo: Repo, checksum: string, type: Listed['type']): Promise<void> {
  const rel = `${checksum.slice(0, 2)}/${checksum.slice(2)}.${type}`;
  // ostree would unlink whatever path a malformed checksum spells; grove touches nothing and
  // fails as ostree does when that path is not there.
  if (!CHECKSUM_RE.test(checksum)) throw new GroveError('GROVE_MISSING_OBJECT', `Deleting object ${checksum}.${type}: unlinkat(${rel}): No such file or directory`);
  if (type === 'commit') fs.rmSync(objectPath(repo.objectsDir, checksum, 'commitmeta', repo.mode), { force: true });
  const p = type === 'payload-link' ? sideFilePath(repo.objectsDir, checksum, type) : objectPath(repo.objectsDir, checksum, type, repo.mode);
  try {
    fs.unlinkSync(p);
  } catch (e) {
    if (!(e as NodeJS.ErrnoException).code) throw e;
    throw new GroveError(isErrno(e, 'ENOENT') ? 'GROVE_MISSING_OBJECT' : 'GROVE_IO', `Deleting object ${checksum}.${type}: unlinkat(${rel}): ${strerror(e)}`, { cause: e });
  }
  if (type === 'commit' && repo.config.getBoolean('core', 'tombstone-commits') === true) {
    const tomb = sideFilePath(repo.objectsDir, checksum, 'tombstone-commit');
    if (!fs.existsSync(tomb)) {
      // `{'commit': <b'CHECKSUM'>}`: the checksum as a NUL-terminated bytestring.
      const bytes = encode('a{sv}', [['commit', new Variant('ay', Buffer.from(`${checksum}\0`, 'latin1'))]]);
      fs.mkdirSync(path.dirname(tomb), { recursive: true });
      await writeFileAtomic(tomb, bytes, repo.tmpDir);
    }
  }
}

/** Cached summaries (`tmp/cache/summaries/NAME[.sig]`) of remotes the config no longer names. */
function pruneSummaryCache(repo: Repo): void {
  if (process.env['OSTREE_SKIP_CACHE'] !== undefined) return;
  const dir = path.join(repo.path, 'tmp', 'cache', 'summaries');
  const remotes = new Set(repo.config.groups().map((g) => /^remote "(.*)"$/.exec(g)?.[1]).filter((n): n is string => n !== undefined));
  for (const name of readdirOrEmpty(dir)) {
    if (!remotes.has(name.endsWith('.sig') && name.length > 4 ? name.slice(0, -4) : name)) fs.rmSync(path.join(dir, name), { force: true });
  }
}
