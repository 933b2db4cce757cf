import { GroveError } from '../errors.js';
import { checksumFromBytes, fromHex } from './checksum.js';
import { encode } from './gvariant.js';
import { glibDictOrder } from './glib-dict.js';
import { isValidRef } from './names.js';
import { Variant, bswap64, commitMetaValue, decodeAt, type Commit } from './objects.js';

/**
 * The repository summary (`summary` at the top of a repository): every ref with its commit's
 * size and checksum and a little of its metadata, then repository-wide metadata. Pull clients
 * read it first. Integers are big-endian inside the GVariant, as everywhere in ostree.
 */
export const SUMMARY_TYPE = '(a(s(taya{sv}))a{sv})';
/** `summary.sig`: signatures of the summary's bytes, by kind (`ostree.gpgsigs`, `ostree.sign.ed25519`). */
export const SUMMARY_SIG_TYPE = 'a{sv}';

export const SUMMARY_KEY = {
  lastModified: 'ostree.summary.last-modified',
  expires: 'ostree.summary.expires',
  mode: 'ostree.summary.mode',
  tombstoneCommits: 'ostree.summary.tombstone-commits',
  indexedDeltas: 'ostree.summary.indexed-deltas',
  staticDeltas: 'ostree.static-deltas',
  collectionId: 'ostree.summary.collection-id',
  collectionMap: 'ostree.summary.collection-map',
} as const;

export const REF_KEY = { timestamp: 'ostree.commit.timestamp', version: 'ostree.commit.version' } as const;

export interface SummaryRef {
  name: string;
  /** Size in bytes of the commit object. */
  commitSize: number;
  checksum: string;
  metadata: Array<[string, Variant]>;
}

export interface Summary {
  refs: SummaryRef[];
  metadata: Array<[string, Variant]>;
}

/** GLib's GDateTime accepts nothing after 9999-12-31T23:59:59Z; ostree leaves such timestamps out. */
const LAST_GDATETIME = 253402300799n;

/** A big-endian u64 as ostree stores timestamps in summaries. */
export const beU64 = (n: bigint): Variant => new Variant('t', bswap64(n));

/** Reads a big-endian u64 metadata value; undefined when the key is absent or not a 't'. */
export function readBeU64(metadata: ReadonlyArray<[string, Variant]>, key: string): bigint | undefined {
  const v = metadata.find(([k]) => k === key)?.[1];
  return v?.type === 't' ? bswap64(v.value as bigint) : undefined;
}

/** The per-ref metadata ostree writes for a commit: its timestamp and, when it has one, its version. */
export function refMetadata(commit: Commit): Array<[string, Variant]> {
  const entries: Array<[string, Variant]> = [];
  if (commit.timestamp <= LAST_GDATETIME) entries.push([REF_KEY.timestamp, beU64(commit.timestamp)]);
  const version = commitMetaValue(commit, 'version');
  if (version?.type === 's') entries.push([REF_KEY.version, new Variant('s', version.value)]);
  return glibDictOrder(entries);
}

/**
 * The repository-wide metadata, in ostree's order: the caller's additional entries first, then
 * the standard keys (a standard key the caller also gave is overwritten, as ostree does).
 */
