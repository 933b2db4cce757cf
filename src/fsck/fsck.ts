import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { defaultCompressBackend } from '../format/compress.js';
import { Variant, encode } from '../format/gvariant.js';
import { defaultHashBackend, sha256, sha256Factory } from '../format/hash.js';
import type { Commit, ObjectType } from '../format/objects.js';
import { bindingError, COLLECTION_BINDING_KEY, REF_BINDING_KEY } from '../net/ref-binding.js';
import { WorkerPool } from '../pool/pool.js';
import { listCollectionRefs } from '../repo/collection-refs.js';
import { ensureDir, writeFileAtomic } from '../repo/fsutil.js';
import { RepoLock } from '../repo/lock.js';
import { commitPartialReason, markCommitPartial } from '../repo/partial.js';
import { listRefEntries } from '../repo/refs.js';
import type { Repo } from '../repo/repo.js';
import { tombstonePath } from '../store/paths.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { objectKey, traverse, type Reachable } from '../store/traverse.js';
import { validateMetadata } from '../store/validate.js';
import type { VerifyResult, VerifyTask } from './task.js';
import { verifyContentBatch } from './verify-content.js';

export interface FsckProblem {
  object: string;
  type: ObjectType;
  /** As ostree prints it on stderr. */
  message: string;
  missing: boolean;
}

export interface FsckResult {
  /** Complete commits, whose every reachable object was verified. */
  commits: number;
  /** Commits marked partial (a --commit-metadata-only or --subpath pull, or an earlier fsck). */
  partial: number;
  objects: number;
  problems: FsckProblem[];
  /** Commits deleted for a tombstone (`addTombstones`). */
  tombstones: string[];
  /** ostree's closing error when there is one, else null (the repository is sound). */
  failure: string | null;
}

export interface FsckOptions {
  pool?: WorkerPool;
  /** stdout lines, as ostree prints them: headings (unless `quiet`), progress, the summary. */
  log?: (line: string) => void;
  /** stderr lines: each problem, and what fsck did about it. */
  warn?: (line: string) => void;
  quiet?: boolean;
  /** ostree's `fsck --all` / `--delete` not given: the first corrupt object ends the run (thrown). */
  stopAtFirst?: boolean;
  /** `--delete`: delete each corrupt object (and mark the commits holding it partial). */
  delete?: boolean;
  /** `--add-tombstones`: a commit whose parent is missing is replaced by a tombstone. */
  addTombstones?: boolean;
  /** `--verify-bindings`: each ref's commit must list the ref in its ref binding. */
  verifyBindings?: boolean;
  /** `--verify-back-refs`: each ref a commit binds to must name that commit. */
  verifyBackRefs?: boolean;
  /** `fsck objects (N/TOTAL) P%` lines, at most one a second, as libostree prints them off a terminal. */
  progress?: boolean;
}

/**
 * Content objects per task: small enough that the threads finish close together (a task that
 * meets a large file takes long), large enough to amortise the trip to a worker.
 */
const VERIFY_BATCH = 64;

type Check = { message: string; missing: boolean } | null;

/**
 * Checks the repository as `ostree fsck` 2022.7 does, in its order and words: each ref's commit
 * (and, asked, its binding), every commit object (back-references, tombstones, partial state),
 * then every object the complete commits reach, re-hashed (content in the pool meanwhile). A
 * missing object marks the commits holding it partial (`state/C.commitpartial`, reason `f`), as
 * ostree does. Problems go to `warn` as found; the result says how the run ends.
 */
