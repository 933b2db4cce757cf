import { isCommitPartial } from '../repo/partial.js';
import { defaultCompressBackend } from '../format/compress.js';
import { defaultHashBackend, sha256Factory } from '../format/hash.js';
import { ALL_REF_KINDS, listRefEntries } from '../repo/refs.js';
import type { Repo } from '../repo/repo.js';
import { WorkerPool } from '../pool/pool.js';
import type { ObjectType } from '../format/objects.js';
import { traverse, type Reachable } from '../store/traverse.js';
import { namingObject, verifyContentBatch } from './verify-content.js';
import type { VerifyResult, VerifyTask } from './task.js';

export interface FsckProblem { object: string; message: string }

export interface FsckResult {
  /** Complete commits, whose every reachable object was verified. */
  commits: number;
  /** Commits marked partial (a --commit-metadata-only or --subpath pull): only the commit object is checked. */
  partial: number;
  objects: number;
  problems: FsckProblem[];
}

/**
 * Content objects per task: small enough that the threads finish close together (a task that
 * meets a large file takes long), large enough to amortise the trip to a worker.
 */
const VERIFY_BATCH = 64;

/**
 * Checks the repository: every ref names a present commit; every commit object, and every object
 * reachable from it, is present and hashes to its name. Metadata is verified on the main thread
 * as the walk reads it; content objects are re-hashed in the pool meanwhile. All problems are
 * collected.
 */
export async function fsckRepo(repo: Repo, opts: { pool?: WorkerPool; log?: (line: string) => void } = {}): Promise<FsckResult> {
  const log = opts.log ?? (() => undefined);
  const problems: FsckProblem[] = [];
  const report = (object: string, type: ObjectType, message: string) => problems.push({ object, message: namingObject(type, object, message) });

  // As ostree fsck: heads and remotes, then the refs in collections (mirrors).
  log('Validating refs...');
  const refs = await listRefEntries(repo.path, { kinds: ALL_REF_KINDS });
  for (const { kind, name, checksum: csum } of refs) {
    if (kind === 'mirror') continue;
    if (!(await repo.hasObject(csum, 'commit'))) report(csum, 'commit', `ref '${name}' points to missing commit ${csum}`);
  }
  log('Validating refs in collections...');
  for (const { kind, name, checksum: csum } of refs) {
    if (kind !== 'mirror') continue;
    if (!(await repo.hasObject(csum, 'commit'))) report(csum, 'commit', `ref ${name} points to missing commit ${csum}`);
  }

  log('Enumerating commits...');
  const commits: string[] = [];
  const partial: string[] = [];
  for (const c of await listLooseCommits(repo)) (isCommitPartial(repo.path, c) ? partial : commits).push(c);
  log(`Verifying content integrity of ${commits.length} commit objects...`);

  // Content is verified in the pool while the walk goes on: batches leave as soon as they fill.
  // Once the walk is done, this thread verifies batches too (the pool leaves it a core).
  const pool = opts.pool ?? new WorkerPool({ mainWorks: true });
  pool.start();
  const ctx: VerifyTask['ctx'] = { mode: repo.mode, objectsDir: repo.objectsDir, hash: defaultHashBackend(), compress: defaultCompressBackend() };
  const queue: string[][] = [];
  const slots = pool.threads * 2;
  let running = 0;
  let wake: (() => void) | undefined;
  let failure: { error: unknown } | undefined;
  const accept = (r: VerifyResult) => {
    for (const b of r.bad) report(b.checksum, 'file', b.message);
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
  const found: Reachable = new Set();
  try {
    // As ostree: a partial commit's own object is checked, not what it reaches (it may lack it).
    for (const [commitId, isPartial] of [...commits.map((c) => [c, false] as const), ...partial.map((c) => [c, true] as const)]) {
      await traverse(repo, [commitId], {
        verify: true,
        into: found,
        skipTree: () => isPartial,
        onProblem: (csum, type, e) => report(csum, type, `in commit ${commitId}: ${e.message}`),
        onObject: async (c, type) => {
          if (type !== 'file') return;
          pending.push(c);
          if (pending.length >= VERIFY_BATCH) {
            flush();
            // Let Piscina hand the batch to a thread while the walk goes on.
            await new Promise((r) => setImmediate(r));
          }
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
    if (!opts.pool) await pool.close();
  }
  if (failure) throw failure.error;
  if (partial.length > 0) log(`${partial.length} partial commits not verified`);
  return { commits: commits.length, partial: partial.length, objects: found.size, problems };
}

/** Every `.commit` object on disk, whether or not a ref names it. */
async function listLooseCommits(repo: Repo): Promise<string[]> {
  const out: string[] = [];
  for await (const o of repo.looseObjects()) if (o.type === 'commit') out.push(o.checksum);
  return out;
}
