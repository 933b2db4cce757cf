import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import {
  REF_KEY, SUMMARY_KEY, SUMMARY_TYPE, collectionMapOf, decodeSummary, encodeSummary, readBeU64, refMetadata, sortRefs, summaryMetadata,
  type Summary, type SummaryRef,
} from '../format/summary.js';
import { decodeCommit, type Variant } from '../format/objects.js';
import { Variant as GVariant, decode } from '../format/gvariant.js';
import { byteswap } from '../format/gvariant/byteswap.js';
import { printVariant } from '../format/gvariant/text.js';
import { formatSize } from '../format/size.js';
import { listRefs } from '../repo/refs.js';
import { listCollectionRefs } from '../repo/collection-refs.js';
import { RepoLock } from '../repo/lock.js';
import { writeFileAtomic } from '../repo/fsutil.js';
import { reindexDeltas, superblockDigests } from '../delta/reindex.js';
import type { Repo } from '../repo/repo.js';

/**
 * Writes the repository's `summary` as `ostree summary -u` does: the local refs (not remote
 * ones) with their commits' sizes, checksums, timestamps and versions, then `additional`
 * metadata and the standard keys. An old `summary.sig` no longer matches and is removed.
 */
export async function regenerateSummary(repo: Repo, opts: { additional?: Array<[string, Variant]>; now?: bigint } = {}): Promise<Summary> {
  const lock = await RepoLock.acquire(repo.path, 'shared');
  try {
    // As ostree: updating the summary reindexes static deltas.
    const deltas = superblockDigests(repo);
    await reindexDeltas(repo, undefined, deltas);
    const entry = async (name: string, checksum: string): Promise<SummaryRef> => {
      const bytes = await repo.readMetadata(checksum, 'commit');
      return { name, commitSize: bytes.length, checksum, metadata: refMetadata(decodeCommit(bytes, `commit ${checksum}`)) };
    };
    const main = repo.collectionId;
    // With a collection ID, the main list is that collection's refs (refs/heads); ostree keeps
    // it there, not in the collection map, for clients that know no collections.
    let refs: SummaryRef[] = [];
    if (main === null) for (const [name, checksum] of await listRefs(repo.path, { remotes: false })) refs.push(await entry(name, checksum));
    const collectionMap: Array<[string, SummaryRef[]]> = [];
    for (const [id, byRef] of await collectionRefsById(repo)) {
      const list = sortRefs(await Promise.all([...byRef].map(([name, checksum]) => entry(name, checksum))));
      if (id === main) refs = list;
      else collectionMap.push([id, list]);
    }
    const summary: Summary = {
      refs: sortRefs(refs),
      metadata: summaryMetadata({
        ...(main !== null && { collectionId: main }),
        collectionMap,
        ...(opts.additional && { additional: opts.additional }),
        lastModified: opts.now ?? BigInt(Math.floor(Date.now() / 1000)),
        staticDeltas: repo.config.getBoolean('core', 'no-deltas-in-summary') === true ? [] : deltas.map((d): [string, Uint8Array] => [d.id, d.digest]),
        configMode: repo.config.get('core', 'mode') ?? 'bare',
        tombstoneCommits: repo.config.getBoolean('core', 'tombstone-commits') ?? false,
      }),
    };
    await writeFileAtomic(path.join(repo.path, 'summary'), encodeSummary(summary), repo.tmpDir);
    await fs.rm(path.join(repo.path, 'summary.sig'), { force: true });
    return summary;
  } finally {
    await lock.release();
  }
}

/**
 * Collection refs grouped by collection ID, the IDs in byte order; a ref listed twice in one
 * collection (refs/heads and a remote, say) keeps the later, as ostree's table does.
 */
