import fs from 'node:fs';
import { GroveError } from '../errors.js';
import { decode } from '../format/gvariant.js';
import { sha256 } from '../format/hash.js';
import { decodeCommit, type ObjectType, type Variant } from '../format/objects.js';
import { formatSize } from '../format/size.js';
import { SUMMARY_KEY, type Summary } from '../format/summary.js';
import { isCommitPartial } from '../repo/partial.js';
import type { Repo } from '../repo/repo.js';
import type { Transaction } from '../repo/transaction.js';
import { MAX_METADATA_SIZE, readMetadataSync } from '../store/read-metadata.js';
import { objectExists } from '../store/paths.js';
import { applyPart, checkPartVersions, deltaDetachedMetadata, inlinePart, partsNeeded, storeSink } from './apply-part.js';
import { checkDeltaObjects } from './check-objects.js';
import type { WorkerPool } from '../pool/pool.js';
import { deltaId, deltaIndexRelPath, deltaRelDir, parseDeltaId, type DeltaName } from './names.js';
import { decodeSuperblock, type Superblock } from './superblock.js';

/**
 * The static-delta half of a pull, as ostree 2022.7 decides it (ostree-repo-pull.c,
 * `initiate_request`): for each commit wanted and not already complete here, the deltas the
 * source offers (its summary's list, and with `ostree.summary.indexed-deltas` the commit's delta
 * index), the best of them — from the newest complete commit here that one leads from, else from
 * scratch unless the ref already names a commit here — and without a list, the delta from what
 * the ref names here now. The chosen superblock is checked against the digest the summary or
 * index gives, its commit against the pull's signature and binding checks before it is written,
 * and each part against its checksum before any of it is read; every object a part yields goes
 * through the store's writers like any fetched object. What a delta does not bring (fallback
 * objects, or everything when no delta fits) the object pull that follows fetches.
 */
export interface DeltaFetch {
  /** Bytes of a file of the source repository (`deltas/…`, `delta-indexes/…`), null when it has none. */
  file(rel: string, maxBytes: number, what: string): Promise<Uint8Array | null>;
}

export interface DeltaPullContext {
  repo: Repo;
  tx: Transaction;
  source: DeltaFetch & { description: string };
  summary: Summary | null;
  require: boolean;
  /** Throws unless the commit (bytes and detached metadata) may be kept: signatures, then bindings. */
  verifyCommit(checksum: string, bytes: Uint8Array, detached: Uint8Array | null): Promise<void>;
  /** The pull's pool, whose threads inflate large parts. */
  pool?: WorkerPool;
  /** Counts what was fetched, for the pull's closing line. */
  stats: { deltaParts: number; metadataFetched: number; bytesFetched: number; contentWritten: number; contentBytesWritten: number };
}

/** Parts fetched at once: each may be 32 MiB compressed and inflates to more. */
const PARTS_IN_FLIGHT = 3;

/**
 * Applies a delta for each `targets` entry where one fits; returns the commits written from
 * deltas, with their bytes (still staged: the caller's scan must not fetch them again).
 */