export async function fsckRepo(repo: Repo, opts: FsckOptions = {}): Promise<FsckResult> {
  const log = opts.log ?? (() => undefined);
  const warn = opts.warn ?? (() => undefined);
  const heading = (l: string) => { if (!opts.quiet) log(l); };
  const problems: FsckProblem[] = [];
  let corrupt = false;

  /** fsck_one_object: `commits` are those holding the object (null for a ref's commit). */
  const handle = async (csum: string, type: ObjectType, check: Check, commits: string[] | null): Promise<void> => {
    if (check === null) return;
    let missing = check.missing;
    if (missing) {
      warn(commits ? `Object missing in commits ${commits.join(', ')}: ${csum}.${type}` : `Object missing: ${csum}.${type}`);
    } else {
      const message = commits ? `In commits ${commits.join(', ')}: ${check.message}` : check.message;
      if (opts.delete) {
        warn(message);
        await deleteObject(repo, csum, type);
        missing = true;
      } else if (!opts.stopAtFirst) {
        corrupt = true;
        warn(message);
      } else {
        throw new GroveError('GROVE_CORRUPT_OBJECT', message);
      }
    }
    problems.push({ object: csum, type, message: check.message, missing: check.missing });
    if (!missing) return;
    corrupt = true;
    if (commits === null || type === 'commit') return;
    for (const c of commits) {
      if (commitPartialReason(repo.path, c) !== null) continue;
      warn(`Marking commit as partial: ${c}`);
      await markCommitPartial(repo.path, c, 'f');
    }
  };

  const forRef = async (csum: string, collectionId: string | null, ref: string): Promise<void> => {
    await handle(csum, 'commit', checkMetadata(repo, csum, 'commit'), null);
    const name = collectionId === null ? ref : `(${collectionId}, ${ref})`;
    let commit: Commit;
    try {
      commit = await repo.loadCommit(csum);
    } catch (e) {
      if (!(e instanceof GroveError)) throw e;
      const why = e.code === 'GROVE_MISSING_OBJECT' ? `No such metadata object ${csum}.commit` : e.message;
      throw new GroveError(e.code, `Loading commit for ref ${name}: ${why}`, { cause: e });
    }
    if (opts.verifyBindings) {
      const why = bindingError(commit, ref, collectionId);
      if (why !== null) throw new GroveError('GROVE_BAD_BINDING', `Commit ${csum}: ${why}`);
    }
  };

  heading('Validating refs...');
  for (const r of await listRefEntries(repo.path, { kinds: ['head', 'remote'] })) await forRef(r.checksum, null, r.ref);
  heading('Validating refs in collections...');
  for (const r of await listCollectionRefs(repo, { remotes: false })) await forRef(r.checksum, r.collectionId, r.ref);

  heading('Enumerating commits...');
  const commits: string[] = [];
  const tombstones: string[] = [];
  let partial = 0;
  let fsckPartial = 0;
  for await (const o of repo.looseObjects()) {
    if (o.type !== 'commit') continue;
    const commit = await repo.loadCommit(o.checksum);
    if (opts.verifyBackRefs) await verifyBackRefs(repo, o.checksum, commit);
    if (opts.addTombstones && commit.parent !== null && !(await repo.hasObject(commit.parent, 'commit'))) tombstones.push(o.checksum);
    const reason = commitPartialReason(repo.path, o.checksum);
    if (reason === null) {
      commits.push(o.checksum);
    } else {
      partial++;
      if (reason.includes('f')) fsckPartial++;
    }
  }
  heading(`Verifying content integrity of ${commits.length} commit objects...`);

  const { found, bad } = await walkAndVerify(repo, commits, opts.pool);
  // Which commits hold an object matters only for the objects that are bad: the graph's edges
  // are gathered then, by a second walk, and never on a sound repository.
  const commitsOf = bad.size === 0 ? () => [] : commitsHolding(await edgesUp(repo, commits));
  const progress = opts.progress ? progressLine(log) : () => undefined;
  let i = 0;
  for (const key of found) {
    const check = bad.get(key) ?? null;
    await handle(key.slice(0, 64), key.slice(65) as ObjectType, check, check === null ? null : commitsOf(key));
    progress(++i, found.size);
  }

  if (opts.addTombstones) {
    if (tombstones.length > 0 && repo.config.getBoolean('core', 'tombstone-commits') !== true) {
      repo.config.set('core', 'tombstone-commits', 'true');
      await repo.saveConfig();
    }
    for (const c of tombstones) {
      log(`Adding tombstone for commit ${c}`);
      await deleteObject(repo, c, 'commit');
    }
  } else if (partial > 0) {
    log(`${partial} partial commits not verified`);
  }
  // ostree counts every partial commit here, not only the ones an fsck marked.
  const failure = corrupt ? 'Repository corruption encountered' : fsckPartial > 0 ? `${partial} partial commits from fsck-detected corruption` : null;
  if (failure === null) log(`object fsck of ${commits.length} commits completed successfully - no errors found.`);
  return { commits: commits.length, partial, objects: found.size, problems, tombstones: opts.addTombstones ? tombstones : [], failure };
}

/** A metadata object re-read and re-hashed; null when sound. */
function checkMetadata(repo: Repo, csum: string, type: ObjectType): Check {
  let bytes: Uint8Array;
  try {
    bytes = readMetadataSync(repo, csum, type);
  } catch (e) {
    if (!(e instanceof GroveError)) throw e;
    if (e.code === 'GROVE_MISSING_OBJECT') return { message: `Object missing: ${csum}.${type}`, missing: true };
    return { message: `fsck ${csum}.${type}: ${e.message}`, missing: false };
  }
  return checkHash(csum, type, bytes);
}