async function collectionRefsById(repo: Repo): Promise<Array<[string, Map<string, string>]>> {
  const byId = new Map<string, Map<string, string>>();
  for (const r of await listCollectionRefs(repo)) {
    let m = byId.get(r.collectionId);
    if (!m) byId.set(r.collectionId, (m = new Map()));
    m.set(r.ref, r.checksum);
  }
  return [...byId].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** The repository's own `summary`, decoded; GROVE_NOT_FOUND when it has none. */
export async function readLocalSummary(repo: Repo): Promise<{ summary: Summary; bytes: Uint8Array }> {
  const p = path.join(repo.path, 'summary');
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `${repo.path} has no summary`, { hint: `make one with: grove summary --repo=${repo.path} -u` });
    throw e;
  }
  return { summary: decodeSummary(bytes, p), bytes };
}

/** A timestamp in local time as ostree prints it (`%FT%T%:::z`: seconds, then `+HH` or `+HH:MM`). */
export function formatIsoLocal(secs: bigint): string {
  if (secs > 253402300799n) return 'invalid';
  const d = new Date(Number(secs) * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const zone = `${sign}${p(Math.floor(Math.abs(off) / 60))}${Math.abs(off) % 60 ? `:${p(Math.abs(off) % 60)}` : ''}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${zone}`;
}

function metaLine(indent: string, key: string, v: Variant, pretty: Record<string, [string, (v: Variant) => string]>): string {
  const known = pretty[key];
  return known ? `${indent}${known[0]} (${key}): ${known[1](v)}\n` : `${indent}${key}: ${printVariant(v)}\n`;
}

const beTime = (key: string) => (v: Variant) => {
  const t = readBeU64([[key, v]], key);
  return t === undefined ? printVariant(v) : formatIsoLocal(t);
};

/** What `ostree summary --view` prints for a summary. */
export function describeSummary(s: Summary): string {
  const refPretty: Record<string, [string, (v: Variant) => string]> = {
    [REF_KEY.timestamp]: ['Timestamp', beTime(REF_KEY.timestamp)],
    [REF_KEY.version]: ['Version', (v) => String(v.value)],
  };
  let out = '';
  const dumpRefs = (collectionId: string | null, refs: readonly SummaryRef[]): void => {
    for (const r of refs) {
      out += `* ${collectionId === null ? r.name : `(${collectionId}, ${r.name})`}\n    Latest Commit (${formatSize(r.commitSize)}):\n      ${r.checksum}\n`;
      for (const [k, v] of r.metadata) out += metaLine('    ', k, v, refPretty);
      out += '\n';
    }
  };
  const main = s.metadata.find(([k]) => k === SUMMARY_KEY.collectionId)?.[1];
  dumpRefs(main?.type === 's' ? String(main.value) : null, s.refs);
  for (const [id, refs] of collectionMapOf(s)) dumpRefs(id, refs);
  const pretty: Record<string, [string, (v: Variant) => string]> = {
    [SUMMARY_KEY.staticDeltas]: ['Static Deltas', (v) => printVariant(v)],
    [SUMMARY_KEY.lastModified]: ['Last-Modified', beTime(SUMMARY_KEY.lastModified)],
    [SUMMARY_KEY.expires]: ['Expires', beTime(SUMMARY_KEY.expires)],
    [SUMMARY_KEY.collectionId]: ['Collection ID', (v) => String(v.value)],
    [SUMMARY_KEY.collectionMap]: ['Collection Map', () => '(printed above)'],
    [SUMMARY_KEY.mode]: ['Repository Mode', (v) => String(v.value)],
    [SUMMARY_KEY.tombstoneCommits]: ['Has Tombstone Commits', (v) => (v.value === true ? 'Yes' : 'No')],
  };
  for (const [k, v] of s.metadata) out += metaLine('', k, v, pretty);
  return out;
}

/**
 * A summary as `summary --raw` and `remote summary --raw` print it: g_variant_print of the whole
 * value, type-annotated, after the byte swap ostree applies on a little-endian machine.
 */
export function rawSummaryText(bytes: Uint8Array): string {
  const v = new GVariant(SUMMARY_TYPE, byteswap(SUMMARY_TYPE, decode(SUMMARY_TYPE, bytes)));
  return `${printVariant(v, { typeAnnotate: true })}\n`;
}