export async function pullDeltas(ctx: DeltaPullContext, targets: ReadonlyArray<{ ref: string | null; localRef: string | null; checksum: string }>): Promise<Map<string, Uint8Array>> {
  const known = new Map<string, Uint8Array>();
  const meta = ctx.summary?.metadata ?? [];
  const listed = meta.find(([k]) => k === SUMMARY_KEY.staticDeltas)?.[1];
  if (listed !== undefined && listed.type === 'a{sv}') collect(known, listed, 'summary');
  const indexed = meta.find(([k]) => k === SUMMARY_KEY.indexedDeltas)?.[1]?.value === true;
  if (ctx.require && !indexed && known.size === 0) {
    throw new GroveError('GROVE_NO_DELTAS', 'Fetch configured to require static deltas, but no summary deltas or delta index found');
  }
  const written = new Map<string, Uint8Array>();
  for (const t of targets) {
    if (objectExists(ctx.repo.objectsDir, t.checksum, 'commit', ctx.repo.mode) && !isCommitPartial(ctx.repo.path, t.checksum)) continue;
    let from = t.localRef === null ? null : await ctx.repo.resolveRev(t.localRef, { allowMissing: true });
    let name: DeltaName | null;
    let expected: Uint8Array | null = null;
    if (indexed || known.size > 0) {
      const candidates = new Map(known);
      if (indexed) {
        const index = await ctx.source.file(deltaIndexRelPath(t.checksum), MAX_METADATA_SIZE, `delta index of ${t.checksum}`);
        if (index !== null) {
          ctx.stats.metadataFetched++;
          ctx.stats.bytesFetched += index.length;
          const v = decodeIndex(index, t.checksum);
          if (v !== undefined) collect(candidates, v, `delta index of ${t.checksum}`);
        }
      }
      name = bestDelta(ctx.repo, candidates, t.checksum, from);
      if (name === null) {
        if (ctx.require) throw new GroveError('GROVE_NO_DELTAS', `Static deltas required, but none found for ${t.ref ?? ''} to ${t.checksum}`);
        continue;
      }
      expected = candidates.get(deltaId(name)) ?? null;
    } else {
      // No list: the delta from what the ref names here (a complete commit), else from scratch.
      if (from !== null && (!objectExists(ctx.repo.objectsDir, from, 'commit', ctx.repo.mode) || isCommitPartial(ctx.repo.path, from))) from = null;
      if (from === t.checksum) continue;
      name = { from, to: t.checksum };
    }
    const sb = await fetchSuperblock(ctx, name, expected);
    if (sb === null) {
      if (ctx.require) throw new GroveError('GROVE_NO_DELTAS', `Static deltas required, but none found for ${name.from ?? '(null)'} to ${name.to}`);
      continue;
    }
    const commit = await applyDelta(ctx, name, sb);
    if (commit !== null) written.set(t.checksum, commit);
  }
  return written;
}

function decodeIndex(bytes: Uint8Array, to: string): Variant | undefined {
  let dict: Array<[string, Variant]>;
  try {
    dict = decode('a{sv}', bytes) as Array<[string, Variant]>;
  } catch (e) {
    throw new GroveError('GROVE_BAD_REMOTE', `the delta index of ${to} is corrupt (${e instanceof Error ? e.message : String(e)})`);
  }
  const v = dict.find(([k]) => k === SUMMARY_KEY.staticDeltas)?.[1];
  return v !== undefined && v.type === 'a{sv}' ? v : undefined;
}

/** Delta names and superblock digests of an `ostree.static-deltas` value, each checked. */
function collect(into: Map<string, Uint8Array>, v: Variant, where: string): void {
  for (const [name, digest] of v.value as Array<[string, Variant]>) {
    parseDeltaId(name);
    if (digest.type !== 'ay' || (digest.value as Uint8Array).length !== 32) throw new GroveError('GROVE_BAD_REMOTE', `${where}: Invalid checksum variant of type '${digest.type}', expected 'ay'`);
    into.set(name, digest.value as Uint8Array);
  }
}

/**
 * ostree's `get_best_static_delta_start_for`: among the deltas to `to`, the one from the newest
 * complete commit here; else the one from scratch, but only when the ref names no commit here
 * (a few commits behind, fetching objects costs less than everything).
 */
function bestDelta(repo: Repo, candidates: Map<string, Uint8Array>, to: string, refNow: string | null): DeltaName | null {
  let best: { from: string; ts: bigint } | null = null;
  let scratch = false;
  for (const id of candidates.keys()) {
    const d = parseDeltaId(id);
    if (d.to !== to) continue;
    if (d.from === null) {
      scratch = true;
      continue;
    }
    if (!objectExists(repo.objectsDir, d.from, 'commit', repo.mode) || isCommitPartial(repo.path, d.from)) continue;
    const ts = decodeCommit(readMetadataSync(repo, d.from, 'commit'), `commit ${d.from}`).timestamp;
    if (best === null || ts > best.ts) best = { from: d.from, ts };
  }
  if (best !== null) return { from: best.from, to };
  if (scratch && refNow === null) return { from: null, to };
  return null;
}