export function summaryMetadata(opts: {
  additional?: ReadonlyArray<[string, Variant]>;
  lastModified: bigint;
  /** The repository's `core.mode` exactly as its config spells it ("archive-z2" stays so). */
  configMode: string;
  tombstoneCommits: boolean;
  /** `core.collection-id`, when the repository has one. */
  collectionId?: string;
  /** The refs of other collections (refs/mirrors, remotes with a collection-id), by collection ID. */
  collectionMap?: ReadonlyArray<[string, SummaryRef[]]>;
}): Array<[string, Variant]> {
  return glibDictOrder<Variant>([
    ...(opts.additional ?? []),
    [SUMMARY_KEY.lastModified, beU64(opts.lastModified)],
    [SUMMARY_KEY.mode, new Variant('s', opts.configMode)],
    [SUMMARY_KEY.tombstoneCommits, new Variant('b', opts.tombstoneCommits)],
    [SUMMARY_KEY.indexedDeltas, new Variant('b', true)],
    ...(opts.collectionId !== undefined ? [[SUMMARY_KEY.collectionId, new Variant('s', opts.collectionId)] as [string, Variant]] : []),
    ...(opts.collectionMap !== undefined && opts.collectionMap.length > 0
      ? [[SUMMARY_KEY.collectionMap, new Variant(COLLECTION_MAP_TYPE, opts.collectionMap.map(([id, refs]) => [id, refs.map(refEntry)]))] as [string, Variant]]
      : []),
  ]);
}

/** `ostree.summary.collection-map`: collection ID -> its refs, each as in the summary's ref list. */
export const COLLECTION_MAP_TYPE = 'a{sa(s(taya{sv}))}';

/** A ref as the summary lists it; the commit size is the one integer ostree leaves in host (little-endian) order. */
function refEntry(r: SummaryRef): [string, [bigint, Uint8Array, Array<[string, Variant]>]] {
  return [r.name, [BigInt(r.commitSize), fromHex(r.checksum), r.metadata]];
}

/** Sorts refs as ostree lists them (strcmp of the names). */
export function sortRefs(refs: SummaryRef[]): SummaryRef[] {
  return [...refs].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

export function encodeSummary(s: Summary): Uint8Array {
  return encode(SUMMARY_TYPE, [s.refs.map(refEntry), s.metadata]);
}

/**
 * Decodes a summary from an untrusted source: malformed framing, a checksum that is not 32 bytes
 * or a ref name that is not a valid ref (`..`, slashes at the ends, …) is an error naming `where`.
 */
function decodeRefs(refs: Array<[string, [bigint, Uint8Array, Array<[string, Variant]>]]>, where: string): SummaryRef[] {
  return refs.map(([name, [size, csum, meta]]) => {
    if (!isValidRef(name)) throw new GroveError('GROVE_BAD_SUMMARY', `${where}: invalid ref name ${JSON.stringify(name)}`);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new GroveError('GROVE_BAD_SUMMARY', `${where}: ref ${name} has an absurd commit size`);
    let checksum: string;
    try {
      checksum = checksumFromBytes(csum, where);
    } catch {
      throw new GroveError('GROVE_BAD_SUMMARY', `${where}: ref ${name} has a ${csum.length}-byte checksum (want 32)`);
    }
    return { name, commitSize: Number(size), checksum, metadata: meta };
  });
}

export function decodeSummary(bytes: Uint8Array, where = 'summary'): Summary {
  let raw: [Array<[string, [bigint, Uint8Array, Array<[string, Variant]>]]>, Array<[string, Variant]>];
  try {
    raw = decodeAt(SUMMARY_TYPE, bytes, where) as typeof raw;
  } catch (e) {
    throw new GroveError('GROVE_BAD_SUMMARY', (e as Error).message, { cause: e });
  }
  const [refs, metadata] = raw;
  return {
    refs: decodeRefs(refs, where),
    metadata,
  };
}

/**
 * The refs of other collections a summary lists under `ostree.summary.collection-map`, decoded
 * as the main list is (names checked); none when the key is absent or not of its type.
 */
export function collectionMapOf(s: Summary, where = 'summary'): Array<[string, SummaryRef[]]> {
  const v = s.metadata.find(([k]) => k === SUMMARY_KEY.collectionMap)?.[1];
  if (v?.type !== COLLECTION_MAP_TYPE) return [];
  const entries = v.value as Array<[string, Array<[string, [bigint, Uint8Array, Array<[string, Variant]>]]>]>;
  return entries.map(([id, refs]) => [id, decodeRefs(refs, `${where} (collection ${id})`)]);
}
