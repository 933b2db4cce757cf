import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { defaultCompressBackend } from '../format/compress.js';
import { defaultHashBackend } from '../format/hash.js';
import { parseObjectName } from '../repo/paths.js';
import { listRefs } from '../repo/refs.js';
import type { Repo } from '../repo/repo.js';
import { WorkerPool } from '../pool/pool.js';
import type { ObjectType } from '../format/objects.js';

export interface FsckProblem { object: string; message: string }

export interface FsckResult {
  commits: number;
  objects: number;
  problems: FsckProblem[];
}

/** Content objects per pool task. */
const VERIFY_BATCH = 256;

/**
 * Checks the repository: every ref names a present commit; every commit object, and every object
 * reachable from it, is present and hashes to its name. Metadata is verified on the main thread
 * as the walk reads it; content objects are re-hashed in the pool. All problems are collected.
 */
export async function fsckRepo(repo: Repo, opts: { pool?: WorkerPool; log?: (line: string) => void } = {}): Promise<FsckResult> {
  const log = opts.log ?? (() => undefined);
  const problems: FsckProblem[] = [];
  const report = (object: string, message: string) => problems.push({ object, message });

  log('Validating refs...');
  const refs = await listRefs(repo.path);
  for (const [ref, csum] of refs) {
    if (!(await repo.hasObject(csum, 'commit'))) report(csum, `ref '${ref}' points to missing commit ${csum}`);
  }

  log('Enumerating commits...');
  const commits = await listLooseCommits(repo);
  log(`Verifying content integrity of ${commits.length} commit objects...`);

  const seenMeta = new Set<string>();
  const content = new Set<string>();
  const verifyMeta = async (csum: string, type: ObjectType, via: string): Promise<Uint8Array | null> => {
    const key = `${csum}.${type}`;
    if (seenMeta.has(key)) return null;
    seenMeta.add(key);
    try {
      return await repo.readMetadata(csum, type, { verify: true });
    } catch (e) {
      if (e instanceof GroveError) report(csum, `${via}: ${e.message}`);
      else throw e;
      return null;
    }
  };

  for (const commitId of commits) {
    const via = `in commit ${commitId}`;
    const bytes = await verifyMeta(commitId, 'commit', via);
    if (bytes === null) continue;
    let commit;
    try {
      commit = await repo.loadCommit(commitId);
    } catch (e) {
      if (e instanceof GroveError) { report(commitId, `${via}: ${e.message}`); continue; }
      throw e;
    }
    await verifyMeta(commit.rootMeta, 'dirmeta', via);
    const walk = async (treeId: string): Promise<void> => {
      const tb = await verifyMeta(treeId, 'dirtree', via);
      if (tb === null) return;
      let tree;
      try {
        tree = await repo.loadDirTree(treeId);
      } catch (e) {
        if (e instanceof GroveError) { report(treeId, `${via}: ${e.message}`); return; }
        throw e;
      }
      for (const [, c] of tree.files) content.add(c);
      for (const [, t, m] of tree.dirs) {
        await verifyMeta(m, 'dirmeta', via);
        await walk(t);
      }
    };
    await walk(commit.rootTree);
    for (const m of await dirMetaOfDecode(repo, commit.rootMeta)) report(commit.rootMeta, m);
  }

  const pool = opts.pool ?? new WorkerPool();
  try {
    const ids = [...content];
    const ctx = { repoMode: repo.mode, objectsDir: repo.objectsDir, hash: defaultHashBackend(), compress: defaultCompressBackend() };
    const tasks: Array<Promise<void>> = [];
    for (let i = 0; i < ids.length; i += VERIFY_BATCH) {
      const checksums = ids.slice(i, i + VERIFY_BATCH);
      tasks.push(pool.run({ kind: 'verify-content', ctx, checksums }).then((r) => {
        for (const b of r.bad) report(b.checksum, b.message);
      }));
    }
    await Promise.all(tasks);
  } finally {
    if (!opts.pool) await pool.close();
  }
  return { commits: commits.length, objects: seenMeta.size + content.size, problems };
}

/** Decoding a dirmeta checks its framing; a corrupt one is reported even if its hash matched. */
async function dirMetaOfDecode(repo: Repo, csum: string): Promise<string[]> {
  try {
    await repo.loadDirMeta(csum);
    return [];
  } catch (e) {
    if (e instanceof GroveError && e.code !== 'GROVE_MISSING_OBJECT') return [e.message];
    return [];
  }
}

/** Every `.commit` object on disk, whether or not a ref names it. */
async function listLooseCommits(repo: Repo): Promise<string[]> {
  const out: string[] = [];
  let dirs: string[];
  try {
    dirs = await fs.readdir(repo.objectsDir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return out;
    throw e;
  }
  for (const d of dirs.sort()) {
    let names: string[];
    try {
      names = await fs.readdir(path.join(repo.objectsDir, d));
    } catch (e) {
      if (isErrno(e, 'ENOTDIR')) continue;
      throw e;
    }
    for (const n of names.sort()) {
      const o = parseObjectName(d, n);
      if (o && o.type === 'commit') out.push(o.checksum);
    }
  }
  return out;
}