async function fetchSuperblock(ctx: DeltaPullContext, name: DeltaName, expected: Uint8Array | null): Promise<Superblock | null> {
  const id = deltaId(name);
  const bytes = await ctx.source.file(`${deltaRelDir(name)}/superblock`, MAX_METADATA_SIZE, `the superblock of static delta ${id}`);
  if (bytes === null) return null;
  ctx.stats.metadataFetched++;
  ctx.stats.bytesFetched += bytes.length;
  if (expected !== null && !Buffer.from(sha256(bytes)).equals(Buffer.from(expected))) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `Invalid checksum for static delta ${id}`);
  }
  const sb = decodeSuperblock(bytes, `static delta ${id} from ${ctx.source.description}`);
  if (sb.to !== name.to || sb.from !== name.from) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `static delta ${id} from ${ctx.source.description}: its superblock is for ${deltaId(sb)}`);
  }
  return sb;
}

/** Writes the delta's commit (once checked) and applies its parts; returns the commit's bytes if written here. */
async function applyDelta(ctx: DeltaPullContext, name: DeltaName, sb: Superblock): Promise<Uint8Array | null> {
  const { repo, tx } = ctx;
  const id = deltaId(name);
  for (const f of sb.fallbacks) {
    if (f.type !== 'file') throw new GroveError('GROVE_CORRUPT_OBJECT', `Found metadata object as fallback: ${f.checksum}.${f.type}`);
  }
  const needed = partsNeeded(sb, (c, t) => tx.hasStagedOrStored(c, t));
  checkFreeSpace(repo, needed.reduce((n, p) => n + p.entry.usize, 0n));
  // Large parts inflate on the pool's threads: they load while the first part downloads.
  if (needed.some((p) => p.entry.size >= 1n << 20n)) ctx.pool?.start();

  let commitBytes: Uint8Array | null = null;
  if (!objectExists(repo.objectsDir, sb.to, 'commit', repo.mode)) {
    const detached = deltaDetachedMetadata(sb, name);
    await ctx.verifyCommit(sb.to, sb.commitBytes, detached);
    if (detached !== null) await tx.stageDetachedMetadata(sb.to, detached);
    await tx.writeMetadata('commit', sb.commitBytes, { expected: sb.to, where: `commit ${sb.to} of static delta ${id}` });
    commitBytes = sb.commitBytes;
  }

  const published: Array<{ checksum: string; type: ObjectType }> = [];
  const sink = await storeSink(repo, tx, `static delta ${id}`, (o, stored) => {
    if (stored?.written) {
      ctx.stats.contentWritten++;
      ctx.stats.contentBytesWritten += stored.bytes;
    }
    published.push(o);
  });
  ctx.stats.deltaParts += sb.parts.length - needed.length;
  const queue = [...needed];
  let failure: unknown = null;
  const worker = async () => {
    for (let job = queue.shift(); job !== undefined && failure === null; job = queue.shift()) {
      const { entry, index: i } = job;
      const where = `static delta ${id} part ${i} from ${ctx.source.description}`;
      try {
        checkPartVersions([entry]);
        let bytes = inlinePart(sb, name, i);
        const inline = bytes !== null;
        if (bytes === null) {
          if (entry.size > BigInt(Number.MAX_SAFE_INTEGER)) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: declares ${entry.size} bytes`);
          bytes = await ctx.source.file(`${deltaRelDir(name)}/${i}`, Number(entry.size), where);
          if (bytes === null) throw new GroveError('GROVE_MISSING_OBJECT', `${where} is missing`);
          ctx.stats.bytesFetched += bytes.length;
        }
        await applyPart(entry, bytes, inline, sink, where, ctx.pool);
        ctx.stats.deltaParts++;
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, queue.length) }, worker));
  if (failure !== null) throw failure;
  checkDeltaObjects(tx, sb, `static delta ${id} from ${ctx.source.description}`);
  // Published now, so that the object scan after the delta finds them in place.
  await tx.checkpoint(published);
  return commitBytes;
}

/** ostree's check before it applies a delta: what the parts yield must fit on the disk. */
function checkFreeSpace(repo: Repo, usize: bigint): void {
  const st = fs.statfsSync(repo.path);
  const free = BigInt(st.bsize) * BigInt(st.bfree);
  if (usize / BigInt(st.bsize) > BigInt(st.bfree)) {
    throw new GroveError('GROVE_NO_SPACE', `Delta requires ${formatSize(Number(usize))} free space, but only ${formatSize(Number(free))} available`);
  }
}