/**
 * A metadata object's bytes re-hashed, then held to ostree's structural rules
 * (`_ostree_verify_metadata_object`, in its words); null when sound. A dirtree's rules are its
 * decoder's, which the walk already ran on these bytes.
 */
function checkHash(csum: string, type: ObjectType, bytes: Uint8Array): Check {
  const actual = toHex(sha256(bytes));
  if (actual !== csum) return { message: `fsck ${csum}.${type}: Corrupted ${type} object; checksum expected='${csum}' actual='${actual}'`, missing: false };
  if (type === 'dirtree') return null;
  try {
    validateMetadata(type, bytes, `${csum}.${type}`);
    return null;
  } catch (e) {
    if (!(e instanceof GroveError)) throw e;
    return { message: `fsck ${csum}.${type}: ${e.message}`, missing: false };
  }
}

/**
 * Every edge of the graph the complete commits reach, child to parents (`CHECKSUM.TYPE` keys),
 * as ostree's traversal with parents records them. Walked again only when fsck found a problem.
 */
async function edgesUp(repo: Repo, commits: string[]): Promise<Map<string, string[]>> {
  const parents = new Map<string, string[]>();
  const into: Reachable = new Set();
  for (const commitId of commits) {
    await traverse(repo, [commitId], {
      into,
      onEdge: (parent, child) => {
        const list = parents.get(child);
        if (list === undefined) parents.set(child, [parent]);
        else list.push(parent);
      },
      // The first walk reported what is wrong; this one only needs what can be read.
      onProblem: () => undefined,
    });
  }
  return parents;
}

/** The commits above an object, following `edgesUp`'s edges; sorted, as ostree prints them. */
function commitsHolding(parents: Map<string, string[]>): (key: string) => string[] {
  return (key) => {
    const out = new Set<string>();
    const seen = new Set<string>();
    const up = [key];
    while (up.length > 0) {
      const k = up.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      if (k.endsWith('.commit')) out.add(k.slice(0, 64));
      else up.push(...(parents.get(k) ?? []));
    }
    return [...out].sort();
  };
}

/**
 * Walks the complete commits (each alone, depth 0, as ostree), hashing each metadata object as
 * the walk reads it, while the pool re-hashes the content objects it finds. A dirtree that is
 * missing or cannot be read ends the run, as in ostree; a dirmeta is reported with the rest.
 * `bad` holds each problem by `CHECKSUM.TYPE` key.
 */
async function walkAndVerify(repo: Repo, commits: string[], given?: WorkerPool): Promise<{ found: Reachable; bad: Map<string, NonNullable<Check>> }> {
  const found: Reachable = new Set();
  const bad = new Map<string, NonNullable<Check>>();
  if (commits.length === 0) return { found, bad };
  // Content is verified in the pool while the walk goes on: batches leave as soon as they fill.
  // Once the walk is done, this thread verifies batches too (the pool leaves it a core).
  const pool = given ?? new WorkerPool({ mainWorks: true });
  pool.start();
  const ctx: VerifyTask['ctx'] = { mode: repo.mode, objectsDir: repo.objectsDir, hash: defaultHashBackend(), compress: defaultCompressBackend() };
  const queue: string[][] = [];
  const slots = pool.threads * 2;
  let running = 0;
  let wake: (() => void) | undefined;
  let failure: { error: unknown } | undefined;
  const accept = (r: VerifyResult) => {
    for (const b of r.bad) bad.set(objectKey(b.checksum, 'file'), { message: b.message, missing: b.missing === true });
  };
  const pump = () => {
    while (!failure && queue.length > 0 && running < slots) {
      running++;
      const task: VerifyTask = { kind: 'verify-content', ctx, checksums: queue.shift()! };
      pool.run<VerifyResult>(task).then(accept, (e: unknown) => { failure ??= { error: e }; }).finally(() => {
        running--;
        pump();
        wake?.();
      });
    }
  };
  let pending: string[] = [];
  const flush = () => {
    if (pending.length > 0) queue.push(pending);
    pending = [];
    pump();
  };
  try {
    for (const commitId of commits) {
      await traverse(repo, [commitId], {
        into: found,
        onProblem: (csum, type, e) => {
          if (type === 'dirmeta') {
            const key = objectKey(csum, type);
            found.add(key);
            bad.set(key, checkMetadata(repo, csum, type) ?? { message: `fsck ${csum}.${type}: ${e.message}`, missing: false });
            return;
          }
          if (e.code === 'GROVE_MISSING_OBJECT') throw new GroveError(e.code, `No such metadata object ${csum}.${type}`, { cause: e });
          throw e;
        },
        // Not async: the walk awaits only what is returned, and a promise per object (13k on
        // minbase) was an await each for nothing.
        onObject: (c, type, bytes) => {
          if (type !== 'file') {
            const check = checkHash(c, type, bytes!);
            if (check !== null) bad.set(objectKey(c, type), check);
            return undefined;
          }
          pending.push(c);
          if (pending.length < VERIFY_BATCH) return undefined;
          flush();
          // Let Piscina hand the batch to a thread while the walk goes on.
          return new Promise<void>((r) => setImmediate(r));
        },
      });
    }
    flush();
    const sha = await sha256Factory(ctx.hash);
    while (!failure && (queue.length > 0 || running > 0)) {
      if (queue.length > 0) {
        accept(await verifyContentBatch({ kind: 'verify-content', ctx, checksums: queue.pop()! }, sha));
        await new Promise((r) => setImmediate(r));
      } else {
        await new Promise<void>((r) => { wake = r; });
        wake = undefined;
      }
    }
  } finally {
    // Every task ends before we return, even after one failed.
    while (running > 0) {
      await new Promise<void>((r) => { wake = r; });
      wake = undefined;
    }
    if (!given) await pool.close();
  }
  if (failure) throw failure.error;
  return { found, bad };
}

/** `--verify-back-refs`: every ref (or collection ref) the commit binds to resolves to it. */
async function verifyBackRefs(repo: Repo, csum: string, commit: Commit): Promise<void> {
  const meta = (key: string) => commit.metadata.find(([k]) => k === key)?.[1];
  const cb = meta(COLLECTION_BINDING_KEY);
  const collectionId = cb?.type === 's' ? (cb.value as string) : null;
  const rb = meta(REF_BINDING_KEY);
  if (rb?.type !== 'as') return;
  const collectionRefs = collectionId === null ? [] : await listCollectionRefs(repo, { match: collectionId });
  for (const ref of rb.value as string[]) {
    const target = collectionId !== null
      ? collectionRefs.find((r) => r.ref === ref)?.checksum ?? null
      : await repo.resolveRev(ref, { allowMissing: true });
    const what = collectionId !== null ? `Collection–ref (${collectionId}, ${ref})` : `Ref ‘${ref}’`;
    if (target === null) throw new GroveError('GROVE_BAD_BINDING', `${what} in bindings for commit ${csum} does not exist`);
    if (target !== csum) throw new GroveError('GROVE_BAD_BINDING', `${what} in bindings for commit ${csum} does not resolve to that commit`);
  }
}

/**
 * Deletes an object as ostree_repo_delete_object does: a commit takes its detached metadata
 * with it and, with `core.tombstone-commits`, leaves a tombstone. Under the exclusive lock, as
 * every deletion.
 */
async function deleteObject(repo: Repo, csum: string, type: ObjectType): Promise<void> {
  await RepoLock.with(repo, 'exclusive', async () => {
    if (type === 'commit') await fs.rm(repo.objectPath(csum, 'commitmeta'), { force: true });
    await fs.rm(repo.objectPath(csum, type), { force: true });
    if (type === 'commit' && repo.config.getBoolean('core', 'tombstone-commits') === true) {
      // Named by the commit, not by its own bytes: no content-addressed writer applies.
      const name = new TextEncoder().encode(`${csum}\0`);
      const p = tombstonePath(repo.objectsDir, csum);
      await ensureDir(path.dirname(p));
      await writeFileAtomic(p, encode('a{sv}', [['commit', new Variant('ay', name)]]), repo.tmpDir);
    }
  });
}

/**
 * libglnx's progress off a terminal: `TEXT (N/TOTAL) P%` lines, the first at once, then at most
 * one a second, and always the last (100%).
 */
function progressLine(log: (line: string) => void): (current: number, total: number) => void {
  let last = -Infinity;
  return (current, total) => {
    const pct = current === total ? 100 : Math.trunc((current / total) * 100);
    const now = performance.now();
    if (pct !== 100 && now - last < 1000) return;
    last = now;
    log(`fsck objects (${current}/${total}) ${pct}%`);
  };
}
